"""Small objects: PUT, then GET of the same keys, at several sizes and numbers of clients.

Each cell runs for a fixed time with N virtual clients, each on its own keep-alive connection,
each sending its next request as soon as the last one is answered (a closed loop: the figures
are the server's throughput and latency at that concurrency, not at a fixed offered rate). PUTs
write new keys; then all but the first 64 are deleted (not timed), and the GETs read those 64
round robin, every body compared with what was written; then they are deleted too. So every GET
cell finds the same 64 objects in the store, whatever the PUT rate was: FerretDB/SQLite scans
whole collections, so GETs in a store that grows with the PUT rate would not be comparable.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from dataclasses import dataclass, field

from bench_lib.httpload import Connection, HttpError, Latencies
from bench_lib.measure import CpuMeter, Target

CLEANUP_CLIENTS = 16
GET_KEYS = 64  # objects left in the store for the GETs


def size_label(size: int) -> str:
    return f"{size // 1024} KiB" if size % 1024 == 0 and size < 1 << 20 else f"{size} B"


def cell_name(target: Target, op: str, size: int, clients: int) -> str:
    return f"small {target.name} {op} {size_label(size)} x{clients}"


@dataclass
class Cell:
    """What one PUT or GET cell saw: the latency of each success, and every failure."""

    latencies: Latencies = field(default_factory=lambda: Latencies([]))
    errors: list[str] = field(default_factory=list)

    def fail(self, message: str) -> None:
        if len(self.errors) < 3:
            print(f"  {message}", file=sys.stderr)
        self.errors.append(message)


async def put_cell(
    target: Target, payload: bytes, clients: int, seconds: float, tag: str, keys: list[str]
) -> Cell:
    """PUT new keys for ``seconds``, adding each key written to ``keys``."""
    cell = Cell()
    deadline = time.perf_counter() + seconds

    async def client(number: int) -> None:
        connection = Connection(target.host, target.port, target.headers)
        try:
            sequence = 0
            while time.perf_counter() < deadline:
                key = f"{tag}/{number}/{sequence}"
                sequence += 1
                try:
                    reply = await connection.request("PUT", f"/{target.bucket}/{key}", payload)
                except HttpError as error:
                    cell.fail(str(error))
                    continue
                if reply.status != 200:
                    cell.fail(f"PUT {key}: HTTP {reply.status}: {reply.body[:300]}")
                    continue
                cell.latencies.values.append(reply.seconds)
                keys.append(key)
        finally:
            connection.close()

    await asyncio.gather(*(client(number) for number in range(clients)))
    return cell


async def get_cell(
    target: Target, payload: bytes, keys: list[str], clients: int, seconds: float
) -> Cell:
    """GET ``keys`` round robin for ``seconds``, checking every body."""
    cell = Cell()
    deadline = time.perf_counter() + seconds

    async def client(number: int) -> None:
        connection = Connection(target.host, target.port, target.headers)
        try:
            index = number
            while keys and time.perf_counter() < deadline:
                key = keys[index % len(keys)]
                index += clients
                try:
                    reply = await connection.request("GET", f"/{target.bucket}/{key}")
                except HttpError as error:
                    cell.fail(str(error))
                    continue
                if reply.status != 200:
                    cell.fail(f"GET {key}: HTTP {reply.status}: {reply.body[:300]}")
                elif reply.body != payload:
                    cell.fail(f"GET {key}: {len(reply.body)} bytes, not those written")
                else:
                    cell.latencies.values.append(reply.seconds)
        finally:
            connection.close()

    await asyncio.gather(*(client(number) for number in range(clients)))
    return cell


async def delete_keys(target: Target, keys: list[str]) -> None:
    pending = list(keys)

    async def client() -> None:
        connection = Connection(target.host, target.port, target.headers)
        try:
            while pending:
                key = pending.pop()
                reply = await connection.request("DELETE", f"/{target.bucket}/{key}")
                if reply.status not in (200, 204):
                    print(f"  DELETE {key}: HTTP {reply.status} (left behind)", file=sys.stderr)
        except HttpError as error:
            print(f"  clean-up stopped: {error}", file=sys.stderr)
        finally:
            connection.close()

    await asyncio.gather(*(client() for _ in range(CLEANUP_CLIENTS)))


def grouped(servers: dict[str, float]) -> dict[str, float]:
    """CPU seconds by kind of process: "node 3" counts under "nodes"; one group is not split."""
    groups: dict[str, float] = {}
    for label, seconds in servers.items():
        group = "nodes" if label.startswith("node ") else label
        groups[group] = groups.get(group, 0.0) + seconds
    return groups if len(groups) > 1 else {}


def figures(name: str, cell: Cell, meter: CpuMeter) -> dict[str, float]:
    summary = cell.latencies.summary(meter.wall)
    ops = max(summary["ops"], 1)
    return {
        f"{name} ops": summary["ops"],
        f"{name} errors": float(len(cell.errors)),
        f"{name} ops/s": summary["ops/s"],
        f"{name} p50 ms": summary["p50 ms"],
        f"{name} p99 ms": summary["p99 ms"],
        f"{name} server CPU ms/op": sum(meter.servers.values()) / ops * 1e3,
        **{
            f"{name} {group} CPU ms/op": seconds / ops * 1e3
            for group, seconds in grouped(meter.servers).items()
        },
        f"{name} client CPU %": meter.client / meter.wall * 100 if meter.wall else 0.0,
    }


async def small_objects_async(
    target: Target, sizes: list[int], concurrencies: list[int], seconds: float, run: int
) -> dict[str, float]:
    results: dict[str, float] = {}
    for size in sizes:
        payload = os.urandom(size)
        for clients in concurrencies:
            tag = f"small-{run}-{size}-{clients}"
            keys: list[str] = []
            try:
                with CpuMeter(target.pids) as meter:
                    put = await put_cell(target, payload, clients, seconds, tag, keys)
                results.update(figures(cell_name(target, "PUT", size, clients), put, meter))
                surplus, keys[:] = keys[GET_KEYS:], keys[:GET_KEYS]
                await delete_keys(target, surplus)
                with CpuMeter(target.pids) as meter:
                    get = await get_cell(target, payload, keys, clients, seconds)
                results.update(figures(cell_name(target, "GET", size, clients), get, meter))
            finally:
                await delete_keys(target, keys)  # also after a failure, for the next section
            print(
                f"  small {target.name} {size_label(size)} x{clients}:"
                f" {len(put.latencies.values)} PUTs ({len(put.errors)} failed),"
                f" {len(get.latencies.values)} GETs ({len(get.errors)} failed)",
                file=sys.stderr,
            )
    return results


def small_objects(
    target: Target, sizes: list[int], concurrencies: list[int], seconds: float, run: int
) -> dict[str, float]:
    """Every size at every concurrency, PUT then GET; figures keyed by ``cell_name``, among them
    ``errors``: requests that failed or read wrong bytes (each counted, none timed)."""
    return asyncio.run(small_objects_async(target, sizes, concurrencies, seconds, run))
