"""Benchmark: s3lite against the limits that bound it and against peers, in one run.

Why: a user choosing an object store compares throughput, latency and memory, and we want to know
how far each figure is from what this machine, Tornado and the database allow, and that
a long mixed load reads back exactly what it wrote. Sections, chosen with ``--only``:

- ``large``: one large object PUT and GET through the gateway with six nodes (MB/s each way),
  sampling the RSS of the gateway and every node every 50 ms, and the same file straight to one
  node's part API;
- ``small``: 4 KiB and 256 KiB objects PUT then GET by 1, 16 and 64 concurrent clients (ops/s,
  p50/p99 latency, server CPU per request; ``bench_lib/small.py``), and the same cells as bare
  database operations through PyMongo, the database floor (``bench_lib/floor.py``);
- ``load``: tens of clients PUT, GET and DELETE objects of 0 to a few MiB for a bounded time, every
  GET checked against what was written; any wrong read or 5xx makes the exit status 1
  (``bench_lib/mixed.py``);
- ``baselines``: one loopback TCP stream, a bare Tornado handler, raw GridFS through PyMongo on
  the same database (``bench_lib/baselines.py``);
- ``peers``: moto in server mode and, when it has been built, SeaweedFS, with the same large and
  small transfers (``bench_lib/peers.py``);
- ``parity``: on an eight-node cluster of its own, the code's encode and decode rate, a large
  object PUT and GET with ``--parity-shards`` 0 and 2, and GETs with one and two nodes killed
  (``bench_lib/parity.py``);
- ``scale``: the six-node cluster filled in steps (``--scale-steps-gib``) with 256 MiB objects,
  and at each step GETs of 1 and 64 MiB, PUTs of 4 KiB and DELETEs of 64 MiB of the newest
  objects, and a listing page from a bucket of 100,000 records inserted straight into the
  metadata; each figure's ratio of the last step to the first (``bench_lib/scale.py``). It runs
  once, after every other section's last run, since it leaves the cluster full; its spread
  comes from ``--scale-repeats`` repetitions within each step;
- ``rebalance``: on a cluster of its own, filled with ``--rebalance-fill-mib``, three nodes
  join: the time to a spread of 2 % and the move rate; three more join under a foreground load
  of PUTs and GETs: its throughput during the rebalance and, after it, without one
  (``bench_lib/rebalance.py``). It runs once, after the other sections' last run.

Every figure is the median of ``--runs`` runs; ``--json`` also writes every run's figures. MB =
10**6 bytes. It starts its own database, gateway, nodes and peers on 127.0.0.1 and removes
everything it started or wrote on exit, Ctrl-C included. A quick look: ``scripts/bench --size-mib
64 --small-seconds 1 --load-seconds 10`` takes about two minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench_lib import baselines, peers  # noqa: E402
from bench_lib.floor import database_floor  # noqa: E402
from bench_lib.measure import PeakRss, Target  # noqa: E402
from bench_lib.mixed import PROBLEM_KINDS, mixed_load  # noqa: E402
from bench_lib.parity import parity_section  # noqa: E402
from bench_lib.rebalance import RebalanceSettings, rebalance_section  # noqa: E402
from bench_lib.report import print_report  # noqa: E402
from bench_lib.scale import ScaleSettings, scale_section  # noqa: E402
from bench_lib.small import small_objects  # noqa: E402
from bench_lib.transfers import (  # noqa: E402
    BenchError,
    download,
    mb,
    request,
    timed,
    upload,
    write_random_file,
)

from tests.processes import (  # noqa: E402
    Cluster,
    DatabaseProcess,
    NodeProcess,
    ServerProcess,
    drop_databases,
    start_all,
    unique_prefix,
)

SECTIONS = ("baselines", "large", "small", "load", "peers", "parity", "scale", "rebalance")
PEERS = ("moto", "seaweedfs")
BUCKET = "bench"
INTERRUPTED = threading.Event()
HEARTBEAT_SECONDS = 5.0  # the nodes' default; the tests' 0.5 s marks a busy node down within 2 s
SCALE_MAX_GIB = 64.0  # the largest scale step accepted
SCALE_MAX_LISTING = 1_000_000  # the most listing records accepted


class BenchCluster(Cluster):
    """The tests' cluster, but with nodes that heartbeat at their default rate. Its gateway,
    like the tests', runs with ``--delete-delay-seconds 0`` (``scale`` checks it)."""

    def new_node(self, *extra_args: str, port: int | None = None) -> NodeProcess:
        node = super().new_node(*extra_args, port=port)
        node.heartbeat_seconds = HEARTBEAT_SECONDS
        return node


def comma_list(kind):
    def parse(text: str) -> list:
        return [kind(item) for item in text.split(",") if item.strip()]

    return parse


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--only", type=comma_list(str), default=list(SECTIONS), help=f"of {','.join(SECTIONS)}")
    add("--runs", type=int, default=1, help="runs; each figure is the median (default 1)")
    add("--json", type=Path, metavar="PATH", help="also write every figure and run here")
    add("--size-mib", type=int, default=1024, help="large object size (default 1024)")
    add("--peer-size-mib", type=int, help="large object size for peers (default --size-mib)")
    add("--small-kib", type=comma_list(int), default=[4, 256], help="default 4,256")
    add("--clients", type=comma_list(int), default=[1, 16, 64], help="default 1,16,64")
    add("--small-seconds", type=float, default=5.0, help="per size, clients and op (default 5)")
    add("--load-seconds", type=float, default=60.0, help="mixed load duration (default 60)")
    add("--load-clients", type=int, default=32, help="mixed load clients (default 32)")
    add("--load-max-mib", type=int, default=4, help="largest mixed load object (default 4)")
    add("--peers", type=comma_list(str), help="moto,seaweedfs (default: those available)")
    add("--build-seaweedfs", action="store_true", help="build SeaweedFS first (~10 minutes)")
    add(
        "--scale-steps-gib",
        type=comma_list(float),
        default=[0.5, 2.0, 8.0],
        help="GiB of object data stored at each scale step, increasing (default 0.5,2,8)",
    )
    add("--scale-fill-mib", type=int, default=256, help="scale fill object size (default 256)")
    add("--scale-repeats", type=int, default=5, help="repetitions per scale figure (default 5)")
    add(
        "--scale-listing-objects",
        type=int,
        default=100_000,
        help="records in the scale listing bucket (default 100000)",
    )
    add("--scale-minutes", type=float, default=60.0, help="scale section bound (default 60)")
    add("--rebalance-fill-mib", type=int, default=512, help="data before joins (default 512)")
    add(
        "--rebalance-bytes-per-second",
        type=int,
        default=1 << 30,
        help="the rebalancer's rate limit (default 1 GiB/s: no limit in practice)",
    )
    add(
        "--rebalance-load-seconds",
        type=float,
        default=10.0,
        help="foreground load with and without a rebalance (default 10)",
    )
    add("--keep-logs", type=Path, metavar="DIR", help="copy every server's log here at the end")
    add(
        "--profile",
        type=Path,
        metavar="DIR",
        help="py-spy the gateway and one node throughout; raw stacks into DIR",
    )
    args = parser.parse_args(argv)
    unknown = set(args.only) - set(SECTIONS)
    if unknown:
        parser.error(f"--only: unknown sections {sorted(unknown)}; choose from {SECTIONS}")
    if args.peers is not None and set(args.peers) - set(PEERS):
        parser.error(f"--peers: choose from {PEERS}")
    if min(args.size_mib, args.runs, args.load_clients, args.load_max_mib) < 1:
        parser.error("sizes, --runs and --load-clients must be at least 1")
    steps = args.scale_steps_gib
    if not steps or steps != sorted(set(steps)) or steps[0] <= 0 or steps[-1] > SCALE_MAX_GIB:
        parser.error(f"--scale-steps-gib: increasing, above 0, at most {SCALE_MAX_GIB:g}")
    if min(args.scale_fill_mib, args.scale_repeats, args.scale_minutes) <= 0:
        parser.error("--scale-fill-mib, --scale-repeats and --scale-minutes must be above 0")
    if not 2000 <= args.scale_listing_objects <= SCALE_MAX_LISTING:
        parser.error(f"--scale-listing-objects: from 2000 to {SCALE_MAX_LISTING}")
    args.peer_size_mib = args.peer_size_mib or args.size_mib
    return args


@dataclass
class Bench:
    """Everything one benchmark started: servers, the large source file, the peers."""

    args: argparse.Namespace
    workdir: Path
    prefix: str = field(default_factory=unique_prefix)
    database: DatabaseProcess | None = None
    cluster: Cluster | None = None
    parity_cluster: Cluster | None = None
    servers: list[ServerProcess] = field(default_factory=list)  # besides the cluster
    sink: baselines.SocketSink | None = None
    bare: baselines.BareTornado | None = None
    targets: list[Target] = field(default_factory=list)  # peers
    versions: dict[str, str] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    profilers: list[subprocess.Popen] = field(default_factory=list)

    @property
    def logs(self) -> Path:
        return self.workdir / "logs"

    def wants(self, section: str) -> bool:
        return section in self.args.only

    def start(self) -> None:
        self.database = DatabaseProcess(self.workdir / "db", self.logs / "dev-db.log")
        start_all([self.database])
        if {"large", "small", "load", "baselines", "scale"} & set(self.args.only):
            self.cluster = BenchCluster(self.database.uri, self.prefix, self.logs)
            self.cluster.start()
            request(self.cluster.url, "PUT", f"/{BUCKET}", {}, (200,))
            if self.args.profile:
                self.start_profilers()
        if self.wants("parity"):
            self.parity_cluster = BenchCluster(self.database.uri, f"{self.prefix}_p", self.logs)
            self.parity_cluster.start(node_count=8)
        if {"large", "baselines", "peers", "parity"} & set(self.args.only):
            self.source = self.workdir / "object.bin"
            size_mib = max(self.args.size_mib, self.args.peer_size_mib)
            print(f"writing {size_mib} MiB of random bytes to {self.source}", file=sys.stderr)
            self.sha256 = write_random_file(self.source, size_mib * 2**20)
            if self.args.peer_size_mib != size_mib:
                self.peer_source = self.workdir / "peer-object.bin"
                self.peer_sha256 = write_random_file(
                    self.peer_source, self.args.peer_size_mib << 20
                )
            else:
                self.peer_source, self.peer_sha256 = self.source, self.sha256
            if self.args.size_mib != size_mib:
                self.source = self.workdir / "large-object.bin"
                self.sha256 = write_random_file(self.source, self.args.size_mib << 20)
        if self.wants("baselines"):
            self.sink = baselines.SocketSink()
            self.bare = baselines.BareTornado(self.logs / "bare-tornado.log", self.source)
            self.servers.append(self.bare)
            start_all([self.bare])
        if self.wants("peers"):
            self.start_peers()

    def start_peers(self) -> None:
        peers.ensure_bench_venv()
        if self.args.build_seaweedfs and not peers.WEED.exists():
            peers.build_seaweedfs()
        chosen = self.args.peers or [p for p in PEERS if p != "seaweedfs" or peers.WEED.exists()]
        for name in chosen:
            if name == "moto":
                server = peers.MotoServer(self.logs / "moto.log")
                version = f"moto {peers.moto_version()} (moto_server, Werkzeug, threaded)"
            else:
                if not peers.WEED.exists():
                    self.failures[name] = f"not built: {peers.WEED} is missing"
                    continue
                server = peers.SeaweedFs(self.logs / "seaweedfs.log", self.workdir / "seaweedfs")
                version = f"SeaweedFS {peers.seaweedfs_version()}"
            try:
                start_all([server], seconds=60)
                self.servers.append(server)
                request(server.url, "PUT", f"/{BUCKET}", {}, (200,))
            except Exception as error:  # noqa: BLE001 - a peer that fails is reported, not fatal
                self.failures[name] = f"did not start: {error}"
                print(server.log_tail(), file=sys.stderr)
                server.stop()
                continue
            self.versions[name] = version
            pids = {name: server.process.pid}
            headers = peers.MOTO_HEADERS if name == "moto" else {}
            self.targets.append(Target(name, "127.0.0.1", server.port, BUCKET, pids, headers))

    def start_profilers(self) -> None:
        """py-spy on the gateway and the first node, until ``stop``: raw collapsed stacks."""
        peers.ensure_bench_venv()
        self.args.profile.mkdir(parents=True, exist_ok=True)
        py_spy = str(peers.BENCH_VENV / "bin" / "py-spy")
        for label, process in (("gateway", self.cluster.gateway), ("node", self.cluster.nodes[0])):
            output = self.args.profile / f"{label}.txt"
            command = [py_spy, "record", "-p", str(process.process.pid), "-r", "100"]
            command += ["-f", "raw", "-o", str(output)]
            log = open(self.args.profile / f"{label}.py-spy.log", "wb")
            self.profilers.append(subprocess.Popen(command, stdout=log, stderr=log))

    def s3lite_target(self) -> Target:
        pids = {"gateway": self.cluster.gateway.process.pid, "database": self.database.process.pid}
        pids.update({f"node {i}": node.process.pid for i, node in enumerate(self.cluster.nodes)})
        return Target("s3lite", "127.0.0.1", self.cluster.gateway.port, BUCKET, pids)

    def stop(self) -> None:
        for profiler in self.profilers:
            profiler.send_signal(signal.SIGINT)  # py-spy writes its file when interrupted
        for profiler in self.profilers:
            try:
                profiler.wait(30)
            except subprocess.TimeoutExpired:
                profiler.kill()
        if self.sink is not None:
            self.sink.stop()
        for server in self.servers:
            server.stop()
        for cluster in (self.cluster, self.parity_cluster):
            if cluster is not None:
                cluster.stop()
        if self.database is not None:
            if self.database.running and not INTERRUPTED.is_set():
                drop_databases(self.database.uri, self.prefix)
            self.database.stop()

    def run_once(self, run: int) -> dict[str, float]:
        figures: dict[str, float] = {}
        args = self.args
        if self.wants("baselines"):
            figures.update(baselines.socket_copy(self.sink, self.source.stat().st_size))
            figures.update(baselines.bare_tornado(self.bare, self.source, self.sha256))
        if self.wants("small"):
            sizes = [kib * 1024 for kib in args.small_kib]
            target = self.s3lite_target()
            figures.update(small_objects(target, sizes, args.clients, args.small_seconds, run))
            figures.update(self.floor(sizes, run))
        if self.wants("load"):
            max_size = args.load_max_mib << 20
            print(
                f"  mixed load: {args.load_clients} clients, {args.load_seconds:g} s",
                file=sys.stderr,
            )
            figures.update(
                mixed_load(self.s3lite_target(), args.load_clients, args.load_seconds, max_size)
            )
        if self.wants("large"):
            figures.update(self.through_gateway(run))
        if self.wants("large") or self.wants("baselines"):
            figures.update(self.straight_to_node(run))
        if self.wants("baselines"):
            db_name = f"{self.prefix}_gridfs"
            uri = self.database.uri
            figures.update(baselines.raw_gridfs(uri, db_name, self.source, self.sha256, run))
        if self.wants("peers"):
            sizes = [kib * 1024 for kib in args.small_kib]
            for target in self.targets:
                try:
                    figures.update(self.peer_large(target, run))
                    figures.update(
                        small_objects(target, sizes, args.clients, args.small_seconds, run)
                    )
                except BenchError as error:  # a peer's failure is reported, not fatal
                    self.failures[target.name] = f"failed in run {run}: {error}"
                    print(f"  {target.name} failed: {error}", file=sys.stderr)
        if self.wants("parity"):
            figures.update(parity_section(self.parity_cluster, self.source, self.sha256, run))
        if self.wants("scale") and run == args.runs:
            figures.update(self.scale())
        if self.wants("rebalance") and run == args.runs:
            settings = RebalanceSettings(
                args.rebalance_fill_mib,
                args.rebalance_bytes_per_second,
                args.rebalance_load_seconds,
            )
            print(f"  rebalance: {args.rebalance_fill_mib} MiB, then joins", file=sys.stderr)
            figures.update(rebalance_section(self.database.uri, self.prefix, self.logs, settings))
        return figures

    def scale(self) -> dict[str, float]:
        """The scale section, last: it leaves the cluster full."""
        args = self.args
        settings = ScaleSettings(
            steps_gib=args.scale_steps_gib,
            fill_size=args.scale_fill_mib << 20,
            repeats=args.scale_repeats,
            listing_objects=args.scale_listing_objects,
            seconds=args.scale_minutes * 60,
        )
        print(f"  scale: steps {args.scale_steps_gib} GiB", file=sys.stderr)
        figures, failure = scale_section(self.cluster, self.database.uri, settings, self.workdir)
        if failure is not None:
            self.failures["scale"] = failure
        return figures

    def floor(self, sizes: list[int], run: int) -> dict[str, float]:
        """The small cells again, straight against the database: the bound it sets on them."""
        args, database = self.args, self.database
        prefix = f"{self.prefix}_floor"  # under the bench's prefix: dropped on exit in any case
        return database_floor(
            database.uri, prefix, sizes, args.clients, args.small_seconds, run, database.process.pid
        )

    def through_gateway(self, run: int) -> dict[str, float]:
        cluster, size = self.cluster, self.source.stat().st_size
        path = f"/{BUCKET}/large-{run}"
        pids = {"gateway": cluster.gateway.process.pid}
        pids.update({f"node {i}": node.process.pid for i, node in enumerate(cluster.nodes)})
        with PeakRss(pids) as rss:
            up = timed("gateway upload", upload, cluster.url, path, {}, self.source)
            down = timed("gateway download", download, cluster.url, path, {}, size, self.sha256)
        request(cluster.url, "DELETE", path, {}, (204,))  # the next run starts empty again
        gateway_peak = rss.peak.pop("gateway")
        return {
            "large s3lite gateway upload MB/s": mb(size) / up,
            "large s3lite gateway download MB/s": mb(size) / down,
            "large s3lite gateway peak RSS MB": mb(gateway_peak),
            "large s3lite nodes peak RSS MB": mb(max(rss.peak.values())),
        }

    def straight_to_node(self, run: int) -> dict[str, float]:
        node, size = self.cluster.nodes[0], self.source.stat().st_size
        path = f"/_node/parts/bench-baseline-{run}"
        token = {"Authorization": f"Bearer {self.cluster.token}"}
        with PeakRss({"node": node.process.pid}) as rss:
            up = timed("one node upload", upload, node.url, path, token, self.source)
            down = timed("one node download", download, node.url, path, token, size, self.sha256)
        try:
            request(node.url, "DELETE", path, token, (200, 204))
        except TimeoutError:  # the node goes on deleting; the next run writes another id
            self.failures["one node DELETE"] = f"{path} not deleted within the socket timeout"
        return {
            "large s3lite one node upload MB/s": mb(size) / up,
            "large s3lite one node download MB/s": mb(size) / down,
            "large s3lite one node peak RSS MB": mb(rss.peak["node"]),
        }

    def peer_large(self, target: Target, run: int) -> dict[str, float]:
        size, path = self.peer_source.stat().st_size, f"/{BUCKET}/large-{run}"
        headers = {**target.headers, "Content-Type": "application/octet-stream"}
        with PeakRss(target.pids) as rss:
            up = timed(f"{target.name} upload", upload, target.url, path, headers, self.peer_source)
            down = timed(
                f"{target.name} download",
                download,
                target.url,
                path,
                headers,
                size,
                self.peer_sha256,
            )
        request(target.url, "DELETE", path, headers, (200, 204))
        return {
            f"large {target.name} upload MB/s": mb(size) / up,
            f"large {target.name} download MB/s": mb(size) / down,
            f"large {target.name} peak RSS MB": mb(max(rss.peak.values())),
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


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def medians(runs: list[dict[str, float]]) -> dict[str, float]:
    """Each figure's median over the runs; problem counts are summed instead (all must be 0)."""
    names = {name: None for run in runs for name in run}
    result = {}
    for name in names:
        values = [run[name] for run in runs if name in run]
        summed = is_problem(name) or name.endswith(" errors")
        result[name] = sum(values) if summed else statistics.median(values)
    return result


def benchmark(bench: Bench) -> list[dict[str, float]]:
    try:
        bench.start()
        results = []
        for run in range(1, bench.args.runs + 1):
            print(f"run {run} of {bench.args.runs}", file=sys.stderr)
            results.append(bench.run_once(run))
        return results
    except Exception:
        if bench.cluster is not None and bench.cluster.gateway is not None:
            if not INTERRUPTED.is_set():
                print(bench.cluster.gateway.log_tail(), file=sys.stderr)
        raise
    finally:
        bench.stop()


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
    bench = Bench(args, workdir)
    load_before = load_average()
    commit = git_commit()  # what the servers run: they load s3lite/ when they start
    started = time.monotonic()
    try:
        runs = benchmark(bench)
    finally:
        if args.keep_logs and (workdir / "logs").exists():
            shutil.copytree(workdir / "logs", args.keep_logs, dirs_exist_ok=True)
        shutil.rmtree(workdir, ignore_errors=True)
    figures = medians(runs)
    about = machine()
    about["s3lite"] = commit
    about["load average (1, 5, 15 min) at the start"] = load_before
    about["load average at the end"] = load_average()
    about["duration"] = f"{(time.monotonic() - started) / 60:.1f} minutes"
    settings = {
        name: value if not isinstance(value, Path) else str(value)
        for name, value in vars(args).items()
    }
    print_report(figures, about, settings, bench.versions, bench.failures, runs)
    problems = {name: value for name, value in figures.items() if value and is_problem(name)}
    if args.json:
        document = {
            "machine": about,
            "settings": settings,
            "peers": bench.versions,
            "peer failures": bench.failures,
            "figures": figures,
            "runs": runs,
            "git commit": commit,
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    if problems:
        print(f"FAILED: s3lite failed requests or read wrong bytes: {problems}", file=sys.stderr)
    return 1 if problems else 0


def is_problem(name: str) -> bool:
    """A count of failed or wrong requests, summed over runs; any for s3lite fails the bench."""
    if name.startswith("small s3lite ") and name.endswith(" errors"):
        return True
    if name.startswith("rebalance ") and name.endswith("wrong or failed requests"):
        return True
    return name.startswith("load ") and any(name.endswith(kind) for kind in PROBLEM_KINDS)


def git_commit() -> str:
    """The commit measured, with "+ changes" when s3lite/ differs from it in the work tree."""

    def git(*args: str) -> str:
        answer = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
        )
        return answer.stdout.strip()

    changed = git("status", "--porcelain", "--", "s3lite")
    return git("rev-parse", "HEAD") + (" + uncommitted changes in s3lite/" if changed else "")


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BaseException:
        if not INTERRUPTED.is_set():
            raise
        print("interrupted; cleaned up", file=sys.stderr)
        sys.exit(130)
