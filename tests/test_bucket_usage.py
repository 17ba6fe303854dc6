"""Each bucket's running totals (objects, bytes): kept by commits and deletions, and counted
once from the object records when a gateway first starts on records of an earlier version."""

import pytest
from pymongo import AsyncMongoClient

from s3lite.gateway.metadata.records import ObjectRecord
from s3lite.gateway.metadata.store import Metadata


def record(bucket: str, key: str, size: int, write_id: str) -> ObjectRecord:
    return ObjectRecord(bucket, key, size, "etag", write_id, [])


def usage_of(buckets: list[dict]) -> dict[str, tuple[int, int]]:
    return {bucket["name"]: (bucket["objects"], bucket["bytes"]) for bucket in buckets}


@pytest.mark.gen_test(timeout=60)
async def test_commits_overwrites_and_deletions_keep_the_totals(mongo_uri, db_prefix):
    async with AsyncMongoClient(mongo_uri, tz_aware=True) as client:
        metadata = Metadata(client[f"{db_prefix}_gateway"])
        await metadata.create_bucket("photos")
        await metadata.create_bucket("empty")
        await metadata.commit_object(record("photos", "a", 1000, "w1"))
        await metadata.commit_object(record("photos", "b", 2000, "w2"))
        await metadata.commit_object(record("photos", "a", 500, "w3"))  # an overwrite
        await metadata.commit_object(record("photos", "c", 70, "w4"))
        await metadata.delete_object("photos", "c")
        await metadata.delete_object("photos", "never there")
        assert usage_of(await metadata.buckets_with_usage()) == {
            "empty": (0, 0),
            "photos": (2, 2500),
        }

        await metadata.delete_object("photos", "a")
        await metadata.delete_object("photos", "b")
        await metadata.delete_bucket("photos")
        # A deletion that lost the race with DeleteBucket adds to totals already dropped.
        await metadata.add_bucket_usage("photos", -1, -70)
        await metadata.create_bucket("photos")  # a new bucket of the same name starts at zero
        assert usage_of(await metadata.buckets_with_usage())["photos"] == (0, 0)


@pytest.mark.gen_test(timeout=60)
async def test_records_of_version_2_get_their_totals_counted_once(mongo_uri, db_prefix):
    async with AsyncMongoClient(mongo_uri, tz_aware=True) as client:
        metadata = Metadata(client[f"{db_prefix}_gateway"])
        await metadata.create_bucket("old")
        for key, size in (("x", 10), ("y", 32)):
            await metadata.commit_object(record("old", key, size, f"w-{key}"))
        # What a gateway of version 2 left: no totals, and its marker.
        await metadata.bucket_usage.drop()
        await metadata.record_format.insert_one({"_id": "records", "version": 2})
        assert usage_of(await metadata.buckets_with_usage()) == {"old": (0, 0)}

        await metadata.upgrade_records()
        assert usage_of(await metadata.buckets_with_usage()) == {"old": (2, 42)}
        await metadata.commit_object(record("old", "z", 8, "w-z"))
        await metadata.upgrade_records()  # counted already: the marker says version 3
        assert usage_of(await metadata.buckets_with_usage()) == {"old": (3, 50)}
