"""Reading an object back: the data shards that hold the wanted bytes, checked, then streamed
in order."""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from s3lite.errors import NodeUnavailable, NoSuchPart, PartCorrupted
from s3lite.gateway.cluster.registry import NodeRegistry
from s3lite.gateway.data.node_client import NodeClient
from s3lite.gateway.data.splitting import Span, overlapping
from s3lite.gateway.metadata.records import ObjectRecord, ShardRecord

log = logging.getLogger(__name__)

# Reads up to this size are fetched whole, all shards at once, before the answer starts: one
# round trip to each node instead of a check and then a read, and any failure, even a damaged
# shard, becomes a clean error instead of a response cut short. Larger reads stream.
PREFETCH_BYTES = 1024 * 1024


class ObjectReader:
    def __init__(
        self, record: ObjectRecord, start: int, end: int, registry: NodeRegistry, nodes: NodeClient
    ):
        self.record = record
        self.registry = registry
        self.nodes = nodes
        # Every data shard of every part, with the span of the object it holds.
        shards = [
            (shard, part.offset + shard.offset)
            for part in record.parts
            for shard in part.data_shards
        ]
        spans = [Span(n, offset, shard.size) for n, (shard, offset) in enumerate(shards)]
        self.pieces: list[tuple[ShardRecord, int, int]] = [
            (shards[span.index][0], shard_start, shard_end)
            for span, shard_start, shard_end in overlapping(spans, start, end)
        ]
        self.urls: dict[str, str] = {}
        self.prefetched: list[bytes] | None = None
        self.wanted = end - start

    async def check_available(self) -> None:
        """Make sure every needed shard's node answers before the first byte goes out, so a
        missing node becomes a clean 503 rather than a response cut short."""
        if self.wanted <= PREFETCH_BYTES:
            self.prefetched = await self.read_all()
            return

        async def check(shard: ShardRecord) -> None:
            self.urls[shard.node_id] = url = await self.registry.url_of(shard.node_id)
            info = await self.nodes.stat(shard.node_id, url, shard.shard_id)
            if info.size != shard.size:
                raise PartCorrupted(
                    f"shard {shard.shard_id} on node {shard.node_id} has {info.size} bytes, "
                    f"not {shard.size}"
                )

        self.raise_first_failure(
            await asyncio.gather(
                *(check(shard) for shard, _, _ in self.pieces), return_exceptions=True
            ),
            (NodeUnavailable, NoSuchPart, PartCorrupted),
        )

    def raise_first_failure(self, results: list, unavailable: tuple[type, ...]) -> None:
        """Raise the first failure of shards fetched at once; an ``unavailable`` one as a 503."""
        for result in results:
            if isinstance(result, unavailable):
                raise NodeUnavailable(
                    f"a node holding a shard of {self.record.bucket}/{self.record.key} is "
                    f"unavailable: {result}"
                )
            if isinstance(result, BaseException):
                raise result

    async def read_all(self) -> list[bytes]:
        """Every wanted piece, read from all nodes at once and checked."""

        async def read(shard: ShardRecord, start: int, end: int) -> bytes:
            received = bytearray()

            async def keep(chunk: bytes) -> None:
                received.extend(chunk)

            url = await self.registry.url_of(shard.node_id)
            await self.read_piece(shard, url, start, end, keep)
            return bytes(received)

        results = await asyncio.gather(
            *(read(*piece) for piece in self.pieces), return_exceptions=True
        )
        self.raise_first_failure(results, (NodeUnavailable,))
        return results

    async def stream(self, sink: Callable[[bytes], Awaitable[None]]) -> None:
        """Send the wanted bytes in order; a whole shard read is also checked by its SHA-256."""
        if self.prefetched is not None:
            for data in self.prefetched:
                if data:
                    await sink(data)
            return
        for shard, start, end in self.pieces:
            await self.read_piece(shard, self.urls[shard.node_id], start, end, sink)

    async def read_piece(
        self,
        shard: ShardRecord,
        url: str,
        start: int,
        end: int,
        sink: Callable[[bytes], Awaitable[None]],
    ) -> None:
        sha256 = await self.nodes.read(
            shard.node_id, url, shard.shard_id, shard.size, start, end, sink
        )
        if start == 0 and end == shard.size and sha256 != shard.sha256:
            raise PartCorrupted(
                f"shard {shard.shard_id} on node {shard.node_id} has SHA-256 {sha256}, "
                f"recorded {shard.sha256}"
            )
