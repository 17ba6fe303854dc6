"""The Prometheus endpoints of gateway and node, read with prometheus_client's own parser and
checked against what the test did: an upload, a killed node."""

import os

from prometheus_client.parser import text_string_to_metric_families

from tests.processes import wait_until


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of an exposition, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(metrics: dict, name: str, **labels) -> float:
    return metrics.get((name, frozenset(labels.items())), 0.0)


def scrape(process, path: str) -> dict:
    response = process.request("GET", path)
    assert response.status == 200, response.body
    assert response.headers["Content-Type"].startswith(
        "text/plain; version=0.0.4"
    )  # the default format
    return samples(response.body.decode())


def test_an_upload_counts_on_gateway_and_nodes_and_a_killed_node_shows_down(cluster):
    s3 = cluster.s3(retries={"max_attempts": 1})
    s3.create_bucket(Bucket="counted")
    before = scrape(cluster.gateway, "/_cluster/metrics")
    nodes_before = [scrape(node, "/_node/metrics") for node in cluster.nodes]

    body = os.urandom(123_457)
    s3.put_object(Bucket="counted", Key="one", Body=body)
    s3.get_object(Bucket="counted", Key="one")["Body"].read()

    after = scrape(cluster.gateway, "/_cluster/metrics")
    put = {"operation": "PutObject", "status": "200"}
    assert value(after, "s3lite_gateway_requests_total", **put) == (
        value(before, "s3lite_gateway_requests_total", **put) + 1
    )
    assert value(after, "s3lite_gateway_received_bytes_total", operation="PutObject") == (
        value(before, "s3lite_gateway_received_bytes_total", operation="PutObject") + len(body)
    )
    # A GET is counted as it ends, which can be just after its client has every byte.
    wait_until(
        lambda: (
            value(
                scrape(cluster.gateway, "/_cluster/metrics"),
                "s3lite_gateway_sent_bytes_total",
                operation="GetObject",
            )
            == len(body)
        ),
        30,
        "the GET's bytes counted",
    )
    # The dashboard's ring holds the object API's requests, not heartbeats or these scrapes.
    slots = cluster.api("GET", "/_cluster/traffic").json()["slots"]
    assert sum(slot["requests"] for slot in slots) == 3  # CreateBucket, PutObject, GetObject
    assert sum(slot["bytes_in"] for slot in slots) == len(body)
    assert sum(slot["bytes_out"] for slot in slots) == len(body)
    assert value(after, "s3lite_gateway_request_duration_seconds_count", operation="PutObject") == (
        value(before, "s3lite_gateway_request_duration_seconds_count", operation="PutObject") + 1
    )
    assert value(after, "s3lite_database_command_duration_seconds_count", command="findAndModify")
    assert value(after, "s3lite_cluster_nodes", status="up") == 6
    assert value(after, "s3lite_cluster_nodes", status="down") == 0
    assert value(after, "s3lite_rebuilt_reads_total") == 0

    # The shards, data and parity, went to the nodes, which count their bytes and hold them.
    layout = cluster.api("GET", "/_cluster/objects/counted/one").json()
    shards = layout["parts"] + layout["parity"]
    nodes_after = [scrape(node, "/_node/metrics") for node in cluster.nodes]
    shard_puts = "PUT ShardHandler"
    received = sum(
        value(a, "s3lite_node_received_bytes_total", operation=shard_puts)
        - value(b, "s3lite_node_received_bytes_total", operation=shard_puts)
        for a, b in zip(nodes_after, nodes_before, strict=True)
    )
    assert received == sum(shard["size"] for shard in shards)
    assert sum(value(a, "s3lite_node_stored_bytes") for a in nodes_after) == received
    assert sum(value(a, "s3lite_node_stored_shards") for a in nodes_after) == len(shards)
    assert all(
        value(a, "s3lite_database_command_duration_seconds_count", command="insert")
        for a in nodes_after
        if value(a, "s3lite_node_stored_shards")
    )

    # The node of the object's first data shard dies: a read rebuilds that shard from parity.
    first = layout["parts"][0]
    victim = next(node for node in cluster.nodes if node.node_id == first["node_id"])
    victim.kill()
    cluster.wait_for_status([victim], "down")
    down = scrape(cluster.gateway, "/_cluster/metrics")
    assert value(down, "s3lite_cluster_nodes", status="down") == 1
    assert value(down, "s3lite_cluster_nodes", status="up") == 5
    assert value(down, "s3lite_cluster_node_up", node_id=victim.node_id) == 0
    survivor = next(node for node in cluster.nodes if node is not victim)
    assert value(down, "s3lite_cluster_node_up", node_id=survivor.node_id) == 1
    for job in ("repair", "rebalance"):
        assert ("s3lite_maintenance_running", frozenset({"job": job}.items())) in down
        assert ("s3lite_maintenance_moved_bytes_total", frozenset({"job": job}.items())) in down

    assert s3.get_object(Bucket="counted", Key="one")["Body"].read() == body
    wait_until(
        lambda: (
            value(scrape(cluster.gateway, "/_cluster/metrics"), "s3lite_rebuilt_reads_total") == 1
        ),
        30,
        "the rebuilt read counted",
    )


def test_metrics_need_the_cluster_token(shared_cluster):
    for process, path in (
        (shared_cluster.gateway, "/_cluster/metrics"),
        (shared_cluster.nodes[0], "/_node/metrics"),
    ):
        assert process.request("GET", path, token=None).status == 401
        assert process.request("GET", path, token="wrong").status == 401
    # "/metrics" stays a bucket name of the object API.
    s3 = shared_cluster.s3(retries={"max_attempts": 1})
    s3.create_bucket(Bucket="metrics")
    s3.put_object(Bucket="metrics", Key="k", Body=b"an object, not a scrape")
    assert s3.get_object(Bucket="metrics", Key="k")["Body"].read() == b"an object, not a scrape"
