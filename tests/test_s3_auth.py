"""Telling the owner, anonymous callers and bad signatures apart, for both signature versions."""

from datetime import UTC, datetime

import pytest
from botocore.auth import HmacV1Auth, HmacV1QueryAuth, S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from s3lite import errors
from s3lite.s3.acl import Caller
from s3lite.s3.auth import authenticate

KEYS = {"AKIDEXAMPLE": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
ENDPOINT = "http://127.0.0.1:8000"


def signed(signer, secret=KEYS["AKIDEXAMPLE"]):
    request = AWSRequest(method="GET", url=ENDPOINT + "/bucket/a%20b", data=b"")
    credentials = Credentials("AKIDEXAMPLE", secret)
    if signer is S3SigV4Auth:
        request.context["payload_signing_enabled"] = True
        signer(credentials, "s3", "us-east-1").add_auth(request)
    elif signer is S3SigV4QueryAuth:
        signer(credentials, "s3", "us-east-1", expires=60).add_auth(request)
    elif signer is HmacV1QueryAuth:
        signer(credentials, expires=60).add_auth(request)
    else:
        signer(credentials).add_auth(request)
    prepared = request.prepare()
    raw_path, _, raw_query = prepared.url[len(ENDPOINT) :].partition("?")
    headers = {"host": ["127.0.0.1:8000"]}
    for name, value in prepared.headers.items():
        headers.setdefault(name.lower(), []).append(value)
    return "GET", raw_path, raw_query, headers


SIGNERS = [S3SigV4Auth, S3SigV4QueryAuth, HmacV1Auth, HmacV1QueryAuth]


@pytest.mark.parametrize("signer", SIGNERS)
def test_a_valid_signature_of_either_version_is_the_owner(signer):
    caller, vouched = authenticate(*signed(signer), KEYS, datetime.now(UTC))
    assert caller is Caller.OWNER and vouched.access_key == "AKIDEXAMPLE"


@pytest.mark.parametrize("signer", SIGNERS)
def test_a_bad_signature_is_refused_not_served_as_anonymous(signer):
    with pytest.raises(errors.SignatureDoesNotMatch):
        authenticate(*signed(signer, secret="wrong"), KEYS, datetime.now(UTC))


def test_an_unsigned_request_is_anonymous():
    assert authenticate("GET", "/bucket/k", "", {"host": ["h"]}, KEYS, datetime.now(UTC)) == (
        Caller.ANONYMOUS,
        None,
    )


@pytest.mark.parametrize("signer", [None, *SIGNERS])
def test_without_credentials_every_caller_is_the_owner(signer):
    request = signed(signer) if signer else ("GET", "/bucket/k", "", {})
    assert authenticate(*request, {}, datetime.now(UTC)) == (Caller.OWNER, None)
