"""Signature Version 2 through a gateway that checks signatures: boto3's presigned URLs with its
default configuration, fetched by curl and urllib; requests signed by botocore's HmacV1Auth;
a client that signs everything with SigV2; expired URLs of either version."""

import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import boto3
import botocore.config
import pytest
from botocore.auth import HmacV1Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.processes import ACCESS_KEY, SECRET_KEY, http_request


def default_client(cluster, secret: str = SECRET_KEY):
    """boto3 exactly as the usual snippet builds it: no Config at all."""
    return boto3.client(
        "s3",
        endpoint_url=cluster.url,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=secret,
        region_name="us-east-1",
    )


def fetch(url: str, method: str = "GET", data: bytes | None = None, headers=None):
    """urllib, as a script that was handed the URL would fetch it: (status, body)."""
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def hmac_v1(method: str, url: str, body: bytes = b"", headers=None, secret: str = SECRET_KEY):
    """A request signed by botocore's HmacV1Auth and sent as raw HTTP."""
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    HmacV1Auth(Credentials(ACCESS_KEY, secret)).add_auth(request)
    prepared = request.prepare()
    return http_request(method, prepared.url, body=body, headers=dict(prepared.headers.items()))


@pytest.fixture
def bucket(signed_s3) -> str:
    name = f"v2-{uuid.uuid4().hex[:12]}"
    signed_s3.create_bucket(Bucket=name)
    return name


def test_the_default_presigned_url_is_sigv2_and_works_with_curl_and_urllib(
    secured, signed_s3, bucket
):
    signed_s3.put_object(Bucket=bucket, Key="shared file+1", Body=b"for the link")
    url = default_client(secured).generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "shared file+1"}, ExpiresIn=300
    )
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert set(query) == {"AWSAccessKeyId", "Signature", "Expires"}
    assert fetch(url) == (200, b"for the link")
    curled = subprocess.run(
        ["curl", "-sS", "--fail", url], capture_output=True, timeout=60, check=True
    )
    assert curled.stdout == b"for the link"
    tampered = url.replace("shared%20file", "other%20file")
    status, body = fetch(tampered)
    assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body


def test_a_presigned_sigv2_url_with_response_overrides(secured, signed_s3, bucket):
    signed_s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    url = default_client(secured).generate_presigned_url(
        "get_object",
        Params={"Bucket": bucket, "Key": "k", "ResponseContentType": "text/plain"},
        ExpiresIn=300,
    )
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.headers["Content-Type"] == "text/plain"


def test_a_presigned_sigv2_put_stores_the_body(secured, signed_s3, bucket, tmp_path):
    """The URL signs an empty Content-Type, so the upload must send none: curl -T sends none
    (urllib would add application/x-www-form-urlencoded, which S3 refuses as well)."""
    url = default_client(secured).generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "uploaded"}, ExpiresIn=300
    )
    assert "AWSAccessKeyId=" in url
    (tmp_path / "file").write_bytes(b"sent by curl")
    subprocess.run(
        ["curl", "-sS", "--fail", "-T", str(tmp_path / "file"), url],
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert signed_s3.get_object(Bucket=bucket, Key="uploaded")["Body"].read() == b"sent by curl"
    status, body = fetch(url, "PUT", b"x", {"Content-Type": "text/plain"})
    assert status == 403 and b"SignatureDoesNotMatch" in body


def test_aws_cli_v1_presign_is_sigv2_and_works(secured, signed_s3, bucket, tmp_path):
    signed_s3.put_object(Bucket=bucket, Key="cli", Body=b"from the cli")
    environment = {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "PATH": "/usr/bin:/bin",
    }
    aws = str(Path(sys.executable).parent / "aws")
    presigned = subprocess.run(
        [aws, "--endpoint-url", secured.url, "s3", "presign", f"s3://{bucket}/cli"],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
        check=True,
    ).stdout.strip()
    assert "AWSAccessKeyId=" in presigned
    assert fetch(presigned) == (200, b"from the cli")


def test_an_expired_presigned_url_is_access_denied_in_both_versions(secured, signed_s3, bucket):
    signed_s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    v2 = default_client(secured).generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=1
    )
    v4 = secured.s3(
        access_key=ACCESS_KEY, secret_key=SECRET_KEY, signature_version="s3v4"
    ).generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=1)
    assert "X-Amz-Signature=" in v4
    time.sleep(2.5)
    for url in (v2, v4):
        status, body = fetch(url)
        assert status == 403, body
        assert b"<Code>AccessDenied</Code>" in body
        assert b"expired" in body


def test_requests_signed_by_hmac_v1_auth(secured, signed_s3, bucket):
    base = f"{secured.url}/{bucket}"
    answer = hmac_v1("PUT", f"{base}/a%20b", b"signed with v2", {"Content-Type": "text/plain"})
    assert answer.status == 200, answer.body
    answer = hmac_v1("GET", f"{base}/a%20b")
    assert (answer.status, answer.body) == (200, b"signed with v2")
    assert answer.headers["Content-Type"] == "text/plain"
    # sub-resources are part of what is signed
    answer = hmac_v1("PUT", f"{base}/a%20b?acl", headers={"x-amz-acl": "public-read"})
    assert answer.status == 200, answer.body
    answer = hmac_v1("GET", f"{base}/a%20b?acl")
    assert answer.status == 200 and b"AllUsers" in answer.body
    answer = hmac_v1("GET", f"{base}?list-type=2&prefix=a")
    assert answer.status == 200 and b"<Key>a b</Key>" in answer.body
    answer = hmac_v1("GET", f"{base}/a%20b", secret="wrong")
    assert answer.status == 403 and answer.s3_error_code == "SignatureDoesNotMatch"
    answer = hmac_v1("PUT", f"{base}/not-stored", b"x", secret="wrong")
    assert answer.status == 403
    with pytest.raises(ClientError):
        signed_s3.head_object(Bucket=bucket, Key="not-stored")


def test_a_client_that_signs_everything_with_sigv2(secured, bucket):
    s3 = boto3.client(
        "s3",
        endpoint_url=secured.url,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
        config=botocore.config.Config(signature_version="s3", retries={"max_attempts": 1}),
    )
    s3.put_object(Bucket=bucket, Key="dir/one", Body=b"1", Metadata={"tag": "v2"})
    s3.copy_object(Bucket=bucket, Key="dir/two", CopySource={"Bucket": bucket, "Key": "dir/one"})
    assert s3.head_object(Bucket=bucket, Key="dir/two")["Metadata"] == {"tag": "v2"}
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="dir/")
    assert [entry["Key"] for entry in listed["Contents"]] == ["dir/one", "dir/two"]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="multi")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="multi", UploadId=upload, PartNumber=1, Body=b"p")[
        "ETag"
    ]
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="multi",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
    )
    assert s3.get_object(Bucket=bucket, Key="multi")["Body"].read() == b"p"
    deleted = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "dir/one"}, {"Key": "dir/two"}]}
    )
    assert sorted(entry["Key"] for entry in deleted["Deleted"]) == ["dir/one", "dir/two"]
    with pytest.raises(ClientError) as refused:
        boto3.client(
            "s3",
            endpoint_url=secured.url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key="wrong",
            region_name="us-east-1",
            config=botocore.config.Config(signature_version="s3", retries={"max_attempts": 1}),
        ).list_buckets()
    assert refused.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
