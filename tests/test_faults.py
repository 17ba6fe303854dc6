"""Faults the cluster must survive without losing or corrupting anything."""

import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pymongo
import pytest

from tests.processes import SHARDS_PER_PART, Cluster, http_request, wait_until

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
    # The upload's intent names its nodes: kill the one receiving the first part.
    receiving = wait_until(lambda: intent_node_ids(cluster), 30, "the upload's intent")[0]
    first = next(n for n in cluster.nodes if n.node_id == receiving)
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
    if intent is None:
        return []
    return [shard["node_id"] for shard in sorted(intent["shards"], key=lambda s: s["index"])]


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
    return cluster.command("scrub", *extra)


def test_scrub_reports_missing_and_damaged_parts(cluster):
    s3 = cluster.s3(retries={"max_attempts": 1})
    s3.create_bucket(Bucket="scrubbed")
    for key in ("healthy", "rotten", "robbed"):
        s3.put_object(Bucket="scrubbed", Key=key, Body=os.urandom(300_000))
    clean = scrub(cluster, "--deep")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert f"3 objects, {3 * SHARDS_PER_PART} shards: 0 problems" in clean.stdout

    layout = {
        key: cluster.api("GET", f"/_cluster/objects/scrubbed/{key}").json()["parts"]
        for key in ("rotten", "robbed")
    }
    rotten, robbed = layout["rotten"][1], layout["robbed"][4]
    with pymongo.MongoClient(cluster.mongo_uri) as client:
        holder = next(n for n in cluster.nodes if n.node_id == rotten["node_id"])
        chunks = client[holder.db]["parts.chunks"]
        chunk = chunks.find_one({"files_id": rotten["shard_id"], "n": 0})
        flipped = bytes([chunk["data"][0] ^ 1]) + chunk["data"][1:]
        chunks.update_one({"_id": chunk["_id"]}, {"$set": {"data": flipped}})
    thief = next(n for n in cluster.nodes if n.node_id == robbed["node_id"])
    assert thief.request("DELETE", f"/_node/parts/{robbed['shard_id']}").status == 204

    shallow = scrub(cluster)
    assert shallow.returncode == 1
    assert f"scrubbed/robbed part 1 shard 4 ({robbed['shard_id']}" in shallow.stdout
    assert "missing" in shallow.stdout
    assert "1 problems" in shallow.stdout  # the flipped byte needs a deep scrub

    deep = scrub(cluster, "--deep")
    assert deep.returncode == 1
    assert f"scrubbed/rotten part 1 shard 1 ({rotten['shard_id']}" in deep.stdout
    assert "2 problems" in deep.stdout


def gateway_log_since(cluster, offset: int) -> str:
    with open(cluster.gateway.log_path, "rb") as log:
        log.seek(offset)
        return log.read().decode("utf-8", errors="replace")


def walk_away_from_downloads(cluster, bucket: str, key: str, times: int) -> None:
    """Start ``times`` downloads of ``key``, read the first bytes of each, then hang up."""
    for _ in range(times):
        client = socket.create_connection(("127.0.0.1", cluster.gateway.port), timeout=30)
        client.sendall(f"GET /{bucket}/{key} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert client.recv(65536).startswith(b"HTTP/1.1 200 ")
        client.close()


def test_clients_that_hang_up_mid_download_leave_the_gateway_serving(cluster):
    s3 = cluster.s3(retries={"max_attempts": 1})
    s3.create_bucket(Bucket="reads")
    body = os.urandom(24 * MIB)
    s3.put_object(Bucket="reads", Key="big", Body=body)

    walk_away_from_downloads(cluster, "reads", "big", times=5)
    assert s3.get_object(Bucket="reads", Key="big")["Body"].read() == body
    s3.put_object(Bucket="reads", Key="small", Body=b"still taking uploads")
    assert s3.get_object(Bucket="reads", Key="small")["Body"].read() == b"still taking uploads"
    assert cluster.gateway.running and all(node.running for node in cluster.nodes)


def test_a_client_hanging_up_mid_download_is_no_error_in_the_log(cluster):
    s3 = cluster.s3(retries={"max_attempts": 1})
    s3.create_bucket(Bucket="reads")
    s3.put_object(Bucket="reads", Key="big", Body=os.urandom(24 * MIB))
    offset = cluster.gateway.log_path.stat().st_size

    walk_away_from_downloads(cluster, "reads", "big", times=3)
    time.sleep(1)  # let the gateway notice, and log whatever it logs
    logged = gateway_log_since(cluster, offset)
    assert " ERROR " not in logged and "Traceback" not in logged, logged


def spool_files(process) -> list[str]:
    """The unlinked temporary files ``process`` holds open: a chunked upload's spool."""
    fds = Path(f"/proc/{process.process.pid}/fd")
    targets = []
    for fd in fds.iterdir():
        try:
            targets.append(os.readlink(fd))
        except OSError:
            continue  # closed meanwhile
    temp = tempfile.gettempdir()
    return [t for t in targets if t.startswith(temp) and t.endswith("(deleted)")]


def test_clients_that_hang_up_mid_upload_leave_no_pieces_and_no_spool_file(cluster):
    s3 = cluster.s3(retries={"max_attempts": 1})
    s3.create_bucket(Bucket="writes")
    upload_id = s3.create_multipart_upload(Bucket="writes", Key="assembled")["UploadId"]
    requests = {
        # Chunked: spooled to a temporary file, no part is cut before the end.
        "chunked": b"PUT /writes/chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"".join(b"10000\r\n" + os.urandom(0x10000) + b"\r\n" for _ in range(40)),
        # One part of a multipart upload: its six pieces stream to their nodes.
        "upload part": (
            f"PUT /writes/assembled?uploadId={upload_id}&partNumber=1 HTTP/1.1\r\nHost: x\r\n"
            f"Content-Length: {6 * MIB}\r\n\r\n"
        ).encode()
        + os.urandom(3 * MIB),
    }
    for name, request in requests.items():
        with socket.create_connection(("127.0.0.1", cluster.gateway.port)) as client:
            client.sendall(request)
            if name == "chunked":
                wait_until(lambda: spool_files(cluster.gateway), 30, "the upload to be spooled")
            else:
                wait_until(cluster.stored_part_ids, 30, "the first pieces to be stored")
        wait_until(lambda: not cluster.stored_part_ids(), 30, f"the {name} parts to be deleted")
        wait_until(lambda: not spool_files(cluster.gateway), 30, "the spool file to be closed")

    assert http_request("HEAD", f"{cluster.url}/writes/chunked").status == 404
    assert s3.list_parts(Bucket="writes", Key="assembled", UploadId=upload_id).get("Parts") in (
        None,
        [],
    )
    s3.upload_part(Bucket="writes", Key="assembled", UploadId=upload_id, PartNumber=1, Body=b"1")
    s3.put_object(Bucket="writes", Key="after", Body=b"served")
    assert s3.get_object(Bucket="writes", Key="after")["Body"].read() == b"served"


def test_a_stop_signal_lets_an_upload_in_flight_finish(cluster):
    s3 = cluster.s3(retries={"max_attempts": 1})
    s3.create_bucket(Bucket="drained")
    body = os.urandom(2 * MIB)
    with socket.create_connection(("127.0.0.1", cluster.gateway.port), timeout=30) as client:
        client.sendall(
            f"PUT /drained/k HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body[:MIB]
        )
        wait_until(cluster.stored_part_ids, 30, "the first parts to be stored")
        offset = cluster.gateway.log_path.stat().st_size
        cluster.gateway.send_signal(signal.SIGTERM)
        wait_until(
            lambda: "stopping:" in gateway_log_since(cluster, offset), 30, "the stop to begin"
        )
        client.sendall(body[MIB:])
        reply = read_reply(client)
    assert reply.startswith(b"HTTP/1.1 200 "), reply[:300]
    assert cluster.gateway.wait() == 0

    cluster.gateway.start().wait_ready()
    cluster.wait_for_nodes_up()
    assert s3.get_object(Bucket="drained", Key="k")["Body"].read() == body


def read_reply(client: socket.socket) -> bytes:
    reply = b""
    while b"\r\n\r\n" not in reply:
        chunk = client.recv(4096)
        if not chunk:
            break
        reply += chunk
    return reply
