"""What an object request says in its headers: the metadata kept with the object, Content-MD5,
the source of a copy, and the response overrides of a read."""

import base64
import urllib.parse

from s3lite.errors import InvalidDigest, NotImplementedYet
from s3lite.s3.names import validate_bucket_name, validate_key

USER_METADATA_PREFIX = "x-amz-meta-"
DEFAULT_CONTENT_TYPE = "binary/octet-stream"
STORED_HTTP_HEADERS = (
    "Cache-Control",
    "Content-Disposition",
    "Content-Encoding",
    "Content-Language",
    "Expires",
)
RESPONSE_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "Content-Language",
    "response-expires": "Expires",
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}


def stored_http_headers(headers) -> list[tuple[str, str]]:
    """The standard headers S3 keeps with an object and sends back on reads; ``aws-chunked``
    describes the request's framing, not the object, and is not kept."""
    kept = []
    for name in STORED_HTTP_HEADERS:
        value = headers.get(name, "")
        if name == "Content-Encoding":
            codings = [coding.strip() for coding in value.split(",")]
            value = ", ".join(c for c in codings if c and c.lower() != "aws-chunked")
        if value:
            kept.append((name, value))
    return kept


def user_metadata(headers) -> list[tuple[str, str]]:
    """``x-amz-meta-*``, names in lower case as S3 keeps them."""
    return [
        (name.lower(), value)
        for name, value in headers.get_all()
        if name.lower().startswith(USER_METADATA_PREFIX)
    ]


def parse_content_md5(header: str | None) -> bytes | None:
    if header is None:
        return None
    try:
        digest = base64.b64decode(header, validate=True)
    except ValueError:
        digest = b""
    if len(digest) != 16:
        raise InvalidDigest(f"Content-MD5 {header!r} is not a base64 MD5 digest")
    return digest


def parse_copy_source(header: str) -> tuple[str, str]:
    """``x-amz-copy-source``: ``bucket/key`` or ``/bucket/key``, percent-encoded."""
    path, _, version = header.partition("?")
    if version and version != "versionId=null":
        raise NotImplementedYet("copying a version of an object is not supported")
    bucket, _, key = urllib.parse.unquote(path).lstrip("/").partition("/")
    validate_bucket_name(bucket)
    validate_key(key)
    return bucket, key
