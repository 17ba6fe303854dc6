"""Uploads with aws-chunked bodies through a running gateway: the framing is removed as the body
streams, signatures and trailing checksums are checked, and a bad body stores nothing."""

import base64
import hashlib
import hmac
import io
import uuid
import zlib

import boto3
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from s3lite.s3.sigv4 import signing_key
from tests.processes import ACCESS_KEY, SECRET_KEY, http_request, wait_until

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def send_checksums_in_trailers(s3) -> None:
    """Make boto3 frame uploads as aws-chunked with a trailing checksum, as it does over HTTPS."""

    def use_trailer(params, **_):
        params["context"]["checksum"]["request_algorithm"]["in"] = "trailer"

    s3.meta.events.register("before-call.s3.PutObject", use_trailer)
    s3.meta.events.register("before-call.s3.UploadPart", use_trailer)


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


@pytest.fixture
def chunked_s3(signed_s3):
    send_checksums_in_trailers(signed_s3)
    return signed_s3


@pytest.fixture
def secured_bucket(chunked_s3) -> str:
    name = f"chunked-{uuid.uuid4().hex[:12]}"
    chunked_s3.create_bucket(Bucket=name)
    return name


def test_boto3_trailing_checksum_upload_is_stored_without_its_framing(chunked_s3, secured_bucket):
    data = bytes(range(256)) * 4096 + b"end"  # 1 MiB and 3 bytes, in many 64 KiB chunks
    answer = chunked_s3.put_object(Bucket=secured_bucket, Key="k", Body=io.BytesIO(data))
    assert answer["ChecksumCRC32"] == crc32_b64(data)
    got = chunked_s3.get_object(Bucket=secured_bucket, Key="k", ChecksumMode="ENABLED")
    assert got["Body"].read() == data
    assert got["ContentLength"] == len(data)
    assert got["ChecksumCRC32"] == crc32_b64(data)
    assert got["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'


def test_boto3_multipart_parts_with_trailing_checksums(chunked_s3, secured_bucket):
    pieces = [b"a" * (5 << 20), b"tail"]
    upload = chunked_s3.create_multipart_upload(Bucket=secured_bucket, Key="mp")
    parts = [
        {
            "PartNumber": number,
            "ETag": chunked_s3.upload_part(
                Bucket=secured_bucket,
                Key="mp",
                UploadId=upload["UploadId"],
                PartNumber=number,
                Body=io.BytesIO(piece),
            )["ETag"],
        }
        for number, piece in enumerate(pieces, 1)
    ]
    chunked_s3.complete_multipart_upload(
        Bucket=secured_bucket,
        Key="mp",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": parts},
    )
    body = chunked_s3.get_object(Bucket=secured_bucket, Key="mp")["Body"].read()
    assert body == b"".join(pieces)


def signed_request(url: str, payload: str, headers: dict[str, str]) -> tuple[AWSRequest, bytes]:
    """A PUT signed by botocore's SigV4 with one of the aws-chunked payload markers; answers it
    and the signing key, which also signs the chunks."""
    request = AWSRequest(method="PUT", url=url, headers=headers)
    signer = StreamingSigner(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "us-east-1", payload)
    signer.add_auth(request)
    date = request.headers["X-Amz-Date"][:8]
    return request, signing_key(SECRET_KEY, date, "us-east-1", "s3")


def send(request: AWSRequest, body: bytes):
    return http_request("PUT", request.url, body=body, headers=dict(request.headers.items()))


def framed(data: bytes, trailer: bytes, chunk_size: int = 8192) -> bytes:
    chunks = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n" + trailer + b"\r\n"


def unsigned_trailer_put(url: str, data: bytes, trailer: bytes, decoded_length: int | None = None):
    headers = {
        "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(
            len(data) if decoded_length is None else decoded_length
        ),
        "x-amz-trailer": "x-amz-checksum-crc32",
    }
    request, _ = signed_request(url, "STREAMING-UNSIGNED-PAYLOAD-TRAILER", headers)
    return send(request, framed(data, trailer))


def test_unsigned_chunked_body_with_its_trailer(secured, secured_bucket, chunked_s3):
    data = b"0123456789" * 5000
    trailer = b"x-amz-checksum-crc32:%s\r\n" % crc32_b64(data).encode()
    answer = unsigned_trailer_put(f"{secured.url}/{secured_bucket}/raw", data, trailer)
    assert answer.status == 200, answer.body
    assert chunked_s3.get_object(Bucket=secured_bucket, Key="raw")["Body"].read() == data


@pytest.mark.parametrize(
    ("trailer", "code"),
    [
        (b"x-amz-checksum-crc32:AAAAAA==\r\n", "BadDigest"),  # the wrong checksum
        (b"", "InvalidRequest"),  # the announced trailer never comes
    ],
)
def test_a_bad_trailer_stores_nothing(secured, secured_bucket, chunked_s3, trailer, code):
    parts_before = secured.stored_part_ids()
    answer = unsigned_trailer_put(f"{secured.url}/{secured_bucket}/bad", b"x" * 100_000, trailer)
    assert (answer.status, answer.s3_error_code) == (400, code)
    with pytest.raises(ClientError):
        chunked_s3.head_object(Bucket=secured_bucket, Key="bad")
    wait_until(lambda: secured.stored_part_ids() == parts_before, 10, "the parts to be deleted")


def test_a_body_longer_than_its_decoded_length_is_refused(secured, secured_bucket, chunked_s3):
    data = b"y" * 20_000
    trailer = b"x-amz-checksum-crc32:%s\r\n" % crc32_b64(data).encode()
    url = f"{secured.url}/{secured_bucket}/long"
    answer = unsigned_trailer_put(url, data, trailer, decoded_length=len(data) - 1)
    assert (answer.status, answer.s3_error_code) == (400, "IncompleteBody")
    with pytest.raises(ClientError):
        chunked_s3.head_object(Bucket=secured_bucket, Key="long")


class StreamingSigner(S3SigV4Auth):
    """botocore's SigV4 with an aws-chunked payload marker, as the Go and Java SDKs sign."""

    def __init__(self, credentials, service, region, payload_marker: str):
        super().__init__(credentials, service, region)
        self.payload_marker = payload_marker

    def payload(self, request):
        return self.payload_marker


def signed_chunked_put(url: str, data: bytes, chunk_size: int, tamper: bool = False):
    """A PUT whose body is signed chunk by chunk, each signature chained to the one before."""
    headers = {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data))}
    request, key = signed_request(url, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", headers)
    amz_date = request.headers["X-Amz-Date"]
    scope = f"{amz_date[:8]}/us-east-1/s3/aws4_request"
    previous = request.headers["Authorization"].rsplit("Signature=", 1)[1]
    body = bytearray()
    chunks = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)] + [b""]
    for chunk in chunks:
        string_to_sign = "\n".join(
            [
                "AWS4-HMAC-SHA256-PAYLOAD",
                amz_date,
                scope,
                previous,
                EMPTY_SHA256,
                hashlib.sha256(chunk).hexdigest(),
            ]
        )
        previous = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        body += b"%x;chunk-signature=%s\r\n%s\r\n" % (len(chunk), previous.encode(), chunk)
    if tamper:
        body[len(body) // 2] ^= 1
    return send(request, bytes(body))


def test_signed_chunks_are_checked_one_by_one(secured, secured_bucket, chunked_s3):
    data = bytes(range(256)) * 1000
    url = f"{secured.url}/{secured_bucket}/signed"
    answer = signed_chunked_put(url, data, chunk_size=65536)
    assert answer.status == 200, answer.body
    assert chunked_s3.get_object(Bucket=secured_bucket, Key="signed")["Body"].read() == data


def test_a_tampered_signed_chunk_stores_nothing(secured, secured_bucket, chunked_s3):
    url = f"{secured.url}/{secured_bucket}/tampered"
    answer = signed_chunked_put(url, b"z" * 200_000, chunk_size=65536, tamper=True)
    assert (answer.status, answer.s3_error_code) == (403, "SignatureDoesNotMatch")
    with pytest.raises(ClientError):
        chunked_s3.head_object(Bucket=secured_bucket, Key="tampered")


def test_boto3_without_credentials_configured(cluster):
    """Signatures unchecked (loopback, no keys): the framing still never reaches the data."""
    s3 = boto3.client(
        "s3",
        endpoint_url=cluster.url,
        aws_access_key_id="any",
        aws_secret_access_key="any",
        region_name="us-east-1",
    )
    send_checksums_in_trailers(s3)
    s3.create_bucket(Bucket="unsigned-chunked")
    data = b"q" * 300_000
    s3.put_object(Bucket="unsigned-chunked", Key="k", Body=io.BytesIO(data))
    assert s3.get_object(Bucket="unsigned-chunked", Key="k")["Body"].read() == data
