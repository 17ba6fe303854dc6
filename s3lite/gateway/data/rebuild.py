"""Any shard of a part, data or parity, rebuilt from six others, window by window.

A read uses it for the bytes of a data shard that a node cannot serve; the repairer for a whole
shard it puts on another node. Each window of the wanted shard comes from the same window of
six shards not known to be bad: decoded into the six data windows, and encoded again when a
parity shard is wanted. A source that fails is marked bad, and another takes its place.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from s3lite.errors import NodeUnavailable, NoSuchPart, PartCorrupted
from s3lite.gateway.cluster.registry import NodeRegistry
from s3lite.gateway.data.erasure import ParityCode
from s3lite.gateway.data.node_client import NodeClient
from s3lite.gateway.data.splitting import DATA_SHARDS
from s3lite.gateway.metadata.records import ObjectPart, ShardRecord, ShardRole

log = logging.getLogger(__name__)

UNREADABLE = (NodeUnavailable, NoSuchPart, PartCorrupted)
# Of a shard rebuilt at a time; six windows of other shards, and the next six being fetched,
# are in memory while it is.
WINDOW_BYTES = 1024 * 1024

Sink = Callable[[bytes], Awaitable[None]]


class ShardReads:
    """Reading shards from their nodes, remembering which ones failed (shard id to why)."""

    def __init__(self, registry: NodeRegistry, nodes: NodeClient, what: str):
        self.registry = registry
        self.nodes = nodes
        self.what = what  # the object, for messages
        self.bad: dict[str, str] = {}

    def mark_bad(self, shard: ShardRecord, error: Exception) -> None:
        if shard.shard_id not in self.bad:
            log.warning(
                "shard %d of %s (%s on node %s) cannot be read: %s",
                shard.index,
                self.what,
                shard.shard_id,
                shard.node_id,
                error,
            )
        self.bad[shard.shard_id] = str(error)

    async def read_range(self, shard: ShardRecord, start: int, end: int, sink: Sink) -> None:
        """Bytes [start, end) of a shard into ``sink``; a whole shard is checked by SHA-256."""
        url = await self.registry.url_of(shard.node_id)
        sha256 = await self.nodes.read(
            shard.node_id, url, shard.shard_id, shard.size, start, end, sink
        )
        if start == 0 and end == shard.size and sha256 != shard.sha256:
            raise PartCorrupted(
                f"shard {shard.shard_id} on node {shard.node_id} has SHA-256 {sha256}, "
                f"recorded {shard.sha256}"
            )

    async def fetch(self, shard: ShardRecord, start: int, end: int) -> bytes:
        """Bytes [start, end) of a shard, cut at its own end (a data shard may be a byte short
        of a window: the code counts the missing byte as zero)."""
        end = min(end, shard.size)
        if end <= start:
            return b""
        received = bytearray()

        async def keep(chunk: bytes) -> None:
            received.extend(chunk)

        await self.read_range(shard, start, end, keep)
        return bytes(received)

    async def stat_all(self, shards: list[ShardRecord]) -> None:
        """Ask each shard's node whether it holds the shard as recorded; mark those that not."""

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


class ShardRebuilder:
    def __init__(self, reads: ShardReads, part: ObjectPart):
        self.reads = reads
        self.part = part
        self.code = ParityCode.of(len(part.parity_shards))

    def sources(self, wanted: ShardRecord | None = None) -> list[ShardRecord]:
        """Six shards of the part not known to be bad, data first; raises if there are not."""
        usable = [
            shard
            for shard in sorted(self.part.shards, key=lambda shard: shard.index)
            if shard.shard_id not in self.reads.bad and shard is not wanted
        ]
        if len(usable) < DATA_SHARDS:
            lost = len(self.part.shards) - len(usable)
            raise NodeUnavailable(
                f"{lost} of the {len(self.part.shards)} shards of part {self.part.number} of "
                f"{self.reads.what} cannot be read, and any {DATA_SHARDS} are needed: "
                + "; ".join(self.reads.bad.values())
            )
        return usable[:DATA_SHARDS]

    async def window(self, wanted: ShardRecord, start: int, end: int) -> bytes:
        """Bytes [start, end) of shard ``wanted``, from the same window of six others."""
        while True:
            sources = self.sources(wanted)
            results = await asyncio.gather(
                *(self.reads.fetch(source, start, end) for source in sources),
                return_exceptions=True,
            )
            failed = [
                (source, result)
                for source, result in zip(sources, results, strict=True)
                if isinstance(result, BaseException)
            ]
            for source, error in failed:
                if not isinstance(error, UNREADABLE):
                    raise error
                self.reads.mark_bad(source, error)
            if not failed:
                break
        available = {source.index: data for source, data in zip(sources, results, strict=True)}
        loop = asyncio.get_running_loop()
        data = await loop.run_in_executor(None, self.code.decode, available, end - start)
        if wanted.role is ShardRole.PARITY:
            parity = await loop.run_in_executor(None, self.code.encode, data)
            return parity[wanted.index - DATA_SHARDS][: end - start]
        return data[wanted.index][: end - start]

    async def windows(self, wanted: ShardRecord, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes [start, end) of shard ``wanted``, window after window, the next one fetched
        while the caller handles the one before."""
        bounds = [
            (offset, min(offset + WINDOW_BYTES, end)) for offset in range(start, end, WINDOW_BYTES)
        ]
        upcoming: asyncio.Future | None = None
        try:
            for n, window in enumerate(bounds):
                current = upcoming or asyncio.ensure_future(self.window(wanted, *window))
                upcoming = None
                data = await current
                if n + 1 < len(bounds):
                    upcoming = asyncio.ensure_future(self.window(wanted, *bounds[n + 1]))
                yield data
        finally:
            if upcoming is not None:  # waited for, not cancelled: it holds node connections
                await asyncio.gather(upcoming, return_exceptions=True)
