"""The gateway's records in the real database: deferred deletions, keyed by node and shard."""

import asyncio

import pytest
from pymongo import AsyncMongoClient

from s3lite.gateway.metadata.records import ShardRecord
from s3lite.gateway.metadata.store import Metadata


def shard(node_id: str, shard_id: str) -> ShardRecord:
    return ShardRecord(0, node_id, shard_id, 0, 100, "")


@pytest.fixture
def database_name(db_prefix) -> str:
    return f"{db_prefix}_gateway"


@pytest.mark.gen_test(timeout=60)
async def test_deferring_one_shard_many_times_at_once_keeps_one_record_and_never_fails(
    mongo_uri, database_name
):
    async with AsyncMongoClient(mongo_uri, tz_aware=True) as client:
        metadata = Metadata(client[database_name])
        shards = [shard("node-a", "w.0"), shard("node-a", "w.1")]
        await asyncio.gather(*(metadata.defer_deletions(shards) for _ in range(8)))
        due = await metadata.deferred_deletions_on({"node-a"}, limit=100)
        assert sorted(deletion.shard_id for deletion in due) == ["w.0", "w.1"]


@pytest.mark.gen_test(timeout=60)
async def test_one_shard_id_on_two_nodes_is_two_deletions(mongo_uri, database_name):
    async with AsyncMongoClient(mongo_uri, tz_aware=True) as client:
        metadata = Metadata(client[database_name])
        await metadata.defer_deletions([shard("node-a", "w.0"), shard("node-b", "w.0")])
        [on_a] = await metadata.deferred_deletions_on({"node-a"}, limit=100)
        await metadata.forget_deletion(on_a)
        assert await metadata.deferred_deletions_on({"node-a"}, limit=100) == []
        [on_b] = await metadata.deferred_deletions_on({"node-b"}, limit=100)
        assert on_b.shard_id == "w.0"


@pytest.mark.gen_test(timeout=60)
async def test_a_deletion_deferred_again_is_not_forgotten_by_the_earlier_one(
    mongo_uri, database_name
):
    async with AsyncMongoClient(mongo_uri, tz_aware=True) as client:
        metadata = Metadata(client[database_name])
        await metadata.defer_deletions([shard("node-a", "w.0")])
        [earlier] = await metadata.deferred_deletions_on({"node-a"}, limit=100)
        await asyncio.sleep(0.01)
        await metadata.defer_deletions([shard("node-a", "w.0")], delay_seconds=300)
        await metadata.forget_deletion(earlier)  # the retry that took the first deferral
        assert await metadata.deferred_deletions.count_documents({}) == 1
