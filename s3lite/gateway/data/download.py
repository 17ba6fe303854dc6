"""Reading an object back: the data shards that hold the wanted bytes, checked, then streamed
in order. A shard that cannot be read (its node down or unreachable, the shard missing, or its
bytes damaged) is rebuilt from any six other shards of its part, window by window, so that
the client still gets the right bytes with up to P shards of a part lost.

Whether enough shards answer is known before the first byte goes out: a part that cannot be
read is a clean 503. A node that fails mid-read is taken over from the byte it stopped at.
"""

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass

from s3lite.gateway.cluster.registry import NodeRegistry
from s3lite.gateway.data.node_client import NodeClient
from s3lite.gateway.data.rebuild import UNREADABLE, ShardReads, ShardRebuilder, Sink
from s3lite.gateway.data.splitting import Span, overlapping
from s3lite.gateway.metadata.records import ObjectPart, ObjectRecord, ShardRecord

# Reads up to this size are fetched whole, all shards at once, before the answer starts: one
# round trip to each node instead of a check and then a read, and any failure, even a damaged
# shard, is rebuilt or becomes a clean error instead of a response cut short. Larger reads
# stream.
PREFETCH_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Piece:
    """Bytes [start, end) of one data shard of ``part``, wanted by the read."""

    part: ObjectPart
    shard: ShardRecord
    start: int
    end: int


class ObjectReader:
    def __init__(
        self,
        record: ObjectRecord,
        start: int,
        end: int,
        registry: NodeRegistry,
        nodes: NodeClient,
        report: Callable[[str, str, str], Awaitable[None]],
    ):
        self.record = record
        self.report = report  # (node id, shard id, why): for the repairer to check the shard
        self.reads = ShardReads(registry, nodes, f"{record.bucket}/{record.key}")
        # Every data shard of every part, with the span of the object it holds.
        shards = [(part, shard) for part in record.parts for shard in part.data_shards]
        spans = [
            Span(n, part.offset + shard.offset, shard.size)
            for n, (part, shard) in enumerate(shards)
        ]
        self.pieces = [
            Piece(*shards[span.index], shard_start, shard_end)
            for span, shard_start, shard_end in overlapping(spans, start, end)
        ]
        self.wanted = end - start
        self.prefetched: list[bytes] | None = None
        self.rebuilt_pieces = 0

    async def check_available(self) -> None:
        """Make sure every wanted byte can be read, or rebuilt, before the first one goes out,
        so that too many shards lost becomes a clean 503 rather than a response cut short."""
        if self.wanted <= PREFETCH_BYTES:
            self.prefetched = list(await asyncio.gather(*map(self.read_whole, self.pieces)))
            return
        await self.reads.stat_all([piece.shard for piece in self.pieces])
        damaged = {id(p.part): p.part for p in self.pieces if p.shard.shard_id in self.reads.bad}
        for part in damaged.values():
            await self.reads.stat_all([s for s in part.shards if s.shard_id not in self.reads.bad])
            ShardRebuilder(self.reads, part).sources()  # raises if fewer than six are left

    async def read_whole(self, piece: Piece) -> bytes:
        """A piece read into memory, or rebuilt if its shard cannot be read."""
        received = bytearray()

        async def keep(chunk: bytes) -> None:
            received.extend(chunk)

        try:
            await self.reads.read_range(piece.shard, piece.start, piece.end, keep)
        except UNREADABLE as error:
            self.reads.mark_bad(piece.shard, error)
            received.clear()
            await self.rebuild(piece, piece.start, keep)
        return bytes(received)

    async def stream(self, sink: Sink) -> None:
        """Send the wanted bytes in order; a whole shard read is also checked by its SHA-256.
        What could not be read is reported at the end, for the repairer."""
        try:
            await self.stream_pieces(sink)
        finally:
            for shard in self.record.shards:
                if shard.shard_id in self.reads.bad:
                    await self.report(shard.node_id, shard.shard_id, self.reads.bad[shard.shard_id])

    async def stream_pieces(self, sink: Sink) -> None:
        if self.prefetched is not None:
            for data in self.prefetched:
                if data:
                    await sink(data)
            return
        for piece in self.pieces:
            if piece.shard.shard_id in self.reads.bad:
                await self.rebuild(piece, piece.start, sink)
                continue
            delivered = 0

            async def counted(chunk: bytes) -> None:
                nonlocal delivered
                await sink(chunk)
                delivered += len(chunk)

            try:
                await self.reads.read_range(piece.shard, piece.start, piece.end, counted)
            except UNREADABLE as error:
                if piece.start + delivered == piece.end:
                    raise  # sent whole, then found damaged: too late to take back
                self.reads.mark_bad(piece.shard, error)
                await self.rebuild(piece, piece.start + delivered, sink)

    async def rebuild(self, piece: Piece, start: int, sink: Sink) -> None:
        """Send bytes [start, piece.end) of the piece's shard, decoded from other shards."""
        self.rebuilt_pieces += 1
        rebuilder = ShardRebuilder(self.reads, piece.part)
        async with aclosing(rebuilder.windows(piece.shard, start, piece.end)) as windows:
            async for data in windows:
                await sink(data)
