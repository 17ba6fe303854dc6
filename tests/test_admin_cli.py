"""``s3lite status`` and ``s3lite scrub`` against a running cluster: the table a person reads and
the JSON a script reads, with the gateway's settings from the environment or a config file."""

import json
import os
import subprocess
import sys

from tests.processes import clean_environment, wait_until


def s3lite(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "s3lite", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean_environment(), "COLUMNS": "200", **(env or {})},
    )


def gateway_environment(cluster) -> dict[str, str]:
    return {
        "S3LITE_MONGO_URI": cluster.mongo_uri,
        "S3LITE_DB": cluster.gateway.db,
        "S3LITE_CLUSTER_TOKEN": cluster.token,
    }


def test_status_shows_nodes_fill_and_totals_as_a_table_and_as_json(cluster, tmp_path):
    s3 = cluster.s3(retries={"max_attempts": 1})
    s3.create_bucket(Bucket="photos")
    s3.put_object(Bucket="photos", Key="a", Body=os.urandom(60_000))
    s3.put_object(Bucket="photos", Key="b", Body=os.urandom(6_000))
    s3.put_object(Bucket="photos", Key="a", Body=os.urandom(30_000))  # an overwrite
    for key in ("gone", "gone too"):
        s3.put_object(Bucket="photos", Key=key, Body=b"x" * 600)
    s3.delete_objects(  # a batch subtracts from the bucket's totals once
        Bucket="photos", Delete={"Objects": [{"Key": "gone"}, {"Key": "gone too"}]}
    )
    shards = [
        shard
        for key in ("a", "b")
        for layout in [cluster.api("GET", f"/_cluster/objects/photos/{key}").json()]
        for shard in layout["parts"] + layout["parity"]
    ]
    stored = sum(shard["size"] for shard in shards)
    wait_until(
        lambda: sum(node["bytes_stored"] for node in cluster.listed_nodes()) == stored,
        30,
        "heartbeats that report the stored bytes",
    )
    victim = cluster.nodes[5]
    victim.kill()
    cluster.wait_for_status([victim], "down")

    table = s3lite("status", env=gateway_environment(cluster))
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    for node in cluster.nodes:
        [row] = [line for line in lines if node.node_id in line]
        assert ("down" if node is victim else "up") in row
        assert "█" in row and "rel" in row  # a fill bar against the fullest node
    stored_kib = f"{stored / 1024:.1f} KiB"
    summary = f"6 nodes: 5 up, 1 down; {stored_kib} in {len(shards)} shards; 1 buckets, 2 objects"
    assert f"{summary}, 35.2 KiB" in table.stdout

    config = tmp_path / "s3lite.conf"
    config.write_text(
        f"[gateway]\nmongo-uri = {cluster.mongo_uri}\ndb = {cluster.gateway.db}\n"
        f"cluster-token = {cluster.token}\n"
    )
    answer = s3lite("status", "--json", "--config", str(config))
    assert answer.returncode == 0, answer.stderr
    status = json.loads(answer.stdout)
    assert status["totals"] == {
        "nodes": 6,
        "nodes_up": 5,
        "nodes_down": 1,
        "bytes_stored": stored,
        "shards_stored": len(shards),
        "capacity_bytes": 0,
        "buckets": 1,
        "objects": 2,
        "object_bytes": 36_000,
    }
    assert {node["node_id"]: node["status"] for node in status["nodes"]} == {
        node.node_id: "down" if node is victim else "up" for node in cluster.nodes
    }
    assert status["buckets"][0] | {"created": None} == {
        "name": "photos",
        "objects": 2,
        "bytes": 36_000,
        "created": None,
    }


def test_scrub_reports_as_json_for_scripts(cluster):
    s3 = cluster.s3(retries={"max_attempts": 1})
    s3.create_bucket(Bucket="scrubbed")
    for key in ("kept", "robbed"):
        s3.put_object(Bucket="scrubbed", Key=key, Body=os.urandom(12_000))
    robbed = cluster.api("GET", "/_cluster/objects/scrubbed/robbed").json()["parts"][2]
    holder = next(node for node in cluster.nodes if node.node_id == robbed["node_id"])
    assert holder.request("DELETE", f"/_node/parts/{robbed['shard_id']}").status == 204

    answer = s3lite("scrub", "--json", env=gateway_environment(cluster))
    assert answer.returncode == 1, answer.stderr
    report = json.loads(answer.stdout)
    shards = sum(
        len(layout["parts"]) + len(layout["parity"])
        for key in ("kept", "robbed")
        for layout in [cluster.api("GET", f"/_cluster/objects/scrubbed/{key}").json()]
    )
    assert (report["objects"], report["shards"], report["problems"]) == (2, shards, 1)
    [finding] = report["findings"]
    assert finding | {"detail": None} == {
        "bucket": "scrubbed",
        "key": "robbed",
        "part_number": 1,
        "shard_index": 2,
        "shard_id": robbed["shard_id"],
        "node_id": robbed["node_id"],
        "problem": "missing",
        "detail": None,
    }
    progress = report["progress"]
    assert progress["state"] == "done"
    assert (progress["items_done"], progress["items_total"]) == (2, 2)
    assert (progress["bytes_done"], progress["bytes_total"]) == (24_000, 24_000)
