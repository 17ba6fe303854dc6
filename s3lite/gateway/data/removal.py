"""Deleting parts from their nodes, now if the node answers, else as soon as it is back.

A part is deleted only after no object refers to it any more, so a delete that must wait harms
nothing but space; the wait is recorded in the database so that no gateway forgets it. The
parts of an object that was overwritten or deleted wait on purpose (``retire``): a download
that began before may still be streaming them.
"""

import asyncio
import logging

from s3lite.gateway.cluster.registry import NodeRegistry
from s3lite.gateway.data.node_client import NodeClient
from s3lite.gateway.metadata.store import Metadata, PartRecord

log = logging.getLogger(__name__)

RETRY_BATCH = 100


class PartRemover:
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

    async def delete_now(self, node_id: str, part_id: str, size: int) -> bool:
        """Try once; on success the node's share of placed bytes shrinks by the part's size."""
        try:
            await self.nodes.delete(await self.registry.url_of(node_id), part_id)
        except Exception as error:  # noqa: BLE001 - any failure just means "try again later"
            log.warning("cannot delete part %s on node %s now: %s", part_id, node_id, error)
            return False
        await self.registry.adjust_assigned({node_id: -size})
        return True

    async def remove(self, parts: list[PartRecord]) -> None:
        results = await asyncio.gather(
            *(self.delete_now(part.node_id, part.part_id, part.size) for part in parts)
        )
        for part, deleted in zip(parts, results, strict=True):
            if not deleted:
                await self.metadata.defer_deletion(part.node_id, part.part_id, part.size)

    async def retire(self, parts: list[PartRecord]) -> None:
        """Delete the parts of an object that readers may still be streaming, once they had
        ``retire_delay_seconds`` to finish."""
        if self.retire_delay_seconds <= 0:
            await self.remove(parts)
            return
        for part in parts:
            await self.metadata.defer_deletion(
                part.node_id, part.part_id, part.size, self.retire_delay_seconds
            )

    async def retry_deferred(self) -> int:
        """Delete deferred parts that are due, on nodes that are up; answer how many went."""
        up = await self.registry.up_node_ids()
        if not up:
            return 0
        done = 0
        for pending in await self.metadata.deferred_deletions_on(up, RETRY_BATCH):
            if await self.delete_now(pending["node_id"], pending["_id"], pending["size"]):
                await self.metadata.forget_deletion(pending["_id"])
                done += 1
        if done:
            log.info("deleted %d parts whose deletion had been deferred", done)
        return done
