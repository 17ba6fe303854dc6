"""One write's lifecycle, driven in process: intent, shards streamed, commit or abort.

The gateway's upload, metadata and node client run inside the test, against the real database
and six real node processes: what a write leaves behind at each step is read straight from the
records and the nodes.
"""

import hashlib
import os

import pytest
from pymongo import AsyncMongoClient

from s3lite.errors import RequestTimeout
from s3lite.gateway.cluster.registry import NodeRegistry
from s3lite.gateway.data.erasure import ParityCode
from s3lite.gateway.data.node_client import NodeClient
from s3lite.gateway.data.node_http import NodeConnections
from s3lite.gateway.data.removal import ShardRemover
from s3lite.gateway.data.upload import ObjectInfo, ObjectUpload
from s3lite.gateway.metadata.records import IntentState, ShardRole
from s3lite.gateway.metadata.store import Metadata

TOKEN = "node-test-token"
PARITY_SHARDS = 2


@pytest.fixture
def six_nodes(start_node):
    return [start_node() for _ in range(6)]


class Gateway:
    """The pieces of a gateway a write uses, on this test's own database."""

    def __init__(self, mongo_uri: str, db_prefix: str):
        self.client = AsyncMongoClient(mongo_uri, tz_aware=True)
        database = self.client[f"{db_prefix}_gateway"]
        self.metadata = Metadata(database)
        self.registry = NodeRegistry(database, down_after_missed_heartbeats=1000)
        self.http = NodeConnections()
        self.nodes = NodeClient(self.http, TOKEN)
        self.remover = ShardRemover(self.metadata, self.registry, self.nodes)

    async def register(self, nodes) -> None:
        for node in nodes:
            await self.registry.register({"node_id": None, "url": node.url, "capacity_bytes": 0})

    def upload(self, key: str) -> ObjectUpload:
        info = ObjectInfo("bucket", key, "text/plain", [])
        return ObjectUpload(
            info,
            self.metadata,
            self.registry,
            self.nodes,
            self.remover,
            ParityCode.of(PARITY_SHARDS),
            touch_seconds=60,
        )

    async def intent(self, upload: ObjectUpload) -> dict | None:
        return await self.metadata.intents.find_one({"_id": upload.write_id})

    async def __aenter__(self) -> "Gateway":
        await self.register(self.node_processes)
        await self.metadata.create_bucket("bucket")
        return self

    async def __aexit__(self, *exc_info) -> None:
        self.http.close()
        await self.client.close()


@pytest.fixture
def gateway(mongo_uri, db_prefix, six_nodes):
    """Entered by the test (``async with gateway``): pytest-tornado has no async fixtures."""
    gateway = Gateway(mongo_uri, db_prefix)
    gateway.node_processes = six_nodes
    return gateway


def stored_shard_ids(nodes) -> set[str]:
    return {
        entry["part_id"]
        for node in nodes
        for entry in node.request("GET", "/_node/parts?limit=1000").json()["parts"]
    }


@pytest.mark.gen_test(timeout=60)
async def test_a_write_records_its_intent_before_any_shard_then_commits_and_forgets_it(
    gateway, six_nodes
):
    async with gateway:
        body = os.urandom(100_003)
        upload = gateway.upload("k")
        await upload.begin(len(body))
        intent = await gateway.intent(upload)
        assert intent["state"] == IntentState.STREAMING
        assert {shard["node_id"] for shard in intent["shards"]} == {
            node["node_id"] for node in await gateway.registry.describe_all()
        }
        await upload.write(body[:50_000])
        await upload.write(body[50_000:])
        record = await upload.commit()

        assert await gateway.intent(upload) is None
        assert record.etag == hashlib.md5(body).hexdigest()
        stored = await gateway.metadata.get_object("bucket", "k")
        assert stored == record
        [part] = stored.parts
        roles = [ShardRole.DATA] * 6 + [ShardRole.PARITY] * PARITY_SHARDS
        assert [shard.role for shard in part.shards] == roles
        assert [shard.size for shard in part.data_shards] == [16_667] * 5 + [16_668]
        assert [shard.size for shard in part.parity_shards] == [16_668] * PARITY_SHARDS
        assert stored_shard_ids(six_nodes) == {shard.shard_id for shard in part.shards}
        await upload.abort()  # after a commit: nothing to undo
        assert stored_shard_ids(six_nodes) == {shard.shard_id for shard in part.shards}


@pytest.mark.gen_test(timeout=60)
async def test_an_aborted_write_leaves_no_shard_and_no_intent(gateway, six_nodes):
    async with gateway:
        upload = gateway.upload("k")
        await upload.begin(600_000)
        await upload.write(os.urandom(350_000))  # some shards whole, one half sent
        await upload.abort()
        await upload.abort()  # twice is harmless

        assert await gateway.intent(upload) is None
        assert stored_shard_ids(six_nodes) == set()
        assert await gateway.metadata.objects.count_documents({}) == 0


@pytest.mark.gen_test(timeout=60)
async def test_a_write_a_collector_took_over_does_not_commit(gateway, six_nodes):
    async with gateway:
        body = os.urandom(1000)
        upload = gateway.upload("k")
        await upload.begin(len(body))
        await upload.write(body)
        assert await gateway.metadata.claim_intent(upload.write_id, IntentState.COLLECTING)

        with pytest.raises(RequestTimeout):
            await upload.commit()
        assert await gateway.metadata.objects.count_documents({}) == 0
        # Its abort leaves the shards to the collector, which owns the intent now.
        await upload.abort()
        assert (await gateway.intent(upload))["state"] == IntentState.COLLECTING


@pytest.mark.gen_test(timeout=60)
async def test_an_overwrite_hands_back_the_shards_it_replaced(gateway, six_nodes):
    async with gateway:
        first, second = gateway.upload("k"), gateway.upload("k")
        for upload in (first, second):
            await upload.begin(10)
            await upload.write(b"0123456789")
        old = await first.commit()
        await second.commit()

        # No delete delay here: the replaced shards are deleted at once.
        assert stored_shard_ids(six_nodes) == {
            shard.shard_id for shard in (await gateway.metadata.get_object("bucket", "k")).shards
        }
        assert not stored_shard_ids(six_nodes) & {shard.shard_id for shard in old.shards}


def read_shard(nodes, shard) -> bytes:
    for node in nodes:
        if node.node_id == shard.node_id:
            return node.request("GET", f"/_node/parts/{shard.shard_id}").body
    raise AssertionError(f"no node {shard.node_id}")


@pytest.mark.gen_test(timeout=60)
async def test_parity_streamed_beside_the_last_shard_is_the_code_of_the_data(gateway, six_nodes):
    """Uneven pieces, one of them across every shard boundary: the parity each node stored
    is what the code makes of the six data shards, the shorter ones padded."""
    async with gateway:
        for node, listed in zip(six_nodes, await gateway.registry.describe_all(), strict=True):
            node.node_id = listed["node_id"]
        body = os.urandom(1_000_003)
        upload = gateway.upload("k")
        await upload.begin(len(body))
        for start in range(0, len(body), 65_537):
            await upload.write(body[start : start + 65_537])
        [part] = (await upload.commit()).parts

        data = [read_shard(six_nodes, shard) for shard in part.data_shards]
        assert b"".join(data) == body
        parity = [read_shard(six_nodes, shard) for shard in part.parity_shards]
        assert parity == ParityCode.of(PARITY_SHARDS).encode(data)
