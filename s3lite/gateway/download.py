"""Reading an object back: the parts that hold the wanted bytes, checked, then streamed in order."""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from s3lite.errors import NodeUnavailable, NoSuchPart, PartCorrupted
from s3lite.gateway.metadata import ObjectRecord, PartRecord
from s3lite.gateway.node_client import NodeClient
from s3lite.gateway.nodes import NodeRegistry
from s3lite.gateway.splitting import Span, overlapping

log = logging.getLogger(__name__)


class ObjectReader:
    def __init__(
        self, record: ObjectRecord, start: int, end: int, registry: NodeRegistry, nodes: NodeClient
    ):
        self.record = record
        self.registry = registry
        self.nodes = nodes
        by_index = {part.index: part for part in record.parts}
        spans = [Span(p.index, p.offset, p.size) for p in record.parts]
        self.pieces: list[tuple[PartRecord, int, int]] = [
            (by_index[span.index], part_start, part_end)
            for span, part_start, part_end in overlapping(spans, start, end)
        ]
        self.urls: dict[str, str] = {}

    async def check_available(self) -> None:
        """Make sure every needed part's node answers before the first byte goes out, so a
        missing node becomes a clean 503 rather than a response cut short."""

        async def check(part: PartRecord) -> None:
            self.urls[part.node_id] = url = await self.registry.url_of(part.node_id)
            info = await self.nodes.stat(part.node_id, url, part.part_id)
            if info.size != part.size:
                raise PartCorrupted(
                    f"part {part.part_id} on node {part.node_id} has {info.size} bytes, "
                    f"not {part.size}"
                )

        results = await asyncio.gather(
            *(check(part) for part, _, _ in self.pieces), return_exceptions=True
        )
        for result in results:
            if isinstance(result, NodeUnavailable | NoSuchPart | PartCorrupted):
                raise NodeUnavailable(
                    f"a node holding part of {self.record.bucket}/{self.record.key} is "
                    f"unavailable: {result}"
                )
            if isinstance(result, BaseException):
                raise result

    async def stream(self, sink: Callable[[bytes], Awaitable[None]]) -> None:
        """Send the wanted bytes in order; a whole part read is also checked by its SHA-256."""
        for part, start, end in self.pieces:
            sha256 = await self.nodes.read(
                part.node_id, self.urls[part.node_id], part.part_id, start, end, sink
            )
            if start == 0 and end == part.size and sha256 != part.sha256:
                raise PartCorrupted(
                    f"part {part.part_id} on node {part.node_id} has SHA-256 {sha256}, "
                    f"recorded {part.sha256}"
                )
