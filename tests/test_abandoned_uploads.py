"""Uploads that never finish leave nothing behind for good."""

import os
import socket
import time

import pymongo

from tests.processes import wait_until

MIB = 1024 * 1024


def intents(cluster) -> list[dict]:
    with pymongo.MongoClient(cluster.mongo_uri) as client:
        return list(client[cluster.gateway.db]["upload_intents"].find())


def start_upload_and_stall(cluster, key: str, size: int, sent: int) -> socket.socket:
    client = socket.create_connection(("127.0.0.1", cluster.gateway.port))
    client.sendall(
        f"PUT /bucket/{key} HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n".encode()
        + os.urandom(sent)
    )
    return client


def test_parts_of_a_killed_gateways_upload_are_collected_after_the_grace_period(cluster):
    cluster.restart_gateway("--gc-grace-seconds", "3", "--gc-interval-seconds", "0.5")
    cluster.s3().create_bucket(Bucket="bucket")

    # More than two sixths of the body: the first two parts are whole on their nodes.
    client = start_upload_and_stall(cluster, "doomed", 6 * MIB, 2 * MIB + 100)
    wait_until(lambda: len(cluster.stored_part_ids()) >= 2, 30, "the first parts to be stored")
    cluster.gateway.kill()
    client.close()
    orphans = cluster.stored_part_ids()
    assert orphans, "the killed upload left whole parts on the nodes"
    assert [intent["key"] for intent in intents(cluster)] == ["doomed"]

    cluster.gateway.start()
    cluster.gateway.wait_ready()
    assert cluster.gateway.request("HEAD", "/bucket/doomed", token=None).status == 404
    wait_until(lambda: not cluster.stored_part_ids(), 60, "the orphaned parts to be collected")
    wait_until(lambda: not intents(cluster), 30, "the abandoned intent to be dropped")


def test_a_killed_gateways_upload_leaves_no_chunk_of_parity_streamed_beside_the_last_shard(
    cluster,
):
    cluster.restart_gateway("--gc-grace-seconds", "3", "--gc-interval-seconds", "0.5")
    cluster.s3().create_bucket(Bucket="bucket")
    # Into the last sixth: five data shards of 8 MiB whole, six MiB of the last one sent, so
    # the last one and the parity shards have chunks (inserted four at a time) under way.
    client = start_upload_and_stall(cluster, "doomed", 48 * MIB, 46 * MIB)
    wait_until(lambda: len(cluster.stored_part_ids()) >= 5, 30, "five data shards stored")
    wait_until(lambda: stored_chunks(cluster) > 5 * 8 + 4, 30, "parity chunks under way")
    cluster.gateway.kill()
    client.close()

    cluster.gateway.start()
    cluster.gateway.wait_ready()
    wait_until(lambda: not stored_chunks(cluster), 60, "every chunk of the upload collected")
    assert not cluster.stored_part_ids()
    wait_until(lambda: not intents(cluster), 30, "the abandoned intent to be dropped")


def stored_chunks(cluster) -> int:
    """Chunks in every node's database, those of shards never completed included."""
    with pymongo.MongoClient(cluster.mongo_uri) as client:
        return sum(client[node.db]["parts.chunks"].count_documents({}) for node in cluster.nodes)


def test_a_slow_upload_in_progress_is_never_collected(cluster):
    cluster.restart_gateway("--gc-grace-seconds", "2", "--gc-interval-seconds", "0.2")
    cluster.s3().create_bucket(Bucket="bucket")

    body = os.urandom(60_000)
    client = socket.create_connection(("127.0.0.1", cluster.gateway.port))
    client.sendall(b"PUT /bucket/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n")
    for offset in range(0, len(body), 10_000):  # six seconds: three grace periods
        client.sendall(body[offset : offset + 10_000])
        time.sleep(1)
    reply = client.recv(4096)
    client.close()
    assert reply.startswith(b"HTTP/1.1 200"), reply
    got = cluster.gateway.request("GET", "/bucket/slow", token=None)
    assert got.body == body
