"""Signature Version 4 as botocore signs it, checked by s3lite's verifier."""

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from s3lite import errors
from s3lite.s3.sigv4 import UNSIGNED_PAYLOAD, verify

KEYS = {"AKIDEXAMPLE": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
ENDPOINT = "http://127.0.0.1:8000"


def signed(method, path, *, secret=KEYS["AKIDEXAMPLE"], body=b"", headers=None, presign=None):
    request = AWSRequest(method=method, url=ENDPOINT + path, data=body, headers=headers or {})
    credentials = Credentials("AKIDEXAMPLE", secret)
    if presign is None:
        request.context["payload_signing_enabled"] = True
        S3SigV4Auth(credentials, "s3", "us-east-1").add_auth(request)
    else:
        S3SigV4QueryAuth(credentials, "s3", "us-east-1", expires=presign).add_auth(request)
    prepared = request.prepare()
    raw_path, _, raw_query = prepared.url[len(ENDPOINT) :].partition("?")
    received = {"host": ["127.0.0.1:8000"]}
    for name, value in prepared.headers.items():
        received.setdefault(name.lower(), []).append(value)
    return method, raw_path, raw_query, received


def check(request, now=None):
    return verify(*request, KEYS, now or datetime.now(UTC))


@pytest.mark.parametrize(
    "path",
    ["/bucket", "/bucket/plain", "/bucket/a%20b", "/bucket/%D0%BA%D0%BB%D1%8E%D1%87", "/b/x%2By"],
)
def test_header_signatures_of_awkward_paths_verify(path):
    assert check(signed("GET", path)).access_key == "AKIDEXAMPLE"


def test_query_parameters_are_part_of_the_signature():
    request = signed("GET", "/bucket?list-type=2&prefix=a%2Fb&max-keys=10&delimiter=%2F")
    check(request)
    method, path, query, headers = request
    with pytest.raises(errors.SignatureDoesNotMatch):
        check((method, path, query.replace("max-keys=10", "max-keys=11"), headers))


def test_the_signed_body_hash_is_handed_back_for_the_body_check():
    body = b"payload"
    result = check(signed("PUT", "/bucket/k", body=body))
    assert result.body_sha256 == hashlib.sha256(body).hexdigest()


def test_a_wrong_secret_does_not_match():
    with pytest.raises(errors.SignatureDoesNotMatch):
        check(signed("GET", "/bucket/k", secret="not the secret"))


def test_a_changed_signed_header_does_not_match():
    method, path, query, headers = signed("GET", "/bucket/k", headers={"Range": "bytes=0-9"})
    headers["range"] = ["bytes=0-99"]
    with pytest.raises(errors.SignatureDoesNotMatch):
        check((method, path, query, headers))


def test_an_unknown_access_key_is_invalid():
    method, path, query, headers = signed("GET", "/bucket/k")
    with pytest.raises(errors.InvalidAccessKeyId):
        verify(method, path, query, headers, {"SOMEONEELSE": "x"}, datetime.now(UTC))


def test_an_unsigned_request_is_denied():
    with pytest.raises(errors.AccessDenied):
        verify("GET", "/bucket/k", "", {"host": ["h"]}, KEYS, datetime.now(UTC))


def test_a_request_signed_long_ago_is_too_skewed():
    with pytest.raises(errors.RequestTimeTooSkewed):
        check(signed("GET", "/bucket/k"), now=datetime.now(UTC) + timedelta(minutes=16))


def test_presigned_urls_verify_until_they_expire():
    request = signed("GET", "/bucket/a%20b", presign=60)
    assert check(request).payload_hash == UNSIGNED_PAYLOAD
    with pytest.raises(errors.AccessDenied, match="expired"):
        check(request, now=datetime.now(UTC) + timedelta(seconds=61))


def test_a_tampered_presigned_url_does_not_match():
    method, path, query, headers = signed("GET", "/bucket/k", presign=60)
    with pytest.raises(errors.SignatureDoesNotMatch):
        check((method, "/bucket/other", query, headers))


def test_a_malformed_authorization_header_is_refused():
    with pytest.raises(errors.AuthorizationHeaderMalformed):
        verify("GET", "/", "", {"authorization": ["AWS4-HMAC-SHA256 x"]}, KEYS, datetime.now(UTC))


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        ("", {"authorization": ["AWS AKIDEXAMPLE:c2lnbmF0dXJl"]}),
        ("AWSAccessKeyId=AKIDEXAMPLE&Expires=1700000000&Signature=c2ln", {}),
    ],
    ids=["header", "presigned URL"],
)
def test_signature_version_2_is_not_implemented(query, headers):
    with pytest.raises(errors.NotImplementedYet, match="Signature Version 2"):
        verify("GET", "/bucket/k", query, headers, KEYS, datetime.now(UTC))


def test_a_header_signature_needs_the_payload_hash_header():
    method, path, query, headers = signed("GET", "/bucket/k")
    del headers["x-amz-content-sha256"]
    with pytest.raises(errors.InvalidRequest, match="x-amz-content-sha256"):
        check((method, path, query, headers))


def test_a_signature_that_is_not_hex_does_not_match_rather_than_crash():
    method, path, query, headers = signed("GET", "/bucket/k", presign=60)
    forged = query.split("X-Amz-Signature=")[0] + "X-Amz-Signature=%C3%A9"
    with pytest.raises(errors.SignatureDoesNotMatch):
        check((method, path, forged, headers))
