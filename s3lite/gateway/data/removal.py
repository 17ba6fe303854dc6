"""Deleting shards from their nodes, now if the node answers, else as soon as it is back.

A shard is deleted only after no record refers to it any more, so a deletion that must wait
harms nothing but space; the wait is recorded in the database so that no gateway forgets it.
The shards of an object that was overwritten or deleted wait on purpose (``retire``): a
download that began before may still be streaming them.
"""

import asyncio
import logging

from s3lite.gateway.cluster.registry import NodeRegistry
from s3lite.gateway.data.node_client import NodeClient
from s3lite.gateway.metadata.records import ShardRecord
from s3lite.gateway.metadata.store import Metadata

log = logging.getLogger(__name__)

RETRY_BATCH = 100


class ShardRemover:
    def __init__(
        self,
        metadata: Metadata,
        registry: NodeRegistry,
        nodes: NodeClient,
        retire_delay_seconds: float = 0.0,
    ):
        self.metadata = metadata
        self.registry = registry
        self.nodes = nodes
        self.retire_delay_seconds = retire_delay_seconds

    async def delete_now(self, node_id: str, shard_id: str, size: int) -> bool:
        """Try once; on success the node's share of placed bytes shrinks by the shard's size."""
        try:
            await self.nodes.delete(await self.registry.url_of(node_id), shard_id)
        except Exception as error:  # noqa: BLE001 - any failure just means "try again later"
            log.warning("cannot delete shard %s on node %s now: %s", shard_id, node_id, error)
            return False
        await self.registry.adjust_assigned({node_id: -size})
        return True

    async def remove(self, shards: list[ShardRecord]) -> None:
        results = await asyncio.gather(
            *(self.delete_now(shard.node_id, shard.shard_id, shard.size) for shard in shards)
        )
        await self.metadata.defer_deletions(
            [shard for shard, deleted in zip(shards, results, strict=True) if not deleted]
        )

    async def retire(self, shards: list[ShardRecord]) -> None:
        """Delete the shards of an object that readers may still be streaming, once they had
        ``retire_delay_seconds`` to finish."""
        if self.retire_delay_seconds <= 0:
            await self.remove(shards)
            return
        await self.metadata.defer_deletions(shards, self.retire_delay_seconds)

    async def retry_deferred(self) -> int:
        """Delete deferred shards that are due, on nodes that are up; answer how many went."""
        up = await self.registry.up_node_ids()
        if not up:
            return 0
        done = 0
        for pending in await self.metadata.deferred_deletions_on(up, RETRY_BATCH):
            if await self.delete_now(pending.node_id, pending.shard_id, pending.size):
                await self.metadata.forget_deletion(pending)
                done += 1
        if done:
            log.info("deleted %d shards whose deletion had been deferred", done)
        return done
