"""Signature Version 2 as botocore signs it (HmacV1Auth, HmacV1QueryAuth, and boto3's own
client and presigner), and Amazon's worked examples, checked by s3lite's verifier."""

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import quote

import boto3
import pytest
from botocore.auth import HmacV1Auth, HmacV1QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from s3lite import errors
from s3lite.s3.errors import RequestExpired, s3_status_and_code
from s3lite.s3.sigv2 import (
    SUB_RESOURCES,
    canonical_resource,
    is_sigv2,
    string_to_sign,
    verify,
)
from s3lite.s3.sigv4 import UNSIGNED_PAYLOAD

ACCESS_KEY = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
KEYS = {ACCESS_KEY: SECRET}
ENDPOINT = "http://127.0.0.1:8000"
AWKWARD_KEYS = ["plain", "a b", "100%", "a%20b", "ключ/鍵", "x+y", "sp ace/~tilde!'()*"]


def received(prepared_url: str, header_items) -> tuple[str, str, str, dict[str, list[str]]]:
    """What the gateway sees of a request: raw path, raw query, lower-case header lists."""
    raw_path, _, raw_query = prepared_url[len(ENDPOINT) :].partition("?")
    headers = {"host": ["127.0.0.1:8000"]}
    for name, value in header_items:
        text = value.decode() if isinstance(value, bytes) else value
        headers.setdefault(name.lower(), []).append(text)
    return raw_path, raw_query, headers


def signed(method, path, *, secret=SECRET, headers=None, presign=None, body=b""):
    """Sign with botocore's SigV2 signers: the header form, or a presigned URL."""
    request = AWSRequest(method=method, url=ENDPOINT + path, data=body, headers=headers or {})
    credentials = Credentials(ACCESS_KEY, secret)
    if presign is None:
        HmacV1Auth(credentials).add_auth(request)
    else:
        HmacV1QueryAuth(credentials, expires=presign).add_auth(request)
    prepared = request.prepare()
    raw_path, raw_query, received_headers = received(prepared.url, prepared.headers.items())
    if presign is not None:  # a presigned URL is used on its own, without the signer's headers
        received_headers = {"host": ["127.0.0.1:8000"]}
    return method, raw_path, raw_query, received_headers


def check(request, now=None):
    return verify(*request, KEYS, now or datetime.now(UTC))


class Captured(Exception):
    """Raised from botocore's before-send hook: the request, signed, never sent."""


def boto3_client(**config):
    client = boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET,
        config=Config(**config),
    )

    def capture(request, **kwargs):
        raise Captured(request)

    client.meta.events.register("before-send.s3", capture)
    return client


def sent_by(call) -> tuple[str, str, str, dict[str, list[str]]]:
    with pytest.raises(Captured) as captured:
        call()
    request = captured.value.args[0]
    return (request.method, *received(request.url, request.headers.items()))


# Header form


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_header_signatures_of_awkward_keys_verify(key):
    path = "/bucket/" + quote(key, safe="/~")
    assert check(signed("GET", path)).access_key == ACCESS_KEY


@pytest.mark.parametrize(
    "query",
    [
        "acl",
        "uploads",
        "uploadId=abc%2Bdef&partNumber=3",
        "versionId=v%2F1",
        "tagging",
        "cors",
        "delete",
        "response-content-type=text%2Fplain&response-content-disposition=attachment%3B%20x",
        "list-type=2&prefix=a%20b&delimiter=%2F",
        "location",
        "versioning",
        "lifecycle",
        "policy",
        "website",
    ],
)
def test_sub_resources_are_signed_as_botocore_signs_them(query):
    assert check(signed("GET", "/bucket/k?" + query)).access_key == ACCESS_KEY


def test_a_changed_sub_resource_does_not_match():
    method, path, query, headers = signed("GET", "/bucket/k?versionId=1")
    with pytest.raises(errors.SignatureDoesNotMatch):
        check((method, path, "versionId=2", headers))
    with pytest.raises(errors.SignatureDoesNotMatch):
        check((method, path, "versionId=1&acl", headers))


def test_other_query_arguments_are_not_signed():
    method, path, query, headers = signed("GET", "/bucket?prefix=a")
    assert check((method, path, "prefix=b", headers)).access_key == ACCESS_KEY


def test_amz_headers_content_type_and_md5_are_signed():
    signed_headers = {
        "Content-Type": "text/plain",
        "Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg==",
        "x-amz-meta-Name": "  value  ",
        "x-amz-acl": "private",
    }
    request = signed("PUT", "/bucket/k", headers=signed_headers)
    check(request)
    method, path, query, headers = request
    for name, value in [
        ("content-type", "text/html"),
        ("content-md5", "AAAAAAAAAAAAAAAAAAAAAA=="),
        ("x-amz-meta-name", "other"),
        ("x-amz-acl", "public-read"),
    ]:
        with pytest.raises(errors.SignatureDoesNotMatch):
            check((method, path, query, {**headers, name: [value]}))
    with pytest.raises(errors.SignatureDoesNotMatch):
        check((method, path, query, {**headers, "x-amz-meta-added": ["x"]}))
    # headers that are not x-amz-* are not signed
    assert check((method, path, query, {**headers, "range": ["bytes=0-1"]}))


@pytest.mark.parametrize(
    ("method", "path"),
    [("PUT", "/bucket/k"), ("GET", "/bucket/other"), ("GET", "/other/k"), ("GET", "/bucket/K")],
)
def test_a_tampered_method_or_resource_does_not_match(method, path):
    _, _, query, headers = signed("GET", "/bucket/k")
    with pytest.raises(errors.SignatureDoesNotMatch):
        check((method, path, query, headers))


def test_the_path_is_signed_as_sent_not_decoded():
    _, path, query, headers = signed("GET", "/bucket/a%20b")
    with pytest.raises(errors.SignatureDoesNotMatch):
        check(("GET", "/bucket/a b", query, headers))


def test_a_wrong_secret_does_not_match():
    with pytest.raises(errors.SignatureDoesNotMatch) as refused:
        check(signed("GET", "/bucket/k", secret="not the secret"))
    assert refused.value.details["StringToSign"].startswith("GET\n\n\n")
    assert s3_status_and_code(refused.value) == (403, "SignatureDoesNotMatch")


def test_an_unknown_access_key_is_invalid():
    method, path, query, headers = signed("GET", "/bucket/k")
    with pytest.raises(errors.InvalidAccessKeyId) as refused:
        verify(method, path, query, headers, {"SOMEONEELSE": "x"}, datetime.now(UTC))
    assert s3_status_and_code(refused.value) == (403, "InvalidAccessKeyId")


def test_a_request_signed_long_ago_is_too_skewed():
    request = signed("GET", "/bucket/k")
    check(request, now=datetime.now(UTC) + timedelta(minutes=14))
    with pytest.raises(errors.RequestTimeTooSkewed):
        check(request, now=datetime.now(UTC) + timedelta(minutes=16))
    with pytest.raises(errors.RequestTimeTooSkewed):
        check(request, now=datetime.now(UTC) - timedelta(minutes=16))


def test_a_header_signature_needs_a_date():
    method, path, query, headers = signed("GET", "/bucket/k")
    del headers["date"]
    with pytest.raises(errors.AccessDenied, match="Date or x-amz-date"):
        check((method, path, query, headers))
    with pytest.raises(errors.AccessDenied, match="Date or x-amz-date"):
        check((method, path, query, {**headers, "date": ["yesterday"]}))


def test_x_amz_date_replaces_the_date_line():
    """With x-amz-date the Date line is empty and the date is signed among the amz headers."""
    now = datetime.now(UTC).replace(microsecond=0)
    amz_date = format_datetime(now, usegmt=True)
    text = f"DELETE\n\n\n\nx-amz-date:{amz_date}\n/bucket/k"
    signature = base64.b64encode(
        hmac.new(SECRET.encode(), text.encode(), hashlib.sha1).digest()
    ).decode()
    headers = {
        "authorization": [f"AWS {ACCESS_KEY}:{signature}"],
        "x-amz-date": [amz_date],
        "date": ["Tue, 27 Mar 2007 21:20:27 +0000"],  # ignored: x-amz-date wins
    }
    assert verify("DELETE", "/bucket/k", "", headers, KEYS, now).access_key == ACCESS_KEY
    with pytest.raises(errors.SignatureDoesNotMatch):
        later = format_datetime(now + timedelta(seconds=1), usegmt=True)
        verify("DELETE", "/bucket/k", "", {**headers, "x-amz-date": [later]}, KEYS, now)


@pytest.mark.parametrize("authorization", ["AWS ", "AWS nocolon", "AWS :sig", "AWS key:"])
def test_a_malformed_authorization_header_is_an_invalid_argument(authorization):
    headers = {"authorization": [authorization], "date": [format_datetime(datetime.now(UTC))]}
    with pytest.raises(errors.InvalidArgument) as refused:
        verify("GET", "/bucket/k", "", headers, KEYS, datetime.now(UTC))
    assert s3_status_and_code(refused.value) == (400, "InvalidArgument")


def test_two_ways_of_signing_at_once_are_refused():
    method, path, _, headers = signed("GET", "/bucket/k")
    _, _, presigned_query, _ = signed("GET", "/bucket/k", presign=60)
    with pytest.raises(errors.InvalidArgument, match="Only one auth mechanism"):
        check((method, path, presigned_query, headers))


def test_a_signed_body_hash_is_handed_back_and_chunk_signatures_are_refused():
    body_sha256 = hashlib.sha256(b"body").hexdigest()
    request = signed("PUT", "/bucket/k", headers={"x-amz-content-sha256": body_sha256})
    assert check(request).body_sha256 == body_sha256
    assert check(signed("PUT", "/bucket/k")).payload_hash == UNSIGNED_PAYLOAD
    unsigned_chunks = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    request = signed("PUT", "/bucket/k", headers={"x-amz-content-sha256": unsigned_chunks})
    assert check(request).payload_hash == unsigned_chunks
    signed_chunks = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    request = signed("PUT", "/bucket/k", headers={"x-amz-content-sha256": signed_chunks})
    with pytest.raises(errors.InvalidRequest):
        check(request)


# Presigned URLs (query string)


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_presigned_urls_of_awkward_keys_verify_until_they_expire(key):
    request = signed("GET", "/bucket/" + quote(key, safe="/~"), presign=60)
    assert check(request).payload_hash == UNSIGNED_PAYLOAD
    check(request, now=datetime.now(UTC) + timedelta(seconds=58))
    with pytest.raises(RequestExpired) as expired:
        check(request, now=datetime.now(UTC) + timedelta(seconds=62))
    assert expired.value.message == "Request has expired"
    assert {"Expires", "ServerTime"} <= set(expired.value.details)
    assert s3_status_and_code(expired.value) == (403, "AccessDenied")
    assert isinstance(expired.value, errors.AccessDenied)


def test_a_tampered_presigned_url_does_not_match():
    method, path, query, headers = signed("GET", "/bucket/k", presign=60)
    with pytest.raises(errors.SignatureDoesNotMatch):
        check((method, "/bucket/other", query, headers))
    with pytest.raises(errors.SignatureDoesNotMatch):
        check(("PUT", path, query, headers))
    expires = query.split("Expires=")[1].split("&")[0]
    with pytest.raises(errors.SignatureDoesNotMatch):
        check((method, path, query.replace(expires, str(int(expires) + 3600)), headers))


def test_presigned_url_with_sub_resources_and_overrides():
    path = "/bucket/k?response-content-type=text%2Fplain&versionId=null"
    request = signed("GET", path, presign=60)
    assert check(request)
    method, raw_path, query, headers = request
    with pytest.raises(errors.SignatureDoesNotMatch):
        check((method, raw_path, query.replace("text%2Fplain", "text%2Fhtml"), headers))


def test_presigned_amz_headers_travel_in_the_query():
    """HmacV1QueryAuth moves x-amz-* headers and Content-Type into the query string."""
    request = signed("PUT", "/bucket/k", presign=60, headers={"x-amz-acl": "public-read"})
    method, path, query, headers = request
    assert "x-amz-acl=public-read" in query
    assert check(request)
    with pytest.raises(errors.SignatureDoesNotMatch):
        check((method, path, query.replace("public-read", "private"), headers))
    typed = signed("PUT", "/bucket/k", presign=60, headers={"Content-Type": "text/plain"})
    assert check(typed)  # from the query
    method, path, query, headers = typed
    assert check((method, path, query, {**headers, "content-type": ["text/plain"]}))
    with pytest.raises(errors.SignatureDoesNotMatch):
        check((method, path, query, {**headers, "content-type": ["text/html"]}))


@pytest.mark.parametrize("missing", ["AWSAccessKeyId", "Signature", "Expires"])
def test_a_presigned_url_needs_all_three_parameters(missing):
    method, path, query, headers = signed("GET", "/bucket/k", presign=60)
    kept = "&".join(p for p in query.split("&") if not p.startswith(missing + "="))
    with pytest.raises(errors.AccessDenied, match="requires the Signature, Expires"):
        check((method, path, kept, headers))


def test_expires_must_be_seconds_since_the_epoch():
    method, path, query, headers = signed("GET", "/bucket/k", presign=60)
    expires = query.split("Expires=")[1].split("&")[0]
    with pytest.raises(errors.AccessDenied, match="seconds since epoch"):
        check((method, path, query.replace(expires, "tomorrow"), headers))


def test_an_unencoded_plus_in_the_signature_is_still_read():
    method, path, query, headers = signed("GET", "/bucket/k", presign=60)
    for attempt in range(50):  # find a signature with a "+" in it
        if "%2B" in query:
            break
        method, path, query, headers = signed("GET", f"/bucket/k{attempt}", presign=60)
    assert "%2B" in query
    assert check((method, path, query.replace("%2B", "+"), headers))


# boto3 itself


def test_boto3_s3v2_client_requests_verify():
    client = boto3_client(signature_version="s3", s3={"addressing_style": "path"})
    calls = [
        lambda: client.put_object(Bucket="bucket", Key="a b/ключ%", Body=b"x", ACL="public-read"),
        lambda: client.get_object(Bucket="bucket", Key="k", VersionId="null", Range="bytes=0-1"),
        lambda: client.list_objects_v2(Bucket="bucket", Prefix=" ", Delimiter="/"),
        lambda: client.get_bucket_acl(Bucket="bucket"),
        lambda: client.put_object_tagging(
            Bucket="bucket", Key="k", Tagging={"TagSet": [{"Key": "a", "Value": "b"}]}
        ),
        lambda: client.delete_objects(Bucket="bucket", Delete={"Objects": [{"Key": "k"}]}),
        lambda: client.upload_part(
            Bucket="bucket", Key="k", UploadId="u+1", PartNumber=2, Body=b"x"
        ),
    ]
    for call in calls:
        request = sent_by(call)
        assert request[3]["authorization"][0].startswith("AWS ")
        assert is_sigv2(request[3], request[2])
        assert check(request).access_key == ACCESS_KEY


def test_boto3_default_presigned_urls_are_sigv2_and_verify():
    client = boto3_client(s3={"addressing_style": "path"})
    url = client.generate_presigned_url(
        "get_object",
        Params={"Bucket": "bucket", "Key": "a b/ключ+%", "ResponseContentType": "text/plain"},
        ExpiresIn=120,
    )
    assert "AWSAccessKeyId=" in url and "Signature=" in url
    raw_path, raw_query, headers = received(url, [])
    assert is_sigv2(headers, raw_query)
    assert check(("GET", raw_path, raw_query, headers)).access_key == ACCESS_KEY
    with pytest.raises(RequestExpired):
        check(("GET", raw_path, raw_query, headers), now=datetime.now(UTC) + timedelta(minutes=3))
    put_url = client.generate_presigned_url(
        "put_object", Params={"Bucket": "bucket", "Key": "up"}, ExpiresIn=60
    )
    raw_path, raw_query, headers = received(put_url, [])
    assert check(("PUT", raw_path, raw_query, headers))


def test_is_sigv2_tells_the_signature_versions_apart():
    assert is_sigv2({"authorization": ["AWS key:sig"]}, "")
    assert is_sigv2({}, "AWSAccessKeyId=key&Signature=s&Expires=1")
    assert not is_sigv2({"authorization": ["AWS4-HMAC-SHA256 Credential=x"]}, "")
    assert not is_sigv2({}, "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=s")
    assert not is_sigv2({}, "")


# Amazon's worked examples ("Signing and Authenticating REST Requests", Authentication
# examples), sent path style: the string to sign is the same as for the virtual-hosted
# requests the documentation shows.

EXAMPLE_KEYS = {"AKIAIOSFODNN7EXAMPLE": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}


@pytest.mark.parametrize(
    ("method", "path", "headers", "signature"),
    [
        pytest.param(
            "GET",
            "/johnsmith/photos/puppy.jpg",
            {"date": "Tue, 27 Mar 2007 19:36:42 +0000"},
            "bWq2s1WEIj+Ydj0vQ697zp+IXMU=",
            id="object GET",
        ),
        pytest.param(
            "PUT",
            "/johnsmith/photos/puppy.jpg",
            {"date": "Tue, 27 Mar 2007 21:15:45 +0000", "content-type": "image/jpeg"},
            "MyyxeRY7whkBe+bq8fHCL/2kKUg=",
            id="object PUT",
        ),
        pytest.param(
            "GET",
            "/johnsmith/?prefix=photos&max-keys=50&marker=puppy",
            {"date": "Tue, 27 Mar 2007 19:42:41 +0000", "user-agent": "Mozilla/5.0"},
            "htDYFYduRNen8P9ZfE/s9SuKy0U=",
            id="list",
        ),
        pytest.param(
            "GET",
            "/johnsmith/?acl",
            {"date": "Tue, 27 Mar 2007 19:44:46 +0000"},
            "c2WLPFtWHVgbEmeEG93a4cG37dM=",
            id="fetch ACL",
        ),
        pytest.param(
            "GET",
            "/",
            {"date": "Wed, 28 Mar 2007 01:29:59 +0000"},
            "qGdzdERIC03wnaRNKh6OqZehG9s=",
            id="list all my buckets",
        ),
        pytest.param(
            "GET",
            "/dictionary/fran%C3%A7ais/pr%c3%a9f%c3%a8re",
            {"date": "Wed, 28 Mar 2007 01:49:49 +0000"},
            "DNEZGsoieTZ92F3bUfSPQcbGmlM=",
            id="unicode keys",
        ),
    ],
)
def test_amazons_header_examples_verify(method, path, headers, signature):
    raw_path, _, raw_query = path.partition("?")
    received_headers = {name: [value] for name, value in headers.items()}
    received_headers["authorization"] = [f"AWS AKIAIOSFODNN7EXAMPLE:{signature}"]
    now = datetime.strptime(headers["date"], "%a, %d %b %Y %H:%M:%S %z")
    assert verify(method, raw_path, raw_query, received_headers, EXAMPLE_KEYS, now)


def test_amazons_upload_example_with_repeated_amz_headers_verifies():
    headers = {
        "date": ["Tue, 27 Mar 2007 21:06:08 +0000"],
        "x-amz-acl": ["public-read"],
        "content-type": ["application/x-download"],
        "content-md5": ["4gJE4saaMU4BqNR0kLY+lw=="],
        "x-amz-meta-reviewedby": ["joe@johnsmith.net", "jane@johnsmith.net"],
        "x-amz-meta-filechecksum": ["0x02661779"],
        "x-amz-meta-checksumalgorithm": ["crc32"],
        "content-disposition": ["attachment; filename=database.dat"],
        "content-encoding": ["gzip"],
        "content-length": ["5913339"],
        "authorization": ["AWS AKIAIOSFODNN7EXAMPLE:ilyl83RwaSoYIEdixDQcA4OnAnc="],
    }
    now = datetime(2007, 3, 27, 21, 6, 8, tzinfo=UTC)
    assert string_to_sign("PUT", "/static.johnsmith.net/db-backup.dat.gz", "", headers, "x") == (
        "PUT\n4gJE4saaMU4BqNR0kLY+lw==\napplication/x-download\nx\n"
        "x-amz-acl:public-read\n"
        "x-amz-meta-checksumalgorithm:crc32\n"
        "x-amz-meta-filechecksum:0x02661779\n"
        "x-amz-meta-reviewedby:joe@johnsmith.net,jane@johnsmith.net\n"
        "/static.johnsmith.net/db-backup.dat.gz"
    )
    assert verify("PUT", "/static.johnsmith.net/db-backup.dat.gz", "", headers, EXAMPLE_KEYS, now)


def test_amazons_query_string_example_verifies():
    query = (
        "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1175139620"
        "&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D"
    )
    before = datetime.fromtimestamp(1175139620 - 1, UTC)
    assert verify("GET", "/johnsmith/photos/puppy.jpg", query, {}, EXAMPLE_KEYS, before)
    after = datetime.fromtimestamp(1175139620 + 1, UTC)
    with pytest.raises(RequestExpired):
        verify("GET", "/johnsmith/photos/puppy.jpg", query, {}, EXAMPLE_KEYS, after)


# The canonical resource on its own


def test_canonical_resource_sorts_and_decodes_sub_resources_only():
    assert canonical_resource("/b/k", "") == "/b/k"
    assert canonical_resource("/b/k", "prefix=x&max-keys=1") == "/b/k"
    assert canonical_resource("/b/k", "versionId=a%2Bb&acl") == "/b/k?acl&versionId=a+b"
    assert canonical_resource("/b/k", "uploadId=u&partNumber=2") == "/b/k?partNumber=2&uploadId=u"
    assert canonical_resource("/b/k", "acl=") == "/b/k?acl="
    assert canonical_resource("/b", "response-expires=x%20y&uploads") == (
        "/b?response-expires=x y&uploads"
    )


def test_the_documented_sub_resources_are_all_signed():
    documented = {
        "acl",
        "cors",
        "delete",
        "lifecycle",
        "location",
        "logging",
        "notification",
        "partNumber",
        "policy",
        "requestPayment",
        "torrent",
        "uploadId",
        "uploads",
        "versionId",
        "versioning",
        "versions",
        "website",
        "response-content-type",
        "response-content-language",
        "response-expires",
        "response-cache-control",
        "response-content-disposition",
        "response-content-encoding",
    }
    assert documented <= SUB_RESOURCES
    assert set(HmacV1Auth.QSAOfInterest) == SUB_RESOURCES


def test_a_bucket_is_signed_with_or_without_its_trailing_slash():
    for sent, signed_as in [("/bucket", "/bucket/"), ("/bucket/", "/bucket"), ("/b", "/b")]:
        _, _, query, headers = signed("GET", signed_as + "?acl")
        assert check(("GET", sent, query, headers))
    _, _, query, headers = signed("GET", "/bucket/k/")
    with pytest.raises(errors.SignatureDoesNotMatch):
        check(("GET", "/bucket/k", query, headers))
