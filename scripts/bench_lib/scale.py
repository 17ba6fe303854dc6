"""Scale: the same requests as the cluster fills, to show their costs stay flat.

Why: a store whose lookups scan stops early at the first match, so the objects written first
read fast and the newest read slower the more a node holds; figures from an empty cluster say
nothing about a full one. So the cluster is filled in steps (GiB of object data stored), and at
each step these are measured on objects written just then, the newest, the worst case:

- GET of 1 MiB and of 64 MiB (each read whole and checked against its SHA-256);
- PUT of 4 KiB, a new key each time;
- DELETE of 64 MiB, timed until every one of its shards is gone from its node (``HEAD
  /_node/parts/{id}`` answers 404); the gateway runs with ``--delete-delay-seconds 0``, so
  the DELETE removes them at once rather than deferring them;
- a ListObjectsV2 page of 1,000 keys from the middle of a bucket of 100,000 objects.

Each figure is the median of a few repetitions, with the lowest and highest; the section ends
with each figure's ratio of the last step to the first.

The listing bucket's objects are zero-byte records inserted straight into the gateway's
metadata database (``ObjectRecord.to_document()`` under ``object_id``), once, before the first
step, and kept: through the gateway 100,000 PUTs would take over half an hour. Zero-byte
objects have no shards, so nothing is missing on the nodes. The report says so next to the
figure.

The fill between steps is real: objects of ``fill_size`` bytes PUT through the gateway, their
bytes slices at random offsets of a pool of random bytes, one block in memory at a time.
Everything is bounded: the largest step by the free disk, repetitions by ``FIGURE_SECONDS``
per figure, the section by a deadline, after which the steps not reached are reported as such.
"""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import os
import random
import shutil
import statistics
import sys
import time
import uuid
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pymongo import AsyncMongoClient

from bench_lib.transfers import BLOCK, BenchError, check_status, connect, download, request
from s3lite.gateway.metadata.records import ObjectPart, ObjectRecord
from s3lite.gateway.metadata.store import Metadata, object_id
from tests.processes import Cluster

KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30
BUCKET = "bench-scale"
LISTING_BUCKET = "bench-scale-listing"
LISTING_PAGE = 1000
INSERT_BATCH = 1000  # records per insert_many
EMPTY_MD5 = hashlib.md5(b"").hexdigest()
POOL_BYTES = 16 * MIB  # the random bytes that fill objects are sliced from
FIGURE_SECONDS = 60.0  # a figure's repetitions stop once they have taken this long
DELETE_SECONDS = 600.0  # a 64 MiB DELETE whose shards are not all gone by then is a failure
POLL_SECONDS = 0.02
NODES_REPORT_SECONDS = 20.0  # time for the nodes' heartbeats to report the fill
DISK_FACTOR = 2.0  # disk bytes per object byte: base64 in SQLite's JSON, the WAL, headroom
S3_NAMESPACE = "{http://s3.amazonaws.com/doc/2006-03-01/}"

# Each figure: its name in the results, its unit, and how a measured second becomes that unit.
FIGURES = (
    ("GET 1 MiB", "ms", 1000.0),
    ("GET 64 MiB", "s", 1.0),
    ("PUT 4 KiB", "ms", 1000.0),
    ("DELETE 64 MiB until gone", "s", 1.0),
    ("list 1000 of {listing}", "ms", 1000.0),
)


@dataclass(frozen=True)
class ScaleSettings:
    steps_gib: list[float]
    fill_size: int
    repeats: int
    listing_objects: int
    seconds: float  # the whole section's deadline


def step_label(gib: float) -> str:
    return f"{gib:g} GiB"


def figure_names(listing_objects: int) -> list[tuple[str, str, float]]:
    return [(name.format(listing=listing_objects), unit, scale) for name, unit, scale in FIGURES]


class RandomBytes:
    """Blocks of random bytes without the cost of generating each: slices of one pool of
    ``os.urandom`` bytes at random offsets, so that no two blocks need be alike."""

    def __init__(self, pool_size: int = POOL_BYTES):
        self.pool = memoryview(os.urandom(pool_size))
        self.random = random.Random()

    def block(self, size: int) -> memoryview:
        start = self.random.randrange(len(self.pool) - size + 1)
        return self.pool[start : start + size]


def put_random(
    url: str, path: str, size: int, source: RandomBytes, digest: hashlib._Hash | None = None
) -> float:
    """PUT ``size`` random bytes in blocks under a Content-Length; answer the seconds it took.
    With ``digest``, every byte sent goes into it too."""
    connection = connect(url)
    try:
        started = time.perf_counter()
        connection.putrequest("PUT", path, skip_accept_encoding=True)
        connection.putheader("Content-Length", str(size))
        connection.endheaders()
        for offset in range(0, size, BLOCK):
            block = source.block(min(BLOCK, size - offset))
            if digest is not None:
                digest.update(block)
            connection.send(block)
        response = connection.getresponse()
        check_status(response, (200,), f"PUT {path}")
        response.read()
        return time.perf_counter() - started
    finally:
        connection.close()


def get_body(url: str, path: str, headers: dict | None = None) -> tuple[float, bytes]:
    """GET ``path``, which must answer 200; answer the seconds it took and the body."""
    connection = connect(url)
    try:
        started = time.perf_counter()
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        check_status(response, (200,), f"GET {path}")
        body = response.read()
        return time.perf_counter() - started, body
    finally:
        connection.close()


def delete(url: str, path: str, seconds: float) -> None:
    """DELETE ``path``, which must answer 204, waiting up to ``seconds`` for the answer: the
    gateway answers once the nodes have deleted the shards, which may take a while."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=seconds)
    try:
        connection.request("DELETE", path)
        response = connection.getresponse()
        check_status(response, (204,), f"DELETE {path}")
        response.read()
    finally:
        connection.close()


def part_exists(node_url: str, shard_id: str, token: str) -> bool:
    connection = connect(node_url)
    try:
        headers = {"Authorization": f"Bearer {token}"}
        connection.request("HEAD", f"/_node/parts/{shard_id}", headers=headers)
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    if response.status not in (200, 404):
        raise BenchError(f"HEAD {node_url}/_node/parts/{shard_id}: HTTP {response.status}")
    return response.status == 200


def spread(values: list[float]) -> dict[str, float]:
    return {"": statistics.median(values), " min": min(values), " max": max(values)}


def listing_document(index: int) -> dict:
    key = listing_key(index)
    record = ObjectRecord(
        bucket=LISTING_BUCKET,
        key=key,
        size=0,
        etag=EMPTY_MD5,
        write_id=uuid.uuid4().hex,
        parts=[ObjectPart(1, 0, 0, [])],
    )
    return {"_id": object_id(LISTING_BUCKET, key), **record.to_document()}


def listing_key(index: int) -> str:
    return f"listed/{index:07d}"


async def insert_listing_records(mongo_uri: str, db_name: str, count: int) -> None:
    client = AsyncMongoClient(mongo_uri)
    try:
        objects = Metadata(client[db_name]).objects
        for start in range(0, count, INSERT_BATCH):
            stop = min(count, start + INSERT_BATCH)
            await objects.insert_many([listing_document(i) for i in range(start, stop)])
    finally:
        await client.close()


class Scale:
    """One scale section on a running cluster of its own buckets: fill, measure, repeat."""

    def __init__(self, cluster: Cluster, mongo_uri: str, settings: ScaleSettings, workdir: Path):
        self.cluster = cluster
        self.mongo_uri = mongo_uri
        self.settings = settings
        self.workdir = workdir
        self.url = cluster.url
        self.random = RandomBytes()
        self.stored = 0  # object bytes in BUCKET now
        self.sequence = 0
        self.deadline = time.monotonic() + settings.seconds
        self.failure: str | None = None
        self.node_urls: dict[str, str] = {}

    # The run

    def run(self) -> dict[str, float]:
        self.check_gateway()
        self.check_disk()
        request(self.url, "PUT", f"/{BUCKET}", {}, (200,))
        request(self.url, "PUT", f"/{LISTING_BUCKET}", {}, (200,))
        self.node_urls = {node["node_id"]: node["url"] for node in self.cluster.listed_nodes()}
        figures: dict[str, float] = {}
        self.insert_listing(figures)
        done = []
        for gib in self.settings.steps_gib:
            if not self.fill_to(int(gib * GIB), figures, gib):
                break
            print(f"  scale: {step_label(gib)} stored; measuring", file=sys.stderr)
            load_before = os.getloadavg()[0]
            figures.update(self.measure_step(gib))
            # The machine's load moves these figures as much as the fill may: say what it was.
            load = (load_before + os.getloadavg()[0]) / 2
            figures[f"scale {step_label(gib)} load average"] = load
            done.append(gib)
        if len(done) >= 2:
            figures.update(self.ratios(done, figures))
        return figures

    def check_gateway(self) -> None:
        """The DELETE figure needs shards deleted at once, not deferred."""
        command = self.cluster.gateway.command()
        flag = "--delete-delay-seconds"
        values = [command[i + 1] for i, arg in enumerate(command[:-1]) if arg == flag]
        if not values or float(values[-1]) != 0:
            raise BenchError(f"scale: the gateway must run with {flag} 0, not {values}")

    def check_disk(self) -> None:
        largest = max(self.settings.steps_gib) * GIB
        free = shutil.disk_usage(self.workdir).free
        if free < DISK_FACTOR * largest:
            raise BenchError(
                f"scale: {free / GIB:.1f} GiB free under {self.workdir}; a step of "
                f"{largest / GIB:g} GiB needs about {DISK_FACTOR * largest / GIB:.1f}"
            )

    def over_time(self, before: str) -> bool:
        if time.monotonic() < self.deadline:
            return False
        minutes = self.settings.seconds / 60
        self.failure = f"stopped at its {minutes:g}-minute bound, before {before}"
        print(f"  scale: {self.failure}", file=sys.stderr)
        return True

    def insert_listing(self, figures: dict[str, float]) -> None:
        count = self.settings.listing_objects
        started = time.perf_counter()
        db_name = self.cluster.gateway.db
        asyncio.run(insert_listing_records(self.mongo_uri, db_name, count))
        seconds = time.perf_counter() - started
        print(
            f"  scale: {count:,} zero-byte object records inserted straight into the gateway's"
            f" metadata in {seconds:.1f} s",
            file=sys.stderr,
        )
        figures["scale listing records inserted straight into the metadata"] = count
        figures["scale listing records insert s"] = seconds

    def fill_to(self, target: int, figures: dict[str, float], gib: float) -> bool:
        """PUT fill objects until ``target`` object bytes are stored; False past the deadline."""
        sent, seconds = 0, 0.0
        while self.stored < target:
            if self.over_time(f"{step_label(gib)} was stored"):
                return False
            size = min(self.settings.fill_size, target - self.stored)
            seconds += put_random(self.url, self.new_path("fill"), size, self.random)
            self.stored += size
            sent += size
        if sent:
            figures[f"scale {step_label(gib)} fill MB/s"] = sent / 1e6 / seconds
        figures[f"scale {step_label(gib)} nodes hold GiB"] = self.nodes_hold() / GIB
        return True

    def nodes_hold(self) -> int:
        """Bytes the nodes say they hold, once their heartbeats have caught up with the fill."""
        deadline = time.monotonic() + NODES_REPORT_SECONDS
        while True:
            held = sum(node["bytes_stored"] for node in self.cluster.listed_nodes())
            if held >= self.stored or time.monotonic() > deadline:
                return held
            time.sleep(1.0)

    def new_path(self, kind: str) -> str:
        self.sequence += 1
        return f"/{BUCKET}/{kind}/{self.sequence:06d}"

    # One step

    def measure_step(self, gib: float) -> dict[str, float]:
        listing = self.settings.listing_objects
        measures: list[Callable[[], float]] = [
            self.get_measure(MIB),
            self.get_measure(64 * MIB),
            self.put_small,
            self.delete_large,
            self.list_page,
        ]
        figures = {}
        for (name, unit, scale), measure in zip(figure_names(listing), measures, strict=True):
            values = self.repeat(measure, f"{step_label(gib)} {name}")
            for suffix, value in spread(values).items():
                figures[f"scale {step_label(gib)} {name} {unit}{suffix}"] = value * scale
            figures[f"scale {step_label(gib)} {name} repetitions"] = len(values)
        return figures

    def repeat(self, measure: Callable[[], float], what: str) -> list[float]:
        values, spent = [], 0.0
        while len(values) < self.settings.repeats and (not values or spent < FIGURE_SECONDS):
            started = time.perf_counter()
            values.append(measure())
            spent += time.perf_counter() - started
        cut = f" (cut to {len(values)} by the {FIGURE_SECONDS:g} s bound)"
        note = cut if len(values) < self.settings.repeats else ""
        print(f"  scale: {what}: {statistics.median(values):.3f} s{note}", file=sys.stderr)
        return values

    def get_measure(self, size: int) -> Callable[[], float]:
        """Write one object of ``size`` now, the newest; answer a GET of it, whole and checked."""
        digest = hashlib.sha256()
        path = self.new_path(f"get-{size}")
        put_random(self.url, path, size, self.random, digest)
        self.stored += size
        sha256 = digest.hexdigest()
        return lambda: download(self.url, path, {}, size, sha256)

    def put_small(self) -> float:
        seconds = put_random(self.url, self.new_path("put"), 4 * KIB, self.random)
        self.stored += 4 * KIB
        return seconds

    def delete_large(self) -> float:
        """Write 64 MiB, then time its DELETE until no node has any of its shards."""
        path = self.new_path("delete")
        put_random(self.url, path, 64 * MIB, self.random)
        shards = self.shards_of(path)
        token = self.cluster.token
        if not all(part_exists(url, shard_id, token) for url, shard_id in shards):
            raise BenchError(f"scale: {path} is not on its nodes before its DELETE")
        started = time.perf_counter()
        delete(self.url, path, DELETE_SECONDS)
        left = set(shards)
        while left:
            left = {(url, shard_id) for url, shard_id in left if part_exists(url, shard_id, token)}
            seconds = time.perf_counter() - started
            if left and seconds > DELETE_SECONDS:
                raise BenchError(f"scale: {len(left)} shards of {path} left after {seconds:.0f} s")
            if left:
                time.sleep(POLL_SECONDS)
        return time.perf_counter() - started

    def shards_of(self, path: str) -> list[tuple[str, str]]:
        """(node URL, shard id) of every shard of an object, as the cluster API names them."""
        _, bucket, key = path.split("/", 2)
        response = self.cluster.api("GET", f"/_cluster/objects/{bucket}/{key}")
        if response.status != 200:
            raise BenchError(f"scale: GET /_cluster/objects{path}: HTTP {response.status}")
        document = response.json()
        entries = document["parts"] + document["parity"]
        return [(self.node_urls[entry["node_id"]], entry["shard_id"]) for entry in entries]

    def list_page(self) -> float:
        """One page of 1,000 keys from the middle of the listing bucket."""
        middle = (self.settings.listing_objects - LISTING_PAGE) // 2
        query = f"list-type=2&max-keys={LISTING_PAGE}&start-after={listing_key(middle)}"
        seconds, body = get_body(self.url, f"/{LISTING_BUCKET}?{query}")
        keys = [element.text for element in ElementTree.fromstring(body).iter(f"{S3_NAMESPACE}Key")]
        expected = [listing_key(i) for i in range(middle + 1, middle + 1 + LISTING_PAGE)]
        if keys != expected:
            raise BenchError(
                f"scale: listing page has {len(keys)} keys, from {keys[:1]}; expected "
                f"{LISTING_PAGE} from {expected[0]}"
            )
        return seconds

    def ratios(self, done: list[float], figures: dict[str, float]) -> dict[str, float]:
        first, last = step_label(done[0]), step_label(done[-1])
        result = {}
        for name, unit, _ in figure_names(self.settings.listing_objects):
            result[f"scale {name} last/first"] = (
                figures[f"scale {last} {name} {unit}"] / figures[f"scale {first} {name} {unit}"]
            )
        return result


def scale_section(
    cluster: Cluster, mongo_uri: str, settings: ScaleSettings, workdir: Path
) -> tuple[dict[str, float], str | None]:
    """The section's figures, and why it stopped early, if it did."""
    scale = Scale(cluster, mongo_uri, settings, workdir)
    figures = scale.run()
    return figures, scale.failure
