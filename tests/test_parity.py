"""Parity shards: with P = 2, any two nodes may be lost and every object still reads right,
whole and by ranges across shard boundaries; with more lost, a clean 503 before any byte."""

import contextlib
import os
from collections.abc import Iterator

import pytest

from tests.processes import Cluster, drop_databases, http_request, unique_prefix

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def eight_nodes(mongo_uri, tmp_path_factory) -> Iterator[Cluster]:
    prefix = unique_prefix()
    cluster = Cluster(mongo_uri, prefix, tmp_path_factory.mktemp("parity-logs"))
    try:
        yield cluster.start(node_count=8)
    finally:
        cluster.stop()
        drop_databases(mongo_uri, prefix)


def layout(cluster: Cluster, bucket: str, key: str) -> dict:
    response = cluster.api("GET", f"/_cluster/objects/{bucket}/{key}")
    assert response.status == 200, response.body
    return response.json()


@contextlib.contextmanager
def killed(cluster: Cluster, nodes) -> Iterator[None]:
    """The nodes die at once (SIGKILL) and come back afterwards, each with what it stored."""
    for node in nodes:
        node.kill()
    try:
        yield
    finally:
        for node in nodes:
            node.start()
        for node in nodes:
            node.wait_ready()


def boundary_ranges(size: int) -> list[tuple[int, int]]:
    """Ranges that start before a data shard's boundary and end after it, plus the tail."""
    cuts = [i * size // 6 for i in range(1, 6)]
    ranges = [(max(cut - 3, 0), min(cut + 2, size - 1)) for cut in cuts if size > 1]
    if size > 2:
        ranges.append((size // 3, size - 1))
    return ranges


def reads_back(s3, bucket: str, key: str, body: bytes) -> None:
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    for first, last in boundary_ranges(len(body)):
        got = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={first}-{last}")["Body"].read()
        assert got == body[first : last + 1], (key, first, last)


def test_every_object_is_written_with_two_parity_shards_on_distinct_nodes(eight_nodes):
    s3 = eight_nodes.s3(retries={"max_attempts": 1})
    s3.create_bucket(Bucket="placed")
    s3.put_object(Bucket="placed", Key="k", Body=os.urandom(100_000))
    shards = layout(eight_nodes, "placed", "k")
    assert [p["index"] for p in shards["parity"]] == [6, 7]
    assert all(p["size"] == 100_000 - 5 * 100_000 // 6 for p in shards["parity"])
    nodes = {p["node_id"] for p in shards["parts"] + shards["parity"]}
    assert len(nodes) == 8


@pytest.mark.slow
@pytest.mark.faults
def test_small_objects_read_with_any_two_of_eight_nodes_killed(eight_nodes):
    s3 = eight_nodes.s3(retries={"max_attempts": 1})
    s3.create_bucket(Bucket="small")
    bodies = {"empty": b"", "one": b"x", "seven": b"7 bytes", "mib": os.urandom(MIB + 1)}
    for key, body in bodies.items():
        s3.put_object(Bucket="small", Key=key, Body=body)

    # Every pair, one node down while each of those after it goes down and comes back.
    nodes = eight_nodes.nodes
    for first, node in enumerate(nodes[:-1]):
        with killed(eight_nodes, [node]):
            for other in nodes[first + 1 :]:
                with killed(eight_nodes, [other]):
                    for key, body in bodies.items():
                        reads_back(s3, "small", key, body)


@pytest.mark.slow
@pytest.mark.faults
def test_large_and_multipart_objects_read_with_two_nodes_killed(eight_nodes):
    s3 = eight_nodes.s3(retries={"max_attempts": 1})
    s3.create_bucket(Bucket="large")
    large = os.urandom(64 * MIB)
    s3.put_object(Bucket="large", Key="large", Body=large)
    pieces = [os.urandom(5 * MIB), os.urandom(3 * MIB + 7)]
    upload = s3.create_multipart_upload(Bucket="large", Key="multi")["UploadId"]
    etags = [
        s3.upload_part(Bucket="large", Key="multi", UploadId=upload, PartNumber=n, Body=piece)[
            "ETag"
        ]
        for n, piece in enumerate(pieces, start=1)
    ]
    s3.complete_multipart_upload(
        Bucket="large",
        Key="multi",
        UploadId=upload,
        MultipartUpload={"Parts": [{"ETag": e, "PartNumber": n} for n, e in enumerate(etags, 1)]},
    )
    multi = b"".join(pieces)
    assert len(layout(eight_nodes, "large", "multi")["parity"]) == 4  # two for each part

    nodes = eight_nodes.nodes
    for pair in [(nodes[0], nodes[1]), (nodes[2], nodes[7])]:
        with killed(eight_nodes, pair):
            reads_back(s3, "large", "large", large)
            reads_back(s3, "large", "multi", multi)


@pytest.mark.faults
def test_three_of_eight_nodes_down_is_a_503_before_any_byte(eight_nodes):
    s3 = eight_nodes.s3(retries={"max_attempts": 1})
    s3.create_bucket(Bucket="toomany")
    s3.put_object(Bucket="toomany", Key="small", Body=os.urandom(1000))
    s3.put_object(Bucket="toomany", Key="large", Body=os.urandom(8 * MIB))
    with killed(eight_nodes, eight_nodes.nodes[:3]):
        for key in ("small", "large"):
            response = http_request("GET", f"{eight_nodes.url}/toomany/{key}")
            assert (response.status, response.s3_error_code) == (503, "ServiceUnavailable")
            assert b"cannot be read" in response.body


@pytest.mark.faults
def test_with_six_nodes_any_one_may_be_lost(cluster):
    s3 = cluster.s3(retries={"max_attempts": 1})
    s3.create_bucket(Bucket="six")
    bodies = {"small": os.urandom(5000), "large": os.urandom(3 * MIB + 1)}
    for key, body in bodies.items():
        s3.put_object(Bucket="six", Key=key, Body=body)
    assert len(layout(cluster, "six", "large")["parity"]) == 2

    for node in cluster.nodes:
        with killed(cluster, [node]):
            for key, body in bodies.items():
                assert s3.get_object(Bucket="six", Key=key)["Body"].read() == body
