"""The additional checksums S3 clients send (``x-amz-checksum-<algorithm>``), computed as the
body streams so that a mismatch is found before the object becomes visible."""

import base64
import hashlib
from collections.abc import Callable

from awscrt import checksums as crt

from s3lite.errors import InvalidRequest, NotImplementedYet

HEADER_PREFIX = "x-amz-checksum-"
# Headers with the prefix that carry no checksum themselves.
NOT_CHECKSUMS = ("mode", "type", "algorithm")


class Crc:
    """A CRC computed piece by piece, by the AWS Common Runtime (the SDKs' own code)."""

    def __init__(self, function: Callable[[bytes, int], int], width_bytes: int):
        self.function = function
        self.width_bytes = width_bytes
        self.value = 0

    def update(self, data: bytes) -> None:
        self.value = self.function(data, self.value)

    def digest(self) -> bytes:
        return self.value.to_bytes(self.width_bytes, "big")


DIGESTS: dict[str, Callable[[], object]] = {
    "crc32": lambda: Crc(crt.crc32, 4),
    "crc32c": lambda: Crc(crt.crc32c, 4),
    "crc64nvme": lambda: Crc(crt.crc64nvme, 8),
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
}
SUPPORTED = tuple(DIGESTS)


def new_digest(algorithm: str):
    return DIGESTS[algorithm]()


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
