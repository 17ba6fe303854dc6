"""The ``parity`` section: what protection costs, and what a read costs when nodes are lost.

On a cluster of eight nodes (so that 6 + 2 shards land on distinct nodes): the code's own
encode and decode rate on one core; one large object PUT and GET with ``--parity-shards 0``
and with 2, the same GET with one and with two nodes killed (the nodes of data shards, so the
bytes are rebuilt), and the gateway's peak RSS throughout.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from bench_lib.measure import PeakRss
from bench_lib.transfers import download, mb, request, timed, upload
from s3lite.gateway.data.erasure import ParityCode
from tests.processes import Cluster

BUCKET = "parity"
CODE_BLOCK = 1024 * 1024  # per shard, as a rebuilt read's window
CODE_ROUNDS = 64


def code_rates() -> dict[str, float]:
    """Encode and decode (two data shards lost) of 6 x 1 MiB windows, in data MB/s."""
    code = ParityCode(2)
    data = [os.urandom(CODE_BLOCK) for _ in range(6)]
    started = time.perf_counter()
    for _ in range(CODE_ROUNDS):
        parity = code.encode(data)
    encode = time.perf_counter() - started
    available = {i: block for i, block in enumerate(data + parity) if i not in (1, 3)}
    started = time.perf_counter()
    for _ in range(CODE_ROUNDS):
        decoded = code.decode(available, CODE_BLOCK)
    decode = time.perf_counter() - started
    assert decoded[1] == data[1] and decoded[3] == data[3]
    total = mb(CODE_ROUNDS * 6 * CODE_BLOCK)
    return {"parity code encode MB/s": total / encode, "parity code decode MB/s": total / decode}


def parity_section(cluster: Cluster, source: Path, sha256: str, run: int) -> dict[str, float]:
    figures = code_rates()
    size, peak = source.stat().st_size, 0
    for parity in (0, 2):
        restart_with_parity(cluster, parity)
        request(cluster.url, "PUT", f"/{BUCKET}", {}, (200, 409))
        path = f"/{BUCKET}/p{parity}-{run}"
        with PeakRss({"gateway": cluster.gateway.process.pid}) as rss:
            up = timed(f"P={parity} upload", upload, cluster.url, path, {}, source)
            down = timed(f"P={parity} download", download, cluster.url, path, {}, size, sha256)
        peak = max(peak, rss.peak["gateway"])
        figures[f"parity P={parity} upload MB/s"] = mb(size) / up
        figures[f"parity P={parity} download MB/s"] = mb(size) / down
    layout = cluster.api("GET", f"/_cluster/objects/{BUCKET}/p2-{run}").json()["parts"]
    holders = [node_of(cluster, layout[index]["node_id"]) for index in (1, 3)]
    for lost in (1, 2):
        for node in holders[:lost]:
            node.kill()
        try:
            with PeakRss({"gateway": cluster.gateway.process.pid}) as rss:
                down = timed(f"{lost} down", download, cluster.url, path, {}, size, sha256)
            peak = max(peak, rss.peak["gateway"])
        finally:
            for node in holders[:lost]:
                node.start()
            for node in holders[:lost]:
                node.wait_ready()
        figures[f"parity P=2 download, {lost} node(s) down MB/s"] = mb(size) / down
    for parity in (0, 2):
        request(cluster.url, "DELETE", f"/{BUCKET}/p{parity}-{run}", {}, (204,))
    figures["parity gateway peak RSS MB"] = mb(peak)
    return figures


def restart_with_parity(cluster: Cluster, parity: int) -> None:
    cluster.gateway.extra_args = [
        arg for arg in cluster.gateway.extra_args if not arg.startswith("--parity-shards=")
    ]
    cluster.restart_gateway(f"--parity-shards={parity}")


def node_of(cluster: Cluster, node_id: str):
    return next(node for node in cluster.nodes if node.node_id == node_id)
