"""The repairer puts every lost or damaged shard back on a node, gives old objects parity,
and deletes shards that nothing refers to; ``s3lite repair`` runs it once."""

import http.client
import json
import os
import subprocess
import sys
import time

import pymongo
import pytest

from tests.processes import Cluster, http_request, wait_until

MIB = 1024 * 1024


def command(cluster: Cluster, name: str, *extra: str) -> subprocess.CompletedProcess:
    return cluster.command(name, *extra)


def repair(cluster: Cluster, *extra: str) -> dict:
    done = command(cluster, "repair", "--json", *extra)
    assert done.returncode in (0, 1) and done.stdout.startswith("{"), done.stderr
    return json.loads(done.stdout)


def layout(cluster: Cluster, bucket: str, key: str) -> dict:
    response = cluster.api("GET", f"/_cluster/objects/{bucket}/{key}")
    assert response.status == 200, response.body
    return response.json()


def shards_of(cluster: Cluster, bucket: str, key: str) -> list[dict]:
    shards = layout(cluster, bucket, key)
    return shards["parts"] + shards["parity"]


def node_of(cluster: Cluster, node_id: str):
    return next(node for node in cluster.nodes if node.node_id == node_id)


def damage_chunk(cluster: Cluster, shard: dict, n: int = 0) -> None:
    with pymongo.MongoClient(cluster.mongo_uri) as client:
        chunks = client[node_of(cluster, shard["node_id"]).db]["parts.chunks"]
        chunk = chunks.find_one({"_id": f"{shard['shard_id']}/{n}"})
        flipped = bytes([chunk["data"][0] ^ 0xFF]) + chunk["data"][1:]
        chunks.update_one({"_id": chunk["_id"]}, {"$set": {"data": flipped}})


@pytest.mark.faults
def test_a_damaged_chunk_reads_right_is_reported_by_scrub_and_fixed_by_repair(cluster):
    s3 = cluster.s3(retries={"max_attempts": 1})
    s3.create_bucket(Bucket="rot")
    body = os.urandom(3 * MIB)
    s3.put_object(Bucket="rot", Key="k", Body=body)
    damaged = shards_of(cluster, "rot", "k")[2]
    damage_chunk(cluster, damaged)

    assert s3.get_object(Bucket="rot", Key="k")["Body"].read() == body
    scrubbed = command(cluster, "scrub", "--deep")
    assert scrubbed.returncode == 1
    assert f"shard 2 ({damaged['shard_id']} on {damaged['node_id']}) damaged" in scrubbed.stdout

    report = repair(cluster)  # the read reported the shard; no deep round is needed
    assert report["detail"]["rebuilt"] == 1
    rebuilt = shards_of(cluster, "rot", "k")[2]
    assert rebuilt["shard_id"] != damaged["shard_id"]
    assert rebuilt["sha256"] == damaged["sha256"]
    assert command(cluster, "scrub", "--deep").returncode == 0
    assert s3.get_object(Bucket="rot", Key="k")["Body"].read() == body


@pytest.mark.faults
def test_a_deep_repair_finds_damage_no_read_has_seen(cluster):
    s3 = cluster.s3(retries={"max_attempts": 1})
    s3.create_bucket(Bucket="quiet")
    body = os.urandom(2 * MIB + 3)
    s3.put_object(Bucket="quiet", Key="k", Body=body)
    damage_chunk(cluster, shards_of(cluster, "quiet", "k")[7])  # a parity shard

    assert repair(cluster)["detail"]["rebuilt"] == 0
    assert repair(cluster, "--deep")["detail"]["rebuilt"] == 1
    assert command(cluster, "scrub", "--deep").returncode == 0


@pytest.mark.slow
@pytest.mark.faults
def test_shards_of_a_node_down_past_the_repair_delay_are_rebuilt_elsewhere(
    mongo_uri, db_prefix, tmp_path
):
    cluster = Cluster(mongo_uri, db_prefix, tmp_path / "logs")
    try:
        cluster.start(node_count=9)
        s3 = cluster.s3(retries={"max_attempts": 1})
        s3.create_bucket(Bucket="lost")
        bodies = {f"k{n}": os.urandom(n * 300_000 + n) for n in range(6)}
        for key, body in bodies.items():
            s3.put_object(Bucket="lost", Key=key, Body=body)
        gone = cluster.nodes[0]
        held = [
            k
            for k in bodies
            if any(s["node_id"] == gone.node_id for s in shards_of(cluster, "lost", k))
        ]
        assert held
        old_shards = {p["part_id"] for p in gone_shards(gone)}
        gone.kill()
        cluster.wait_for_status([gone], "down")
        time.sleep(1.5)
        report = repair(cluster, "--repair-after-seconds", "1", "--delete-delay-seconds", "0")
        assert report["detail"]["rebuilt"] == len(held)
        for key in bodies:
            assert gone.node_id not in {s["node_id"] for s in shards_of(cluster, "lost", key)}
            assert len({s["node_id"] for s in shards_of(cluster, "lost", key)}) == 8

        # Two more nodes lost: every object still reads.
        for node in cluster.nodes[1:3]:
            node.kill()
        for key, body in bodies.items():
            assert s3.get_object(Bucket="lost", Key=key)["Body"].read() == body

        # The node comes back: the shards it held are deleted, as no record needs them.
        gone.start()
        gone.wait_ready()

        def old_shards_left():
            return old_shards & {p["part_id"] for p in gone_shards(gone)}

        wait_until(lambda: not old_shards_left(), 30, "the lost node's old shards deleted")
    finally:
        cluster.stop()


def gone_shards(node) -> list:
    return node.request("GET", "/_node/parts?limit=1000").json()["parts"]


@pytest.mark.faults
def test_parity_is_added_to_objects_written_without_it(cluster):
    cluster.restart_gateway("--parity-shards", "0")
    s3 = cluster.s3(retries={"max_attempts": 1})
    s3.create_bucket(Bucket="old")
    body = os.urandom(MIB + 11)
    s3.put_object(Bucket="old", Key="k", Body=body)
    assert layout(cluster, "old", "k")["parity"] == []
    cluster.restart_gateway("--parity-shards", "2")

    report = repair(cluster, "--add-parity", "--parity-shards", "2")
    assert report["detail"]["parity_added"] == 1
    assert [p["index"] for p in layout(cluster, "old", "k")["parity"]] == [6, 7]
    assert command(cluster, "scrub", "--deep").returncode == 0
    # With six nodes, parity doubles up on two of them: any one node may now be lost.
    for node in cluster.nodes:
        node.kill()
        try:
            assert s3.get_object(Bucket="old", Key="k")["Body"].read() == body
        finally:
            node.start()
            node.wait_ready()


@pytest.mark.faults
def test_stray_shards_are_listed_by_a_dry_run_and_deleted_once_past_the_grace(cluster):
    s3 = cluster.s3(retries={"max_attempts": 1})
    s3.create_bucket(Bucket="kept")
    s3.put_object(Bucket="kept", Key="k", Body=os.urandom(10_000))
    node = cluster.nodes[3]
    stray = node.request(
        "PUT", "/_node/parts/stray.0", body=b"left behind", headers={"Content-Length": "11"}
    )
    assert stray.status == 200, stray.body
    time.sleep(1.5)

    young = repair(cluster, "--dry-run")  # the default grace is ten minutes
    assert young["detail"]["strays"] == 0
    listed = repair(cluster, "--dry-run", "--gc-grace-seconds", "1")
    assert listed["detail"]["stray_shards"] == [
        {"node_id": node.node_id, "shard_id": "stray.0", "size": 11}
    ]
    assert "stray.0" in {p["part_id"] for p in gone_shards(node)}

    deleted = repair(cluster, "--gc-grace-seconds", "1")
    assert deleted["detail"]["strays_deleted"] == 1
    assert "stray.0" not in {p["part_id"] for p in gone_shards(node)}
    assert s3.get_object(Bucket="kept", Key="k")["Body"].read()  # what a record holds stays
    assert command(cluster, "scrub", "--deep").returncode == 0


def test_the_cluster_api_shows_the_repairers_progress(cluster):
    response = cluster.api("GET", "/_cluster/repair")
    assert response.status == 200
    assert response.json()["progress"]["job"] == "repair"
    assert http_request("GET", f"{cluster.url}/_cluster/repair").status == 401


@pytest.mark.slow
@pytest.mark.faults
def test_a_repair_killed_mid_copy_loses_nothing_and_leaves_no_orphan_past_the_grace(cluster):
    cluster.restart_gateway("--gc-grace-seconds", "2", "--gc-interval-seconds", "0.5")
    s3 = cluster.s3(retries={"max_attempts": 1})
    s3.create_bucket(Bucket="crash")
    body = os.urandom(48 * MIB)
    s3.put_object(Bucket="crash", Key="k", Body=body)
    damaged = shards_of(cluster, "crash", "k")[1]
    damage_chunk(cluster, damaged)

    repairing = subprocess.Popen(
        [sys.executable, "-m", "s3lite", "repair", "--deep", "--json"]
        + ["--mongo-uri", cluster.mongo_uri, "--db", cluster.gateway.db]
        + ["--cluster-token", cluster.token],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with pymongo.MongoClient(cluster.mongo_uri) as client:
        intents = client[cluster.gateway.db]["upload_intents"]
        copy = wait_until(
            lambda: intents.find_one({"kind": "relocation"}), 60, "the repair's copy to start"
        )
        repairing.kill()
        repairing.wait()
        # The record still names the damaged shard; the collector deletes the copy.
        assert shards_of(cluster, "crash", "k")[1]["shard_id"] == damaged["shard_id"]
        wait_until(lambda: intents.count_documents({}) == 0, 30, "the copy's intent collected")
    copy_id = copy["shards"][0]["shard_id"]
    assert copy_id not in cluster.stored_part_ids()

    # The dead repair's lease runs out, then a round does the job.
    # (with the gateway's grace, as it would read it from the same settings)
    report = wait_until(
        lambda: (report := repair(cluster, "--deep", "--gc-grace-seconds", "2"))["ran"] and report,
        40,
        "a repair round",
    )
    assert report["detail"]["rebuilt"] == 1
    assert shards_of(cluster, "crash", "k")[1]["shard_id"] != damaged["shard_id"]
    assert s3.get_object(Bucket="crash", Key="k")["Body"].read() == body
    assert command(cluster, "scrub", "--deep").returncode == 0


@pytest.mark.faults
def test_the_gateway_repairs_by_itself_what_a_read_found_damaged(cluster):
    cluster.restart_gateway("--repair-interval-seconds", "1")
    s3 = cluster.s3(retries={"max_attempts": 1})
    s3.create_bucket(Bucket="self")
    body = os.urandom(2 * MIB)
    s3.put_object(Bucket="self", Key="k", Body=body)
    damaged = shards_of(cluster, "self", "k")[4]
    damage_chunk(cluster, damaged)
    assert s3.get_object(Bucket="self", Key="k")["Body"].read() == body

    def rebuilt():
        return shards_of(cluster, "self", "k")[4]["shard_id"] != damaged["shard_id"]

    wait_until(rebuilt, 30, "the gateway's repairer to rebuild the shard")
    assert cluster.api("GET", "/_cluster/repair").json()["progress"]["job"] == "repair"
    assert command(cluster, "scrub", "--deep").returncode == 0


@pytest.mark.faults
def test_damage_found_only_by_a_shards_sha256_cuts_the_read_and_is_repaired_after(cluster):
    """A chunk without a CRC (as earlier versions wrote them) shows damage only when the whole
    shard has been sent: the read is cut, and the shard reported and rebuilt."""
    s3 = cluster.s3(retries={"max_attempts": 1})
    s3.create_bucket(Bucket="old")
    body = os.urandom(3 * MIB)
    s3.put_object(Bucket="old", Key="k", Body=body)
    damaged = shards_of(cluster, "old", "k")[1]
    damage_chunk(cluster, damaged)
    with pymongo.MongoClient(cluster.mongo_uri) as client:
        chunks = client[node_of(cluster, damaged["node_id"]).db]["parts.chunks"]
        chunks.update_one({"_id": f"{damaged['shard_id']}/0"}, {"$unset": {"crc32": ""}})

    connection = http.client.HTTPConnection("127.0.0.1", cluster.gateway.port, timeout=30)
    connection.request("GET", "/old/k")
    with pytest.raises(http.client.IncompleteRead):
        connection.getresponse().read()
    connection.close()

    assert repair(cluster)["detail"]["rebuilt"] == 1
    assert s3.get_object(Bucket="old", Key="k")["Body"].read() == body
