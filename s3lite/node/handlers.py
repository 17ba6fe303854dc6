"""The node's internal HTTP API, for the gateway only: shards in and out of the shard store.

Paths and headers keep the gateway's word for a shard: "part".
"""

import hashlib
import sys
from contextlib import aclosing

from tornado.web import stream_request_body

from s3lite import errors
from s3lite.byteranges import content_range, parse_range
from s3lite.node.storage import ShardReader, ShardStore, ShardWriter, StoredShard
from s3lite.numbers import is_decimal
from s3lite.tasks import BackgroundTasks
from s3lite.web import JsonHandler

MAX_LISTING = 1000


class NodeHandler(JsonHandler):
    def initialize(
        self, cluster_token: str, store: ShardStore, identity: dict, tasks: BackgroundTasks
    ) -> None:
        super().initialize(cluster_token)
        self.store = store
        self.identity = identity
        self.tasks = tasks


class HealthHandler(NodeHandler):
    async def get(self):
        self.write_json({"status": "ok", "node_id": self.identity.get("node_id")})


@stream_request_body
class ShardHandler(NodeHandler):
    """PUT streams a shard in; GET and HEAD stream it out, by range; DELETE removes it."""

    writer: ShardWriter | None = None
    answered_early = False  # refused while the body streamed in: the rest of it is dropped

    async def prepare(self):
        super().prepare()
        if self.request.method != "PUT":
            return
        length = self.request.headers.get("Content-Length")
        if length is None or not is_decimal(length):
            raise errors.MissingContentLength("a part upload needs a Content-Length")
        self.request.connection.set_max_body_size(int(length))
        self.writer = self.store.open_writer(self.path_kwargs["part_id"], int(length))

    async def data_received(self, chunk: bytes) -> None:
        if self.answered_early:
            return
        try:
            await self.writer.write(chunk)
        except errors.S3liteError:
            # Answer now and drop the connection instead of reading a body we cannot store.
            self.answered_early = True
            self.send_error(exc_info=sys.exc_info())

    async def put(self, part_id: str):
        stored = await self.writer.commit()
        self.writer = None
        self.write_json({"part_id": stored.shard_id, "size": stored.size, "sha256": stored.sha256})

    def on_finish(self):
        self.abort_unfinished_write()

    def on_connection_close(self):
        # Tornado's own version fails the pending body; without it the request would wait for
        # bytes that never come, until shutdown.
        super().on_connection_close()
        self.abort_unfinished_write()

    def abort_unfinished_write(self) -> None:
        if self.writer is not None:
            self.tasks.spawn(self.writer.abort(), f"abort part {self.writer.shard_id}")
            self.writer = None

    async def head(self, part_id: str):
        self.describe(await self.store.stat(part_id))

    async def get(self, part_id: str):
        reader = await self.open_reader(part_id)
        start, end = self.describe(reader.shard)
        async with aclosing(reader.read(start, end)) as pieces:
            async for data in pieces:
                self.write(data)
                await self.flush()

    async def open_reader(self, shard_id: str) -> ShardReader:
        """A read from the start of a shard whose size the gateway sends (``X-Part-Size``)
        passes it on, so the store may skip the shard's record."""
        recorded = self.request.headers.get("X-Part-Size", "")
        if is_decimal(recorded) and int(recorded) > 0:
            span = parse_range(self.request.headers.get("Range"), int(recorded))
            if span is None or span[0] == 0:
                return await self.store.open_reader(shard_id, int(recorded))
        return await self.store.open_reader(shard_id)

    def describe(self, shard: StoredShard) -> tuple[int, int]:
        """Set the status and headers of an answer about ``shard``; answer the byte span."""
        span = parse_range(self.request.headers.get("Range"), shard.size)
        start, end = span or (0, shard.size)
        if span is not None:
            self.set_status(206)
            self.set_header("Content-Range", content_range(start, end, shard.size))
        self.set_header("Content-Type", "application/octet-stream")
        self.set_header("Content-Length", end - start)
        self.set_header("X-Part-Size", shard.size)
        if shard.sha256:  # known when the store read the shard's record
            self.set_header("X-Part-Sha256", shard.sha256)
        return start, end

    async def delete(self, part_id: str):
        await self.store.delete(part_id)
        self.set_status(204)


class ShardCheckHandler(NodeHandler):
    """Reads a whole shard here and says whether it is intact: every chunk against its CRC-32,
    all of it against the SHA-256 recorded at commit. A deep scrub costs no network."""

    async def get(self, part_id: str):
        recorded = await self.store.stat(part_id)
        digest, size, problem = hashlib.sha256(), 0, None
        try:
            reader = await self.store.open_reader(part_id)
            async with aclosing(reader.read(0, recorded.size)) as pieces:
                async for data in pieces:
                    digest.update(data)
                    size += len(data)
        except (errors.PartCorrupted, errors.NoSuchPart) as error:
            problem = error.message
        if problem is None and (size, digest.hexdigest()) != (recorded.size, recorded.sha256):
            problem = f"its {size} bytes hash to {digest.hexdigest()}, recorded {recorded.sha256}"
        self.write_json({"part_id": part_id, "intact": problem is None, "problem": problem})


class ShardListHandler(NodeHandler):
    """Every shard this node holds, by id, page by page (``?after=ID&limit=N``)."""

    async def get(self):
        try:
            limit = min(int(self.get_argument("limit", str(MAX_LISTING))), MAX_LISTING)
        except ValueError:
            raise errors.InvalidArgument("limit must be a whole number") from None
        shards = await self.store.list(self.get_argument("after", None), limit)
        self.write_json(
            {
                "parts": [
                    {
                        "part_id": s.shard_id,
                        "size": s.size,
                        "sha256": s.sha256,
                        "stored": s.stored_at,
                    }
                    for s in shards
                ],
                "next_after": shards[-1].shard_id if len(shards) == limit else None,
            }
        )


def routes(**dependencies) -> list:
    return [
        (r"/_node/health", HealthHandler, dependencies),
        (r"/_node/parts", ShardListHandler, dependencies),
        (r"/_node/parts/(?P<part_id>[A-Za-z0-9._-]+)", ShardHandler, dependencies),
        (r"/_node/parts/(?P<part_id>[A-Za-z0-9._-]+)/check", ShardCheckHandler, dependencies),
    ]
