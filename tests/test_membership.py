"""Nodes join by themselves, at any moment, are never removed, and fill evenly.

Every test runs real processes on loopback ports: a gateway (sometimes two) on one database and
storage nodes that register and heartbeat on their own, every half second in this harness. A
node is listed "down" once it has missed eight heartbeats (the harness's setting; three by
default); tests wait for the gateway's listing to say so rather than sleeping.
"""

import concurrent.futures
import random
import threading
import uuid
from datetime import datetime

import boto3
import botocore.config
import pymongo
import pytest
from botocore.exceptions import ClientError

from s3lite.gateway.cluster.registry import PLACEMENT_VIEW_SECONDS
from s3lite.gateway.data.splitting import DATA_SHARDS, shard_boundaries
from tests.processes import Cluster, GatewayProcess, free_port, wait_until

KIB = 1024
MIB = 1024 * KIB
CONTRACT_FIELDS = {
    "node_id",
    "url",
    "status",
    "bytes_stored",
    "parts_stored",
    "capacity_bytes",
    "registered_at",
    "last_seen",
}


# Helpers ---------------------------------------------------------------------------------------


def s3_client(url: str, **config_options):
    """A boto3 S3 client for any gateway, path-style, with throwaway credentials."""
    return boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
        config=botocore.config.Config(s3={"addressing_style": "path"}, **config_options),
    )


def new_bucket(s3) -> str:
    bucket = f"membership-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    return bucket


def register(cluster: Cluster, node_id: str | None, url: str, **kwargs):
    return cluster.api(
        "POST", "/_cluster/nodes", {"node_id": node_id, "url": url, "capacity_bytes": 0}, **kwargs
    )


def nodes_by_id(cluster: Cluster) -> dict[str, dict]:
    return {entry["node_id"]: entry for entry in cluster.listed_nodes()}


def part_nodes(cluster: Cluster, bucket: str, key: str) -> list[str]:
    """The node of each of the object's shards, data then parity, as the cluster API reports
    them; the six data shards are always on distinct nodes."""
    response = cluster.api("GET", f"/_cluster/objects/{bucket}/{key}")
    assert response.status == 200, response.body
    shards = response.json()["parts"] + response.json()["parity"]
    assert [shard["index"] for shard in shards] == list(range(len(shards)))
    assert len({shard["node_id"] for shard in shards[:DATA_SHARDS]}) == DATA_SHARDS
    return [shard["node_id"] for shard in shards]


def stored_nowhere(s3, bucket: str, key: str) -> bool:
    with pytest.raises(ClientError) as missing:
        s3.head_object(Bucket=bucket, Key=key)
    return missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def assert_refused_as_unavailable(s3, bucket: str, key: str, body: bytes) -> None:
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert refused.value.response["Error"]["Code"] == "ServiceUnavailable"


def parts_held_by(node) -> list[str]:
    response = node.request("GET", "/_node/parts")
    assert response.status == 200, response.body
    return [entry["part_id"] for entry in response.json()["parts"]]


def start_nodes(
    cluster: Cluster, count: int, *extra_args: str, heartbeat_seconds: float | None = None
) -> list:
    """Start ``count`` more nodes side by side and wait until the gateway lists them up."""
    nodes = [cluster.new_node(*extra_args) for _ in range(count)]
    for node in nodes:
        if heartbeat_seconds is not None:
            node.heartbeat_seconds = heartbeat_seconds
        node.start()
    for node in nodes:
        node.wait_ready()
    cluster.wait_for_nodes_up(nodes)
    return nodes


@pytest.fixture
def gateway_only(mongo_uri, db_prefix, tmp_path):
    """A gateway of this test's own with no nodes yet: the test starts them as it needs.

    (``Cluster.start(node_count=0)`` would wait for ever: waiting for no nodes never succeeds.)
    """
    cluster = Cluster(mongo_uri, db_prefix, tmp_path / "logs")
    cluster.gateway = GatewayProcess(
        cluster.log_dir / "gateway.log",
        mongo_uri=mongo_uri,
        db=f"{db_prefix}_gw",
        token=cluster.token,
    )
    try:
        cluster.gateway.start().wait_ready()
        yield cluster
    finally:
        cluster.stop()


def without_parity(cluster: Cluster) -> Cluster:
    """The gateway, with no node yet, restarted to write no parity."""
    cluster.gateway.stop()
    cluster.gateway.extra_args += ["--parity-shards", "0"]
    cluster.gateway.start().wait_ready()
    return cluster


@pytest.fixture
def second_gateway(cluster, tmp_path):
    """Another gateway on the same database as ``cluster``'s, with the same token."""
    gateway = GatewayProcess(
        tmp_path / "logs" / "second-gateway.log",
        mongo_uri=cluster.mongo_uri,
        db=cluster.gateway.db,
        token=cluster.token,
    )
    gateway.start().wait_ready()
    yield gateway
    gateway.stop()


# Registration rules ----------------------------------------------------------------------------


def test_registering_needs_the_cluster_token(shared_cluster):
    url = f"http://127.0.0.1:{free_port()}"
    assert register(shared_cluster, None, url, token=None).status == 401
    assert register(shared_cluster, None, url, token="not-the-token").status == 401
    assert shared_cluster.api("GET", "/_cluster/nodes", token="not-the-token").status == 401
    assert url not in {entry["url"] for entry in shared_cluster.listed_nodes()}


@pytest.mark.parametrize(
    "url",
    ["ftp://127.0.0.1:8101", "127.0.0.1:8101", "http://", "file:///tmp/node", "", 8101, None],
)
def test_a_url_that_is_not_http_is_refused(shared_cluster, url):
    response = register(shared_cluster, None, url)
    assert response.status == 400, response.body
    assert response.json()["error"] == "InvalidArgument"


def test_an_id_the_gateway_never_issued_is_refused_rather_than_made_up(shared_cluster):
    url = f"http://127.0.0.1:{free_port()}"
    response = register(shared_cluster, "node-never-issued", url)
    assert response.status == 404, response.body
    listed = shared_cluster.listed_nodes()
    assert "node-never-issued" not in {entry["node_id"] for entry in listed}
    assert url not in {entry["url"] for entry in listed}


def test_the_url_of_a_live_node_cannot_be_claimed_by_another_id(cluster):
    live = cluster.nodes[0]
    assert register(cluster, None, live.url).status == 409
    other = register(cluster, None, f"http://127.0.0.1:{free_port()}").json()["node_id"]
    assert register(cluster, other, live.url).status == 409
    assert nodes_by_id(cluster)[live.node_id]["url"] == live.url


def test_a_fresh_registration_gets_an_id_and_re_registering_keeps_it(cluster):
    first_url = f"http://127.0.0.1:{free_port()}"
    response = register(cluster, None, first_url)
    assert response.status == 200, response.body
    node_id = response.json()["node_id"]
    assert isinstance(node_id, str) and node_id
    assert node_id not in {node.node_id for node in cluster.nodes}

    moved_url = f"http://127.0.0.1:{free_port()}"
    assert register(cluster, node_id, moved_url).json() == {"node_id": node_id}

    listed = cluster.listed_nodes()
    assert [entry["url"] for entry in listed if entry["node_id"] == node_id] == [moved_url]
    assert len(listed) == len(cluster.nodes) + 1


def test_a_node_cannot_be_deleted(shared_cluster):
    node_id = shared_cluster.nodes[0].node_id
    response = shared_cluster.api("DELETE", f"/_cluster/nodes/{node_id}")
    assert response.status == 405
    assert node_id in nodes_by_id(shared_cluster)


def test_the_node_list_has_the_contract_fields(shared_cluster):
    listed = shared_cluster.listed_nodes()
    assert {entry["url"] for entry in listed} == {node.url for node in shared_cluster.nodes}
    for entry in listed:
        assert CONTRACT_FIELDS <= entry.keys()
        assert entry["status"] == "up"
        for count in ("bytes_stored", "parts_stored", "capacity_bytes"):
            assert isinstance(entry[count], int) and entry[count] >= 0
        registered_at = datetime.fromisoformat(entry["registered_at"])
        assert registered_at <= datetime.fromisoformat(entry["last_seen"])
    assert len({entry["node_id"] for entry in listed}) == len(listed)


# Joining at any moment -------------------------------------------------------------------------


def test_a_seventh_node_takes_parts_from_the_very_next_upload(cluster):
    s3 = cluster.s3()
    bucket = new_bucket(s3)
    before = [f"before/{index}" for index in range(12)]
    for key in before:  # the six first nodes hold something before the seventh comes
        s3.put_object(Bucket=bucket, Key=key, Body=random.randbytes(MIB))

    # Small uploads keep running while the seventh node starts and joins.
    running = threading.Event()
    stop = threading.Event()
    during: list[str] = []
    background_errors: list[BaseException] = []

    def upload_meanwhile():
        client = cluster.s3()
        try:
            while not stop.is_set():
                key = f"during/{len(during)}"
                client.put_object(Bucket=bucket, Key=key, Body=random.randbytes(64 * KIB))
                during.append(key)
                running.set()
        except BaseException as error:
            background_errors.append(error)
            running.set()

    uploader = threading.Thread(target=upload_meanwhile)
    uploader.start()
    try:
        running.wait(30)
        seventh = cluster.add_node()
        after = [f"after/{index}" for index in range(7)]
        for key in after:
            s3.put_object(Bucket=bucket, Key=key, Body=random.randbytes(256 * KIB))
    finally:
        stop.set()
        uploader.join(30)
    assert not background_errors
    assert during

    placements = {key: part_nodes(cluster, bucket, key) for key in before + during + after}
    assert seventh.node_id in placements[after[0]]
    assert {node for key in after for node in placements[key]} == {
        node.node_id for node in cluster.nodes
    }
    # Seven nodes: the eight shards of each object after the seventh joined use all of them.
    assert all(len(set(placements[key])) == 7 for key in after)


# Restarts, failures and returns ----------------------------------------------------------------


@pytest.mark.faults
def test_a_restarted_node_comes_back_as_itself_even_on_a_new_port(cluster):
    s3 = cluster.s3()
    bucket = new_bucket(s3)
    content = random.randbytes(600 * KIB)
    s3.put_object(Bucket=bucket, Key="kept", Body=content)
    node = cluster.nodes[0]
    node_id = node.node_id
    old_url = node.url

    node.stop()
    node.port = free_port()
    node.start().wait_ready()

    (entry,) = cluster.wait_for_status([node], "up")
    assert entry["node_id"] == node_id
    assert entry["url"] == node.url != old_url
    assert len(cluster.listed_nodes()) == 6
    assert node_id in part_nodes(cluster, bucket, "kept")
    assert s3.get_object(Bucket=bucket, Key="kept")["Body"].read() == content


@pytest.mark.faults
def test_a_killed_node_is_listed_down_then_up_again_when_it_returns(cluster):
    node = cluster.nodes[0]
    node_id = node.node_id

    node.kill()
    (entry,) = cluster.wait_for_status([node], "down")
    assert entry["node_id"] == node_id
    assert [e["status"] for e in cluster.listed_nodes()].count("up") == 5

    node.start().wait_ready()
    (entry,) = cluster.wait_for_status([node], "up")
    assert entry["node_id"] == node_id
    assert len(cluster.listed_nodes()) == 6


@pytest.mark.faults
def test_a_node_that_lost_its_database_joins_anew_and_the_old_one_stays_listed(cluster):
    node = cluster.nodes[0]
    old_id = node.node_id
    node.kill()
    client = pymongo.MongoClient(cluster.mongo_uri)
    try:
        client.drop_database(node.db)
    finally:
        client.close()

    node.start().wait_ready()

    def listed_under_a_new_id():
        return [
            entry
            for entry in cluster.listed_nodes()
            if entry["url"] == node.url and entry["node_id"] != old_id and entry["status"] == "up"
        ]

    # Its URL is refused to a new id (409) while the old one is still up; the node retries.
    wait_until(listed_under_a_new_id, 30, "the node to register again under a new id")
    listed = nodes_by_id(cluster)
    assert len(listed) == 7
    assert listed[old_id]["status"] == "down"
    assert listed[old_id]["url"] == node.url


@pytest.mark.faults
def test_a_down_node_takes_no_new_parts(cluster):
    cluster.add_node()
    down = cluster.nodes[0]
    down.kill()
    cluster.wait_for_status([down], "down")
    up_ids = {node.node_id for node in cluster.nodes if node is not down}

    s3 = cluster.s3()
    bucket = new_bucket(s3)
    contents = {f"object-{index}": random.randbytes(120 * KIB) for index in range(7)}
    for key, content in contents.items():
        s3.put_object(Bucket=bucket, Key=key, Body=content)

    for key, content in contents.items():
        nodes = part_nodes(cluster, bucket, key)
        assert down.node_id not in nodes
        assert set(nodes) <= up_ids
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == content


@pytest.mark.faults
def test_with_fewer_than_six_nodes_up_a_put_is_refused_and_nothing_is_stored(cluster):
    s3 = cluster.s3(retries={"max_attempts": 1})
    bucket = new_bucket(s3)
    stopped = cluster.nodes[0]
    stopped.stop()
    cluster.wait_for_status([stopped], "down")

    assert_refused_as_unavailable(s3, bucket, "refused", random.randbytes(64 * KIB))
    assert stored_nowhere(s3, bucket, "refused")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    assert all(parts_held_by(node) == [] for node in cluster.nodes[1:])

    stopped.start().wait_ready()
    cluster.wait_for_status([stopped], "up")
    s3.put_object(Bucket=bucket, Key="accepted", Body=b"six nodes again")
    assert s3.get_object(Bucket=bucket, Key="accepted")["Body"].read() == b"six nodes again"


# Capacity --------------------------------------------------------------------------------------

PART = 64 * KIB
OBJECT = DATA_SHARDS * PART  # every part of it exactly PART bytes


def test_a_full_node_takes_no_more_parts(cluster):
    cluster.restart_gateway("--parity-shards", "0")  # the arithmetic of data shards alone
    small = cluster.add_node("--capacity-bytes", str(2 * PART))
    s3 = cluster.s3()
    bucket = new_bucket(s3)
    keys = [f"object-{index}" for index in range(7)]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=random.randbytes(OBJECT))

    holding_small = [key for key in keys if small.node_id in part_nodes(cluster, bucket, key)]
    assert len(holding_small) == 2
    # Least filled, it was full within three objects; the six nodes without a stated limit
    # took every part of the rest.
    passed_over = keys[keys.index(holding_small[-1]) + 1 :]
    assert len(passed_over) >= 4
    entry = nodes_by_id(cluster)[small.node_id]
    assert entry["capacity_bytes"] == 2 * PART
    assert entry["bytes_assigned"] == 2 * PART

    def reported_by_its_heartbeats():
        entry = nodes_by_id(cluster)[small.node_id]
        return (entry["bytes_stored"], entry["parts_stored"]) == (2 * PART, 2)

    wait_until(reported_by_its_heartbeats, 30, "the full node to report its two parts")


def test_when_fewer_than_six_nodes_have_room_a_put_is_refused_and_nothing_is_stored(
    gateway_only,
):
    cluster = without_parity(gateway_only)  # the arithmetic of data shards alone
    # Seven nodes with room for three parts each: three objects leave four of them full.
    start_nodes(cluster, 7, "--capacity-bytes", str(3 * PART))
    s3 = cluster.s3(retries={"max_attempts": 1})
    bucket = new_bucket(s3)
    for index in range(3):
        s3.put_object(Bucket=bucket, Key=f"object-{index}", Body=random.randbytes(OBJECT))
    assigned = sorted(entry["bytes_assigned"] for entry in cluster.listed_nodes())
    assert assigned == [2 * PART] * 3 + [3 * PART] * 4

    assert_refused_as_unavailable(s3, bucket, "one-too-many", random.randbytes(OBJECT))
    assert stored_nowhere(s3, bucket, "one-too-many")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 3
    assert sorted(entry["bytes_assigned"] for entry in cluster.listed_nodes()) == assigned
    assert sum(len(parts_held_by(node)) for node in cluster.nodes) == 3 * DATA_SHARDS

    # Three more nodes with room make six that can take a part: the same PUT is accepted.
    start_nodes(cluster, 3, "--capacity-bytes", str(3 * PART))
    s3.put_object(Bucket=bucket, Key="one-too-many", Body=random.randbytes(OBJECT))
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 4


# Several gateways on one database ---------------------------------------------------------------


def test_an_object_written_through_one_gateway_is_read_through_another(cluster, second_gateway):
    first, second = cluster.s3(), s3_client(second_gateway.url)
    bucket = new_bucket(first)
    content = random.randbytes(300 * KIB + 7)
    first.put_object(Bucket=bucket, Key="through the first", Body=content)
    assert second.get_object(Bucket=bucket, Key="through the first")["Body"].read() == content

    second.put_object(Bucket=bucket, Key="through the second", Body=content[::-1])
    assert first.get_object(Bucket=bucket, Key="through the second")["Body"].read() == content[::-1]
    assert [entry["Key"] for entry in second.list_objects_v2(Bucket=bucket)["Contents"]] == [
        "through the first",
        "through the second",
    ]


def test_a_node_registered_through_one_gateway_is_listed_by_another(cluster, second_gateway):
    s3 = cluster.s3()
    bucket = new_bucket(s3)
    s3.put_object(Bucket=bucket, Key="before", Body=random.randbytes(60 * KIB))
    joining = cluster.new_node()
    joining.gateway_url = second_gateway.url  # the six others registered through the first
    joining.start().wait_ready()

    (entry,) = cluster.wait_for_status([joining], "up")  # as the first gateway lists it
    response = second_gateway.request("GET", "/_cluster/nodes")
    through_second = {e["node_id"]: e for e in response.json()["nodes"]}
    assert through_second.keys() == {node.node_id for node in cluster.nodes}
    assert through_second[entry["node_id"]]["url"] == joining.url
    # The first gateway places parts on it too, once its view of the nodes is renewed (at
    # most a second later): it is the emptiest node.
    uploads = iter(range(1000))

    def next_upload_uses_it():
        key = f"after/{next(uploads)}"
        s3.put_object(Bucket=bucket, Key=key, Body=random.randbytes(60 * KIB))
        return joining.node_id in part_nodes(cluster, bucket, key)

    wait_until(next_upload_uses_it, 3 * PLACEMENT_VIEW_SECONDS, "an upload to use the new node")


# Even filling ----------------------------------------------------------------------------------

FIRST_PHASE_OBJECTS = 150
SMALLEST, LARGEST = KIB, 4 * MIB
UPLOADERS = 4
# Two cores saturated by uploads can hold a half-second heartbeat back past the two-second
# down window; a node taken for down would skip parts and blur what this test measures.
STEADY_HEARTBEAT_SECONDS = 2.0


def random_sizes(rng: random.Random, count: int) -> list[int]:
    """Sizes from 1 KiB to 4 MiB, spread evenly over the orders of magnitude in between."""
    return [round(SMALLEST * (LARGEST / SMALLEST) ** rng.random()) for _ in range(count)]


def largest_part(sizes: list[int]) -> int:
    return max(span.size for size in sizes for span in shard_boundaries(size))


@pytest.mark.slow
@pytest.mark.timeout(480)
def test_nodes_fill_evenly_also_after_more_nodes_join(gateway_only, record_property):
    """Greedy placement gives each part to the least-filled node that can take it.

    While no node joins, that keeps max - min within one part: only the least-filled nodes
    grow, each by at most a part. Parts of one object may differ by a byte, so the bound is the
    largest part written plus a byte per object. Nodes that join late are the emptiest: each
    takes a part of every object while the six old nodes share the other three (half a part
    each), so they catch up once the second phase has written twice the first phase's bytes;
    writing three times as much leaves the greedy bound holding again at its end.

    Without parity: with eight shards an object leaves one of nine nodes out, so the late nodes
    catch up four times slower (``test_placement`` checks that parity fills evenly); the
    rebalancer is what catches them up at once.
    """
    cluster = without_parity(gateway_only)
    start_nodes(cluster, 6, heartbeat_seconds=STEADY_HEARTBEAT_SECONDS)
    rng = random.Random(20240404)
    pool = rng.randbytes(LARGEST)  # object bodies are random slices of it
    s3 = cluster.s3()
    bucket = new_bucket(s3)
    written: list[int] = []

    def upload_all(phase: str, sizes: list[int]) -> None:
        offsets = [rng.randrange(LARGEST - size + 1) for size in sizes]

        def upload(index: int) -> None:
            body = pool[offsets[index] : offsets[index] + sizes[index]]
            s3.put_object(Bucket=bucket, Key=f"{phase}/{index}", Body=body)

        with concurrent.futures.ThreadPoolExecutor(UPLOADERS) as uploaders:
            list(uploaders.map(upload, range(len(sizes))))  # raises the first upload's failure
        written.extend(sizes)

    def check_phase(phase: str) -> None:
        listed = cluster.listed_nodes()
        assigned = [entry["bytes_assigned"] for entry in listed]
        assert len(assigned) == len(cluster.nodes)
        assert sum(assigned) == sum(written)  # every byte counted once, on one node
        difference, mean = max(assigned) - min(assigned), sum(assigned) / len(assigned)
        bound = largest_part(written) + len(written)
        percent = 100 * difference / mean
        print(
            f"\n{phase}: {len(written)} objects, {sum(written)} bytes on {len(assigned)} nodes;"
            f" max - min = {difference} bytes (bound {bound}), mean {mean:.0f};"
            f" (max - min) / mean = {percent:.3f}%"
        )
        record_property(f"{phase}_objects", len(written))
        record_property(f"{phase}_bytes", sum(written))
        record_property(f"{phase}_spread_bytes", difference)
        record_property(f"{phase}_spread_percent", round(percent, 3))
        assert difference <= bound
        assert percent <= 5

        # What the nodes report themselves catches up within a heartbeat or two.
        def reported_by_the_nodes():
            listed = cluster.listed_nodes()
            bytes_match = all(e["bytes_stored"] == e["bytes_assigned"] for e in listed)
            parts = sum(e["parts_stored"] for e in listed)
            return bytes_match and parts == DATA_SHARDS * len(written)

        wait_until(reported_by_the_nodes, 30, "the nodes to report every part placed on them")

    upload_all("first", random_sizes(rng, FIRST_PHASE_OBJECTS))
    check_phase("first_phase")
    first_phase_bytes = sum(written)

    start_nodes(cluster, 3, heartbeat_seconds=STEADY_HEARTBEAT_SECONDS)
    second_sizes: list[int] = []
    while sum(second_sizes) < 3 * first_phase_bytes:
        second_sizes += random_sizes(rng, 1)
    upload_all("second", second_sizes)
    check_phase("second_phase")
