"""The gateway's records in the real database: deferred deletions keyed by node and shard, and
records of earlier versions rewritten at start."""

import asyncio
from datetime import timedelta

import pytest
from pymongo import AsyncMongoClient

from s3lite.clock import now
from s3lite.gateway.metadata.records import IntentKind, MultipartState, ShardRecord
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


@pytest.mark.gen_test(timeout=60)
async def test_records_of_earlier_versions_are_rewritten_and_then_read(mongo_uri, database_name):
    async with AsyncMongoClient(mongo_uri, tz_aware=True) as client:
        metadata = Metadata(client[database_name])
        moment = now()
        old_shards = [
            {"index": i, "node_id": f"n{i}", "part_id": f"w.{i}", "size": 5} for i in range(6)
        ]
        await metadata.intents.insert_one(
            {
                "_id": "w",
                "bucket": "b",
                "key": "k",
                "multipart_part": None,
                "parts": old_shards,
                "state": "streaming",
                "started": moment,
                "touched": moment - timedelta(hours=1),
            }
        )
        await metadata.deferred_deletions.insert_one(
            {"_id": "old.3", "node_id": "n3", "size": 7, "since": moment, "not_before": moment}
        )
        await metadata.upgrade_records()
        await metadata.upgrade_records()  # a second start finds nothing left to do

        intent = await metadata.claim_abandoned_intent(moment)
        assert intent.kind is IntentKind.OBJECT
        assert [shard.shard_id for shard in intent.shards] == [f"w.{i}" for i in range(6)]
        [deletion] = await metadata.deferred_deletions_on({"n3"}, limit=10)
        assert (deletion.shard_id, deletion.size) == ("old.3", 7)
        await metadata.forget_deletion(deletion)
        assert await metadata.deferred_deletions.count_documents({}) == 0


@pytest.mark.gen_test(timeout=60)
async def test_once_records_are_upgraded_later_starts_do_not_read_them_again(
    mongo_uri, database_name
):
    async with AsyncMongoClient(mongo_uri, tz_aware=True) as client:
        metadata = Metadata(client[database_name])
        await metadata.upgrade_records()
        moment = now()
        # A record in the old form written after the upgrade (by a gateway of an earlier
        # version, which must not share the database) is left as it is.
        await metadata.deferred_deletions.insert_one(
            {"_id": "late.0", "node_id": "n0", "size": 7, "since": moment, "not_before": moment}
        )
        await metadata.upgrade_records()
        assert await metadata.deferred_deletions.find_one({"_id": "late.0"}) is not None


@pytest.mark.gen_test(timeout=60)
async def test_open_uploads_are_listed_by_key_then_by_when_they_began(mongo_uri, database_name):
    async with AsyncMongoClient(mongo_uri, tz_aware=True) as client:
        metadata = Metadata(client[database_name])
        made = []
        for key in ("b", "a", "b", "a/b", "c"):
            made.append((key, await metadata.create_multipart("bucket", key, "text/plain", [], [])))
            await asyncio.sleep(0.002)  # upload ids begin with their millisecond
        await metadata.create_multipart("other", "a", "text/plain", [], [])
        done = await metadata.get_multipart("bucket", "c", made[-1][1])
        assert await metadata.claim_multipart(done, MultipartState.ABORTING)

        listed = await metadata.open_multipart_uploads("bucket")
        assert [(u.key, u.upload_id) for u in listed] == [made[1], made[3], made[0], made[2]]
        assert [u.key for u in await metadata.open_multipart_uploads("bucket", limit=2)] == [
            "a",
            "a/b",
        ]


@pytest.mark.gen_test(timeout=60)
async def test_a_multipart_upload_of_an_earlier_version_is_found_by_its_upload_id(
    mongo_uri, database_name
):
    async with AsyncMongoClient(mongo_uri, tz_aware=True) as client:
        metadata = Metadata(client[database_name])
        await metadata.multipart_uploads.insert_one(
            {
                "_id": "0123abcd",
                "bucket": "bucket",
                "key": "k",
                "content_type": "text/plain",
                "user_metadata": [],
                "http_headers": [],
                "state": "open",
                "initiated": now(),
            }
        )
        await metadata.upgrade_records()
        upload = await metadata.get_multipart("bucket", "k", "0123abcd")
        assert (upload.state, upload.content_type) == (MultipartState.OPEN, "text/plain")
        assert [u.upload_id for u in await metadata.open_multipart_uploads("bucket")] == [
            "0123abcd"
        ]
