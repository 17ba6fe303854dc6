"""The node's internal HTTP API: parts in and out of GridFS, for the gateway only."""

import sys

from tornado.web import stream_request_body

from s3lite import errors
from s3lite.byteranges import content_range, parse_range
from s3lite.node.store import PartStore, PartWriter, StoredPart
from s3lite.numbers import is_decimal
from s3lite.tasks import BackgroundTasks
from s3lite.web import JsonHandler

MAX_LISTING = 1000


class NodeHandler(JsonHandler):
    def initialize(
        self, cluster_token: str, store: PartStore, identity: dict, tasks: BackgroundTasks
    ) -> None:
        super().initialize(cluster_token)
        self.store = store
        self.identity = identity
        self.tasks = tasks


class HealthHandler(NodeHandler):
    async def get(self):
        self.write_json({"status": "ok", "node_id": self.identity.get("node_id")})


@stream_request_body
class PartHandler(NodeHandler):
    """PUT streams a part into GridFS; GET and HEAD stream it out, by range; DELETE removes it."""

    writer: PartWriter | None = None

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
        if self._finished:
            return
        try:
            await self.writer.write(chunk)
        except errors.S3liteError:
            # Answer now and drop the connection instead of reading a body we cannot store.
            self.send_error(exc_info=sys.exc_info())

    async def put(self, part_id: str):
        stored = await self.writer.commit()
        self.writer = None
        self.write_json({"part_id": stored.part_id, "size": stored.size, "sha256": stored.sha256})

    def on_finish(self):
        self.abort_unfinished_write()

    def on_connection_close(self):
        # Tornado's own version fails the pending body; without it the request would wait for
        # bytes that never come, until shutdown.
        super().on_connection_close()
        self.abort_unfinished_write()

    def abort_unfinished_write(self) -> None:
        if self.writer is not None:
            self.tasks.spawn(self.writer.abort(), f"abort part {self.writer.part_id}")
            self.writer = None

    async def head(self, part_id: str):
        await self.send_part(part_id, with_body=False)

    async def get(self, part_id: str):
        await self.send_part(part_id, with_body=True)

    async def send_part(self, part_id: str, with_body: bool) -> None:
        part, first_chunk = await self.find_part(part_id, with_body)
        span = parse_range(self.request.headers.get("Range"), part.size)
        start, end = span or (0, part.size)
        if span is not None:
            self.set_status(206)
            self.set_header("Content-Range", content_range(start, end, part.size))
        self.set_header("Content-Type", "application/octet-stream")
        self.set_header("Content-Length", end - start)
        self.set_header("X-Part-Size", part.size)
        if first_chunk is None:  # found by its files document, which has the SHA-256
            self.set_header("X-Part-Sha256", part.sha256)
        if not with_body:
            return
        async for data in self.store.read(part, start, end, first_chunk):
            self.write(data)
            await self.flush()

    async def find_part(self, part_id: str, with_body: bool) -> tuple[StoredPart, bytes | None]:
        """The part, and its first chunk when that was the way to find it: a read from the
        start of a part whose size the gateway sends (``X-Part-Size``) needs no files document.
        """
        recorded = self.request.headers.get("X-Part-Size", "")
        if with_body and is_decimal(recorded) and int(recorded) > 0:
            span = parse_range(self.request.headers.get("Range"), int(recorded))
            if span is None or span[0] == 0:
                return await self.store.find_by_first_chunk(part_id, int(recorded))
        return await self.store.stat(part_id), None

    async def delete(self, part_id: str):
        await self.store.delete(part_id)
        self.set_status(204)


class PartListHandler(NodeHandler):
    """Every part this node holds, by id, page by page (``?after=ID&limit=N``)."""

    async def get(self):
        try:
            limit = min(int(self.get_argument("limit", str(MAX_LISTING))), MAX_LISTING)
        except ValueError:
            raise errors.InvalidArgument("limit must be a whole number") from None
        parts = await self.store.list(self.get_argument("after", None), limit)
        self.write_json(
            {
                "parts": [
                    {"part_id": p.part_id, "size": p.size, "sha256": p.sha256} for p in parts
                ],
                "next_after": parts[-1].part_id if len(parts) == limit else None,
            }
        )


def routes(**dependencies) -> list:
    return [
        (r"/_node/health", HealthHandler, dependencies),
        (r"/_node/parts", PartListHandler, dependencies),
        (r"/_node/parts/(?P<part_id>[A-Za-z0-9._-]+)", PartHandler, dependencies),
    ]
