"""Canned ACLs through a gateway that checks signatures: what the owner sets on buckets and
objects, what GetBucketAcl and GetObjectAcl show, and what anonymous callers (no signature at
all) may read; everything else they send is refused with S3's codes and stores nothing."""

import subprocess
import uuid
from email.utils import formatdate

import pytest
from botocore.exceptions import ClientError

from tests.processes import http_request

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"


def grants(policy: dict) -> list[tuple[str, str]]:
    """(grantee, permission) of each grant: "owner" or the group's URI."""
    return [
        (
            "owner" if g["Grantee"]["Type"] == "CanonicalUser" else g["Grantee"]["URI"],
            g["Permission"],
        )
        for g in policy["Grants"]
    ]


def anonymous(method: str, url: str, body: bytes | None = None, headers=None):
    return http_request(method, url, body=body, headers=headers)


def new_bucket(s3, **options) -> str:
    name = f"acl-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name, **options)
    return name


@pytest.fixture
def bucket(signed_s3) -> str:
    return new_bucket(signed_s3)


def test_a_public_read_object_is_served_to_anyone(secured, signed_s3, bucket):
    signed_s3.put_object(
        Bucket=bucket, Key="public file", Body=b"for everyone", ACL="public-read", ContentType="a/b"
    )
    signed_s3.put_object(Bucket=bucket, Key="private", Body=b"mine")
    url = f"{secured.url}/{bucket}"
    answer = anonymous("GET", f"{url}/public%20file")
    assert (answer.status, answer.body) == (200, b"for everyone")
    assert answer.headers["Content-Type"] == "a/b"
    assert anonymous("HEAD", f"{url}/public%20file").status == 200
    ranged = anonymous("GET", f"{url}/public%20file", headers={"Range": "bytes=4-"})
    assert (ranged.status, ranged.body) == (206, b"everyone")
    curled = subprocess.run(
        ["curl", "-sS", "--fail", f"{url}/public%20file"], capture_output=True, timeout=60
    )
    assert curled.returncode == 0 and curled.stdout == b"for everyone"
    for method in ("GET", "HEAD"):
        refused = anonymous(method, f"{url}/private")
        assert refused.status == 403
    assert anonymous("GET", f"{url}/private").s3_error_code == "AccessDenied"
    # the bucket is private: a missing key is not told apart from a private one
    assert anonymous("GET", f"{url}/absent").s3_error_code == "AccessDenied"
    # nor may anyone list it, or read the object's ACL
    assert anonymous("GET", f"{url}?list-type=2").s3_error_code == "AccessDenied"
    assert anonymous("GET", f"{url}/public%20file?acl").s3_error_code == "AccessDenied"
    assert grants(signed_s3.get_object_acl(Bucket=bucket, Key="public file")) == [
        ("owner", "FULL_CONTROL"),
        (ALL_USERS, "READ"),
    ]
    assert grants(signed_s3.get_object_acl(Bucket=bucket, Key="private")) == [
        ("owner", "FULL_CONTROL")
    ]


def test_a_public_read_bucket_may_be_listed_but_its_private_objects_stay_private(
    secured, signed_s3
):
    bucket = new_bucket(signed_s3, ACL="public-read")
    assert grants(signed_s3.get_bucket_acl(Bucket=bucket)) == [
        ("owner", "FULL_CONTROL"),
        (ALL_USERS, "READ"),
    ]
    signed_s3.put_object(Bucket=bucket, Key="dir/private", Body=b"mine")
    url = f"{secured.url}/{bucket}"
    for query in ("", "?list-type=2&prefix=dir/", "?versions", "?uploads"):
        listed = anonymous("GET", f"{url}{query}")
        assert listed.status == 200, (query, listed.body)
    assert b"<Key>dir/private</Key>" in anonymous("GET", f"{url}?list-type=2").body
    assert anonymous("HEAD", url).status == 200
    assert anonymous("GET", f"{url}/dir/private").s3_error_code == "AccessDenied"
    # who may list the bucket learns that a key does not exist
    assert anonymous("GET", f"{url}/absent").s3_error_code == "NoSuchKey"
    # the bucket's ACL is still the owner's
    assert anonymous("GET", f"{url}?acl").s3_error_code == "AccessDenied"


def test_put_acl_changes_what_anonymous_callers_get(secured, signed_s3, bucket):
    signed_s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    url = f"{secured.url}/{bucket}"
    assert anonymous("GET", f"{url}/k").status == 403
    signed_s3.put_object_acl(Bucket=bucket, Key="k", ACL="public-read")
    assert anonymous("GET", f"{url}/k").status == 200
    signed_s3.put_object_acl(Bucket=bucket, Key="k", ACL="authenticated-read")
    assert grants(signed_s3.get_object_acl(Bucket=bucket, Key="k"))[1:] == [
        (AUTHENTICATED_USERS, "READ")
    ]
    assert anonymous("GET", f"{url}/k").status == 403
    signed_s3.put_object_acl(Bucket=bucket, Key="k", GrantRead=f'uri="{ALL_USERS}"')
    assert anonymous("GET", f"{url}/k").status == 200
    signed_s3.put_object_acl(Bucket=bucket, Key="k", ACL="private")
    assert anonymous("GET", f"{url}/k").status == 403

    assert anonymous("GET", f"{url}?list-type=2").status == 403
    signed_s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    assert anonymous("GET", f"{url}?list-type=2").status == 200
    owner = signed_s3.get_bucket_acl(Bucket=bucket)["Owner"]
    signed_s3.put_bucket_acl(
        Bucket=bucket,
        AccessControlPolicy={
            "Owner": owner,
            "Grants": [
                {
                    "Grantee": {"Type": "CanonicalUser", "ID": owner["ID"]},
                    "Permission": "FULL_CONTROL",
                }
            ],
        },
    )
    assert grants(signed_s3.get_bucket_acl(Bucket=bucket)) == [("owner", "FULL_CONTROL")]
    assert anonymous("GET", f"{url}?list-type=2").status == 403


def test_an_overwrite_keeps_its_own_acl(secured, signed_s3, bucket):
    url = f"{secured.url}/{bucket}"
    signed_s3.put_object(Bucket=bucket, Key="k", Body=b"one", ACL="public-read")
    assert anonymous("GET", f"{url}/k").body == b"one"
    signed_s3.put_object(Bucket=bucket, Key="k", Body=b"two")
    assert anonymous("GET", f"{url}/k").status == 403


def test_copies_and_multipart_uploads_take_the_acl_of_their_request(secured, signed_s3, bucket):
    url = f"{secured.url}/{bucket}"
    signed_s3.put_object(Bucket=bucket, Key="source", Body=b"src", ACL="public-read")
    source = {"Bucket": bucket, "Key": "source"}
    signed_s3.copy_object(Bucket=bucket, Key="copy", CopySource=source)
    assert anonymous("GET", f"{url}/copy").status == 403  # an ACL is never copied
    signed_s3.copy_object(Bucket=bucket, Key="public copy", CopySource=source, ACL="public-read")
    assert anonymous("GET", f"{url}/public%20copy").body == b"src"
    upload = signed_s3.create_multipart_upload(Bucket=bucket, Key="multi", ACL="public-read")
    etag = signed_s3.upload_part(
        Bucket=bucket, Key="multi", UploadId=upload["UploadId"], PartNumber=1, Body=b"part"
    )["ETag"]
    signed_s3.complete_multipart_upload(
        Bucket=bucket,
        Key="multi",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
    )
    assert anonymous("GET", f"{url}/multi").body == b"part"
    assert grants(signed_s3.get_object_acl(Bucket=bucket, Key="multi"))[1:] == [(ALL_USERS, "READ")]


def test_acls_that_do_not_reduce_are_refused_and_store_nothing(signed_s3, bucket):
    with pytest.raises(ClientError) as refused:
        signed_s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="log-delivery-write")
    assert refused.value.response["Error"]["Code"] == "NotImplemented"
    with pytest.raises(ClientError) as refused:
        signed_s3.put_object(Bucket=bucket, Key="k", Body=b"x", GrantRead='emailAddress="a@b.c"')
    assert refused.value.response["Error"]["Code"] == "UnresolvableGrantByEmailAddress"
    with pytest.raises(ClientError):
        signed_s3.head_object(Bucket=bucket, Key="k")
    with pytest.raises(ClientError) as refused:
        signed_s3.put_bucket_acl(Bucket=bucket)
    assert refused.value.response["Error"]["Code"] == "MissingSecurityHeader"


def test_anonymous_callers_may_change_nothing(secured, signed_s3):
    """Even a public-read-write bucket takes no anonymous writes: s3lite serves anonymous
    callers reads only."""
    bucket = new_bucket(signed_s3, ACL="public-read-write")
    signed_s3.put_object(Bucket=bucket, Key="public", Body=b"keep", ACL="public-read")
    url = f"{secured.url}/{bucket}"
    cors = (
        b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin>"
        b"<AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>"
    )
    delete = b"<Delete><Object><Key>public</Key></Object></Delete>"
    refused = [
        ("PUT", f"{url}/new", b"data"),
        ("PUT", f"{url}/public", b"overwritten"),
        ("PUT", f"{url}/public?acl", b""),
        ("DELETE", f"{url}/public", None),
        ("POST", f"{url}?delete", delete),
        ("POST", f"{url}/multi?uploads", b""),
        ("PUT", f"{url}?acl", b""),
        ("PUT", f"{url}?cors", cors),
        ("DELETE", f"{url}?cors", None),
        ("GET", f"{url}?cors", None),
        ("GET", f"{url}?location", None),
        ("DELETE", url, None),
        ("PUT", f"{secured.url}/anonymous-bucket-{uuid.uuid4().hex[:8]}", b""),
        ("GET", f"{secured.url}/", None),
    ]
    for method, target, body in refused:
        headers = {"x-amz-acl": "public-read"} if target.endswith("?acl") else {}
        answer = anonymous(method, target, body, headers)
        assert answer.status == 403, (method, target, answer.status, answer.body)
        assert answer.s3_error_code == "AccessDenied", (method, target)
    copy = anonymous("PUT", f"{url}/copy", b"", {"x-amz-copy-source": f"/{bucket}/public"})
    assert copy.status == 403
    assert anonymous("GET", f"{url}/public").body == b"keep"
    listed = signed_s3.list_objects_v2(Bucket=bucket)
    assert [entry["Key"] for entry in listed["Contents"]] == ["public"]
    assert signed_s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert grants(signed_s3.get_object_acl(Bucket=bucket, Key="public"))[1:] == [
        (ALL_USERS, "READ")
    ]
    signed_s3.head_bucket(Bucket=bucket)
    with pytest.raises(ClientError):
        signed_s3.get_bucket_cors(Bucket=bucket)


def test_a_bad_signature_is_refused_even_for_a_public_object(secured, signed_s3, bucket):
    signed_s3.put_object(Bucket=bucket, Key="public", Body=b"x", ACL="public-read")
    forged = http_request(
        "GET",
        f"{secured.url}/{bucket}/public",
        headers={"Authorization": "AWS someone:c2lnbmF0dXJl", "Date": formatdate(usegmt=True)},
    )
    assert forged.status == 403 and forged.s3_error_code == "InvalidAccessKeyId"
