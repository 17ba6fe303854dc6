"""Mixed load: many clients PUT, GET and DELETE objects of 0 to a few MiB for a while,
and every answer is checked against what each key must hold.

Each virtual client owns its keys and works on them one request at a time, so what a key holds
is known exactly: the bytes of its last PUT, or nothing after a DELETE. A GET must return exactly
those bytes (or 404 when there are none); anything else is a wrong read, counted by kind. When a
PUT or DELETE fails (5xx, cut connection) the key may hold either the old or the new state, and
both are accepted until the next write settles it. The clients share one bucket, so their
requests still meet in the gateway, the nodes and the database. Contents are slices of one
random pool at random offsets: two versions of a key differ (but for empty objects), so a stale
read is caught as surely as a damaged one. After the time is up, every key is read back once
more, then deleted if it may hold something.

Sizes: 5 % empty, 50 % up to 64 KiB, 30 % 64 KiB to 1 MiB, 15 % 1 MiB to the maximum.
Operations: 40 % PUT, 45 % GET, 15 % DELETE, on 8 keys per client.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

from bench_lib.httpload import Connection, HttpError, Latencies
from bench_lib.measure import CpuMeter, Target

KEYS_PER_CLIENT = 8
OPERATIONS = (("PUT", 0.40), ("GET", 0.45), ("DELETE", 0.15))
ABSENT = None  # what a key holds after a DELETE, or before its first PUT


@dataclass(frozen=True)
class Content:
    offset: int  # into the shared random pool
    size: int


@dataclass
class Tally:
    latencies: dict[str, Latencies] = field(
        default_factory=lambda: {op: Latencies([]) for op, _ in OPERATIONS}
    )
    problems: Counter = field(default_factory=Counter)
    bytes_moved: int = 0

    def problem(self, kind: str, detail: str) -> None:
        if self.problems[kind] < 3:
            print(f"  mixed load: {kind}: {detail}", file=sys.stderr)
        self.problems[kind] += 1


def pick_size(rng: random.Random, max_size: int) -> int:
    roll = rng.random()
    if roll < 0.05:
        return 0
    if roll < 0.55:
        low, high = 1, 64 * 1024
    elif roll < 0.85:
        low, high = 64 * 1024, 1 << 20
    else:
        low, high = 1 << 20, max_size
    return rng.randint(min(low, max_size), min(high, max_size))


class Client:
    """One virtual client: its connection, its keys and what each may hold now."""

    def __init__(self, target: Target, number: int, pool: bytes, max_size: int, tally: Tally):
        self.target, self.pool, self.max_size, self.tally = target, pool, max_size, tally
        self.view = memoryview(pool)
        self.rng = random.Random(number)
        self.connection = Connection(target.host, target.port, target.headers)
        self.keys = [f"mixed/{number}/{index}" for index in range(KEYS_PER_CLIENT)]
        self.holds: dict[str, set[Content | None]] = {key: {ABSENT} for key in self.keys}

    def path(self, key: str) -> str:
        return f"/{self.target.bucket}/{key}"

    async def send(self, method: str, key: str, body: bytes | memoryview = b""):
        """One request; a failed connection counts as a problem and answers None."""
        try:
            return await self.connection.request(method, self.path(key), body)
        except HttpError as error:
            self.tally.problem("connection errors", str(error))
            return None

    async def put(self, key: str) -> float | None:
        size = pick_size(self.rng, self.max_size)
        content = Content(self.rng.randrange(len(self.pool) - size + 1), size)
        reply = await self.send("PUT", key, self.view[content.offset : content.offset + size])
        if reply is not None and reply.status == 200:
            self.holds[key] = {content}
            self.tally.bytes_moved += size
            return reply.seconds
        self.holds[key].add(content)  # it may or may not have been stored
        self.unexpected("PUT", key, reply)
        return None

    async def delete(self, key: str) -> float | None:
        reply = await self.send("DELETE", key)
        if reply is not None and reply.status in (200, 204):
            self.holds[key] = {ABSENT}
            return reply.seconds
        self.holds[key].add(ABSENT)
        self.unexpected("DELETE", key, reply)
        return None

    async def get(self, key: str) -> float | None:
        reply = await self.send("GET", key)
        if reply is None:
            return None
        allowed = self.holds[key]
        if reply.status == 404:
            if ABSENT in allowed:
                return reply.seconds
            self.tally.problem("lost objects (404 for a stored key)", key)
        elif reply.status == 200:
            matches = any(
                content is not ABSENT
                and content.size == len(reply.body)
                and self.view[content.offset : content.offset + content.size] == reply.body
                for content in allowed
            )
            if matches:
                self.tally.bytes_moved += len(reply.body)
                return reply.seconds
            if allowed == {ABSENT}:
                self.tally.problem("deleted objects read back", key)
            else:
                self.tally.problem("corrupted reads", f"{key}: {len(reply.body)} bytes")
        else:
            self.unexpected("GET", key, reply)
        return None

    def unexpected(self, method: str, key: str, reply) -> None:
        if reply is None:
            return  # already counted as a connection error
        kind = "5xx answers" if reply.status >= 500 else "other unexpected answers"
        self.tally.problem(kind, f"{method} {key}: HTTP {reply.status}: {reply.body[:200]!r}")

    async def run(self, deadline: float) -> None:
        operations = [op for op, _ in OPERATIONS]
        weights = [weight for _, weight in OPERATIONS]
        actions = {"PUT": self.put, "GET": self.get, "DELETE": self.delete}
        while time.perf_counter() < deadline:
            op = self.rng.choices(operations, weights)[0]
            seconds = await actions[op](self.rng.choice(self.keys))
            if seconds is not None:
                self.tally.latencies[op].values.append(seconds)

    async def verify_and_clean(self) -> None:
        for key in self.keys:
            await self.get(key)
            if self.holds[key] != {ABSENT}:
                await self.delete(key)
        self.connection.close()


async def mixed_load_async(
    target: Target, clients: int, seconds: float, max_size: int
) -> dict[str, float]:
    pool = os.urandom(max_size + (1 << 20))
    tally = Tally()
    workers = [Client(target, number, pool, max_size, tally) for number in range(clients)]
    with CpuMeter(target.pids) as meter:
        deadline = time.perf_counter() + seconds
        await asyncio.gather(*(worker.run(deadline) for worker in workers))
    await asyncio.gather(*(worker.verify_and_clean() for worker in workers))

    every = Latencies([value for lat in tally.latencies.values() for value in lat.values])
    summary = every.summary(meter.wall)
    name = f"load {target.name} x{clients}"
    results = {
        f"{name} ops/s": summary["ops/s"],
        f"{name} p50 ms": summary["p50 ms"],
        f"{name} p99 ms": summary["p99 ms"],
        f"{name} MB/s": tally.bytes_moved / meter.wall / 1e6,
    }
    for op, latencies in tally.latencies.items():
        op_summary = latencies.summary(meter.wall)
        results[f"{name} {op} ops/s"] = op_summary["ops/s"]
        results[f"{name} {op} p50 ms"] = op_summary["p50 ms"]
        results[f"{name} {op} p99 ms"] = op_summary["p99 ms"]
    for kind in PROBLEM_KINDS:
        results[f"{name} {kind}"] = float(tally.problems[kind])
    return results


PROBLEM_KINDS = (
    "corrupted reads",
    "lost objects (404 for a stored key)",
    "deleted objects read back",
    "5xx answers",
    "other unexpected answers",
    "connection errors",
)


def mixed_load(target: Target, clients: int, seconds: float, max_size: int) -> dict[str, float]:
    """Run the load; answer its figures, among them a count of each kind of problem."""
    return asyncio.run(mixed_load_async(target, clients, seconds, max_size))
