"""Reading an object back: the data shards that hold the wanted bytes, checked, then streamed
in order. A shard that cannot be read (its node down or unreachable, the shard missing, or its
bytes damaged) is rebuilt from any six other shards of its part, window by window, so that
the client still gets the right bytes with up to P shards of a part lost.

Whether enough shards answer is known before the first byte goes out: a part that cannot be
read is a clean 503. A node that fails mid-read is taken over from the byte it stopped at.
"""

import asyncio
import os
import tempfile
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
SPOOL_READ_BYTES = 256 * 1024


def clip(window: bytes, offset: int, piece: "Piece") -> bytes:
    """The bytes of a shard's window starting at ``offset`` that the piece wants."""
    first, last = max(offset, piece.start), min(offset + len(window), piece.end)
    return window[first - offset : last - offset] if first < last else b""


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
        report: Callable[[str, str, ShardRecord, str], Awaitable[None]],
    ):
        self.record = record
        self.report = report  # (bucket, key, shard, why): for the repairer to check the shard
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
                    reason = self.reads.bad[shard.shard_id]
                    await self.report(self.record.bucket, self.record.key, shard, reason)

    async def stream_pieces(self, sink: Sink) -> None:
        if self.prefetched is not None:
            for data in self.prefetched:
                if data:
                    await sink(data)
            return
        done: set[int] = set()  # pieces sent along with a rebuilt one
        for n, piece in enumerate(self.pieces):
            if n in done:
                continue
            if piece.shard.shard_id in self.reads.bad:
                later = [
                    m for m in range(n + 1, len(self.pieces)) if self.pieces[m].part is piece.part
                ]
                await self.stream_rebuilt(piece, [self.pieces[m] for m in later], sink)
                done.update(later)
                continue
            delivered = 0

            async def counted(chunk: bytes) -> None:
                nonlocal delivered
                await sink(chunk)
                delivered += len(chunk)

            try:
                await self.reads.read_range(piece.shard, piece.start, piece.end, counted)
            except UNREADABLE as error:
                self.reads.mark_bad(piece.shard, error)  # reported, for the repairer
                if piece.start + delivered == piece.end:
                    raise  # sent whole, then found damaged: too late to take back
                await self.rebuild(piece, piece.start + delivered, sink)

    async def stream_rebuilt(self, first: Piece, later: list[Piece], sink: Sink) -> None:
        """A part's pieces from one whose shard is bad on: one pass over the part's stripes
        decodes every data shard at once. The first piece goes out as it is decoded; the later
        ones are kept in a temporary file and sent from it, so that no shard is read twice
        however many of the part's shards are lost."""
        self.rebuilt_pieces += 1
        rebuilder = ShardRebuilder(self.reads, first.part)
        start = 0 if later else first.start
        end = max(piece.end for piece in [first, *later])
        places, size = [], 0
        for piece in later:
            places.append(size)
            size += piece.end - piece.start
        loop = asyncio.get_running_loop()
        with tempfile.TemporaryFile(prefix="s3lite-rebuilt-") as spool:
            async with aclosing(rebuilder.stripes(start, end)) as stripes:
                async for offset, stripe in stripes:
                    if data := clip(stripe[first.shard.index], offset, first):
                        await sink(data)
                    for piece, place in zip(later, places, strict=True):
                        if data := clip(stripe[piece.shard.index], offset, piece):
                            at = place + max(offset, piece.start) - piece.start
                            await loop.run_in_executor(None, os.pwrite, spool.fileno(), data, at)
            for at in range(0, size, SPOOL_READ_BYTES):
                length = min(SPOOL_READ_BYTES, size - at)
                await sink(await loop.run_in_executor(None, os.pread, spool.fileno(), length, at))

    async def rebuild(self, piece: Piece, start: int, sink: Sink) -> None:
        """Send bytes [start, piece.end) of the piece's shard, decoded from other shards."""
        self.rebuilt_pieces += 1
        rebuilder = ShardRebuilder(self.reads, piece.part)
        async with aclosing(rebuilder.windows(piece.shard, start, piece.end)) as windows:
            async for data in windows:
                await sink(data)
