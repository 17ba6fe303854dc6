"""Putting one shard of an object on another node: copy, verify, switch, retire.

A move (the rebalancer) and a rebuild (repair) differ only in where the bytes come from, so
this module takes them as an async iterator and knows nothing of either. Every step is safe to
stop at:

1. An intent of kind ``RELOCATION`` is recorded before any byte goes out, naming the copy and
   the shard it replaces: if the gateway dies, the collector finds it after the grace period
   and keeps exactly what the object's record points at (``OrphanCollector``).
2. The bytes go to the target node under a fresh shard id, never over anything that exists.
3. The node's size and SHA-256 of what it stored must equal the record's.
4. One guarded update of the object's record swaps the shard (``Metadata.switch_shard``): an
   overwrite, a deletion or another relocation of that shard in between wins, and the copy is
   deleted instead.
5. The replaced shard is retired: deleted ``--delete-delay-seconds`` later, so downloads that
   read the record before the switch finish.
"""

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterable

from s3lite.config import GatewayConfig
from s3lite.errors import PartCorrupted
from s3lite.gateway.cluster.registry import NodeRegistry
from s3lite.gateway.data.node_client import NodeClient
from s3lite.gateway.data.removal import ShardRemover
from s3lite.gateway.metadata.records import (
    Intent,
    IntentKind,
    IntentState,
    ObjectRecord,
    PlannedShard,
    ShardRecord,
)
from s3lite.gateway.metadata.store import Metadata
from s3lite.gateway.wiring import ClusterAccess

log = logging.getLogger(__name__)


def planned(shard: ShardRecord) -> PlannedShard:
    return PlannedShard(shard.index, shard.node_id, shard.shard_id, shard.size, shard.role)


class ShardRelocator:
    """``relocate`` is the one entry point; see the module's docstring for its steps."""

    def __init__(
        self,
        metadata: Metadata,
        registry: NodeRegistry,
        nodes: NodeClient,
        remover: ShardRemover,
        touch_seconds: float,
    ):
        self.metadata = metadata
        self.registry = registry
        self.nodes = nodes
        self.remover = remover
        self.touch_seconds = touch_seconds

    async def relocate(
        self,
        record: ObjectRecord,
        part_number: int,
        shard: ShardRecord,
        target_node_id: str,
        source: AsyncIterable[bytes],
        keep_apart: bool = True,
    ) -> ShardRecord | None:
        """Store ``source`` (exactly the bytes of ``shard``, of part ``part_number`` of the
        object as ``record`` has it) on ``target_node_id`` and make the object use that copy.

        Answers the copy's record once the object points at it, or None when the object
        changed first (the copy is then gone again). Raises when the copy could not be made
        or does not match (``NodeUnavailable``, ``PartCorrupted``, or whatever ``source``
        raised), after deleting what it wrote. A cancelled relocation leaves its intent to the
        collector."""
        write_id = secrets.token_hex(12)
        copy = ShardRecord(
            shard.index,
            target_node_id,
            f"{write_id}.{shard.index}",
            shard.offset,
            shard.size,
            shard.sha256,
            shard.role,
        )
        await self.metadata.record_intent(
            Intent(
                write_id=write_id,
                kind=IntentKind.RELOCATION,
                bucket=record.bucket,
                key=record.key,
                shards=[planned(copy)],
                replaced=[planned(shard)],
            )
        )
        await self.registry.adjust_assigned({target_node_id: shard.size})
        try:
            await self.copy(write_id, copy, source)
        except Exception:
            if await self.metadata.claim_intent(write_id, IntentState.ABORTING):
                await self.remover.remove([copy])
                await self.metadata.drop_intent(write_id)
            raise
        if not await self.metadata.claim_intent(write_id, IntentState.COMMITTING):
            # A collector took it over (the database was out of reach too long): it deletes
            # the copy, but perhaps before the node had it all, so delete it here too.
            await self.remover.remove([copy])
            return None
        switched = await self.metadata.switch_shard(record, part_number, shard, copy, keep_apart)
        if switched:
            await self.remover.retire([shard])
        else:
            await self.remover.remove([copy])
        await self.metadata.drop_intent(write_id)
        return copy if switched else None

    async def copy(self, write_id: str, copy: ShardRecord, source: AsyncIterable[bytes]) -> None:
        """Stream ``source`` to the copy's node and check what the node kept."""
        url = await self.registry.url_of(copy.node_id)
        sender = self.nodes.sender(copy.node_id, url, copy.shard_id, copy.size)
        alive = asyncio.ensure_future(self.keep_alive(write_id))
        chunks = aiter(source)
        try:
            async for chunk in chunks:
                if sender.sent + len(chunk) > copy.size:
                    raise PartCorrupted(f"more than the {copy.size} bytes of {copy.shard_id}")
                await sender.write(chunk)
            if sender.sent != copy.size:
                raise PartCorrupted(f"{sender.sent} of {copy.size} bytes of {copy.shard_id}")
            stored = await sender.finish()
        except BaseException:
            sender.abort()
            raise
        finally:
            alive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await alive
            if hasattr(chunks, "aclose"):
                await chunks.aclose()  # stops a read from the source node at once
        if (stored.size, stored.sha256) != (copy.size, copy.sha256):
            raise PartCorrupted(
                f"node {copy.node_id} stored {stored.size} bytes with SHA-256 {stored.sha256} "
                f"for {copy.shard_id}; the record says {copy.size} with {copy.sha256}"
            )

    async def keep_alive(self, write_id: str) -> None:
        """Tell collectors the copy is alive, however slowly its bytes come (a paced source
        may leave seconds between chunks)."""
        while True:
            await asyncio.sleep(self.touch_seconds)
            try:
                await self.metadata.touch_intent(write_id)
            except Exception:  # noqa: BLE001 - the next touch may reach the database
                log.warning("cannot touch relocation %s", write_id, exc_info=True)


def relocator_for(config: GatewayConfig, access: ClusterAccess) -> ShardRelocator:
    """The relocator of a gateway or of a command sharing its settings: its intents are
    touched often enough that the collector's grace never takes one still copying."""
    return ShardRelocator(
        access.metadata,
        access.registry,
        access.nodes,
        access.remover,
        touch_seconds=config.gc_grace_seconds / 4,
    )
