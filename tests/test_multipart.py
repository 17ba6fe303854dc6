"""Multipart uploads, as boto3's transfer manager and the low-level calls use them."""

import hashlib
import os

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from tests.processes import wait_until

MIB = 1024 * 1024


def code_of(error: ClientError) -> str:
    return error.response["Error"]["Code"]


def test_upload_file_and_download_file_of_40_mib_in_parts(shared_cluster, s3, bucket, tmp_path):
    source = tmp_path / "forty.bin"
    source.write_bytes(os.urandom(40 * MIB))
    config = TransferConfig(multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB)
    s3.upload_file(str(source), bucket, "big/forty.bin", Config=config)

    head = s3.head_object(Bucket=bucket, Key="big/forty.bin")
    assert head["ContentLength"] == 40 * MIB
    assert head["ETag"].endswith('-5"')
    layout = shared_cluster.api("GET", f"/_cluster/objects/{bucket}/big/forty.bin").json()
    assert len(layout["parts"]) == 5 * 6
    assert [p["offset"] for p in layout["parts"]] == sorted(p["offset"] for p in layout["parts"])

    target = tmp_path / "back.bin"
    s3.download_file(bucket, "big/forty.bin", str(target), Config=config)
    assert (
        hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(source.read_bytes()).digest()
    )
    ranged = s3.get_object(
        Bucket=bucket, Key="big/forty.bin", Range=f"bytes={8 * MIB - 3}-{8 * MIB + 2}"
    )
    assert ranged["Body"].read() == source.read_bytes()[8 * MIB - 3 : 8 * MIB + 3]


def test_the_etag_is_the_md5_of_the_part_md5s(s3, bucket):
    parts = [os.urandom(5 * MIB), os.urandom(100)]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="k", ContentType="text/plain")
    etags = [
        s3.upload_part(
            Bucket=bucket, Key="k", UploadId=upload["UploadId"], PartNumber=n + 1, Body=body
        )["ETag"]
        for n, body in enumerate(parts)
    ]
    listed = s3.list_parts(Bucket=bucket, Key="k", UploadId=upload["UploadId"])["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in listed] == [(1, 5 * MIB), (2, 100)]
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="k",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]},
    )
    expected = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    assert done["ETag"] == f'"{expected}-2"'
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == b"".join(parts)
    assert got["ContentType"] == "text/plain"


def test_completion_checks_parts_order_and_size(s3, bucket):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]

    def put(number, body):
        return s3.upload_part(
            Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=number, Body=body
        )["ETag"]

    small, last = put(1, b"too small to be anything but the last"), put(2, b"end")

    def complete(parts):
        with pytest.raises(ClientError) as error:
            s3.complete_multipart_upload(
                Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        return code_of(error.value)

    assert complete([{"PartNumber": 2, "ETag": last}, {"PartNumber": 1, "ETag": small}]) == (
        "InvalidPartOrder"
    )
    assert complete([{"PartNumber": 1, "ETag": '"' + "0" * 32 + '"'}]) == "InvalidPart"
    assert complete([{"PartNumber": 3, "ETag": last}]) == "InvalidPart"
    assert complete([{"PartNumber": 1, "ETag": small}, {"PartNumber": 2, "ETag": last}]) == (
        "EntityTooSmall"
    )
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="k")


def test_a_repeated_completion_succeeds_and_unused_parts_are_deleted(shared_cluster, s3, bucket):
    before = shared_cluster.stored_part_ids()
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    used = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=b"a")
    s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=2, Body=b"unused")
    uploaded = shared_cluster.stored_part_ids() - before
    assert len(uploaded) == 12

    parts = {"Parts": [{"PartNumber": 1, "ETag": used["ETag"]}]}
    first = s3.complete_multipart_upload(
        Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload=parts
    )
    again = s3.complete_multipart_upload(
        Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload=parts
    )
    assert first["ETag"] == again["ETag"]
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"a"
    layout = shared_cluster.api("GET", f"/_cluster/objects/{bucket}/k").json()["parts"]
    kept = {part["part_id"] for part in layout}
    assert len(kept) == 6
    assert shared_cluster.stored_part_ids() & uploaded == kept


def test_abort_deletes_the_parts_and_forgets_the_upload(shared_cluster, s3, bucket):
    before = shared_cluster.stored_part_ids()
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=b"x" * 1000)
    assert len(shared_cluster.stored_part_ids() - before) == 6
    listed = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in listed] == [("k", upload_id)]

    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id)
    assert shared_cluster.stored_part_ids() == before
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)
    with pytest.raises(ClientError) as error:
        s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)
    assert code_of(error.value) == "NoSuchUpload"


def test_a_multipart_upload_left_open_expires_with_its_parts(cluster):
    cluster.restart_gateway("--multipart-expiry-seconds", "2", "--gc-interval-seconds", "0.5")
    s3 = cluster.s3(retries={"max_attempts": 1})
    s3.create_bucket(Bucket="forgotten")
    upload_id = s3.create_multipart_upload(Bucket="forgotten", Key="k")["UploadId"]
    s3.upload_part(Bucket="forgotten", Key="k", UploadId=upload_id, PartNumber=1, Body=b"x" * 99)
    assert len(cluster.stored_part_ids()) == 6

    wait_until(lambda: not cluster.stored_part_ids(), 30, "the expired upload's parts to go")
    with pytest.raises(ClientError) as error:
        s3.list_parts(Bucket="forgotten", Key="k", UploadId=upload_id)
    assert code_of(error.value) == "NoSuchUpload"
