"""HTTP/1.1 to the nodes, over connections kept open from one request to the next.

Tornado's ``AsyncHTTPClient`` opens a new TCP connection, and resolves the host in a thread, for
every request. An object PUT or GET makes six node requests, so for small objects that was a
quarter of the gateway's CPU (9.7 ms per 4 KiB PUT before this client, 7.3 after). This client
keeps the idle connections to each node and runs every request on Tornado's own HTTP/1.1
implementation (``HTTP1Connection``): request bodies come from a producer as they arrive, and a
response body goes to an awaitable sink that is waited for before more is read (flow control), or
is collected when it is small (JSON answers, errors).
"""

import asyncio
import select
import ssl
import time
import urllib.parse
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from tornado import httputil
from tornado.http1connection import HTTP1Connection, HTTP1ConnectionParameters
from tornado.iostream import IOStream, StreamClosedError
from tornado.tcpclient import TCPClient

# Idle connections older than this are closed rather than used: well within the node's own
# idle timeout, so a node never closes one just as it is sent a request.
IDLE_SECONDS = 60.0
MAX_IDLE_PER_NODE = 64
MAX_CONNECTIONS = 1000  # at once, over every node; further requests wait for one to end
# A node answers within moments of a request's end (a part's bytes stream after that); one that
# says nothing for this long is stuck.
ANSWER_SECONDS = 60.0
MAX_COLLECTED_BYTES = 1 << 20  # answers collected whole are JSON documents or errors
MAX_BODY_BYTES = 1 << 50  # streamed bodies are bounded by the object size limit, not here

Write = Callable[[bytes], Awaitable[None]]
BodyProducer = Callable[[Write], Awaitable[None]]
Sink = Callable[[bytes], Awaitable[None]]


class SinkFailed(Exception):
    """The sink of a response body raised ``error``: the request stopped for a reason of the
    caller's, not the node's."""

    def __init__(self, error: BaseException):
        super().__init__(str(error))
        self.error = error


class StaleConnection(StreamClosedError):
    """A kept-alive connection turned out closed before any of the response arrived."""


@dataclass(frozen=True)
class _Request:
    node: tuple[str, str, int]  # scheme, host, port
    start_line: httputil.RequestStartLine
    headers: httputil.HTTPHeaders
    body_producer: BodyProducer | None
    sink: Sink | None


@dataclass(frozen=True)
class NodeResponse:
    code: int
    headers: httputil.HTTPHeaders
    body: bytes


class _Answer(httputil.HTTPMessageDelegate):
    """One response: its status and headers, and its body, which goes to the sink when the
    status is a success and is collected otherwise."""

    def __init__(self, connection: HTTP1Connection, sink: Sink | None):
        self.connection = connection
        self.sink = sink
        self.code = 0
        self.headers = httputil.HTTPHeaders()
        self.body = bytearray()
        self.keep_alive = False
        self.complete = False
        self.failure: BaseException | None = None  # the sink's, or a body too large to collect

    def headers_received(self, start_line, headers) -> None:
        self.code = start_line.code
        self.headers = headers
        self.keep_alive = (
            start_line.version == "HTTP/1.1" and headers.get("Connection", "").lower() != "close"
        )

    async def data_received(self, chunk: bytes) -> None:
        if self.failure is not None:
            return
        if self.sink is not None and 200 <= self.code < 300:
            try:
                await self.sink(chunk)
            except BaseException as error:  # handed to the caller (even a cancellation)
                self.stop(SinkFailed(error))
            return
        self.body += chunk
        if len(self.body) > MAX_COLLECTED_BYTES:
            self.stop(StreamClosedError(f"an answer of more than {MAX_COLLECTED_BYTES} bytes"))

    def stop(self, failure: BaseException) -> None:
        """Stop reading: closing the connection ends the read, which raises ``failure``."""
        self.failure = failure
        self.connection.close()

    def finish(self) -> None:
        self.complete = True


def is_idle_and_open(stream: IOStream) -> bool:
    """True if the node has neither closed this idle connection nor sent anything on it:
    either makes its socket readable, or leaves decrypted bytes waiting over TLS."""
    if stream.closed():
        return False
    try:
        poll = select.poll()  # not select(): it fails on descriptors above 1023
        poll.register(stream.socket, select.POLLIN)
        readable = poll.poll(0)
        pending = stream.socket.pending() if isinstance(stream.socket, ssl.SSLSocket) else 0
    except (OSError, ValueError):
        return False
    return not readable and not pending


class NodeConnections:
    """Requests to the nodes, each on an idle kept-alive connection to its node if there is
    one, else on a new one."""

    def __init__(self):
        self.tcp = TCPClient()
        self.idle: dict[tuple[str, str, int], list[tuple[IOStream, float]]] = defaultdict(list)
        self.slots = asyncio.Semaphore(MAX_CONNECTIONS)
        self.tls = ssl.create_default_context()

    async def request(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        *,
        body_producer: BodyProducer | None = None,
        sink: Sink | None = None,
        connect_seconds: float,
        total_seconds: float | None = None,
    ) -> NodeResponse:
        """Send a request and answer its response; a successful response's body goes to
        ``sink`` if one is given. Raises ``OSError`` when the node cannot be reached, cuts the
        connection or takes longer than ``total_seconds``, and ``SinkFailed`` when the sink
        raised."""
        parts = urllib.parse.urlsplit(url)
        default_port = 443 if parts.scheme == "https" else 80
        request_headers = httputil.HTTPHeaders(headers)
        request_headers["Host"] = parts.netloc
        if body_producer is None and method in ("PUT", "POST"):
            request_headers["Content-Length"] = "0"
        request = _Request(
            (parts.scheme, parts.hostname or "", parts.port or default_port),
            httputil.RequestStartLine(
                method, parts.path + (f"?{parts.query}" if parts.query else ""), "HTTP/1.1"
            ),
            request_headers,
            body_producer,
            sink,
        )
        # Bounded like a connection: a request waiting for one of the slots that streaming
        # transfers hold could otherwise wait for ever, and a copy's read waits on its writes.
        await asyncio.wait_for(self.slots.acquire(), connect_seconds)
        try:
            stream, reused = await self.connection_to(request.node, connect_seconds)
            try:
                return await asyncio.wait_for(self.exchange(request, stream, reused), total_seconds)
            except StaleConnection:
                if body_producer is not None:
                    raise  # some of the body may be gone from the producer
            # The node closed a kept-alive connection as the request went out: a request
            # without a body is safe to send once more, on a new connection.
            stream = await self.connect(request.node, connect_seconds)
            return await asyncio.wait_for(self.exchange(request, stream, False), total_seconds)
        finally:
            self.slots.release()

    async def exchange(self, request: "_Request", stream: IOStream, reused: bool) -> NodeResponse:
        connection = HTTP1Connection(
            stream,
            True,
            HTTP1ConnectionParameters(
                decompress=False, max_body_size=MAX_BODY_BYTES, header_timeout=ANSWER_SECONDS
            ),
        )
        answer = _Answer(connection, request.sink)
        reusable = False
        try:
            connection.write_headers(request.start_line, request.headers)
            if request.body_producer is not None:
                await request.body_producer(connection.write)
            connection.finish()
            try:
                await connection.read_response(answer)
            except StreamClosedError:
                if answer.failure is None:
                    raise
            if answer.failure is not None:
                raise answer.failure  # ``stop`` closed the connection to end the read
            if not answer.complete:
                raise StreamClosedError("the node closed the connection before it answered")
            reusable = answer.keep_alive and not stream.closed()
            return NodeResponse(answer.code, answer.headers, bytes(answer.body))
        except StreamClosedError as error:
            if reused and answer.code == 0:
                raise StaleConnection(str(error)) from None
            raise
        finally:
            if reusable:
                self.keep(request.node, stream)
            else:
                stream.close()

    async def connection_to(
        self, node: tuple[str, str, int], connect_seconds: float
    ) -> tuple[IOStream, bool]:
        """An idle connection to the node if one is still good, else a new one; and which."""
        idle = self.idle[node]
        while idle:
            stream, since = idle.pop()
            if time.monotonic() - since < IDLE_SECONDS and is_idle_and_open(stream):
                return stream, True
            stream.close()
        return await self.connect(node, connect_seconds), False

    async def connect(self, node: tuple[str, str, int], connect_seconds: float) -> IOStream:
        scheme, host, port = node
        return await self.tcp.connect(
            host,
            port,
            ssl_options=self.tls if scheme == "https" else None,
            timeout=timedelta(seconds=connect_seconds),
        )

    def keep(self, node: tuple[str, str, int], stream: IOStream) -> None:
        """Keep a connection for the next request; the oldest idle ones, at the bottom of the
        pile, go once they are too old to be used."""
        idle = self.idle[node]
        while idle and time.monotonic() - idle[0][1] >= IDLE_SECONDS:
            idle.pop(0)[0].close()
        if len(idle) >= MAX_IDLE_PER_NODE:
            stream.close()
            return
        idle.append((stream, time.monotonic()))

    def close(self) -> None:
        for idle in self.idle.values():
            for stream, _ in idle:
                stream.close()
        self.idle.clear()
