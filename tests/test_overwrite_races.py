"""Overwrites of one key that race: every writer gets a correct answer, the last commit wins,
and every replaced version's shards are retired exactly once, so nothing is left on the nodes
and the fill counts placement ranks nodes by stay exact."""

import concurrent.futures
import hashlib
import os
from collections import Counter

import pytest

from tests.processes import wait_until

WRITERS = 16
ROUNDS = 3


def fill_by_node(cluster) -> dict[str, tuple[int, int]]:
    """Bytes placed and shards stored on each node, as the gateway lists them."""
    return {
        node["node_id"]: (node["bytes_assigned"], node["parts_stored"])
        for node in cluster.listed_nodes()
    }


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_concurrent_overwrites_of_one_key_all_succeed_and_leave_only_the_winner(cluster):
    s3 = cluster.s3(retries={"max_attempts": 1})
    s3.create_bucket(Bucket="raced")
    bodies = {}
    for round_number in range(ROUNDS):
        batch = [os.urandom(50_000 + 997 * n) for n in range(WRITERS)]
        bodies.update({hashlib.md5(body).hexdigest(): body for body in batch})

        def put(body: bytes) -> str:
            return s3.put_object(Bucket="raced", Key="k", Body=body)["ETag"].strip('"')

        with concurrent.futures.ThreadPoolExecutor(WRITERS) as writers:
            etags = list(writers.map(put, batch))
        assert etags == [hashlib.md5(body).hexdigest() for body in batch], round_number

    final = s3.get_object(Bucket="raced", Key="k")
    assert final["Body"].read() == bodies[final["ETag"].strip('"')]

    listing = cluster.api("GET", "/_cluster/objects/raced/k").json()
    layout = listing["parts"] + listing["parity"]
    kept = {shard["shard_id"] for shard in layout}
    # The cluster fixture's gateway deletes replaced shards at once: all but the winner's go.
    wait_until(lambda: cluster.stored_part_ids() == kept, 60, "replaced shards to be deleted")
    sizes = Counter()
    for shard in layout:
        sizes[shard["node_id"]] += shard["size"]
    shards = Counter(shard["node_id"] for shard in layout)

    def counts_exact():
        listed = fill_by_node(cluster)
        return all(listed[node_id] == (sizes[node_id], shards[node_id]) for node_id in listed)

    # Nodes report what they hold with their heartbeats; placed bytes shrink with each deletion.
    wait_until(counts_exact, 30, f"fill counts to match the record: {fill_by_node(cluster)}")
