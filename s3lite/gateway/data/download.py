"""Reading an object back: the data shards that hold the wanted bytes, checked, then streamed
in order. A shard that cannot be read (its node down or unreachable, the shard missing, or its
bytes damaged) is rebuilt from any six other shards of its part, window by window, so that
the client still gets the right bytes with up to P shards of a part lost.

Whether enough shards answer is known before the first byte goes out: a part that cannot be
read is a clean 503. A node that fails mid-read is taken over from the byte it stopped at.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from s3lite.errors import NodeUnavailable, NoSuchPart, PartCorrupted
from s3lite.gateway.cluster.registry import NodeRegistry
from s3lite.gateway.data.erasure import ParityCode
from s3lite.gateway.data.node_client import NodeClient
from s3lite.gateway.data.splitting import DATA_SHARDS, Span, overlapping
from s3lite.gateway.metadata.records import ObjectPart, ObjectRecord, ShardRecord

log = logging.getLogger(__name__)

# Reads up to this size are fetched whole, all shards at once, before the answer starts: one
# round trip to each node instead of a check and then a read, and any failure, even a damaged
# shard, becomes a clean error instead of a response cut short. Larger reads stream.
PREFETCH_BYTES = 1024 * 1024
# Of a shard rebuilt at a time; six windows of the other shards, and the next six being
# fetched, are in memory while it is.
WINDOW_BYTES = 1024 * 1024
UNREADABLE = (NodeUnavailable, NoSuchPart, PartCorrupted)

Sink = Callable[[bytes], Awaitable[None]]


@dataclass(frozen=True)
class Piece:
    """Bytes [start, end) of one data shard of ``part``, wanted by the read."""

    part: ObjectPart
    shard: ShardRecord
    start: int
    end: int


class ObjectReader:
    def __init__(
        self, record: ObjectRecord, start: int, end: int, registry: NodeRegistry, nodes: NodeClient
    ):
        self.record = record
        self.registry = registry
        self.nodes = nodes
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
        self.bad: dict[str, str] = {}  # shard id to why it cannot be read, found by this read
        self.rebuilt_pieces = 0

    def describe(self, shard: ShardRecord) -> str:
        return (
            f"shard {shard.index} of {self.record.bucket}/{self.record.key} "
            f"({shard.shard_id} on node {shard.node_id})"
        )

    def mark_bad(self, shard: ShardRecord, error: Exception) -> None:
        if shard.shard_id not in self.bad:
            log.warning("%s cannot be read, rebuilding it: %s", self.describe(shard), error)
        self.bad[shard.shard_id] = str(error)

    async def check_available(self) -> None:
        """Make sure every wanted byte can be read, or rebuilt, before the first one goes out,
        so that too many shards lost becomes a clean 503 rather than a response cut short."""
        if self.wanted <= PREFETCH_BYTES:
            self.prefetched = list(await asyncio.gather(*map(self.read_whole, self.pieces)))
            return
        await self.stat_all([piece.shard for piece in self.pieces])
        for part in {
            id(p.part): p.part for p in self.pieces if p.shard.shard_id in self.bad
        }.values():
            await self.stat_all([s for s in part.shards if s.shard_id not in self.bad])
            self.sources(part, None)  # raises if fewer than six are left

    async def stat_all(self, shards: list[ShardRecord]) -> None:
        async def stat(shard: ShardRecord) -> None:
            url = await self.registry.url_of(shard.node_id)
            info = await self.nodes.stat(shard.node_id, url, shard.shard_id)
            if (info.size, info.sha256) != (shard.size, shard.sha256):
                raise PartCorrupted(f"the node has {info.size} bytes with SHA-256 {info.sha256}")

        results = await asyncio.gather(*map(stat, shards), return_exceptions=True)
        for shard, result in zip(shards, results, strict=True):
            if isinstance(result, UNREADABLE):
                self.mark_bad(shard, result)
            elif isinstance(result, BaseException):
                raise result

    async def read_whole(self, piece: Piece) -> bytes:
        """A piece read into memory, or rebuilt if its shard cannot be read."""
        received = bytearray()

        async def keep(chunk: bytes) -> None:
            received.extend(chunk)

        try:
            await self.read_range(piece.shard, piece.start, piece.end, keep)
        except UNREADABLE as error:
            self.mark_bad(piece.shard, error)
            received.clear()
            await self.rebuild(piece, piece.start, keep)
        return bytes(received)

    async def stream(self, sink: Sink) -> None:
        """Send the wanted bytes in order; a whole shard read is also checked by its SHA-256."""
        if self.prefetched is not None:
            for data in self.prefetched:
                if data:
                    await sink(data)
            return
        for piece in self.pieces:
            if piece.shard.shard_id in self.bad:
                await self.rebuild(piece, piece.start, sink)
                continue
            delivered = 0

            async def counted(chunk: bytes) -> None:
                nonlocal delivered
                await sink(chunk)
                delivered += len(chunk)

            try:
                await self.read_range(piece.shard, piece.start, piece.end, counted)
            except UNREADABLE as error:
                if piece.start + delivered == piece.end:
                    raise  # sent whole, then found damaged: too late to take back
                self.mark_bad(piece.shard, error)
                await self.rebuild(piece, piece.start + delivered, sink)

    async def read_range(self, shard: ShardRecord, start: int, end: int, sink: Sink) -> None:
        url = await self.registry.url_of(shard.node_id)
        sha256 = await self.nodes.read(
            shard.node_id, url, shard.shard_id, shard.size, start, end, sink
        )
        if start == 0 and end == shard.size and sha256 != shard.sha256:
            raise PartCorrupted(
                f"shard {shard.shard_id} on node {shard.node_id} has SHA-256 {sha256}, "
                f"recorded {shard.sha256}"
            )

    def sources(self, part: ObjectPart, rebuilt: ShardRecord | None) -> list[ShardRecord]:
        """Six shards of ``part`` not known to be bad, data first; raises if there are not."""
        usable = [
            shard
            for shard in sorted(part.shards, key=lambda shard: shard.index)
            if shard.shard_id not in self.bad and shard is not rebuilt
        ]
        if len(usable) < DATA_SHARDS:
            raise NodeUnavailable(
                f"{len(part.shards) - len(usable)} of the {len(part.shards)} shards of part "
                f"{part.number} of {self.record.bucket}/{self.record.key} cannot be read, and "
                f"any {DATA_SHARDS} are needed: {'; '.join(self.bad.values())}"
            )
        return usable[:DATA_SHARDS]

    async def rebuild(self, piece: Piece, start: int, sink: Sink) -> None:
        """Send bytes [start, piece.end) of the piece's shard, decoded from other shards."""
        self.rebuilt_pieces += 1
        log.warning(
            "rebuilding bytes %d-%d of %s from the other shards of its part",
            start,
            piece.end,
            self.describe(piece.shard),
        )
        windows = [
            (offset, min(offset + WINDOW_BYTES, piece.end))
            for offset in range(start, piece.end, WINDOW_BYTES)
        ]
        upcoming: asyncio.Future | None = None
        try:
            for n, window in enumerate(windows):
                current = upcoming or asyncio.ensure_future(self.rebuilt_window(piece, *window))
                upcoming = None
                data = await current
                if n + 1 < len(windows):  # fetched while this one goes out
                    upcoming = asyncio.ensure_future(self.rebuilt_window(piece, *windows[n + 1]))
                await sink(data)
        finally:
            if upcoming is not None:  # waited for, not cancelled: it holds node connections
                await asyncio.gather(upcoming, return_exceptions=True)

    async def rebuilt_window(self, piece: Piece, start: int, end: int) -> bytes:
        """Bytes [start, end) of the piece's shard, from the same window of six others; a source
        that fails is marked bad and another one takes its place."""
        code = ParityCode.of(len(piece.part.parity_shards))
        while True:
            sources = self.sources(piece.part, piece.shard)
            results = await asyncio.gather(
                *(self.fetch(source, start, end) for source in sources), return_exceptions=True
            )
            failed = False
            for source, result in zip(sources, results, strict=True):
                if isinstance(result, UNREADABLE):
                    self.mark_bad(source, result)
                    failed = True
                elif isinstance(result, BaseException):
                    raise result
            if not failed:
                break
        available = {source.index: data for source, data in zip(sources, results, strict=True)}
        loop = asyncio.get_running_loop()
        decoded = await loop.run_in_executor(None, code.decode, available, end - start)
        return decoded[piece.shard.index][: end - start]

    async def fetch(self, shard: ShardRecord, start: int, end: int) -> bytes:
        """Bytes [start, end) of a shard, cut at its own end (a data shard may be a byte short
        of the window: the code counts the missing byte as zero)."""
        end = min(end, shard.size)
        if end <= start:
            return b""
        received = bytearray()

        async def keep(chunk: bytes) -> None:
            received.extend(chunk)

        await self.read_range(shard, start, end, keep)
        return bytes(received)
