"""Content-Encoding and the payload hash: which bodies are aws-chunked framed, and which
coding an object keeps."""

import pytest
from tornado.httputil import HTTPHeaders

from s3lite.s3.content_encoding import BodyEncoding, body_encoding, stored_content_encoding

SIGNED_CHUNKS = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
BODY_SHA256 = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"


@pytest.mark.parametrize(
    ("content_encoding", "payload", "expected"),
    [
        # a plain body, whatever Content-Encoding says
        ("gzip, aws-chunked", BODY_SHA256, BodyEncoding(False, "gzip")),
        ("aws-chunked", BODY_SHA256, BodyEncoding(False, None)),
        ("aws-chunked", "UNSIGNED-PAYLOAD", BodyEncoding(False, None)),
        ("aws-chunked", None, BodyEncoding(False, None)),
        ("gzip", None, BodyEncoding(False, "gzip")),
        (None, None, BodyEncoding(False, None)),
        # a framed body: the payload hash says so, with or without the token
        ("aws-chunked", SIGNED_CHUNKS, BodyEncoding(True, None)),
        ("gzip,aws-chunked", SIGNED_CHUNKS, BodyEncoding(True, "gzip")),
        ("aws-chunked, gzip", UNSIGNED_TRAILER, BodyEncoding(True, "gzip")),
        (None, UNSIGNED_TRAILER, BodyEncoding(True, None)),
        ("br", SIGNED_CHUNKS, BodyEncoding(True, "br")),
    ],
)
def test_the_payload_hash_decides_the_framing(content_encoding, payload, expected):
    headers = HTTPHeaders()
    if content_encoding is not None:
        headers["Content-Encoding"] = content_encoding
    if payload is not None:
        headers["X-Amz-Content-SHA256"] = payload
    assert body_encoding(headers) == expected


def test_a_plain_dict_with_lower_case_names_works_too():
    headers = {"content-encoding": "gzip, aws-chunked", "x-amz-content-sha256": SIGNED_CHUNKS}
    assert body_encoding(headers) == BodyEncoding(True, "gzip")


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (None, None),
        ("", None),
        ("aws-chunked", None),
        ("AWS-Chunked", None),
        (" aws-chunked , ", None),
        ("gzip, aws-chunked", "gzip"),
        ("aws-chunked,gzip", "gzip"),
        ("gzip,, deflate ,aws-chunked", "gzip, deflate"),
        ("identity", "identity"),
        ("x-aws-chunked", "x-aws-chunked"),
    ],
)
def test_only_the_aws_chunked_token_is_dropped(value, stored):
    assert stored_content_encoding(value) == stored
