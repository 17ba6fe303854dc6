"""Benchmark: one large object up and down through the gateway, next to a one-node baseline.

Why: the gateway must stream. Its throughput should stay close to what a single node manages on
its own, and its memory must stay flat whatever the object size (issue 3: peak RSS under 100 MB).
This starts a private database, a gateway and six nodes on 127.0.0.1, writes a file of random
bytes, PUTs it through the gateway and GETs it back (checked by SHA-256), then does the same
straight to one node's part API as the baseline, sampling every process's RSS every 50 ms.

Transfers use ``http.client`` with the file sent in 1 MiB blocks under a Content-Length; the
download is read in 1 MiB blocks, hashed and discarded. MB = 10**6 bytes. Each run stores under
new names and deletes nothing while measuring: deletes are not what is measured, and the nodes'
background deletes would compete with the next transfer for the one shared database. Everything
it started or wrote (processes, temporary files, databases) is removed on exit, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from tests.processes import (  # noqa: E402
    Cluster,
    DatabaseProcess,
    drop_databases,
    start_all,
    unique_prefix,
)

BLOCK = 1 << 20  # bytes per read and write
SAMPLE_SECONDS = 0.05
SOCKET_TIMEOUT = 120.0  # seconds of silence before a transfer is given up
BUCKET, KEY, PART_ID = "bench", "bench-object", "bench-baseline"  # names get "-<run>" appended
INTERRUPTED = threading.Event()


class BenchError(RuntimeError):
    """A transfer failed or returned wrong bytes."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="object size (default 1024)")
    parser.add_argument("--runs", type=int, default=1, help="runs; K > 1 reports medians")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    args = parser.parse_args(argv)
    if args.size_mib < 1 or args.runs < 1:
        parser.error("--size-mib and --runs must be at least 1")
    return args


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


def check_status(response: http.client.HTTPResponse, expected: int, what: str) -> None:
    if response.status != expected:
        body = response.read(2000).decode(errors="replace")
        raise BenchError(f"{what}: HTTP {response.status}, expected {expected}: {body}")


def request(url: str, method: str, path: str, headers: dict, expected: int) -> None:
    """A small request with no body, whose answer must have status ``expected``."""
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
        check_status(response, 200, f"PUT {path}")
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
        check_status(response, 200, f"GET {path}")
        while count := response.readinto(buffer):
            digest.update(buffer[:count])
            received += count
        seconds = time.perf_counter() - started
    finally:
        connection.close()
    if received != size or digest.hexdigest() != sha256:
        raise BenchError(f"GET {path}: got {received} bytes, SHA-256 {digest.hexdigest()}")
    return seconds


class PeakRss(threading.Thread):
    """Samples the RSS of some processes every 50 ms while in a ``with`` block; keeps the max."""

    def __init__(self, pids: dict[str, int]):
        super().__init__(daemon=True)
        self.processes = {label: psutil.Process(pid) for label, pid in pids.items()}
        self.peak = dict.fromkeys(pids, 0)
        self.done = threading.Event()

    def sample(self) -> None:
        for label, process in self.processes.items():
            try:
                self.peak[label] = max(self.peak[label], process.memory_info().rss)
            except psutil.Error:
                pass  # gone: the transfer will fail and say so

    def run(self) -> None:
        while not self.done.wait(SAMPLE_SECONDS):
            self.sample()

    def __enter__(self) -> PeakRss:
        self.sample()
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.done.set()
        self.join()
        self.sample()


def timed(what: str, transfer, *args) -> float:
    """Run one transfer, which answers its seconds; say how long it took on stderr."""
    seconds = transfer(*args)
    print(f"  {what}: {seconds:.1f} s", file=sys.stderr)
    return seconds


def mb(count: float) -> float:
    return count / 1e6


def through_gateway(cluster: Cluster, source: Path, sha256: str, run: int) -> dict[str, float]:
    size, path = source.stat().st_size, f"/{BUCKET}/{KEY}-{run}"
    pids = {"gateway": cluster.gateway.process.pid}
    pids.update({f"node {i}": node.process.pid for i, node in enumerate(cluster.nodes)})
    with PeakRss(pids) as rss:
        up = timed("gateway upload", upload, cluster.url, path, {}, source)
        down = timed("gateway download", download, cluster.url, path, {}, size, sha256)
    gateway_peak = rss.peak.pop("gateway")
    return {
        "gateway upload MB/s": mb(size) / up,
        "gateway download MB/s": mb(size) / down,
        "gateway peak RSS MB": mb(gateway_peak),
        "nodes peak RSS MB (highest)": mb(max(rss.peak.values())),
    }


def straight_to_node(cluster: Cluster, source: Path, sha256: str, run: int) -> dict[str, float]:
    node, size, path = cluster.nodes[0], source.stat().st_size, f"/_node/parts/{PART_ID}-{run}"
    token = {"Authorization": f"Bearer {cluster.token}"}
    with PeakRss({"node": node.process.pid}) as rss:
        up = timed("baseline upload", upload, node.url, path, token, source)
        down = timed("baseline download", download, node.url, path, token, size, sha256)
    return {
        "baseline upload MB/s (one node)": mb(size) / up,
        "baseline download MB/s (one node)": mb(size) / down,
        "baseline node peak RSS MB": mb(rss.peak["node"]),
    }


def machine() -> dict[str, str]:
    model = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    database = "mongod" if shutil.which("mongod") else "FerretDB v1.24.2 (SQLite backend)"
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "CPU": model,
        "RAM": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "python": platform.python_version(),
        "database": database,
    }


def print_table(rows: dict[str, object]) -> None:
    width = max(map(len, rows))
    for name, value in rows.items():
        shown = f"{value:.1f}" if isinstance(value, float) else value
        print(f"{name:<{width}}  {shown}")


def benchmark(workdir: Path, size_mib: int, runs: int) -> tuple[dict, list[dict]]:
    """Start the servers, run the transfers ``runs`` times; answer medians and every run."""
    database = DatabaseProcess(workdir / "db", workdir / "logs" / "dev-db.log")
    cluster = None
    prefix = unique_prefix()
    try:
        start_all([database])
        cluster = Cluster(database.uri, prefix, workdir / "logs")
        cluster.start()
        request(cluster.url, "PUT", f"/{BUCKET}", {}, 200)
        source = workdir / "object.bin"
        print(f"writing {size_mib} MiB of random bytes to {source}", file=sys.stderr)
        sha256 = write_random_file(source, size_mib * 2**20)
        results = []
        for run in range(1, runs + 1):
            print(f"run {run} of {runs}", file=sys.stderr)
            figures = through_gateway(cluster, source, sha256, run)
            figures.update(straight_to_node(cluster, source, sha256, run))
            results.append(figures)
        medians = {name: statistics.median(r[name] for r in results) for name in results[0]}
        return medians, results
    except Exception:
        if cluster is not None and cluster.gateway is not None and not INTERRUPTED.is_set():
            print(cluster.gateway.log_tail(), file=sys.stderr)
        raise
    finally:
        if cluster is not None:
            cluster.stop()
        if database.running and not INTERRUPTED.is_set():
            drop_databases(database.uri, prefix)
        database.stop()  # its files, all of the run's databases, go with the temporary directory


def interrupt(signum, frame):
    """First Ctrl-C or SIGTERM: unwind into the clean-up. Later ones: let the clean-up finish.

    A terminal's Ctrl-C also reaches the servers, so what surfaces may be a transfer cut short
    rather than KeyboardInterrupt; ``INTERRUPTED`` tells the two apart.
    """
    if not INTERRUPTED.is_set():
        INTERRUPTED.set()
        raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    workdir = Path(tempfile.mkdtemp(prefix="s3lite-bench-"))
    try:
        medians, runs = benchmark(workdir, args.size_mib, args.runs)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    about = machine()
    header = {"object size": f"{args.size_mib} MiB", "runs": args.runs}
    if args.runs > 1:
        header["figures"] = f"median of {args.runs} runs"
    print_table({**header, **medians, **about})
    if args.json:
        document = {"size_mib": args.size_mib, "machine": about, "figures": medians, "runs": runs}
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BaseException:
        if not INTERRUPTED.is_set():
            raise
        print("interrupted; cleaned up", file=sys.stderr)
        sys.exit(130)
