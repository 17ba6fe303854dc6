"""With credentials configured, the object API serves only requests signed with them."""

import os

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError

from tests.processes import ACCESS_KEY, SECRET_KEY, http_request


def client(cluster, secret=SECRET_KEY, **config):
    return boto3.client(
        "s3",
        endpoint_url=cluster.url,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=botocore.config.Config(
            s3={"addressing_style": "path"}, retries={"max_attempts": 1}, **config
        ),
    )


def code_of(error: ClientError) -> str:
    return error.response["Error"]["Code"]


def test_signed_requests_are_served(secured):
    s3 = client(secured)
    s3.create_bucket(Bucket="signed")
    body = os.urandom(100_000)
    s3.put_object(Bucket="signed", Key="a b+c", Body=body)
    assert s3.get_object(Bucket="signed", Key="a b+c")["Body"].read() == body
    listed = s3.list_objects_v2(Bucket="signed", Prefix="a ", Delimiter="/")
    assert [entry["Key"] for entry in listed["Contents"]] == ["a b+c"]


def test_a_wrong_secret_gets_signature_does_not_match(secured):
    with pytest.raises(ClientError) as error:
        client(secured, secret="wrong").list_buckets()
    assert code_of(error.value) == "SignatureDoesNotMatch"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_an_unsigned_request_is_access_denied(secured):
    response = http_request("GET", f"{secured.url}/")
    assert response.status == 403
    assert response.s3_error_code == "AccessDenied"


def test_a_presigned_get_works_with_plain_http_and_fails_once_tampered(secured):
    s3 = client(secured, signature_version="s3v4")
    s3.create_bucket(Bucket="presigned")
    s3.put_object(Bucket="presigned", Key="shared file", Body=b"for anyone with the link")
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": "presigned", "Key": "shared file"}, ExpiresIn=60
    )
    assert http_request("GET", url).body == b"for anyone with the link"
    tampered = url.replace("shared%20file", "other")
    assert http_request("GET", tampered).status == 403


def test_a_body_that_does_not_match_its_signed_hash_is_not_stored(secured):
    s3 = client(secured)
    s3.create_bucket(Bucket="tamper")

    def swap_body(request, **_):
        request.body = b"X" * 14  # as long as the original, but not what was signed

    s3.meta.events.register("before-send.s3.PutObject", swap_body)
    with pytest.raises(ClientError) as error:
        s3.put_object(Bucket="tamper", Key="k", Body=b"original bytes")
    assert code_of(error.value) == "XAmzContentSHA256Mismatch"
    with pytest.raises(ClientError):
        client(secured).head_object(Bucket="tamper", Key="k")
