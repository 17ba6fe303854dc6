"""The gateway's side of the node API: parts streamed out to nodes and back, never held whole.

Flow control runs end to end: a part upload takes a chunk only when the node's connection has
room for it (``PartSender.write`` waits otherwise), and a part download hands each chunk to an
awaitable sink, which Tornado waits for before reading more from the node.
"""

import asyncio
import contextlib
import hashlib
import json
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from tornado.queues import Queue, QueueFull

from s3lite.errors import NodeUnavailable, NoSuchPart, PartCorrupted
from s3lite.gateway.data.node_http import NodeConnections, NodeResponse, SinkFailed

CHUNKS_IN_FLIGHT = 8  # per part being sent; with 64 KiB chunks about half a MiB
READ_END = object()
CONNECT_SECONDS = 5.0
# For a stat or a delete. Part transfers have no total time limit, since a part of a large object
# may stream for long: their slowness is bounded elsewhere (the client's idle timeout, the
# node's, and the wait for a node's answer to start, ``node_http.ANSWER_SECONDS``).
SMALL_REQUEST_SECONDS = 10.0


class NodeRefused(OSError):
    """A node answered a request with an error status."""

    def __init__(self, response: NodeResponse):
        super().__init__(f"HTTP {response.code}: {response.body[:200].decode(errors='replace')}")
        self.code = response.code


@dataclass(frozen=True)
class PartInfo:
    size: int
    sha256: str


class NodeClient:
    def __init__(self, http: NodeConnections, cluster_token: str):
        self.http = http
        self.auth = {"Authorization": f"Bearer {cluster_token}"}

    def part_url(self, node_url: str, part_id: str) -> str:
        return f"{node_url}/_node/parts/{part_id}"

    def sender(self, node_id: str, node_url: str, part_id: str, size: int) -> "PartSender":
        return PartSender(self, node_id, self.part_url(node_url, part_id), size)

    async def stat(self, node_id: str, node_url: str, part_id: str) -> PartInfo:
        try:
            response = await self.small_request("HEAD", self.part_url(node_url, part_id))
        except NodeRefused as error:
            if error.code == 404:
                raise NoSuchPart(f"node {node_id} has no part {part_id}") from None
            raise NodeUnavailable(f"node {node_id} cannot serve part {part_id}: {error}") from None
        except OSError as error:
            raise NodeUnavailable(f"node {node_id} cannot serve part {part_id}: {error}") from None
        return PartInfo(int(response.headers["X-Part-Size"]), response.headers["X-Part-Sha256"])

    async def check(self, node_id: str, node_url: str, part_id: str) -> str | None:
        """Have the node read a whole shard and check it; answer what is wrong, or None."""
        try:
            response = await self.http.request(
                "GET",
                f"{self.part_url(node_url, part_id)}/check",
                self.auth,
                connect_seconds=CONNECT_SECONDS,
            )
        except OSError as error:
            raise NodeUnavailable(f"node {node_id} cannot check part {part_id}: {error}") from None
        if response.code == 404:
            raise NoSuchPart(f"node {node_id} has no part {part_id}")
        if response.code != 200:
            refusal = NodeRefused(response)
            raise NodeUnavailable(f"node {node_id} cannot check part {part_id}: {refusal}")
        return json.loads(response.body)["problem"]

    async def list_shards(
        self, node_id: str, node_url: str, after: str | None
    ) -> tuple[list[dict], str | None]:
        """A page of the shards a node holds (``part_id``, ``size``, ``sha256``, ``stored``),
        and the id to ask after for the next one (None at the end)."""
        query = "?limit=1000" + (f"&after={urllib.parse.quote(after)}" if after else "")
        try:
            response = await self.small_request("GET", f"{node_url}/_node/parts{query}")
        except OSError as error:
            raise NodeUnavailable(f"node {node_id} cannot list its parts: {error}") from None
        page = json.loads(response.body)
        return page["parts"], page["next_after"]

    async def delete(self, node_url: str, part_id: str) -> None:
        """Delete a part; raises when the node cannot be reached or refuses."""
        await self.small_request("DELETE", self.part_url(node_url, part_id))

    async def small_request(self, method: str, url: str) -> NodeResponse:
        response = await self.http.request(
            method,
            url,
            self.auth,
            connect_seconds=CONNECT_SECONDS,
            total_seconds=SMALL_REQUEST_SECONDS,
        )
        if response.code >= 400:
            raise NodeRefused(response)
        return response

    async def read(
        self,
        node_id: str,
        node_url: str,
        part_id: str,
        part_size: int,
        start: int,
        end: int,
        sink: Callable[[bytes], Awaitable[None]],
    ) -> str:
        """Stream bytes [start, end) of a part of ``part_size`` bytes into ``sink``; answer
        their SHA-256. The node is told the size: from the start of a part it then finds the
        part by its first chunk alone."""
        digest = hashlib.sha256()
        received = 0

        async def on_chunk(chunk: bytes) -> None:
            nonlocal received
            received += len(chunk)
            digest.update(chunk)
            await sink(chunk)

        try:
            response = await self.http.request(
                "GET",
                self.part_url(node_url, part_id),
                {**self.auth, "Range": f"bytes={start}-{end - 1}", "X-Part-Size": str(part_size)},
                sink=on_chunk,
                connect_seconds=CONNECT_SECONDS,
            )
        except SinkFailed as failure:
            raise failure.error from None
        except OSError as error:
            raise NodeUnavailable(f"node {node_id} failed to send {part_id}: {error}") from None
        if response.code not in (200, 206):
            raise NodeUnavailable(
                f"node {node_id} failed to send {part_id}: {NodeRefused(response)}"
            )
        if received != end - start:
            raise PartCorrupted(
                f"node {node_id} sent {received} of {end - start} bytes of part {part_id}"
            )
        return digest.hexdigest()

    async def chunks(
        self, node_id: str, node_url: str, part_id: str, part_size: int
    ) -> AsyncIterator[bytes]:
        """A whole part as an async iterator of chunks, for code that pulls bytes (a shard
        copied to another node) rather than has them pushed (``read``); at most
        ``CHUNKS_IN_FLIGHT`` chunks are read ahead."""
        queue: asyncio.Queue = asyncio.Queue(maxsize=CHUNKS_IN_FLIGHT)

        async def produce() -> None:
            try:
                await self.read(node_id, node_url, part_id, part_size, 0, part_size, queue.put)
            except Exception as error:  # noqa: BLE001 - handed to the consumer, who raises it
                await queue.put(error)
            else:
                await queue.put(READ_END)

        reading = asyncio.ensure_future(produce())
        try:
            while (item := await queue.get()) is not READ_END:
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading


class UploadAborted(Exception):
    """Raised inside a part's body producer so that Tornado drops the node connection."""


ABORT = object()


class PartSender:
    """One part streaming to its node: ``write`` its bytes as they arrive, then ``finish``."""

    def __init__(self, client: NodeClient, node_id: str, url: str, size: int):
        self.client = client
        self.node_id = node_id
        self.url = url
        self.size = size
        self.sent = 0
        self.closed = False
        self.digest = hashlib.sha256()
        self.queue: Queue = Queue(maxsize=CHUNKS_IN_FLIGHT)
        self.response = asyncio.ensure_future(self.send())

    async def send(self) -> PartInfo:
        async def produce(write) -> None:
            while (chunk := await self.queue.get()) is not None:
                if chunk is ABORT:
                    raise UploadAborted(self.url)
                await write(chunk)

        try:
            response = await self.client.http.request(
                "PUT",
                self.url,
                {**self.client.auth, "Content-Length": str(self.size)},
                body_producer=produce,
                connect_seconds=CONNECT_SECONDS,
            )
        except OSError as error:
            raise NodeUnavailable(f"node {self.node_id} refused {self.url}: {error}") from None
        if response.code != 200:
            refusal = NodeRefused(response)
            raise NodeUnavailable(f"node {self.node_id} refused {self.url}: {refusal}")
        answer = json.loads(response.body)
        return PartInfo(answer["size"], answer["sha256"])

    async def put(self, item: bytes | None) -> None:
        try:
            self.queue.put_nowait(item)
            return
        except QueueFull:
            pass
        # The node is behind: wait for room, unless the node gives up first.
        put = asyncio.ensure_future(self.queue.put(item))
        await asyncio.wait({put, self.response}, return_when=asyncio.FIRST_COMPLETED)
        if not put.done():
            put.cancel()
            await self.response  # raises why the node stopped
            raise NodeUnavailable(f"node {self.node_id} answered before {self.url} was sent")

    async def write(self, chunk: bytes) -> None:
        self.sent += len(chunk)
        self.digest.update(chunk)
        await self.put(chunk)

    async def close(self) -> None:
        """Tell the node the part is complete; its answer comes with ``finish``."""
        if not self.closed:
            self.closed = True
            await self.put(None)

    async def finish(self) -> PartInfo:
        """End the part and check that the node kept exactly the bytes sent."""
        await self.close()
        stored = await self.response
        sent = PartInfo(self.sent, self.digest.hexdigest())
        if stored != sent:
            raise PartCorrupted(f"node {self.node_id} stored {stored} for {self.url}, sent {sent}")
        return stored

    def abort(self) -> None:
        """Drop the connection to the node, which then discards what it received."""
        if self.response.done():
            return
        while self.queue.qsize():
            self.queue.get_nowait()
        self.queue.put_nowait(ABORT)
        # Nobody awaits an aborted part; fetch its outcome so it is not reported as lost.
        self.response.add_done_callback(lambda done: done.cancelled() or done.exception())
