"""ACLs and CORS rules in the gateway's records: a bucket's set and unset in one update each,
PutObjectAcl conditioned on the version it read (a concurrent overwrite wins), and deferred
deletions recorded in bulk."""

import pytest
from pymongo import AsyncMongoClient

from s3lite.errors import NoSuchBucket
from s3lite.gateway.metadata.records import ObjectRecord, ShardRecord
from s3lite.gateway.metadata.store import Metadata
from s3lite.s3.cors import CORSRule


class Store:
    def __init__(self, mongo_uri: str, db_prefix: str):
        self.client = AsyncMongoClient(mongo_uri, tz_aware=True)
        self.metadata = Metadata(self.client[f"{db_prefix}_gateway"])

    async def __aenter__(self) -> Metadata:
        return self.metadata

    async def __aexit__(self, *exc_info) -> None:
        await self.client.close()


@pytest.fixture
def store(mongo_uri, db_prefix):
    return Store(mongo_uri, db_prefix)


def record(write_id: str, acl: str = "private") -> ObjectRecord:
    return ObjectRecord("bucket", "k", 0, "etag", write_id, [], acl=acl)


@pytest.mark.gen_test(timeout=60)
async def test_a_bucket_keeps_its_acl_and_cors_rules(store):
    async with store as metadata:
        await metadata.create_bucket("bucket", "public-read")
        assert (await metadata.get_bucket("bucket")).acl == "public-read"
        await metadata.set_bucket_acl("bucket", "private")
        assert (await metadata.get_bucket("bucket")).acl == "private"
        assert (await metadata.get_bucket("bucket")).cors is None
        rules = [CORSRule(("*",), ("GET", "PUT"), ("*",), ("ETag",), 60, "id")]
        await metadata.set_bucket_cors("bucket", rules)
        assert (await metadata.get_bucket("bucket")).cors == rules
        await metadata.set_bucket_cors("bucket", None)
        assert (await metadata.get_bucket("bucket")).cors is None
        with pytest.raises(NoSuchBucket):
            await metadata.set_bucket_acl("absent", "private")
        with pytest.raises(NoSuchBucket):
            await metadata.set_bucket_cors("absent", rules)


@pytest.mark.gen_test(timeout=60)
async def test_put_object_acl_changes_only_the_version_it_read(store):
    async with store as metadata:
        await metadata.create_bucket("bucket")
        await metadata.commit_object(record("first"))
        assert await metadata.set_object_acl("bucket", "k", "first", "public-read")
        assert (await metadata.get_object("bucket", "k")).acl == "public-read"
        await metadata.commit_object(record("second"))  # an overwrite, stored private
        assert not await metadata.set_object_acl("bucket", "k", "first", "public-read")
        assert (await metadata.get_object("bucket", "k")).acl == "private"
        await metadata.delete_object("bucket", "k")
        assert not await metadata.set_object_acl("bucket", "k", "second", "public-read")


@pytest.mark.gen_test(timeout=60)
async def test_deferred_deletions_recorded_in_bulk_keep_one_record_per_shard(store):
    async with store as metadata:
        shards = [ShardRecord(i, f"node{i % 3}", f"w.{i}", 0, 10, "") for i in range(1500)]
        await metadata.defer_deletions(shards[:1], 0)
        await metadata.defer_deletions(shards, 0)
        await metadata.defer_deletions(shards[:10], 0)  # again: nothing doubles
        due = await metadata.deferred_deletions_on({"node0", "node1", "node2"}, 2000)
        assert sorted(d.shard_id for d in due) == sorted(s.shard_id for s in shards)
