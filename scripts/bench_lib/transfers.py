"""One large object up and down over one connection: the client side of every MB/s figure.

``http.client`` with the file sent in 1 MiB blocks under a Content-Length; the download is read in
1 MiB blocks, hashed and discarded. The same two functions measure the gateway, one node, the
bare Tornado handler and the peers, so their figures differ only by the server.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import time
from pathlib import Path

BLOCK = 1 << 20  # bytes per read and write
SOCKET_TIMEOUT = 120.0  # seconds of silence before a transfer is given up


class BenchError(RuntimeError):
    """A transfer failed or returned wrong bytes."""


def write_random_file(path: Path, size: int) -> str:
    """Fill ``path`` with ``size`` random bytes, block by block; answer their SHA-256."""
    digest = hashlib.sha256()
    with open(path, "wb") as file:
        for offset in range(0, size, BLOCK):
            block = os.urandom(min(BLOCK, size - offset))
            digest.update(block)
            file.write(block)
    return digest.hexdigest()


def connect(url: str) -> http.client.HTTPConnection:
    host, port = url.removeprefix("http://").split(":")
    return http.client.HTTPConnection(host, int(port), timeout=SOCKET_TIMEOUT)


def check_status(response: http.client.HTTPResponse, expected: tuple[int, ...], what: str) -> None:
    if response.status not in expected:
        body = response.read(2000).decode(errors="replace")
        raise BenchError(f"{what}: HTTP {response.status}, expected {expected}: {body}")


def request(url: str, method: str, path: str, headers: dict, expected: tuple[int, ...]) -> None:
    """A small request with no body, whose answer must have one of the ``expected`` statuses."""
    connection = connect(url)
    try:
        connection.request(method, path, headers=headers)
        response = connection.getresponse()
        check_status(response, expected, f"{method} {path}")
        response.read()
    finally:
        connection.close()


def upload(url: str, path: str, headers: dict, source: Path) -> float:
    """PUT ``source`` in 1 MiB blocks under a Content-Length; answer the seconds it took."""
    size = source.stat().st_size
    connection = connect(url)
    try:
        started = time.perf_counter()
        connection.putrequest("PUT", path, skip_accept_encoding=True)
        for name, value in {**headers, "Content-Length": str(size)}.items():
            connection.putheader(name, value)
        connection.endheaders()
        with open(source, "rb") as file:
            while block := file.read(BLOCK):
                connection.send(block)
        response = connection.getresponse()
        check_status(response, (200,), f"PUT {path}")
        response.read()
        return time.perf_counter() - started
    finally:
        connection.close()


def download(url: str, path: str, headers: dict, size: int, sha256: str) -> float:
    """GET ``path``, hashing and discarding the body; answer the seconds it took."""
    connection = connect(url)
    buffer = memoryview(bytearray(BLOCK))
    digest, received = hashlib.sha256(), 0
    try:
        started = time.perf_counter()
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        check_status(response, (200,), f"GET {path}")
        while count := response.readinto(buffer):
            digest.update(buffer[:count])
            received += count
        seconds = time.perf_counter() - started
    finally:
        connection.close()
    if received != size or digest.hexdigest() != sha256:
        raise BenchError(f"GET {path}: got {received} bytes, SHA-256 {digest.hexdigest()}")
    return seconds


def timed(what: str, transfer, *args) -> float:
    """Run one transfer, which answers its seconds; say how long it took on stderr."""
    seconds = transfer(*args)
    print(f"  {what}: {seconds:.1f} s", file=sys.stderr)
    return seconds


def mb(count: float) -> float:
    return count / 1e6
