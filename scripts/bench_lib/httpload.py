"""A minimal keep-alive HTTP/1.1 client on asyncio streams, for many concurrent small requests.

Why not Tornado's ``AsyncHTTPClient`` or boto3: the client shares this 2-core machine with every
server it measures, so each request should cost it as little CPU as possible, and it should hold
its connections open the way S3 SDKs do. Tornado's default client opens a new TCP connection for
every request (it has no keep-alive), which adds connection set-up to every figure; boto3 signs,
parses and validates each request in Python in threads that contend for the GIL, about a
millisecond of client CPU per request. This client writes a request line and a few headers,
reads the status line, the headers and a Content-Length (or chunked) body, and keeps the
connection for the next request: one connection per virtual client, as an SDK's pool would.
Requests are unsigned, which the gateway accepts on loopback without credentials.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass

REQUEST_TIMEOUT = 120.0  # seconds for one whole request and its answer


class HttpError(Exception):
    """The connection failed or the answer was not HTTP/1.1 we can read."""


@dataclass
class Reply:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes
    seconds: float  # from the first byte written to the last byte read


class Connection:
    """One persistent connection, used by one virtual client at a time; reconnects when needed."""

    def __init__(self, host: str, port: int, headers: dict[str, str] | None = None):
        self.host, self.port = host, port
        self.headers = {"Content-Type": "application/octet-stream", **(headers or {})}
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> Reply:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                status, reply_headers, reply_body = await self.exchange(
                    method, target, body, headers or {}
                )
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as error:
            self.close()
            raise HttpError(f"{method} {target}: {type(error).__name__}: {error}") from error
        except BaseException:
            self.close()  # cancelled half way: the connection's state is unknown
            raise
        return Reply(status, reply_headers, reply_body, time.perf_counter() - started)

    async def exchange(
        self, method: str, target: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        if body or method in ("PUT", "POST"):
            lines.append(f"Content-Length: {len(body)}")
        lines.extend(f"{name}: {value}" for name, value in {**self.headers, **headers}.items())
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        if body:
            self.writer.write(body)
        await self.writer.drain()

        status_line = await self.reader.readline()
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise HttpError(f"not an HTTP status line: {status_line[:100]!r}")
        status = int(parts[1])
        reply_headers = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            reply_headers[name.strip().lower()] = value.strip()

        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            reply_body = b""
        elif "content-length" in reply_headers:
            reply_body = await self.reader.readexactly(int(reply_headers["content-length"]))
        elif "chunked" in reply_headers.get("transfer-encoding", "").lower():
            reply_body = await self.read_chunked()
        else:
            reply_body = await self.reader.read()  # delimited by the end of the connection
            reply_headers["connection"] = "close"
        if reply_headers.get("connection", "").lower() == "close":
            self.close()
        return status, reply_headers, reply_body

    async def read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            size = int((await self.reader.readline()).split(b";")[0], 16)
            if size == 0:
                while (await self.reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return bytes(body)
            body += await self.reader.readexactly(size)
            await self.reader.readexactly(2)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list (0.0 when it is empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass
class Latencies:
    """Seconds of each completed request of one kind."""

    values: list[float]

    def summary(self, wall_seconds: float) -> dict[str, float]:
        ordered = sorted(self.values)
        return {
            "ops": len(ordered),
            "ops/s": len(ordered) / wall_seconds if wall_seconds else 0.0,
            "p50 ms": percentile(ordered, 0.50) * 1e3,
            "p99 ms": percentile(ordered, 0.99) * 1e3,
        }
