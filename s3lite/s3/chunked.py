"""Decoding ``aws-chunked`` request bodies as they stream.

SDKs that cannot hash a body before sending it (the Go, Java and MinIO SDKs; boto3 over HTTPS)
frame it in chunks instead: ``<hex size>[;chunk-signature=<sig>]\\r\\n<data>\\r\\n``, ended by
a chunk of size 0 and, with a ``*-TRAILER`` payload, trailing headers such as the body's
checksum. The framing is never part of the object: the decoder hands on the data alone, checks
each chunk's signature when the request is signed, and collects the trailers.
"""

import hashlib

from s3lite.errors import IncompleteBody, InvalidRequest, NotImplementedYet
from s3lite.s3.sigv4 import ChunkSigner

SIGNED_CHUNKS = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
SIGNED_CHUNKS_WITH_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
UNSIGNED_WITH_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
SIGNED_PAYLOADS = (SIGNED_CHUNKS, SIGNED_CHUNKS_WITH_TRAILER)
SUPPORTED = (*SIGNED_PAYLOADS, UNSIGNED_WITH_TRAILER)
TRAILER_SIGNATURE = "x-amz-trailer-signature"
MAX_LINE = 4096  # a size line or a trailer is a few dozen bytes


def check_payload_kind(payload_hash: str) -> None:
    if payload_hash not in SUPPORTED:
        raise NotImplementedYet(f"the {payload_hash} payload is not supported")


class AwsChunkedDecoder:
    """Feed it the body as it arrives; it answers the object's bytes found so far.

    ``signer`` checks chunk and trailer signatures (None when signatures are not checked: the
    framing is still removed, and any signatures in it ignored).
    """

    def __init__(self, signer: ChunkSigner | None):
        self.signer = signer
        self.buffer = bytearray()
        self.state = "size"  # size -> data -> data_end -> size ... -> trailers -> done
        self.remaining = 0
        self.chunk_signature = ""
        self.chunk_sha256 = hashlib.sha256() if signer else None
        self.trailers: dict[str, str] = {}
        self.trailer_lines: list[str] = []

    def feed(self, data: bytes) -> list[bytes]:
        self.buffer += data
        pieces: list[bytes] = []
        position = 0
        while position < len(self.buffer):
            if self.state == "done":
                raise InvalidRequest("the aws-chunked body goes on after its last chunk")
            if self.state == "data":
                taken = bytes(self.buffer[position : position + self.remaining])
                position += len(taken)
                self.remaining -= len(taken)
                if self.chunk_sha256 is not None:
                    self.chunk_sha256.update(taken)
                pieces.append(taken)
                if self.remaining == 0:
                    self.state = "data_end"
                continue
            end = self.buffer.find(b"\r\n", position)
            if end < 0:
                if len(self.buffer) - position > MAX_LINE:
                    raise InvalidRequest("an aws-chunked line is too long")
                break
            line = self.buffer[position:end].decode("latin-1")
            position = end + 2
            self.read_line(line)
        del self.buffer[:position]
        return pieces

    def read_line(self, line: str) -> None:
        if self.state == "size":
            self.start_chunk(line)
        elif self.state == "data_end":
            if line:
                raise InvalidRequest("an aws-chunked chunk is longer than its stated size")
            self.end_chunk()
            self.state = "size"
        elif self.state == "trailers":
            if line:
                self.trailer_lines.append(line)
            else:
                self.end_trailers()

    def start_chunk(self, line: str) -> None:
        size, _, extension = line.partition(";")
        name, _, signature = extension.partition("=")
        try:
            self.remaining = int(size, 16)
        except ValueError:
            raise InvalidRequest(f"malformed aws-chunked chunk size {size!r}") from None
        if self.remaining < 0 or (extension and name.strip() != "chunk-signature"):
            raise InvalidRequest(f"malformed aws-chunked chunk header {line!r}")
        self.chunk_signature = signature.strip()
        if self.signer is not None and not self.chunk_signature:
            raise InvalidRequest("an aws-chunked chunk lacks its signature")
        if self.remaining:
            self.state = "data"
        else:
            self.end_chunk()  # the final chunk: its signature covers no data
            self.state = "trailers"

    def end_chunk(self) -> None:
        if self.signer is not None:
            self.signer.check_chunk(self.chunk_sha256.hexdigest(), self.chunk_signature)
            self.chunk_sha256 = hashlib.sha256()

    def end_trailers(self) -> None:
        signature = None
        for line in self.trailer_lines:
            name, colon, value = line.partition(":")
            if not colon:
                raise InvalidRequest(f"malformed aws-chunked trailer {line!r}")
            name, value = name.strip().lower(), value.strip()
            if name == TRAILER_SIGNATURE:
                signature = value
            else:
                self.trailers[name] = value
        if self.signer is not None and self.trailers:
            if signature is None:
                raise InvalidRequest("the trailing headers lack x-amz-trailer-signature")
            canonical = "".join(f"{name}:{value}\n" for name, value in self.trailers.items())
            self.signer.check_trailer(canonical.encode(), signature)
        self.state = "done"

    def finish(self) -> dict[str, str]:
        """Check that the body ended where its framing does; answer the trailing headers."""
        if self.state == "trailers" and not self.buffer:
            self.end_trailers()  # some clients leave out the blank line after the trailers
        if self.state != "done":
            raise IncompleteBody("the aws-chunked body ended before its final chunk")
        return self.trailers
