"""aws-chunked bodies: Amazon's worked example of a signed chunked upload, and botocore's own
encoder for the unsigned body with a trailing checksum."""

import io
from datetime import UTC, datetime

import pytest
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum

from s3lite import errors
from s3lite.s3.chunked import AwsChunkedDecoder
from s3lite.s3.sigv4 import verify

# From "Signature Calculations for the Authorization Header: Transferring Payload in Multiple
# Chunks", Example: PUT Object (Amazon S3 API reference).
EXAMPLE_KEYS = {"AKIAIOSFODNN7EXAMPLE": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
SEED_SIGNATURE = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
CHUNK_SIGNATURES = [
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
]
EXAMPLE_CHUNKS = [b"a" * 65536, b"a" * 1024, b""]


def example_request():
    signed_headers = (
        "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
        "x-amz-decoded-content-length;x-amz-storage-class"
    )
    headers = {
        "authorization": [
            (
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
                f"aws4_request,SignedHeaders={signed_headers},Signature={SEED_SIGNATURE}"
            )
        ],
        "content-encoding": ["aws-chunked"],
        "content-length": ["66824"],
        "host": ["s3.amazonaws.com"],
        "x-amz-content-sha256": ["STREAMING-AWS4-HMAC-SHA256-PAYLOAD"],
        "x-amz-date": ["20130524T000000Z"],
        "x-amz-decoded-content-length": ["66560"],
        "x-amz-storage-class": ["REDUCED_REDUNDANCY"],
    }
    return "PUT", "/examplebucket/chunkObject.txt", "", headers


def example_body(signatures=CHUNK_SIGNATURES, chunks=EXAMPLE_CHUNKS) -> bytes:
    return b"".join(
        b"%x;chunk-signature=%s\r\n%s\r\n" % (len(data), signature.encode(), data)
        for data, signature in zip(chunks, signatures, strict=True)
    )


def example_decoder() -> AwsChunkedDecoder:
    signed = verify(*example_request(), EXAMPLE_KEYS, datetime(2013, 5, 24, tzinfo=UTC))
    return AwsChunkedDecoder(signed.chunk_signer)


def decode(decoder: AwsChunkedDecoder, body: bytes, piece_size: int) -> bytes:
    out = bytearray()
    for start in range(0, len(body), piece_size):
        for piece in decoder.feed(body[start : start + piece_size]):
            out += piece
    decoder.finish()
    return bytes(out)


@pytest.mark.parametrize("piece_size", [1, 7, 1000, 65536, 1 << 20])
def test_amazons_signed_example_decodes_to_the_object_however_it_is_cut(piece_size):
    body = example_body()
    assert len(body) == 66824  # the example's Content-Length
    assert decode(example_decoder(), body, piece_size) == b"a" * 66560


def test_a_changed_byte_breaks_the_chunk_signature():
    body = bytearray(example_body())
    body[body.index(b"\r\n") + 100] = ord("b")
    with pytest.raises(errors.SignatureDoesNotMatch):
        decode(example_decoder(), bytes(body), 4096)


def test_chunks_out_of_order_break_the_signature_chain():
    body = example_body(
        [CHUNK_SIGNATURES[1], CHUNK_SIGNATURES[0], CHUNK_SIGNATURES[2]],
        [b"a" * 1024, b"a" * 65536, b""],
    )
    with pytest.raises(errors.SignatureDoesNotMatch):
        decode(example_decoder(), body, 4096)


def test_a_signed_body_needs_a_signature_on_every_chunk():
    with pytest.raises(errors.InvalidRequest):
        decode(example_decoder(), b"400\r\n" + b"a" * 1024 + b"\r\n0\r\n\r\n", 4096)


def botocore_encoded(data: bytes) -> bytes:
    wrapper = AwsChunkedWrapper(
        io.BytesIO(data),
        checksum_cls=Crc32Checksum,
        checksum_name="x-amz-checksum-crc32",
        chunk_size=10000,
    )
    return b"".join(wrapper)


def test_botocores_unsigned_body_with_trailing_checksum():
    data = bytes(range(256)) * 300
    decoder = AwsChunkedDecoder(signer=None)
    assert decode(decoder, botocore_encoded(data), 3000) == data
    checksum = Crc32Checksum()
    checksum.update(data)
    assert decoder.trailers == {"x-amz-checksum-crc32": checksum.b64digest()}


def test_an_empty_body_is_one_final_chunk():
    decoder = AwsChunkedDecoder(signer=None)
    assert decode(decoder, botocore_encoded(b""), 5) == b""


@pytest.mark.parametrize(
    "body",
    [
        b"zz\r\nab\r\n0\r\n\r\n",  # the size is not hex
        b"2\r\nabc\r\n0\r\n\r\n",  # a chunk longer than its size
        b"2;color=red\r\nab\r\n0\r\n\r\n",  # an unknown chunk extension
        b"0\r\n\r\nmore",  # bytes after the end
        b"0\r\nno colon here\r\n\r\n",  # a malformed trailer
        b"f" * 5000,  # a size line that never ends
    ],
)
def test_malformed_framing_is_refused(body):
    with pytest.raises(errors.InvalidRequest):
        decode(AwsChunkedDecoder(signer=None), body, 4096)


@pytest.mark.parametrize("body", [b"", b"5\r\nab", b"2\r\nab\r\n"])
def test_a_body_cut_before_its_final_chunk_is_incomplete(body):
    with pytest.raises(errors.IncompleteBody):
        decode(AwsChunkedDecoder(signer=None), body, 4096)
