"""Faults the cluster must survive without losing or corrupting anything."""

import os
import socket
import subprocess
import sys
import time

import pymongo
import pytest

from tests.processes import Cluster, http_request, wait_until

pytestmark = pytest.mark.faults
MIB = 1024 * 1024


def test_while_the_database_is_away_requests_get_503_and_service_returns_after(
    private_database, db_prefix, tmp_path
):
    cluster = Cluster(private_database.uri, db_prefix, tmp_path / "logs")
    try:
        cluster.start()
        s3 = cluster.s3(retries={"max_attempts": 1})
        s3.create_bucket(Bucket="kept")
        s3.put_object(Bucket="kept", Key="k", Body=b"before the outage")

        private_database.stop()
        response = http_request("GET", f"{cluster.url}/kept/k")
        assert response.status == 503
        assert response.s3_error_code == "ServiceUnavailable"
        assert cluster.gateway.request("GET", "/_cluster/health").status == 503

        private_database.start()
        private_database.wait_ready()
        wait_until(
            lambda: cluster.gateway.request("GET", "/_cluster/health").status == 200,
            30,
            "the gateway to reach its database again",
        )
        cluster.wait_for_nodes_up()  # their heartbeats failed meanwhile; they resume alone
        assert s3.get_object(Bucket="kept", Key="k")["Body"].read() == b"before the outage"
        s3.put_object(Bucket="kept", Key="after", Body=b"after the outage")
        assert cluster.gateway.running and all(node.running for node in cluster.nodes)
    finally:
        cluster.stop()


def test_a_node_killed_during_an_upload_fails_it_and_leaves_no_object(cluster):
    s3 = cluster.s3(retries={"max_attempts": 1})
    s3.create_bucket(Bucket="crash")
    size = 12 * MIB
    client = socket.create_connection(("127.0.0.1", cluster.gateway.port))
    client.sendall(f"PUT /crash/k HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n".encode())
    client.sendall(os.urandom(MIB))  # well inside the first part
    time.sleep(0.5)
    # The upload's intent names its nodes: kill the one receiving the first part.
    first = next(n for n in cluster.nodes if n.node_id == intent_node_ids(cluster)[0])
    first.kill()
    try:
        client.sendall(os.urandom(size - MIB))
        reply = client.recv(4096)
    except OSError:
        reply = b""  # the gateway may drop the connection rather than answer
    client.close()
    assert not reply.startswith(b"HTTP/1.1 200"), reply
    assert http_request("HEAD", f"{cluster.url}/crash/k").status == 404
    survivors = [n for n in cluster.nodes if n is not first]
    wait_until(
        lambda: not cluster.stored_part_ids(survivors), 30, "the upload's parts to be deleted"
    )


def intent_node_ids(cluster) -> list[str]:
    with pymongo.MongoClient(cluster.mongo_uri) as client:
        intent = client[cluster.gateway.db]["upload_intents"].find_one()
    return [part["node_id"] for part in sorted(intent["parts"], key=lambda p: p["index"])]


def test_after_every_process_restarts_every_object_reads_back_byte_for_byte(cluster):
    s3 = cluster.s3(retries={"max_attempts": 1})
    s3.create_bucket(Bucket="durable")
    bodies = {f"k{size}": os.urandom(size) for size in (0, 7, 100_000, 3 * MIB + 1)}
    for key, body in bodies.items():
        s3.put_object(Bucket="durable", Key=key, Body=body)

    for process in (cluster.gateway, *cluster.nodes):
        process.stop()
    for process in (cluster.gateway, *cluster.nodes):
        process.start()
    cluster.gateway.wait_ready()
    cluster.wait_for_nodes_up()

    for key, body in bodies.items():
        assert s3.get_object(Bucket="durable", Key=key)["Body"].read() == body


def scrub(cluster, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "s3lite",
            "scrub",
            "--mongo-uri",
            cluster.mongo_uri,
            "--db",
            cluster.gateway.db,
            "--cluster-token",
            cluster.token,
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_scrub_reports_missing_and_damaged_parts(cluster):
    s3 = cluster.s3(retries={"max_attempts": 1})
    s3.create_bucket(Bucket="scrubbed")
    for key in ("healthy", "rotten", "robbed"):
        s3.put_object(Bucket="scrubbed", Key=key, Body=os.urandom(300_000))
    clean = scrub(cluster, "--deep")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "3 objects, 18 parts: 0 problems" in clean.stdout

    layout = {
        key: cluster.api("GET", f"/_cluster/objects/scrubbed/{key}").json()["parts"]
        for key in ("rotten", "robbed")
    }
    rotten, robbed = layout["rotten"][1], layout["robbed"][4]
    with pymongo.MongoClient(cluster.mongo_uri) as client:
        holder = next(n for n in cluster.nodes if n.node_id == rotten["node_id"])
        chunks = client[holder.db]["parts.chunks"]
        chunk = chunks.find_one({"files_id": rotten["part_id"], "n": 0})
        flipped = bytes([chunk["data"][0] ^ 1]) + chunk["data"][1:]
        chunks.update_one({"_id": chunk["_id"]}, {"$set": {"data": flipped}})
    thief = next(n for n in cluster.nodes if n.node_id == robbed["node_id"])
    assert thief.request("DELETE", f"/_node/parts/{robbed['part_id']}").status == 204

    shallow = scrub(cluster)
    assert shallow.returncode == 1
    assert f"scrubbed/robbed part 4 ({robbed['part_id']}" in shallow.stdout
    assert "missing" in shallow.stdout
    assert "1 problems" in shallow.stdout  # the flipped byte needs a deep scrub

    deep = scrub(cluster, "--deep")
    assert deep.returncode == 1
    assert f"scrubbed/rotten part 1 ({rotten['part_id']}" in deep.stdout
    assert "2 problems" in deep.stdout
