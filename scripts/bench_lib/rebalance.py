"""The rebalance section: how fast nodes that join get their share of what is stored, and what
a rebalance costs the clients meanwhile.

On a cluster of its own (six nodes that heartbeat every second, so the spread the gateway
reports lags by at most that), filled with objects of 64 KiB to 1 MiB:

1. three nodes join with nothing else going on: the time from the join to a spread of at
   most 2 % (from ``/_cluster/rebalance``), and the rebalancer's move rate (bytes it moved over
   its round's time). Should its rounds end above 2 % (shards too coarse to even out), the
   spread they reached is reported instead, once no round has started for ``QUIET_SECONDS``;
2. three more join, and at once foreground clients PUT and GET 256 KiB objects (every GET
   checked) for ``seconds``, while the rebalancer moves: their throughput during a rebalance;
3. once it is over, the same foreground load on the quiet cluster: the throughput without one.

The rebalancer runs at ``--rebalance-bytes-per-second`` (by default here 1 GiB/s: as fast as
the machine lets it, so the cost to clients is the largest it can be).
"""

from __future__ import annotations

import os
import random
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tests.processes import (
    Cluster,
    GatewayProcess,
    http_request,
    start_all,
    stop_all,
    wait_until,
)

MB = 10**6
FOREGROUND_SIZE = 256 * 1024
FOREGROUND_CLIENTS = 4
TARGET_SPREAD = 0.02
SETTLE_SECONDS = 1800.0
QUIET_SECONDS = 15.0  # a round ended this long ago, and no other began: the rebalance is over


@dataclass(frozen=True)
class RebalanceSettings:
    fill_mib: int
    bytes_per_second: int
    seconds: float  # of foreground load, with and without a rebalance


def rebalance_section(uri: str, prefix: str, logs: Path, settings: RebalanceSettings) -> dict:
    cluster = Cluster(uri, f"{prefix}_rebalance", logs / "rebalance")
    cluster.gateway = GatewayProcess(
        cluster.log_dir / "gateway.log",
        mongo_uri=uri,
        db=f"{cluster.prefix}_gw",
        token=cluster.token,
        extra_args=[
            "--rebalance",
            "on",
            "--rebalance-bytes-per-second",
            str(settings.bytes_per_second),
        ],
    )
    try:
        start_nodes(cluster, 6, with_gateway=True)
        assert http_request("PUT", f"{cluster.url}/rebalance").status == 200
        stored = fill(cluster, settings.fill_mib << 20)
        print(f"  rebalance: {stored / MB:.0f} MB stored on six nodes", file=sys.stderr)
        figures = {"rebalance stored MB": stored / MB}

        joined = time.monotonic()
        start_nodes(cluster, 3)
        done = wait_settled(cluster)
        if done["spread"] <= TARGET_SPREAD:
            figures["rebalance join to spread 2 % s"] = time.monotonic() - joined
        figures["rebalance spread reached"] = done["spread"]
        figures.update(move_figures(done, "rebalance"))

        start_nodes(cluster, 3)
        during = foreground(cluster, settings.seconds)
        still = status(cluster)
        figures["rebalance during: still running at the end"] = float(still["running"])
        figures.update({f"rebalance during {name}": value for name, value in during.items()})
        wait_settled(cluster)
        quiet = foreground(cluster, settings.seconds)
        figures.update({f"rebalance quiet {name}": value for name, value in quiet.items()})
        return figures
    finally:
        cluster.stop()


def start_nodes(cluster: Cluster, count: int, with_gateway: bool = False) -> None:
    nodes = [cluster.new_node() for _ in range(count)]
    for node in nodes:
        node.heartbeat_seconds = 1.0
    try:
        start_all(([cluster.gateway] if with_gateway else []) + nodes)
        cluster.wait_for_nodes_up(nodes)
    except BaseException:
        stop_all(nodes)
        raise


def fill(cluster: Cluster, total: int) -> int:
    rng = random.Random(15)
    stored = 0
    number = 0
    while stored < total:
        size = rng.randint(64 * 1024, 1 << 20)
        body = os.urandom(size)
        response = http_request("PUT", f"{cluster.url}/rebalance/fill-{number}", body=body)
        if response.status != 200:
            raise RuntimeError(f"fill PUT answered {response.status}")
        stored += size
        number += 1
    return stored


def status(cluster: Cluster) -> dict:
    return cluster.api("GET", "/_cluster/rebalance").json()


def wait_settled(cluster: Cluster) -> dict:
    """The status once the spread is at most 2 %, or once the rounds have stopped above it."""
    time.sleep(3)  # the join starts a round within about three seconds

    def settled():
        now = status(cluster)
        finished = now["progress"]["finished"]
        if now["running"] or now["progress"]["state"] != "done" or finished is None:
            return None
        if now["spread"] <= TARGET_SPREAD or time.time() - finished > QUIET_SECONDS:
            return now
        return None

    return wait_until(settled, SETTLE_SECONDS, "the rebalance to end")


def move_figures(done: dict, name: str) -> dict:
    progress = done["progress"]
    seconds = progress["finished"] - progress["started"]
    return {
        f"{name} moved MB": progress["bytes_done"] / MB,
        f"{name} shards moved": progress["items_done"],
        f"{name} move MB/s": progress["bytes_done"] / MB / seconds if seconds > 0 else 0.0,
    }


def foreground(cluster: Cluster, seconds: float) -> dict:
    """``FOREGROUND_CLIENTS`` threads PUT then GET (checked) 256 KiB objects of their own."""
    counts = {"PUT": 0, "GET": 0, "wrong or failed": 0}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(number: int) -> None:
        rng = random.Random(number)
        while time.monotonic() < deadline:
            url = f"{cluster.url}/rebalance/foreground-{number}-{rng.randrange(8)}"
            body = rng.randbytes(FOREGROUND_SIZE)
            put = http_request("PUT", url, body=body)
            got = http_request("GET", url) if put.status == 200 else None
            with lock:
                counts["PUT"] += put.status == 200
                counts["GET"] += got is not None and got.status == 200
                if got is None or (got.status, got.body) != (200, body):
                    counts["wrong or failed"] += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(FOREGROUND_CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {
        "PUT ops/s": counts["PUT"] / seconds,
        "GET ops/s": counts["GET"] / seconds,
        "PUT MB/s": counts["PUT"] * FOREGROUND_SIZE / MB / seconds,
        "wrong or failed requests": counts["wrong or failed"],
    }
