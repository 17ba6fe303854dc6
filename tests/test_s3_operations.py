"""The S3 operations clients rely on beyond PUT and GET: copy, batch delete, ListObjects v1,
bucket location, conditional requests and response overrides."""

import base64
import hashlib
import os
import zlib
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from tests.processes import http_request


def status_of(error: ClientError) -> int:
    return error.response["ResponseMetadata"]["HTTPStatusCode"]


def test_copy_object_makes_an_independent_copy_with_the_same_bytes(s3, bucket):
    body = os.urandom(100_000)
    s3.put_object(Bucket=bucket, Key="src dir/a+b", Body=body, Metadata={"tag": "one"})
    copied = s3.copy_object(
        Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "src dir/a+b"}
    )
    assert copied["CopyObjectResult"]["ETag"] == s3.head_object(Bucket=bucket, Key="copy")["ETag"]
    s3.delete_object(Bucket=bucket, Key="src dir/a+b")
    got = s3.get_object(Bucket=bucket, Key="copy")
    assert got["Body"].read() == body
    assert got["Metadata"] == {"tag": "one"}


def test_copy_object_can_replace_the_metadata(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Metadata={"tag": "old"})
    s3.copy_object(
        Bucket=bucket,
        Key="k",
        CopySource={"Bucket": bucket, "Key": "k"},
        Metadata={"tag": "new"},
        MetadataDirective="REPLACE",
        ContentType="text/plain",
    )
    head = s3.head_object(Bucket=bucket, Key="k")
    assert head["Metadata"] == {"tag": "new"}
    assert head["ContentType"] == "text/plain"


def test_copying_a_missing_object_is_no_such_key(s3, bucket):
    with pytest.raises(ClientError) as error:
        s3.copy_object(Bucket=bucket, Key="k", CopySource={"Bucket": bucket, "Key": "absent"})
    assert error.value.response["Error"]["Code"] == "NoSuchKey"


def test_copying_into_a_missing_bucket_is_refused_before_anything_is_stored(
    shared_cluster, s3, bucket
):
    s3.put_object(Bucket=bucket, Key="src", Body=os.urandom(100_000))
    stored_before = shared_cluster.stored_part_ids()
    with pytest.raises(ClientError) as error:
        s3.copy_object(Bucket="absent", Key="k", CopySource={"Bucket": bucket, "Key": "src"})
    assert error.value.response["Error"]["Code"] == "NoSuchBucket"
    assert shared_cluster.stored_part_ids() <= stored_before  # no part of a copy was stored


def test_delete_objects_deletes_a_batch_and_reports_each_key(s3, bucket):
    for key in ("a", "b", "c"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    answer = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "a"}, {"Key": "b"}, {"Key": "never"}]}
    )
    assert sorted(d["Key"] for d in answer["Deleted"]) == ["a", "b", "never"]
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [entry["Key"] for entry in listed] == ["c"]
    quiet = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "c"}], "Quiet": True})
    assert "Deleted" not in quiet
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_delete_objects_refuses_more_than_1000_keys(s3, bucket):
    with pytest.raises(ClientError) as error:
        s3.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": f"k{i}"} for i in range(1001)]}
        )
    assert error.value.response["Error"]["Code"] == "MalformedXML"


def test_malformed_xml_bodies_are_refused(shared_cluster, bucket):
    for body in (b"not xml", b"<Wrong/>", b'<!DOCTYPE x [<!ENTITY a "a">]><Delete/>'):
        response = http_request("POST", f"{shared_cluster.url}/{bucket}?delete", body=body)
        assert response.status == 400
        assert b"<Code>MalformedXML</Code>" in response.body


def test_list_objects_version_1_pages_with_markers(s3, bucket):
    for key in ("a/1", "a/2", "b", "c", "d"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"")
    keys, prefixes = [], []
    for page in s3.get_paginator("list_objects").paginate(
        Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 2}
    ):
        keys += [entry["Key"] for entry in page.get("Contents", [])]
        prefixes += [entry["Prefix"] for entry in page.get("CommonPrefixes", [])]
    assert keys == ["b", "c", "d"]
    assert prefixes == ["a/"]
    after = s3.list_objects(Bucket=bucket, Marker="b")
    assert [entry["Key"] for entry in after["Contents"]] == ["c", "d"]


def test_bucket_location_is_the_default_region(s3, bucket):
    assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] is None


def test_conditional_gets(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"v1")
    etag = put["ETag"]
    assert s3.get_object(Bucket=bucket, Key="k", IfMatch=etag)["Body"].read() == b"v1"
    with pytest.raises(ClientError) as mismatch:
        s3.get_object(Bucket=bucket, Key="k", IfMatch='"' + "0" * 32 + '"')
    assert status_of(mismatch.value) == 412
    with pytest.raises(ClientError) as unchanged:
        s3.get_object(Bucket=bucket, Key="k", IfNoneMatch=etag)
    assert status_of(unchanged.value) == 304
    later = datetime.now(UTC) + timedelta(hours=1)
    with pytest.raises(ClientError) as not_modified:
        s3.get_object(Bucket=bucket, Key="k", IfModifiedSince=later)
    assert status_of(not_modified.value) == 304
    earlier = datetime.now(UTC) - timedelta(hours=1)
    with pytest.raises(ClientError) as modified:
        s3.get_object(Bucket=bucket, Key="k", IfUnmodifiedSince=earlier)
    assert status_of(modified.value) == 412
    assert s3.get_object(Bucket=bucket, Key="k", IfModifiedSince=earlier)["Body"].read() == b"v1"


def test_response_overrides_set_the_answers_headers(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"data")
    got = s3.get_object(
        Bucket=bucket,
        Key="k",
        ResponseContentType="text/csv",
        ResponseContentDisposition='attachment; filename="k.csv"',
    )
    assert got["ContentType"] == "text/csv"
    assert got["ContentDisposition"] == 'attachment; filename="k.csv"'


@pytest.mark.parametrize("algorithm", ["SHA256", "SHA1", "CRC32", "CRC32C", "CRC64NVME"])
def test_a_checksum_sent_with_the_object_is_verified_kept_and_returned(s3, bucket, algorithm):
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"checked", ChecksumAlgorithm=algorithm)
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert got["Checksum" + algorithm] == put["Checksum" + algorithm]
    assert got["Body"].read() == b"checked"
    if algorithm == "SHA256":
        assert (
            put["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(b"checked").digest()).decode()
        )


# The check values of the catalogue of CRCs: each algorithm's CRC of b"123456789".
CHECK_VALUES = {"crc32c": "e3069283", "crc64nvme": "ae8b14860a799888"}


@pytest.mark.parametrize("algorithm", CHECK_VALUES)
def test_crc32c_and_crc64nvme_are_computed_by_the_gateway(shared_cluster, bucket, algorithm):
    header = f"x-amz-checksum-{algorithm}"
    right = base64.b64encode(bytes.fromhex(CHECK_VALUES[algorithm])).decode()
    url = f"{shared_cluster.url}/{bucket}/{algorithm}"
    wrong = http_request("PUT", url, headers={header: right}, body=b"123456780")
    assert (wrong.status, wrong.s3_error_code) == (400, "BadDigest")
    stored = http_request("PUT", url, headers={header: right}, body=b"123456789")
    assert stored.status == 200
    assert stored.headers[header] == right


def test_boto3s_default_crc32_is_verified_on_every_put(shared_cluster, bucket):
    wrong = base64.b64encode((zlib.crc32(b"other") & 0xFFFFFFFF).to_bytes(4, "big")).decode()
    response = http_request(
        "PUT",
        f"{shared_cluster.url}/{bucket}/k",
        headers={"x-amz-checksum-crc32": wrong},
        body=b"the body",
    )
    assert response.status == 400
    assert b"<Code>BadDigest</Code>" in response.body
    assert http_request("HEAD", f"{shared_cluster.url}/{bucket}/k").status == 404
    right = base64.b64encode(zlib.crc32(b"the body").to_bytes(4, "big")).decode()
    response = http_request(
        "PUT",
        f"{shared_cluster.url}/{bucket}/k",
        headers={"x-amz-checksum-crc32": right},
        body=b"the body",
    )
    assert response.status == 200
    assert response.headers["x-amz-checksum-crc32"] == right


def test_everything_is_private_to_the_owner(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="private")
    for policy in (s3.get_bucket_acl(Bucket=bucket), s3.get_object_acl(Bucket=bucket, Key="k")):
        assert [(g["Grantee"]["ID"], g["Permission"]) for g in policy["Grants"]] == [
            (policy["Owner"]["ID"], "FULL_CONTROL")
        ]
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    s3.put_object_acl(Bucket=bucket, Key="k", ACL="bucket-owner-full-control")
    owner_only = s3.get_object_acl(Bucket=bucket, Key="k")
    s3.put_object_acl(
        Bucket=bucket,
        Key="k",
        AccessControlPolicy={"Grants": owner_only["Grants"], "Owner": owner_only["Owner"]},
    )


def test_a_wider_acl_is_kept_and_without_credentials_everyone_is_the_owner(
    s3, shared_cluster, bucket
):
    """Without credentials every caller is the owner: a request with no signature reads and
    writes private objects. (What anonymous callers get from a gateway with credentials is in
    tests/test_public_access.py.)"""
    everyone = {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"}
    s3.put_object(Bucket=bucket, Key="public", Body=b"x", ACL="public-read")
    grants = s3.get_object_acl(Bucket=bucket, Key="public")["Grants"]
    assert [(g["Grantee"].get("URI"), g["Permission"]) for g in grants] == [
        (None, "FULL_CONTROL"),
        (everyone["URI"], "READ"),
    ]
    s3.put_object(Bucket=bucket, Key="k", Body=b"private")
    owner = s3.get_object_acl(Bucket=bucket, Key="k")["Owner"]
    s3.put_object_acl(
        Bucket=bucket,
        Key="k",
        AccessControlPolicy={
            "Grants": [{"Grantee": everyone, "Permission": "READ"}],
            "Owner": owner,
        },
    )
    assert len(s3.get_object_acl(Bucket=bucket, Key="k")["Grants"]) == 2
    s3.put_object_acl(Bucket=bucket, Key="k", ACL="private")
    assert http_request("GET", f"{shared_cluster.url}/{bucket}/k").body == b"private"
    assert http_request("PUT", f"{shared_cluster.url}/{bucket}/new", body=b"n").status == 200
    log_delivery = {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/s3/LogDelivery"}
    with pytest.raises(ClientError) as refused:
        s3.put_object_acl(
            Bucket=bucket,
            Key="k",
            AccessControlPolicy={
                "Grants": [{"Grantee": log_delivery, "Permission": "WRITE"}],
                "Owner": owner,
            },
        )
    assert refused.value.response["Error"]["Code"] == "NotImplemented"
    with pytest.raises(ClientError) as missing:
        s3.get_object_acl(Bucket=bucket, Key="absent")
    assert missing.value.response["Error"]["Code"] == "NoSuchKey"


def test_an_unversioned_bucket_lists_each_object_once_as_version_null(s3, bucket):
    keys = ["a/1", "a/2", "b", "c"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket, MaxKeys=1)
    versions = [version for page in pages for version in page.get("Versions", [])]
    assert [(v["Key"], v["VersionId"], v["IsLatest"], v["Size"]) for v in versions] == [
        (key, "null", True, len(key)) for key in keys
    ]
    rolled_up = s3.list_object_versions(Bucket=bucket, Delimiter="/", Prefix="")
    assert [p["Prefix"] for p in rolled_up["CommonPrefixes"]] == ["a/"]
    assert [v["Key"] for v in rolled_up["Versions"]] == ["b", "c"]


def test_standard_headers_given_on_upload_come_back_on_reads_and_copies(s3, bucket):
    given = {
        "CacheControl": "max-age=60",
        "ContentDisposition": 'attachment; filename="a.txt"',
        "ContentEncoding": "gzip",
        "ContentLanguage": "fr",
    }
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", **given)
    for key in ("k", "copied"):
        if key == "copied":
            s3.copy_object(Bucket=bucket, Key="copied", CopySource={"Bucket": bucket, "Key": "k"})
        head = s3.head_object(Bucket=bucket, Key=key)
        assert {name: head.get(name) for name in given} == given
    s3.copy_object(
        Bucket=bucket,
        Key="replaced",
        CopySource={"Bucket": bucket, "Key": "k"},
        MetadataDirective="REPLACE",
        CacheControl="no-cache",
    )
    replaced = s3.head_object(Bucket=bucket, Key="replaced")
    assert replaced["CacheControl"] == "no-cache"
    assert "ContentDisposition" not in replaced

    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mp", ContentLanguage="de")[
        "UploadId"
    ]
    part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=1, Body=b"y")
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="mp",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    assert s3.get_object(Bucket=bucket, Key="mp")["ContentLanguage"] == "de"
