"""Nodes that join take their share of what is already stored: the online rebalancer.

Real processes throughout: a gateway (two in one test) with the rebalancer on, six nodes holding
objects of mixed sizes, three more that join. Faults are real too: a gateway or a node killed
with SIGKILL while a shard is being copied. Each test ends by checking that every object reads
back as written and that the nodes hold exactly the shards the records point at.
"""

import json
import random
import threading
import time
import urllib.parse
import uuid

import pymongo
import pytest

from tests.processes import (
    Cluster,
    GatewayProcess,
    http_request,
    start_all,
    stop_all,
    wait_until,
)

KIB = 1024
MIB = 1024 * KIB
TARGET_SPREAD = 0.02
# A rebalancer that starts soon after a join, and copies as fast as the machine lets it.
FAST = ["--rebalance", "on", "--rebalance-bytes-per-second", str(200 * MIB)]
FAST += ["--rebalance-interval-seconds", "2"]
SETTLE_SECONDS = 90.0  # bound on a whole rebalance of these small stores


def slow(bytes_per_second: int) -> list[str]:
    """A rebalancer slow enough that a test can act while a shard is being copied; abandoned
    writes are collected after six seconds, and deferred deletions retried every second."""
    return [
        "--rebalance",
        "on",
        "--rebalance-bytes-per-second",
        str(bytes_per_second),
        "--gc-grace-seconds",
        "6",
        "--gc-interval-seconds",
        "1",
        "--retry-deletes-seconds",
        "1",
        "--rebalance-interval-seconds",
        "2",
    ]


@pytest.fixture
def make_cluster(mongo_uri, db_prefix, tmp_path):
    """``make_cluster(*gateway_args)``: a gateway with those options and six nodes, all up."""
    clusters: list[Cluster] = []

    def make(*gateway_args: str) -> Cluster:
        cluster = Cluster(mongo_uri, db_prefix, tmp_path / "logs")
        cluster.gateway = GatewayProcess(
            cluster.log_dir / "gateway.log",
            mongo_uri=mongo_uri,
            db=f"{db_prefix}_gw",
            token=cluster.token,
            extra_args=list(gateway_args),
        )
        clusters.append(cluster)
        nodes = [cluster.new_node() for _ in range(6)]
        start_all([cluster.gateway, *nodes])
        cluster.wait_for_nodes_up(nodes)
        return cluster

    yield make
    for cluster in clusters:
        cluster.stop()


@pytest.fixture
def gateway_db(mongo_uri, db_prefix):
    client = pymongo.MongoClient(mongo_uri, serverSelectionTimeoutMS=5000)
    yield client[f"{db_prefix}_gw"]
    client.close()


# Helpers ---------------------------------------------------------------------------------------


def object_url(cluster: Cluster, bucket: str, key: str) -> str:
    return f"{cluster.url}/{bucket}/{urllib.parse.quote(key)}"


def new_bucket(cluster: Cluster) -> str:
    bucket = f"rebalance-{uuid.uuid4().hex[:10]}"
    assert http_request("PUT", f"{cluster.url}/{bucket}").status == 200
    return bucket


def put(cluster: Cluster, bucket: str, key: str, body: bytes) -> None:
    response = http_request("PUT", object_url(cluster, bucket, key), body=body)
    assert response.status == 200, (response.status, response.body)


def fill(cluster: Cluster, bucket: str, count: int, seed: int, largest: int) -> dict[str, bytes]:
    """``count`` objects of mixed sizes, from empty to ``largest`` bytes; answer them by key."""
    rng = random.Random(seed)
    objects = {}
    for number in range(count):
        mid = largest * 2 // 3
        choices = [0, 1, rng.randint(1, KIB), rng.randint(1, mid), rng.randint(1, mid)]
        size = rng.choice([*choices, rng.randint(1, largest)])
        objects[f"object {number:03d}"] = rng.randbytes(size)
    for key, body in objects.items():
        put(cluster, bucket, key, body)
    return objects


def assert_reads_back(cluster: Cluster, bucket: str, objects: dict[str, bytes | None]) -> None:
    for key, body in objects.items():
        response = http_request("GET", object_url(cluster, bucket, key))
        if body is None:
            assert response.status == 404, (key, response.status)
        else:
            assert response.status == 200, (key, response.status, response.body[:200])
            assert response.body == body, key


def shards_of(cluster: Cluster, bucket: str, key: str) -> list[dict]:
    response = cluster.api("GET", f"/_cluster/objects/{bucket}/{urllib.parse.quote(key)}")
    assert response.status == 200, response.body
    document = response.json()
    return document["parts"] + document["parity"]


def assert_no_orphans(cluster: Cluster, gateway_db, bucket: str, keys) -> None:
    """Nothing under way, and the nodes hold exactly the shards the records point at."""
    wait_until(
        lambda: (
            gateway_db["upload_intents"].count_documents({}) == 0
            and gateway_db["deferred_part_deletions"].count_documents({}) == 0
        ),
        30,
        "every intent settled and every deferred deletion made",
    )
    held = {shard["shard_id"] for key in keys for shard in shards_of(cluster, bucket, key)}
    assert cluster.stored_part_ids() == held


def status(gateway) -> dict:
    response = gateway.request("GET", "/_cluster/rebalance")
    assert response.status == 200, response.body
    return response.json()


def wait_balanced(cluster: Cluster, seconds: float = SETTLE_SECONDS) -> dict:
    """Wait for a finished round that left the nodes within the target spread."""

    def balanced():
        now = status(cluster.gateway)
        done = now["progress"]["state"] == "done" and not now["running"]
        return now if done and now["spread"] <= TARGET_SPREAD else None

    return wait_until(balanced, seconds, "a rebalance round to even the nodes out")


def spread_of_stored_bytes(cluster: Cluster) -> float:
    stored = [node["bytes_stored"] for node in cluster.listed_nodes() if node["status"] == "up"]
    mean = sum(stored) / len(stored)
    return (max(stored) - min(stored)) / mean


def relocation_under_way(gateway_db, seconds: float = 30.0) -> dict:
    return wait_until(
        lambda: gateway_db["upload_intents"].find_one({"kind": "relocation", "state": "streaming"}),
        seconds,
        "a shard copy under way",
    )


def start_nodes(cluster: Cluster, count: int) -> list:
    nodes = [cluster.new_node() for _ in range(count)]
    start_all(nodes)
    cluster.wait_for_nodes_up(nodes)
    return nodes


# Tests -----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_three_joined_nodes_take_their_share_and_every_object_reads_back(make_cluster, gateway_db):
    cluster = make_cluster(*FAST)
    bucket = new_bucket(cluster)
    objects = fill(cluster, bucket, count=80, seed=15, largest=96 * KIB)
    assert status(cluster.gateway)["running"] is False
    # On six nodes, parity doubles up on some; a move never does, so no part loses a node.
    nodes_before = {
        key: len({s["node_id"] for s in shards_of(cluster, bucket, key)}) for key in objects
    }
    joined = start_nodes(cluster, 3)

    done = wait_balanced(cluster)
    assert done["bytes_moved"] > 0 and done["progress"]["items_done"] > 0
    assert done["bytes_moved"] <= done["bytes_to_move"] * 1.5
    assert done["progress"]["problems"] == 0
    wait_until(
        lambda: spread_of_stored_bytes(cluster) <= TARGET_SPREAD,
        10,
        "the nodes' own counts to agree",
    )
    assert_reads_back(cluster, bucket, objects)
    new_ids = {node.node_id for node in joined}
    on_new = 0
    for key in objects:
        shards = shards_of(cluster, bucket, key)
        nodes = [shard["node_id"] for shard in shards]
        data_nodes = [shard["node_id"] for shard in shards if shard["role"] == "data"]
        assert len(set(data_nodes)) == len(data_nodes), (key, nodes)
        assert len(set(nodes)) >= nodes_before[key], (key, nodes)
        on_new += sum(node in new_ids for node in nodes)
    assert on_new > 0
    assert_no_orphans(cluster, gateway_db, bucket, objects)


@pytest.mark.slow
def test_reads_and_writes_during_a_rebalance_get_the_right_bytes(make_cluster, gateway_db):
    # Replaced shards outlive the switch by a few seconds, so reads that began before finish.
    cluster = make_cluster(*FAST, "--delete-delay-seconds", "4", "--retry-deletes-seconds", "1")
    bucket = new_bucket(cluster)
    stored = fill(cluster, bucket, count=54, seed=16, largest=96 * KIB)
    expected: dict[str, bytes | None] = dict(stored)
    failures: list[str] = []
    stop = threading.Event()

    def load(worker: int) -> None:
        """PUT, GET and DELETE keys of this worker's own, so it knows what each must hold."""
        rng = random.Random(worker)
        keys = [f"object {number:03d}" for number in range(worker, 54, 3)]
        while not stop.is_set():
            key = rng.choice(keys)
            url = object_url(cluster, bucket, key)
            operation = rng.choice(["GET", "GET", "PUT", "DELETE"])
            try:
                if operation == "PUT":
                    body = rng.randbytes(rng.randint(0, 96 * KIB))
                    response = http_request("PUT", url, body=body)
                    if response.status == 200:
                        expected[key] = body
                elif operation == "DELETE":
                    response = http_request("DELETE", url)
                    if response.status == 204:
                        expected[key] = None
                else:
                    response = http_request("GET", url)
                    want = expected[key]
                    if want is None and response.status != 404:
                        failures.append(f"GET {key}: {response.status} for a deleted object")
                    elif want is not None and (response.status, response.body) != (200, want):
                        failures.append(f"GET {key}: {response.status}, wrong or no bytes")
                if response.status >= 500 or response.status not in (200, 204, 404):
                    failures.append(f"{operation} {key}: {response.status} {response.body[:200]}")
            except OSError as error:
                failures.append(f"{operation} {key}: {error}")
            time.sleep(0.01)  # quiet moments for the rebalancer, as real traffic has

    workers = [threading.Thread(target=load, args=(worker,)) for worker in range(3)]
    for worker in workers:
        worker.start()
    try:
        start_nodes(cluster, 3)
        wait_until(
            lambda: status(cluster.gateway)["bytes_moved"] > 64 * KIB,
            SETTLE_SECONDS,
            "the rebalancer to move shards while the load runs",
        )
        time.sleep(3)
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    assert failures == []
    wait_until(
        lambda: status(cluster.gateway)["running"] is False, SETTLE_SECONDS, "the round to end"
    )
    assert_reads_back(cluster, bucket, expected)
    assert_no_orphans(
        cluster, gateway_db, bucket, [k for k, v in expected.items() if v is not None]
    )


@pytest.mark.slow
def test_a_gateway_or_a_new_node_killed_mid_copy_loses_nothing_and_leaves_no_orphan(
    make_cluster, gateway_db
):
    cluster = make_cluster(*slow(48 * KIB))
    bucket = new_bucket(cluster)
    # Nine objects of eight equal shards: 72 shards, which nine nodes can hold eight each.
    objects = {f"big {n}": random.Random(n).randbytes(600 * KIB) for n in range(9)}
    for key, body in objects.items():
        put(cluster, bucket, key, body)
    start_nodes(cluster, 3)

    # The gateway dies while it copies a shard: the collector of the next one settles the copy.
    abandoned = relocation_under_way(gateway_db)
    cluster.gateway.kill()
    cluster.gateway.start().wait_ready()
    wait_until(
        lambda: gateway_db["upload_intents"].find_one({"_id": abandoned["_id"]}) is None,
        30,
        "the abandoned copy to be collected",
    )
    copy = abandoned["shards"][0]
    assert copy["shard_id"] not in cluster.stored_part_ids()
    assert_reads_back(cluster, bucket, objects)

    # The node a shard is being copied to dies: the copy's deletion waits until it is back.
    copying = relocation_under_way(gateway_db)
    target = next(n for n in cluster.nodes if n.node_id == copying["shards"][0]["node_id"])
    target.kill()
    wait_until(
        lambda: gateway_db["upload_intents"].find_one({"_id": copying["_id"]}) is None,
        30,
        "the failed copy to be given up",
    )
    target.start().wait_ready()
    cluster.wait_for_nodes_up([target])

    cluster.restart_gateway("--rebalance-bytes-per-second", str(200 * MIB))
    wait_balanced(cluster)
    assert_reads_back(cluster, bucket, objects)
    assert_no_orphans(cluster, gateway_db, bucket, objects)


@pytest.mark.slow
def test_two_gateways_never_move_shards_at_the_same_time(make_cluster, gateway_db, tmp_path):
    options = [*FAST, "--rebalance-interval-seconds", "1", "--rebalance-bytes-per-second"]
    options.append(str(256 * KIB))  # rounds that last, so that the other gateway tries
    cluster = make_cluster(*options)
    other = GatewayProcess(
        tmp_path / "logs" / "other-gateway.log",
        mongo_uri=cluster.mongo_uri,
        db=cluster.gateway.db,
        token=cluster.token,
        extra_args=options,
    )
    start_all([other])
    try:
        bucket = new_bucket(cluster)
        objects = fill(cluster, bucket, count=36, seed=17, largest=96 * KIB)
        start_nodes(cluster, 3)
        rounds: dict[tuple[int, float], float | None] = {}  # (gateway, started) -> finished
        saw_other_holder = False

        def rounds_over():
            nonlocal saw_other_holder
            answers = [status(cluster.gateway), status(other)]
            for gateway, answer in enumerate(answers):
                progress = answer["progress"]
                if progress["started"] is not None:
                    rounds[(gateway, progress["started"])] = progress["finished"]
                holder = answer["lease_holder"]
                saw_other_holder |= holder not in (None, answer["this_gateway"])
            moved = sum(answer["bytes_moved"] for answer in answers)
            return moved and not any(answer["running"] for answer in answers)

        wait_until(rounds_over, SETTLE_SECONDS, "a rebalance by one of the gateways")
        assert saw_other_holder  # the one that did not move was kept out by the lease
        forever = float("inf")
        for (one, started), finished in rounds.items():
            for (two, other_started), other_finished in rounds.items():
                if one != two:  # the rounds of two gateways never overlap
                    overlap = started < (other_finished or forever) and other_started < (
                        finished or forever
                    )
                    assert not overlap, rounds
        assert_reads_back(cluster, bucket, objects)
    finally:
        stop_all([other])


@pytest.mark.slow
def test_an_overwrite_or_a_delete_racing_a_move_wins(make_cluster, gateway_db):
    cluster = make_cluster(*slow(96 * KIB))
    bucket = new_bucket(cluster)
    objects: dict[str, bytes | None] = {
        f"racing {n}": random.Random(n).randbytes(1200 * KIB) for n in range(3)
    }
    for key, body in objects.items():
        put(cluster, bucket, key, body)
    start_nodes(cluster, 3)

    moving = relocation_under_way(gateway_db)
    newer = b"the client's newer bytes" * 1000
    put(cluster, bucket, moving["key"], newer)
    objects[moving["key"]] = newer
    assert gateway_db["upload_intents"].find_one({"_id": moving["_id"]}) is not None  # a race
    wait_until(
        lambda: gateway_db["upload_intents"].find_one({"_id": moving["_id"]}) is None,
        30,
        "the raced copy to end",
    )
    assert_reads_back(cluster, bucket, objects)
    assert moving["shards"][0]["shard_id"] not in cluster.stored_part_ids()

    moving = wait_until(
        lambda: gateway_db["upload_intents"].find_one(
            {"kind": "relocation", "state": "streaming", "key": {"$ne": moving["key"]}}
        ),
        30,
        "a copy of another object under way",
    )
    assert http_request("DELETE", object_url(cluster, bucket, moving["key"])).status == 204
    objects[moving["key"]] = None
    assert gateway_db["upload_intents"].find_one({"_id": moving["_id"]}) is not None  # a race
    wait_until(
        lambda: gateway_db["upload_intents"].find_one({"_id": moving["_id"]}) is None,
        30,
        "the raced copy to end",
    )
    assert_reads_back(cluster, bucket, objects)
    assert moving["shards"][0]["shard_id"] not in cluster.stored_part_ids()

    cluster.restart_gateway("--rebalance", "off")
    assert_no_orphans(cluster, gateway_db, bucket, [k for k, v in objects.items() if v is not None])


@pytest.mark.slow
def test_the_rebalance_command_shows_the_plan_and_runs_a_round(make_cluster, gateway_db):
    cluster = make_cluster()  # the harness's gateway: rebalancer off
    bucket = new_bucket(cluster)
    objects = fill(cluster, bucket, count=40, seed=18, largest=96 * KIB)
    start_nodes(cluster, 3)
    shown = json.loads(cluster.command("rebalance", "--json").stdout)
    before = shown["plan"]
    assert not before["balanced"] and before["bytes_to_move"] > 0 and "ran" not in shown
    assert len(before["nodes"]) == 9
    assert status(cluster.gateway)["bytes_moved"] == 0  # showing moves nothing

    ran = json.loads(cluster.command("rebalance", "--json", "--run").stdout)
    assert ran["ran"] is True and ran["progress"]["bytes_done"] > 0
    assert ran["after"]["spread"] < before["spread"] / 10
    assert_reads_back(cluster, bucket, objects)
    assert_no_orphans(cluster, gateway_db, bucket, objects)

    shown = cluster.command("rebalance")
    assert shown.returncode == 0 and "bytes to move" in shown.stdout
    assert "fair share" in shown.stdout
    # A round from the terminal: nothing is left to move; the plan shows before and after it
    # (its progress bar is drawn on a terminal only).
    again = cluster.command("rebalance", "--run")
    assert again.returncode == 0 and again.stdout.count("fair share") == 2
