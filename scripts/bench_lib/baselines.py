"""The limits that bound the gateway, measured in the same run with the same file.

- a plain socket: one TCP stream over loopback, 1 MiB ``sendall``s into ``recv_into`` in another
  process, the most one Python stream can move here;
- the framework: a bare Tornado ``@stream_request_body`` handler that discards the body, and
  streams the file back in 1 MiB blocks (``bare_tornado.py``), the most any Tornado server can;
- the database: a GridFS upload with PyMongo's ``AsyncGridFSBucket`` (1 MiB chunks, as the
  nodes use) against the same database server, and its download by reading the chunks in order,
  four per batch as the nodes do, the most any node can. (``open_download_stream`` fails here on
  FerretDB v1 for large files: its getMore replies are not bounded in size, and PyMongo refuses
  one of over 48 MB.)
One node taking the file straight is measured with the gateway (``large.py``).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from gridfs import AsyncGridFSBucket
from pymongo import AsyncMongoClient

from bench_lib.transfers import BLOCK, BenchError, download, mb, timed, upload
from tests.processes import ServerProcess, http_request

HERE = Path(__file__).resolve().parent
CHUNKS_PER_BATCH = 4  # as many as a node looks up at once (s3lite/node/gridfs_store.py)


class SocketSink:
    """The receiving process of the socket copy, started once and reused by every run."""

    def __init__(self):
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "socket_sink.py")],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.port = int(self.process.stdout.readline())

    def copy(self, size: int) -> float:
        """Send ``size`` bytes over one connection; answer the seconds until the sink has all."""
        block = memoryview(os.urandom(BLOCK))
        with socket.create_connection(("127.0.0.1", self.port), timeout=120) as sock:
            started = time.perf_counter()
            for offset in range(0, size, BLOCK):
                sock.sendall(block[: min(BLOCK, size - offset)])
            sock.shutdown(socket.SHUT_WR)
            answer = b""
            while len(answer) < 8 and (more := sock.recv(8 - len(answer))):
                answer += more
            seconds = time.perf_counter() - started
        if int.from_bytes(answer, "big") != size:
            raise BenchError(f"socket copy: the sink got {answer!r}, not {size} bytes")
        return seconds

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


class BareTornado(ServerProcess):
    name = "bare Tornado server"

    def __init__(self, log_path: Path, source: Path):
        super().__init__(log_path)
        self.source = source

    def command(self) -> list[str]:
        return [sys.executable, str(HERE / "bare_tornado.py"), str(self.port), str(self.source)]

    def is_ready(self) -> bool:
        try:
            return http_request("GET", self.url + "/health", timeout=2).status == 200
        except OSError:
            return False


def socket_copy(sink: SocketSink, size: int) -> dict[str, float]:
    seconds = timed("loopback socket copy", sink.copy, size)
    return {"large loopback socket (one stream) upload MB/s": mb(size) / seconds}


def bare_tornado(server: BareTornado, source: Path, sha256: str) -> dict[str, float]:
    size, path = source.stat().st_size, "/discard"
    up = timed("bare Tornado upload", upload, server.url, path, {}, source)
    down = timed("bare Tornado download", download, server.url, path, {}, size, sha256)
    return {
        "large bare Tornado handler upload MB/s": mb(size) / up,
        "large bare Tornado handler download MB/s": mb(size) / down,
    }


async def gridfs_async(mongo_uri: str, db_name: str, source: Path, sha256: str, run: int):
    client = AsyncMongoClient(mongo_uri)
    try:
        bucket = AsyncGridFSBucket(client[db_name], chunk_size_bytes=BLOCK)
        started = time.perf_counter()
        with open(source, "rb") as file:
            file_id = await bucket.upload_from_stream(f"bench-{run}", file)
        up = time.perf_counter() - started
        print(f"  raw GridFS upload: {up:.1f} s", file=sys.stderr)

        digest, received = hashlib.sha256(), 0
        started = time.perf_counter()
        chunks = client[db_name]["fs.chunks"].find(
            {"files_id": file_id}, sort=[("n", 1)], batch_size=CHUNKS_PER_BATCH
        )
        async for chunk in chunks:
            digest.update(chunk["data"])
            received += len(chunk["data"])
        down = time.perf_counter() - started
        print(f"  raw GridFS download: {down:.1f} s", file=sys.stderr)
        if received != source.stat().st_size or digest.hexdigest() != sha256:
            raise BenchError(f"GridFS download: {received} bytes, SHA-256 {digest.hexdigest()}")
        await bucket.delete(file_id)  # so the next run starts from the same empty collection
        return up, down
    finally:
        await client.close()


def raw_gridfs(mongo_uri: str, db_name: str, source: Path, sha256: str, run: int):
    size = source.stat().st_size
    up, down = asyncio.run(gridfs_async(mongo_uri, db_name, source, sha256, run))
    return {
        "large raw GridFS (PyMongo async) upload MB/s": mb(size) / up,
        "large raw GridFS (PyMongo async) download MB/s": mb(size) / down,
    }
