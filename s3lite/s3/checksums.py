"""The additional checksums S3 clients send (``x-amz-checksum-<algorithm>``), computed as the
body streams so that a mismatch is found before the object becomes visible."""

import base64
import hashlib
import zlib

from s3lite.errors import InvalidRequest, NotImplementedYet

HEADER_PREFIX = "x-amz-checksum-"
SUPPORTED = ("crc32", "sha1", "sha256")
# Headers with the prefix that carry no checksum themselves.
NOT_CHECKSUMS = ("mode", "type", "algorithm")


class Crc32:
    def __init__(self):
        self.value = 0

    def update(self, data: bytes) -> None:
        self.value = zlib.crc32(data, self.value)

    def digest(self) -> bytes:
        return self.value.to_bytes(4, "big")


def new_digest(algorithm: str):
    return Crc32() if algorithm == "crc32" else hashlib.new(algorithm)


def requested_checksum(headers, trailing: bool = False) -> tuple[str, str | None] | None:
    """The (algorithm, base64 value) a request asks to be checked, if any.

    With ``trailing`` (an aws-chunked body), ``x-amz-trailer`` may name the checksum header
    instead: the value is then None until the trailer arrives.
    """
    sent = [
        name.lower()
        for name in headers
        if name.lower().startswith(HEADER_PREFIX)
        and name.lower()[len(HEADER_PREFIX) :] not in NOT_CHECKSUMS
    ]
    trailer = headers.get("x-amz-trailer", "").strip().lower() if trailing else ""
    if trailer.startswith(HEADER_PREFIX):
        sent.append(trailer)
    if not sent:
        return None
    if len(sent) > 1:
        raise InvalidRequest("Expecting a single x-amz-checksum- header")
    algorithm = sent[0][len(HEADER_PREFIX) :]
    if algorithm not in SUPPORTED:
        raise NotImplementedYet(f"the {algorithm.upper()} checksum is not supported yet")
    return algorithm, headers.get(sent[0])


class StreamChecksum:
    """One requested checksum, fed with the body as it arrives."""

    def __init__(self, algorithm: str, expected: str | None):
        self.algorithm = algorithm
        self.expected = expected
        self.digest = new_digest(algorithm)

    def update(self, data: bytes) -> None:
        self.digest.update(data)

    def matches(self) -> bool:
        return base64.b64encode(self.digest.digest()).decode() == self.expected
