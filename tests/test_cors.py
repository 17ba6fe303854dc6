"""CORS through a gateway that checks signatures: PutBucketCors, GetBucketCors and
DeleteBucketCors with boto3; a browser's preflight and its upload with a presigned URL, checked
on their headers; errors carry the same Access-Control-* headers as successes."""

import subprocess
import uuid

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.processes import ACCESS_KEY, SECRET_KEY, http_request

APP = "https://app.example.com"
RULES = [
    {
        "ID": "uploads from the app",
        "AllowedOrigins": [APP],
        "AllowedMethods": ["PUT", "GET"],
        "AllowedHeaders": ["Content-Type", "x-amz-*"],
        "ExposeHeaders": ["ETag"],
        "MaxAgeSeconds": 600,
    },
    {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]},
]


@pytest.fixture
def bucket(signed_s3) -> str:
    name = f"cors-{uuid.uuid4().hex[:12]}"
    signed_s3.create_bucket(Bucket=name)
    signed_s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": RULES})
    return name


def preflight(url: str, origin: str, method: str, headers: str | None = None):
    sent = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers is not None:
        sent["Access-Control-Request-Headers"] = headers
    return http_request("OPTIONS", url, headers=sent)


def access_control(response) -> dict[str, str]:
    return {
        name: value
        for name, value in response.headers.items()
        if name.lower().startswith("access-control-") or name.lower() == "vary"
    }


def test_put_get_and_delete_bucket_cors(signed_s3, bucket):
    shown = signed_s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert shown == RULES
    signed_s3.put_bucket_cors(
        Bucket=bucket,
        CORSConfiguration={"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["HEAD"]}]},
    )
    assert signed_s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == [
        {"AllowedOrigins": ["*"], "AllowedMethods": ["HEAD"]}
    ]
    signed_s3.delete_bucket_cors(Bucket=bucket)
    with pytest.raises(ClientError) as missing:
        signed_s3.get_bucket_cors(Bucket=bucket)
    assert missing.value.response["Error"]["Code"] == "NoSuchCORSConfiguration"
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    signed_s3.delete_bucket_cors(Bucket=bucket)  # deleting none is no error


def test_bad_configurations_are_refused_as_s3_refuses_them(signed_s3, bucket):
    bad = [
        ([{"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}], "InvalidRequest"),
        ([{"AllowedOrigins": ["*a*"], "AllowedMethods": ["GET"]}], "InvalidRequest"),
        ([], "MalformedXML"),
    ]
    for rules, code in bad:
        with pytest.raises(ClientError) as refused:
            signed_s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
        assert refused.value.response["Error"]["Code"] == code
    assert signed_s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == RULES
    with pytest.raises(ClientError) as missing:
        signed_s3.put_bucket_cors(
            Bucket=f"absent-{uuid.uuid4().hex[:8]}", CORSConfiguration={"CORSRules": RULES}
        )
    assert missing.value.response["Error"]["Code"] == "NoSuchBucket"


def test_a_browser_uploads_with_a_presigned_url(secured, signed_s3, bucket):
    """The preflight first, answered from the first rule that allows it, then the PUT itself
    from the same origin, whose answer carries the headers the app may read."""
    v4 = secured.s3(access_key=ACCESS_KEY, secret_key=SECRET_KEY, signature_version="s3v4")
    url = v4.generate_presigned_url(
        "put_object",
        Params={"Bucket": bucket, "Key": "from the browser", "ContentType": "text/plain"},
        ExpiresIn=300,
    )
    answer = preflight(url, APP, "PUT", "content-type, x-amz-meta-note")
    assert answer.status == 200, answer.body
    assert access_control(answer) == {
        "Access-Control-Allow-Origin": APP,
        "Access-Control-Allow-Methods": "PUT, GET",
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Allow-Headers": "content-type, x-amz-meta-note",
        "Access-Control-Expose-Headers": "ETag",
        "Access-Control-Max-Age": "600",
        "Vary": "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
    }
    uploaded = http_request(
        "PUT", url, body=b"hello", headers={"Origin": APP, "Content-Type": "text/plain"}
    )
    assert uploaded.status == 200, uploaded.body
    assert uploaded.headers["Access-Control-Allow-Origin"] == APP
    assert uploaded.headers["Access-Control-Expose-Headers"] == "ETag"
    assert uploaded.headers["ETag"]
    assert "Access-Control-Allow-Headers" not in uploaded.headers
    assert signed_s3.get_object(Bucket=bucket, Key="from the browser")["Body"].read() == b"hello"


def test_a_sigv2_presigned_upload_from_a_browser(secured, signed_s3, bucket):
    url = boto3.client(
        "s3",
        endpoint_url=secured.url,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
    ).generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "v2"}, ExpiresIn=300)
    assert "AWSAccessKeyId=" in url
    assert preflight(url, APP, "PUT").status == 200
    uploaded = http_request("PUT", url, body=b"v2 body", headers={"Origin": APP})
    assert uploaded.status == 200, uploaded.body
    assert uploaded.headers["Access-Control-Allow-Origin"] == APP


def test_a_preflight_with_curl(secured, bucket):
    curled = subprocess.run(
        [
            "curl",
            "-sS",
            "-i",
            "-X",
            "OPTIONS",
            "-H",
            "Origin: https://elsewhere.example",
            "-H",
            "Access-Control-Request-Method: GET",
            f"{secured.url}/{bucket}/any",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    head = curled.stdout.lower()
    assert head.startswith("http/1.1 200")
    assert "access-control-allow-origin: *" in head
    assert "access-control-allow-methods: get" in head


def test_preflights_no_rule_allows_are_forbidden(secured, bucket, signed_s3):
    url = f"{secured.url}/{bucket}/k"
    for origin, method, headers in (
        ("https://elsewhere.example", "PUT", None),  # only GET is open to every origin
        (APP, "DELETE", None),
        (APP, "PUT", "authorization"),
    ):
        answer = preflight(url, origin, method, headers)
        assert answer.status == 403, (origin, method, headers)
        assert answer.s3_error_code == "AccessForbidden"
        assert not access_control(answer)
    assert preflight(url, APP, "PATCH").s3_error_code == "BadRequest"
    assert http_request("OPTIONS", url).s3_error_code == "BadRequest"  # no Origin
    signed_s3.delete_bucket_cors(Bucket=bucket)
    assert preflight(url, APP, "GET").s3_error_code == "AccessForbidden"
    absent = preflight(f"{secured.url}/absent-{uuid.uuid4().hex[:8]}", APP, "GET")
    assert absent.s3_error_code == "AccessForbidden"


def test_errors_carry_the_cors_headers_too(secured, signed_s3, bucket):
    """A browser can read an error only if its answer allows the origin."""
    url = signed_s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "absent"}, ExpiresIn=300
    )
    missing = http_request("GET", url, headers={"Origin": APP})
    assert missing.status == 404 and missing.s3_error_code == "NoSuchKey"
    assert missing.headers["Access-Control-Allow-Origin"] == APP
    assert missing.headers["Access-Control-Expose-Headers"] == "ETag"
    anonymous = http_request("GET", f"{secured.url}/{bucket}/absent", headers={"Origin": APP})
    assert anonymous.status == 403
    assert anonymous.headers["Access-Control-Allow-Origin"] == APP
    forged = http_request("GET", url.replace("Signature=", "Signature=x"), headers={"Origin": APP})
    assert forged.status == 403
    assert forged.headers["Access-Control-Allow-Origin"] == APP
    other = http_request("GET", f"{secured.url}/{bucket}/absent", headers={"Origin": "https://x"})
    assert other.status == 403
    assert other.headers["Access-Control-Allow-Origin"] == "*"  # the rule for every origin
    head = http_request("HEAD", f"{secured.url}/{bucket}/absent", headers={"Origin": "https://x"})
    assert head.status == 403 and not access_control(head)  # which does not allow HEAD


def test_requests_without_a_matching_rule_get_no_cors_headers(secured, signed_s3, bucket):
    signed_s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    url = signed_s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=300
    )
    assert not access_control(http_request("GET", url))  # no Origin: not from a browser
    other = http_request(
        "PUT", f"{secured.url}/{bucket}/k", body=b"y", headers={"Origin": "https://x"}
    )
    assert other.status == 403 and not access_control(other)  # PUT is only the app's
    assert (
        http_request("GET", url, headers={"Origin": "https://x"}).headers[
            "Access-Control-Allow-Origin"
        ]
        == "*"
    )
