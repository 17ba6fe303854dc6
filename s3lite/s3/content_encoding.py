"""Whether an upload's body is aws-chunked framed, and which Content-Encoding the object keeps.

Two headers talk about the body and S3 trusts only one of them for the framing:
``x-amz-content-sha256`` names the payload the client signed, and only a ``STREAMING-...``
value means the body arrives in aws-chunked frames. ``Content-Encoding: aws-chunked`` is a hint
some clients add, with or without a framed body; S3 reads a body sent with it and a plain
payload hash as plain bytes, so deciding from Content-Encoding refuses uploads that S3 takes.

The ``aws-chunked`` token describes the request, never the object, so it is dropped from the
Content-Encoding kept with the object; if no other coding is left the object has none at all,
as S3 answers ``gzip`` for ``gzip, aws-chunked`` and no header for ``aws-chunked`` alone.
"""

from collections.abc import Mapping
from dataclasses import dataclass

STREAMING_PREFIX = "STREAMING-"
AWS_CHUNKED = "aws-chunked"


@dataclass(frozen=True)
class BodyEncoding:
    """What the headers of an upload say about its body."""

    aws_chunked: bool  # the body is framed in aws-chunked chunks and must be decoded
    content_encoding: str | None  # what to store and send back as Content-Encoding


def body_encoding(headers: Mapping[str, str]) -> BodyEncoding:
    """Decide from an upload's headers (a case-insensitive mapping such as Tornado's
    ``HTTPHeaders``, or a dict with lower-case names)."""
    payload = headers.get("x-amz-content-sha256") or ""
    return BodyEncoding(
        aws_chunked=payload.startswith(STREAMING_PREFIX),
        content_encoding=stored_content_encoding(headers.get("content-encoding")),
    )


def stored_content_encoding(value: str | None) -> str | None:
    """The Content-Encoding an object keeps: the header's codings without ``aws-chunked``
    (compared case-insensitively) and empty entries, joined by ", "; None if nothing is left."""
    if value is None:
        return None
    codings = [coding.strip() for coding in value.split(",")]
    kept = [coding for coding in codings if coding and coding.lower() != AWS_CHUNKED]
    return ", ".join(kept) or None
