"""The object API end to end: real gateway, six real nodes, real database, real S3 clients."""

import base64
import hashlib
import http.client
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from collections import Counter

import pymongo
import pytest
from botocore.exceptions import ClientError

from tests.processes import http_request, wait_until

NS = {"s3": "http://s3.amazonaws.com/doc/2006-03-01/"}
MIB = 1024 * 1024


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def error_code(error: ClientError) -> str:
    return error.response["Error"]["Code"]


def parts_of(cluster, bucket: str, key: str) -> list[dict]:
    response = cluster.api("GET", f"/_cluster/objects/{bucket}/{quote(key)}")
    assert response.status == 200, response.body
    return response.json()["parts"]


def quote(key: str) -> str:
    return urllib.parse.quote(key, safe="/")


@pytest.mark.parametrize("size", [0, 1, 5, 6, 7, MIB + 1, 64 * MIB])
def test_round_trip_cuts_six_near_equal_parts_on_six_nodes(shared_cluster, s3, bucket, size):
    body = os.urandom(size)
    put = s3.put_object(Bucket=bucket, Key="object", Body=body)
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'

    got = s3.get_object(Bucket=bucket, Key="object")
    assert sha256(got["Body"].read()) == sha256(body)
    assert got["ContentLength"] == size

    parts = parts_of(shared_cluster, bucket, "object")
    assert [part["index"] for part in parts] == list(range(6))
    assert len({part["node_id"] for part in parts}) == 6
    sizes = [part["size"] for part in parts]
    assert sum(sizes) == size and max(sizes) - min(sizes) <= 1
    assert [part["offset"] for part in parts] == [i * size // 6 for i in range(6)]
    assert [part["sha256"] for part in parts] == [
        sha256(body[p["offset"] : p["offset"] + p["size"]]) for p in parts
    ]


@pytest.mark.parametrize("key", ["a b", "a%20b", "ключ/файл.txt", "100%", "x+y=z&q", "dir//x"])
def test_awkward_keys_are_stored_exactly_as_named(shared_cluster, s3, bucket, key):
    s3.put_object(Bucket=bucket, Key=key, Body=b"named")
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"named"
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [entry["Key"] for entry in listed] == [key]


def test_content_type_and_user_metadata_are_kept(s3, bucket):
    s3.put_object(
        Bucket=bucket,
        Key="doc",
        Body=b"{}",
        ContentType="application/json",
        Metadata={"colour": "blue", "owner": "ada"},
    )
    head = s3.head_object(Bucket=bucket, Key="doc")
    assert head["ContentType"] == "application/json"
    assert head["Metadata"] == {"colour": "blue", "owner": "ada"}
    assert head["ContentLength"] == 2
    assert head["LastModified"].tzinfo is not None


def test_overwrite_swaps_the_object_and_deletes_the_old_parts(shared_cluster, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"first version")
    old_parts = {part["shard_id"] for part in parts_of(shared_cluster, bucket, "k")}
    s3.put_object(Bucket=bucket, Key="k", Body=b"second, longer version")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"second, longer version"
    new_parts = {part["shard_id"] for part in parts_of(shared_cluster, bucket, "k")}
    assert not old_parts & new_parts
    stored = shared_cluster.stored_part_ids()
    assert new_parts <= stored
    assert not old_parts & stored


def test_delete_removes_the_object_and_its_parts_and_is_idempotent(shared_cluster, s3, bucket):
    s3.put_object(Bucket=bucket, Key="gone", Body=os.urandom(1000))
    part_ids = {part["shard_id"] for part in parts_of(shared_cluster, bucket, "gone")}
    assert s3.delete_object(Bucket=bucket, Key="gone")["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as missing:
        s3.head_object(Bucket=bucket, Key="gone")
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert not part_ids & shared_cluster.stored_part_ids()
    again = s3.delete_object(Bucket=bucket, Key="gone")
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 204


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-0", 0, 1),
        ("bytes=1000-1000", 1000, 1001),  # the first byte of part 1 (6000 / 6)
        ("bytes=999-3001", 999, 3002),  # across three part boundaries
        ("bytes=4500-", 4500, 6000),
        ("bytes=-1500", 4500, 6000),
        ("bytes=5990-99999", 5990, 6000),
    ],
)
def test_ranges_return_206_with_exactly_the_bytes_asked_for(s3, bucket, header, start, end):
    body = os.urandom(6000)
    s3.put_object(Bucket=bucket, Key="ranged", Body=body)
    got = s3.get_object(Bucket=bucket, Key="ranged", Range=header)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["ContentRange"] == f"bytes {start}-{end - 1}/6000"
    assert got["Body"].read() == body[start:end]


def test_a_range_beyond_the_end_is_416_invalid_range(s3, bucket):
    s3.put_object(Bucket=bucket, Key="short", Body=b"12345")
    with pytest.raises(ClientError) as error:
        s3.get_object(Bucket=bucket, Key="short", Range="bytes=5-9")
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 416
    assert error_code(error.value) == "InvalidRange"
    assert error.value.response["ResponseMetadata"]["HTTPHeaders"]["content-range"] == "bytes */5"
    assert error.value.response["Error"]["ActualObjectSize"] == "5"


def test_curl_uploads_a_file_and_a_chunked_stream(shared_cluster, s3, bucket, tmp_path):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    body = os.urandom(3 * MIB + 11)
    path = tmp_path / "upload.bin"
    path.write_bytes(body)
    url = f"{shared_cluster.url}/{bucket}"
    subprocess.run(["curl", "-sSf", "-T", str(path), f"{url}/from-file"], check=True)
    with open(path, "rb") as stdin:
        subprocess.run(["curl", "-sSf", "-T", "-", f"{url}/from-pipe"], stdin=stdin, check=True)
    for key in ("from-file", "from-pipe"):
        downloaded = subprocess.run(
            ["curl", "-sSf", f"{url}/{key}"], check=True, capture_output=True
        ).stdout
        assert sha256(downloaded) == sha256(body)
        assert len(parts_of(shared_cluster, bucket, key)) == 6


def test_boto3_upload_file_and_download_file(s3, bucket, tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(5 * MIB))  # under boto3's 8 MiB multipart threshold
    s3.upload_file(str(source), bucket, "via/transfer")
    target = tmp_path / "target.bin"
    s3.download_file(bucket, "via/transfer", str(target))
    assert sha256(target.read_bytes()) == sha256(source.read_bytes())


def test_content_md5_mismatch_is_bad_digest_and_stores_nothing(shared_cluster, bucket):
    wrong = base64.b64encode(hashlib.md5(b"something else").digest()).decode()
    response = http_request(
        "PUT",
        f"{shared_cluster.url}/{bucket}/digest",
        headers={"Content-MD5": wrong},
        body=b"the real body",
    )
    assert response.status == 400
    assert response.s3_error_code == "BadDigest"
    assert http_request("HEAD", f"{shared_cluster.url}/{bucket}/digest").status == 404


def test_a_matching_content_md5_is_accepted(shared_cluster, bucket):
    right = base64.b64encode(hashlib.md5(b"the real body").digest()).decode()
    response = http_request(
        "PUT",
        f"{shared_cluster.url}/{bucket}/digest",
        headers={"Content-MD5": right},
        body=b"the real body",
    )
    assert response.status == 200


def test_buckets_are_created_listed_and_deleted(s3):
    name = f"life-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    s3.create_bucket(Bucket=name)  # us-east-1 answers 200 to creating your own bucket again
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.head_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    with pytest.raises(ClientError) as not_empty:
        s3.delete_bucket(Bucket=name)
    assert error_code(not_empty.value) == "BucketNotEmpty"
    s3.delete_object(Bucket=name, Key="k")
    s3.delete_bucket(Bucket=name)
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


@pytest.mark.parametrize("name", ["ab", "Upper", "a_b", "-ab", "a..b", "192.168.5.4", "xn--ab"])
def test_invalid_bucket_names_are_refused(shared_cluster, name):
    response = http_request("PUT", f"{shared_cluster.url}/{name}")
    assert response.status == 400
    assert response.s3_error_code == "InvalidBucketName"


def test_missing_bucket_and_key_have_their_own_errors(s3, bucket):
    with pytest.raises(ClientError) as no_key:
        s3.get_object(Bucket=bucket, Key="nothing-here")
    assert error_code(no_key.value) == "NoSuchKey"
    with pytest.raises(ClientError) as no_bucket:
        s3.put_object(Bucket=f"missing-{uuid.uuid4().hex[:8]}", Key="k", Body=b"x")
    assert error_code(no_bucket.value) == "NoSuchBucket"


def test_error_bodies_are_s3_xml_with_the_request_id(shared_cluster, bucket):
    response = http_request("GET", f"{shared_cluster.url}/{bucket}/absent")
    assert response.status == 404
    error = ET.fromstring(response.body)
    assert error.tag == "Error"
    assert error.findtext("Code") == "NoSuchKey"
    assert error.findtext("Key") == "absent"
    assert error.findtext("RequestId") == response.headers["x-amz-request-id"]


def test_a_key_over_1024_bytes_is_key_too_long(shared_cluster, bucket):
    key = "é" * 513  # 1026 bytes of UTF-8
    response = http_request("PUT", f"{shared_cluster.url}/{bucket}/{quote(key)}", body=b"x")
    assert response.status == 400
    assert response.s3_error_code == "KeyTooLongError"


def test_an_upload_without_length_or_chunking_is_refused(shared_cluster, bucket):
    connection = http.client.HTTPConnection("127.0.0.1", shared_cluster.gateway.port, timeout=10)
    connection.putrequest("PUT", f"/{bucket}/no-length")
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 411
    assert ET.fromstring(response.read()).findtext("Code") == "MissingContentLength"
    connection.close()


def test_unsupported_operations_answer_not_implemented(shared_cluster, bucket):
    response = http_request("GET", f"{shared_cluster.url}/{bucket}?tagging")
    assert response.status == 501
    assert response.s3_error_code == "NotImplemented"


def list_all(s3, bucket, **arguments) -> tuple[list[str], list[str], int]:
    keys, prefixes, pages = [], [], 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, **arguments):
        pages += 1
        keys += [entry["Key"] for entry in page.get("Contents", [])]
        prefixes += [entry["Prefix"] for entry in page.get("CommonPrefixes", [])]
    return keys, prefixes, pages


def test_listing_pages_through_keys_in_utf8_binary_order(s3, bucket):
    keys = ["a", "b/1", "b/2", "c", "zz", "é", "日本", "~", "A", "b0"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"")
    listed, _, pages = list_all(s3, bucket, PaginationConfig={"PageSize": 3})
    assert listed == sorted(keys, key=lambda key: key.encode())
    assert pages == 4


def test_listing_with_a_delimiter_rolls_keys_up_into_common_prefixes(s3, bucket):
    for key in [
        "photos/2024/a.jpg",
        "photos/2024/b.jpg",
        "photos/2025/c.jpg",
        "photos/x.jpg",
        "docs/readme",
        "top",
    ]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"")
    keys, prefixes, _ = list_all(s3, bucket, Delimiter="/")
    assert keys == ["top"]
    assert prefixes == ["docs/", "photos/"]
    keys, prefixes, pages = list_all(
        s3, bucket, Prefix="photos/", Delimiter="/", PaginationConfig={"PageSize": 1}
    )
    assert keys == ["photos/x.jpg"]
    assert prefixes == ["photos/2024/", "photos/2025/"]
    assert pages == 3


def test_listing_starts_after_a_key(s3, bucket):
    for key in ["k1", "k2", "k3"]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"")
    page = s3.list_objects_v2(Bucket=bucket, StartAfter="k1", MaxKeys=1)
    assert [entry["Key"] for entry in page["Contents"]] == ["k2"]
    assert page["IsTruncated"] is True
    assert page["KeyCount"] == 1


def test_listing_entries_carry_size_etag_and_date(shared_cluster, s3, bucket):
    s3.put_object(Bucket=bucket, Key="sized", Body=b"12345")
    response = http_request("GET", f"{shared_cluster.url}/{bucket}?list-type=2")
    contents = ET.fromstring(response.body).find("s3:Contents", NS)
    assert contents.findtext("s3:Size", namespaces=NS) == "5"
    assert contents.findtext("s3:ETag", namespaces=NS) == f'"{hashlib.md5(b"12345").hexdigest()}"'
    assert contents.findtext("s3:LastModified", namespaces=NS).endswith("Z")


# Faults that need a cluster of their own


def test_more_nodes_down_than_parity_shards_makes_a_read_fail_with_503_before_any_byte(cluster):
    s3 = cluster.s3(retries={"max_attempts": 1})
    s3.create_bucket(Bucket="reads")
    body = os.urandom(60_000)
    s3.put_object(Bucket="reads", Key="k", Body=body)
    layout = cluster.api("GET", "/_cluster/objects/reads/k").json()
    held = Counter(shard["node_id"] for shard in layout["parts"] + layout["parity"])
    # Nodes other than shard 0's, most shards first, until more than the parity is lost.
    down, lost = [], 0
    for node_id, count in held.most_common():
        if node_id != layout["parts"][0]["node_id"] and lost <= len(layout["parity"]):
            down.append(next(n for n in cluster.nodes if n.node_id == node_id))
            lost += count
    for node in down:
        node.stop()

    response = http_request("GET", f"{cluster.url}/reads/k")
    assert response.status == 503
    assert response.s3_error_code == "ServiceUnavailable"
    # A range that needs only shards on nodes that are up is still served.
    assert s3.get_object(Bucket="reads", Key="k", Range="bytes=0-9")["Body"].read() == body[:10]

    for node in down:
        node.start()
    for node in down:
        node.wait_ready()
    assert s3.get_object(Bucket="reads", Key="k")["Body"].read() == body


def test_parts_of_a_node_that_was_down_are_deleted_when_it_is_back(cluster):
    s3 = cluster.s3(retries={"max_attempts": 1})
    s3.create_bucket(Bucket="later")
    s3.put_object(Bucket="later", Key="k", Body=os.urandom(6000))
    parts = parts_of(cluster, "later", "k")
    holder = next(n for n in cluster.nodes if n.node_id == parts[0]["node_id"])
    holder.stop()
    s3.delete_object(Bucket="later", Key="k")
    others = {p["shard_id"] for p in parts} - {parts[0]["shard_id"]}
    assert not others & cluster.stored_part_ids([n for n in cluster.nodes if n is not holder])

    holder.start()
    holder.wait_ready()

    def deferred_part_gone():
        listing = holder.request("GET", "/_node/parts").json()["parts"]
        return parts[0]["shard_id"] not in {part["part_id"] for part in listing}

    wait_until(deferred_part_gone, 60, "the deferred part deletion")


def test_a_client_that_goes_away_mid_upload_leaves_no_object_and_no_parts(shared_cluster, bucket):
    before = shared_cluster.stored_part_ids()
    with socket.create_connection(("127.0.0.1", shared_cluster.gateway.port)) as client:
        client.sendall(
            f"PUT /{bucket}/half HTTP/1.1\r\nHost: x\r\nContent-Length: {4 * MIB}\r\n\r\n".encode()
            + os.urandom(MIB + 5)  # past the first part's boundary, short of the end
        )
        time.sleep(0.5)  # let the first parts reach their nodes before the client vanishes
    assert http_request("HEAD", f"{shared_cluster.url}/{bucket}/half").status == 404
    wait_until(lambda: shared_cluster.stored_part_ids() == before, 30, "the aborted parts to go")


def test_an_object_over_the_size_limit_is_entity_too_large(cluster):
    cluster.restart_gateway("--max-object-size", "1000")
    cluster.s3().create_bucket(Bucket="limited")
    assert http_request("PUT", f"{cluster.url}/limited/ok", body=b"x" * 1000).status == 200
    too_big = http_request("PUT", f"{cluster.url}/limited/big", body=b"x" * 1001)
    assert too_big.status == 400
    assert too_big.s3_error_code == "EntityTooLarge"
    assert http_request("HEAD", f"{cluster.url}/limited/big").status == 404


def damage_first_part(cluster, size: int, chunk: int = 0) -> bytes:
    """Store an object and flip a byte of one chunk of its first shard in the node's database;
    answer the object's bytes."""
    s3 = cluster.s3(retries={"max_attempts": 1})
    s3.create_bucket(Bucket="rot")
    body = os.urandom(size)
    s3.put_object(Bucket="rot", Key="k", Body=body)
    first = parts_of(cluster, "rot", "k")[0]
    holder = next(n for n in cluster.nodes if n.node_id == first["node_id"])
    with pymongo.MongoClient(cluster.mongo_uri) as client:
        chunks = client[holder.db]["parts.chunks"]
        document = chunks.find_one({"_id": f"{first['shard_id']}/{chunk}"})
        flipped = bytes([document["data"][0] ^ 0xFF]) + document["data"][1:]
        chunks.update_one({"_id": document["_id"]}, {"$set": {"data": flipped}})
    return body


def test_a_damaged_shard_of_a_small_object_is_rebuilt_from_parity(cluster):
    body = damage_first_part(cluster, 600_000)  # read whole before the answer starts
    assert http_request("GET", f"{cluster.url}/rot/k").body == body


def test_a_damaged_shard_of_a_streamed_object_is_rebuilt_from_parity(cluster):
    body = damage_first_part(cluster, 12 * 1024 * 1024, chunk=1)  # damage shows once read
    assert http_request("GET", f"{cluster.url}/rot/k").body == body


def test_without_parity_a_damaged_small_object_is_an_error_before_any_byte(cluster):
    cluster.restart_gateway("--parity-shards", "0")
    damage_first_part(cluster, 600_000)
    response = http_request("GET", f"{cluster.url}/rot/k")
    assert (response.status, response.s3_error_code) == (503, "ServiceUnavailable")


def test_without_parity_a_damaged_shard_cuts_the_download_instead_of_delivering_wrong_bytes(
    cluster,
):
    cluster.restart_gateway("--parity-shards", "0")
    damage_first_part(cluster, 12 * 1024 * 1024, chunk=1)
    connection = http.client.HTTPConnection("127.0.0.1", cluster.gateway.port, timeout=30)
    connection.request("GET", "/rot/k")
    response = connection.getresponse()
    assert response.status == 200
    received = b""
    with pytest.raises(http.client.IncompleteRead) as cut:
        received = response.read()
    connection.close()
    assert len(cut.value.partial) + len(received) <= 1024 * 1024  # chunk 0 at most, not chunk 1
