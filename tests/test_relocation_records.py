"""The records side of a relocation in the real database: the one guarded update that points an
object at a copy, the lease, and what the collector keeps of an abandoned relocation."""

import asyncio
import dataclasses

import pytest
from pymongo import AsyncMongoClient

from s3lite.gateway.maintenance.collector import OrphanCollector
from s3lite.gateway.maintenance.lease import Lease
from s3lite.gateway.metadata.records import (
    Intent,
    IntentKind,
    ObjectPart,
    ObjectRecord,
    PlannedShard,
    ShardRecord,
    ShardRole,
)
from s3lite.gateway.metadata.store import Metadata


def stored_object(write_id: str = "w") -> ObjectRecord:
    shards = [ShardRecord(i, f"node-{i}", f"{write_id}.{i}", i * 10, 10, f"h{i}") for i in range(6)]
    shards.append(ShardRecord(6, "node-6", f"{write_id}.6", 0, 10, "p6", ShardRole.PARITY))
    return ObjectRecord("b", "k", 60, "etag", write_id, [ObjectPart(1, 0, 60, shards)])


def copy_of(shard: ShardRecord, node_id: str, shard_id: str) -> ShardRecord:
    return dataclasses.replace(shard, node_id=node_id, shard_id=shard_id)


@pytest.fixture
def database_name(db_prefix) -> str:
    return f"{db_prefix}_gateway"


@pytest.mark.gen_test(timeout=60)
async def test_a_switch_lands_once_and_two_of_one_object_both_land(mongo_uri, database_name):
    async with AsyncMongoClient(mongo_uri, tz_aware=True) as client:
        metadata = Metadata(client[database_name])
        await metadata.create_bucket("b")
        record = stored_object()
        await metadata.commit_object(record)
        shards = record.parts[0].shards
        first, parity = copy_of(shards[0], "node-9", "c.0"), copy_of(shards[6], "node-8", "c.6")
        landed = await asyncio.gather(
            metadata.switch_shard(record, 1, shards[0], first),
            metadata.switch_shard(record, 1, shards[6], parity),
        )
        assert landed == [True, True]
        # the same old shard again: another relocation took it, so this one must not land
        assert not await metadata.switch_shard(record, 1, shards[0], copy_of(first, "node-7", "x"))
        now = await metadata.get_object("b", "k")
        assert [(s.node_id, s.shard_id) for s in now.shards][:1] == [("node-9", "c.0")]
        assert now.shards[6] == parity and now.shards[1:6] == shards[1:6]


@pytest.mark.gen_test(timeout=60)
async def test_a_switch_loses_to_an_overwrite_and_never_puts_two_shards_on_one_node(
    mongo_uri, database_name
):
    async with AsyncMongoClient(mongo_uri, tz_aware=True) as client:
        metadata = Metadata(client[database_name])
        await metadata.create_bucket("b")
        record = stored_object()
        await metadata.commit_object(record)
        old = record.parts[0].shards[0]
        onto_parity_node = copy_of(old, "node-6", "c.0")  # node-6 holds the parity shard
        assert not await metadata.switch_shard(record, 1, old, onto_parity_node)
        await metadata.commit_object(stored_object("newer"))  # a client's overwrite
        assert not await metadata.switch_shard(record, 1, old, copy_of(old, "node-9", "c.0"))
        assert (await metadata.get_object("b", "k")).write_id == "newer"


@pytest.mark.gen_test(timeout=60)
async def test_one_holder_at_a_time_and_an_expired_lease_passes_on(mongo_uri, database_name):
    async with AsyncMongoClient(mongo_uri, tz_aware=True) as client:
        leases = client[database_name]["leases"]
        first, second = Lease(leases, "job", 0.5, "first"), Lease(leases, "job", 0.5, "second")
        taken = await asyncio.gather(*(lease.take() for lease in (first, second, first, second)))
        assert taken.count(True) >= 1 and len({taken[0], taken[1]}) == 2
        holder = first if taken[0] else second
        assert await holder.take()  # renewing
        assert await first.current_holder() == holder.holder
        await asyncio.sleep(0.6)
        other = second if holder is first else first
        assert await other.take()
        await other.release()
        assert await holder.current_holder() is None


class RecordingRemover:
    def __init__(self):
        self.removed, self.retired = [], []

    async def remove(self, shards):
        self.removed += [s.shard_id for s in shards]

    async def retire(self, shards):
        self.retired += [s.shard_id for s in shards]


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("switched", [False, True])
async def test_an_abandoned_relocation_keeps_what_the_object_points_at(
    mongo_uri, database_name, switched
):
    async with AsyncMongoClient(mongo_uri, tz_aware=True) as client:
        metadata = Metadata(client[database_name])
        await metadata.create_bucket("b")
        record = stored_object()
        await metadata.commit_object(record)
        old = record.parts[0].shards[2]
        copy = copy_of(old, "node-9", "c.2")
        await metadata.record_intent(
            Intent(
                "c",
                IntentKind.RELOCATION,
                "b",
                "k",
                [PlannedShard(2, "node-9", "c.2", 10)],
                replaced=[PlannedShard(2, old.node_id, old.shard_id, 10)],
            )
        )
        if switched:  # the gateway died between the switch and the retirement
            assert await metadata.switch_shard(record, 1, old, copy)
        remover = RecordingRemover()
        collector = OrphanCollector(metadata, remover, grace_seconds=0, multipart_expiry_seconds=1)
        assert await collector.collect_abandoned_writes() == 1
        if switched:
            assert (remover.removed, remover.retired) == ([], [old.shard_id])
        else:
            assert (remover.removed, remover.retired) == ([copy.shard_id], [])
        assert await metadata.intents.count_documents({}) == 0
