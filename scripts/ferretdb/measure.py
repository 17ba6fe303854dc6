"""Measurements behind the FerretDB patches in this directory; their headers quote its output.

Each scenario starts the given FerretDB binary on a free loopback port with a fresh data directory
(no telemetry, no debug listener), fills it, and prints one line per figure:

- ``chunks``: 1 MiB chunks keyed by ``_id`` in one collection, filled in steps (``--steps`` in
  MiB); at each step the insert rate of its fill, and the median of ``find_one`` and of
  ``delete_one`` by a random ``_id``.
- ``records``: object-like records of about 600 bytes keyed ``bucket/key``, filled in steps
  (``--steps`` in thousands); the first range query, then at each step the insert rate of its
  fill, a listing page of 1,000 by ``_id`` range, sorted, ``find_one`` by ``_id``, and a claim
  ``find_one_and_update({"_id": X, "state": "open"}, ...)``.
- ``atomic``: the races an atomic database must settle with one winner: conditional updates,
  ``find_one_and_replace`` and ``find_one_and_delete`` of one document by 16 clients at once.

Run it from the repository root with the project's virtualenv, for example
``.venv/bin/python scripts/ferretdb/measure.py --ferretdb .venv/bin/ferretdb chunks``.
"""

import argparse
import os
import random
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pymongo
from bson import Binary
from pymongo import ReturnDocument

MIB = 1024 * 1024
CLIENTS = 16


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def ferretdb(binary: str) -> Iterator[pymongo.MongoClient]:
    with tempfile.TemporaryDirectory(prefix="ferretdb-measure-") as data:
        port = free_port()
        process = subprocess.Popen(
            [
                binary,
                "--handler=sqlite",
                f"--sqlite-url=file:{data}/",
                f"--state-dir={data}",
                f"--listen-addr=127.0.0.1:{port}",
                "--telemetry=disable",
                "--debug-addr=-",
                "--log-level=error",
            ]
        )
        client = pymongo.MongoClient(f"mongodb://127.0.0.1:{port}", maxPoolSize=64)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    client.admin.command("ping")
                    break
                except pymongo.errors.PyMongoError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            yield client
        finally:
            client.close()
            process.terminate()
            process.wait(30)


def median_ms(action: Callable[[object], object], arguments: list) -> float:
    """The median time of ``action(argument)`` over the arguments, in milliseconds."""
    durations = []
    for argument in arguments:
        started = time.perf_counter()
        action(argument)
        durations.append(time.perf_counter() - started)
    return statistics.median(durations) * 1000


def chunks(client: pymongo.MongoClient, steps: list[int], times: int) -> None:
    collection = client.measure.chunks
    collection.create_index([("files_id", 1), ("n", 1)], unique=True)
    payload = Binary(os.urandom(MIB))
    stored = 0
    for step in steps:
        started, before = time.perf_counter(), stored
        while stored < step:
            collection.insert_one(
                {"_id": f"part/{stored}", "files_id": "part", "n": stored, "data": payload}
            )
            stored += 1
        rate = (stored - before) / (time.perf_counter() - started)
        ids = [f"part/{random.randrange(stored)}" for _ in range(times)]
        found = median_ms(lambda i: collection.find_one({"_id": i}), ids)
        victims = random.sample(range(stored), times)
        deleted = median_ms(lambda n: collection.delete_one({"_id": f"part/{n}"}), victims)
        for n in victims:  # put them back, so the next step starts from a full collection
            collection.insert_one({"_id": f"part/{n}", "files_id": "part", "n": n, "data": payload})
        print(
            f"chunks {step} MiB: inserted {rate:.1f} MiB/s, find_one {found:.1f} ms,",
            f"delete_one {deleted:.1f} ms",
            flush=True,
        )


def record(n: int) -> dict:
    key = f"photos/{n:08d}-{'x' * 40}.jpg"
    return {
        "_id": f"bucket/{key}",
        "bucket": "bucket",
        "key": key,
        "size": n * 37,
        "etag": f"{n:032x}",
        "state": "open",
        "parts": [
            {"index": i, "node_id": f"node-{i}", "sha256": f"{n + i:064x}"} for i in range(3)
        ],
        "meta": "m" * 150,
    }


def records(client: pymongo.MongoClient, steps: list[int], times: int) -> None:
    collection = client.measure.records
    stored = 0
    first_page = True
    for step in steps:
        started, before = time.perf_counter(), stored
        while stored < step * 1000:
            batch = [record(n) for n in range(stored, min(stored + 1000, step * 1000))]
            collection.insert_many(batch)
            stored += len(batch)
        rate = (stored - before) / (time.perf_counter() - started)
        if first_page:  # the first range query of a collection may build an index
            first_page = False
            low = {"$gte": record(0)["_id"], "$lt": "bucket0"}
            started = time.perf_counter()
            collection.find_one({"_id": low})
            print(f"records {stored}: first range query {time.perf_counter() - started:.2f} s")

        def page(n):
            ids = {"$gte": record(n)["_id"], "$lt": "bucket0"}
            found = list(collection.find({"_id": ids}, {"_id": 1}).sort("_id", 1).limit(1000))
            assert len(found) == 1000, len(found)

        def claim(n):
            collection.find_one_and_update(
                {"_id": record(n)["_id"], "state": "open"}, {"$set": {"touched": time.time()}}
            )

        listed = median_ms(page, [random.randrange(stored // 2) for _ in range(times)])
        some = [random.randrange(stored) for _ in range(times)]
        found = median_ms(lambda n: collection.find_one({"_id": record(n)["_id"]}), some)
        claimed = median_ms(claim, [random.randrange(stored) for _ in range(times)])
        print(
            f"records {stored}: inserted {rate:.0f}/s, page of 1000 {listed:.1f} ms,",
            f"find_one {found:.1f} ms, claim {claimed:.1f} ms",
            flush=True,
        )


def race(action: Callable[[int], object]) -> list[object]:
    """Run ``action(i)`` for 16 clients released at once, answering their results."""
    barrier = threading.Barrier(CLIENTS)
    results: list[object] = [None] * CLIENTS

    def run(i: int) -> None:
        barrier.wait()
        results[i] = action(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def atomic(client: pymongo.MongoClient, trials: int) -> None:
    collection = client.measure.race
    collection.insert_one({"_id": "warm-up"})
    several_winners, most = 0, 0
    for trial in range(trials):
        doc_id = f"update-{trial}"
        collection.insert_one({"_id": doc_id, "state": "open"})
        results = race(
            lambda i, doc_id=doc_id: (
                collection.update_one(
                    {"_id": doc_id, "state": "open"}, {"$set": {"state": f"client-{i}"}}
                ).modified_count
            )
        )
        several_winners += sum(results) != 1
        most = max(most, sum(results))
    print(
        f"update_one: {several_winners} of {trials} trials had other than one winner",
        f"(at most {most})",
        flush=True,
    )

    short, fewest = 0, CLIENTS
    for trial in range(trials):
        doc_id = f"replace-{trial}"
        collection.insert_one({"_id": doc_id, "version": -1})
        results = race(
            lambda i, doc_id=doc_id: collection.find_one_and_replace(
                {"_id": doc_id}, {"version": i}, return_document=ReturnDocument.BEFORE
            )["version"]
        )
        short += len(set(results)) != CLIENTS
        fewest = min(fewest, len(set(results)))
    print(
        f"find_one_and_replace: {short} of {trials} trials handed back fewer than 16 versions",
        f"(at fewest {fewest})",
        flush=True,
    )

    shared, most = 0, 0
    for trial in range(trials):
        doc_id = f"delete-{trial}"
        collection.insert_one({"_id": doc_id})
        results = race(lambda i, doc_id=doc_id: collection.find_one_and_delete({"_id": doc_id}))
        takers = sum(r is not None for r in results)
        shared += takers != 1
        most = max(most, takers)
    print(
        f"find_one_and_delete: {shared} of {trials} trials had other than one taker",
        f"(at most {most})",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ferretdb", required=True, help="the FerretDB binary to measure")
    parser.add_argument("--steps", type=lambda s: [int(x) for x in s.split(",")], default=None)
    parser.add_argument("--times", type=int, default=15, help="repetitions per median")
    parser.add_argument("--trials", type=int, default=30, help="races per atomicity figure")
    parser.add_argument("scenario", choices=["chunks", "records", "atomic"])
    args = parser.parse_args()
    with ferretdb(args.ferretdb) as client:
        if args.scenario == "chunks":
            chunks(client, args.steps or [256, 1024], args.times)
        elif args.scenario == "records":
            records(client, args.steps or [10, 50, 100], args.times)
        else:
            atomic(client, args.trials)


if __name__ == "__main__":
    main()
