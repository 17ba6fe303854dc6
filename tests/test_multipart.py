"""Multipart uploads, as boto3's transfer manager and the low-level calls use them."""

import hashlib
import os
import socket
from datetime import UTC, datetime

import pymongo
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from tests.processes import PARITY_SHARDS, SHARDS_PER_PART, wait_until

MIB = 1024 * 1024


def upload_intents(cluster) -> list[dict]:
    with pymongo.MongoClient(cluster.mongo_uri) as client:
        return list(client[cluster.gateway.db]["upload_intents"].find())


def shard_ids(cluster, bucket: str, key: str) -> set[str]:
    """Every shard of the object, data and parity."""
    layout = cluster.api("GET", f"/_cluster/objects/{bucket}/{key}").json()
    return {shard["shard_id"] for shard in layout["parts"] + layout["parity"]}


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
    assert len(layout["parity"]) == 5 * PARITY_SHARDS  # each uploaded part is protected
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
    assert len(uploaded) == 2 * SHARDS_PER_PART

    parts = {"Parts": [{"PartNumber": 1, "ETag": used["ETag"]}]}
    first = s3.complete_multipart_upload(
        Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload=parts
    )
    again = s3.complete_multipart_upload(
        Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload=parts
    )
    assert first["ETag"] == again["ETag"]
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"a"
    kept = shard_ids(shared_cluster, bucket, "k")
    assert len(kept) == SHARDS_PER_PART
    assert shared_cluster.stored_part_ids() & uploaded == kept


def test_abort_deletes_the_parts_and_forgets_the_upload(shared_cluster, s3, bucket):
    before = shared_cluster.stored_part_ids()
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=b"x" * 1000)
    assert len(shared_cluster.stored_part_ids() - before) == SHARDS_PER_PART
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
    assert len(cluster.stored_part_ids()) == SHARDS_PER_PART

    wait_until(lambda: not cluster.stored_part_ids(), 30, "the expired upload's parts to go")
    with pytest.raises(ClientError) as error:
        s3.list_parts(Bucket="forgotten", Key="k", UploadId=upload_id)
    assert code_of(error.value) == "NoSuchUpload"


@pytest.mark.parametrize(
    "left_by_a_dead_gateway",
    [{"state": "aborting"}, {"state": "completing", "claimed": datetime(2020, 1, 1, tzinfo=UTC)}],
    ids=["abort", "completion"],
)
def test_an_abort_or_completion_cut_short_is_undone_once_the_upload_expires(
    cluster, left_by_a_dead_gateway
):
    s3 = cluster.s3(retries={"max_attempts": 1})
    s3.create_bucket(Bucket="stuck")
    upload_id = s3.create_multipart_upload(Bucket="stuck", Key="k")["UploadId"]
    s3.upload_part(Bucket="stuck", Key="k", UploadId=upload_id, PartNumber=1, Body=b"x" * 99)
    with pymongo.MongoClient(cluster.mongo_uri) as client:
        client[cluster.gateway.db]["multipart_uploads"].update_one(
            {"upload_id": upload_id}, {"$set": left_by_a_dead_gateway}
        )
    assert len(cluster.stored_part_ids()) == SHARDS_PER_PART

    cluster.restart_gateway("--multipart-expiry-seconds", "2", "--gc-interval-seconds", "0.5")
    wait_until(lambda: not cluster.stored_part_ids(), 30, "the stuck upload's parts to go")
    with pytest.raises(ClientError) as error:
        s3.list_parts(Bucket="stuck", Key="k", UploadId=upload_id)
    assert code_of(error.value) == "NoSuchUpload"


def test_the_newest_upload_of_a_part_number_counts(shared_cluster, s3, bucket):
    before = shared_cluster.stored_part_ids()
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    older = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=b"old")
    newer = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=b"new")
    listed = s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["ETag"]) for p in listed] == [(1, newer["ETag"])]
    with pytest.raises(ClientError) as stale:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="k",
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": older["ETag"]}]},
        )
    assert code_of(stale.value) == "InvalidPart"

    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="k",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": newer["ETag"]}]},
    )
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"new"
    assert shared_cluster.stored_part_ids() - before == shard_ids(shared_cluster, bucket, "k")


def test_a_part_still_arriving_when_the_upload_completes_is_refused_and_collected(cluster):
    cluster.restart_gateway("--gc-grace-seconds", "2", "--gc-interval-seconds", "0.5")
    s3 = cluster.s3(retries={"max_attempts": 1})
    s3.create_bucket(Bucket="bucket")
    upload_id = s3.create_multipart_upload(Bucket="bucket", Key="k")["UploadId"]
    first = s3.upload_part(Bucket="bucket", Key="k", UploadId=upload_id, PartNumber=1, Body=b"1")

    late = socket.create_connection(("127.0.0.1", cluster.gateway.port))
    late.sendall(
        f"PUT /bucket/k?partNumber=2&uploadId={upload_id} HTTP/1.1\r\nHost: x\r\n"
        "Content-Length: 60000\r\n\r\n".encode()
        + b"2" * 30_000
    )
    wait_until(lambda: upload_intents(cluster), 30, "the late part to be under way")
    s3.complete_multipart_upload(
        Bucket="bucket",
        Key="k",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": first["ETag"]}]},
    )
    late.sendall(b"2" * 30_000)
    reply = late.recv(4096)
    late.close()
    assert reply.startswith(b"HTTP/1.1 404"), reply
    assert b"<Code>NoSuchUpload</Code>" in reply

    assert s3.get_object(Bucket="bucket", Key="k")["Body"].read() == b"1"
    kept = shard_ids(cluster, "bucket", "k")
    wait_until(lambda: cluster.stored_part_ids() == kept, 30, "the late part to be collected")
    assert s3.get_object(Bucket="bucket", Key="k")["Body"].read() == b"1"


def test_a_part_can_be_copied_from_a_range_of_another_object(shared_cluster, s3, bucket):
    source = os.urandom(6 * MIB + 5)
    s3.put_object(Bucket=bucket, Key="source", Body=source)
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="assembled")["UploadId"]

    def copy_part(number: int, first: int, last: int) -> dict:
        return s3.upload_part_copy(
            Bucket=bucket,
            Key="assembled",
            UploadId=upload_id,
            PartNumber=number,
            CopySource={"Bucket": bucket, "Key": "source"},
            CopySourceRange=f"bytes={first}-{last}",
        )["CopyPartResult"]

    first = copy_part(1, 0, 5 * MIB - 1)
    assert first["ETag"] == f'"{hashlib.md5(source[: 5 * MIB]).hexdigest()}"'
    second = copy_part(2, 5 * MIB, len(source) - 1)
    listed = s3.list_parts(Bucket=bucket, Key="assembled", UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in listed] == [(1, 5 * MIB), (2, MIB + 5)]
    with pytest.raises(ClientError) as outside:
        copy_part(3, 0, len(source))
    assert code_of(outside.value) == "InvalidRange"

    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="assembled",
        UploadId=upload_id,
        MultipartUpload={
            "Parts": [
                {"PartNumber": 1, "ETag": first["ETag"]},
                {"PartNumber": 2, "ETag": second["ETag"]},
            ]
        },
    )
    assert s3.get_object(Bucket=bucket, Key="assembled")["Body"].read() == source
    assert s3.head_object(Bucket=bucket, Key="assembled")["ContentLength"] == len(source)
    assert "source" in [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
