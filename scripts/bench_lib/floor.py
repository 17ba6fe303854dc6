"""The database floor for small objects: the database operations one s3lite request cannot do
without, issued straight from PyMongo's async API, at the small cells' sizes and concurrencies.

Why: s3lite's small-object rates are far below moto's and SeaweedFS's, and the database is
suspected to be the limit. This measures what FerretDB alone allows for the same requests, in
the same run and against the same database server, so a reader sees how far s3lite (and moto)
are from the bound the database sets. Per request, as s3lite's storage does it:

- PUT of S bytes: six parts whose sizes differ by at most one byte; each part, in its own node
  database and all six at once, gets its chunk documents (``_id`` ``<part>/<n>``, 1 MiB chunks,
  as many per insert as a node puts) and then its files document; then one replace (upsert) of
  the object record, shaped as the gateway's, by its ``_id``;
- GET: one find of the object record by ``_id``; then, for the six parts at once, a find of the
  files document by ``_id`` and of each chunk by ``_id``; the bytes are compared with those
  written.

Each node database has its own client, as each node process has, and the gateway database one
more; collections and indexes are those of the node's shard store (``open_store``). Left out,
because they are not database work: HTTP, hashing (the sha256 and ETag fields hold fixed values
of the right length), and the gateway's other writes (upload intent, bucket checks), which a
leaner s3lite might avoid.
GETs read 64 objects that the PUT cell wrote, the rest deleted first, as ``small.py`` does.
"""

from __future__ import annotations

import asyncio
import datetime
import secrets
import sys
import time
from collections.abc import Awaitable, Callable

from bson import Binary
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError

from bench_lib.measure import CpuMeter
from bench_lib.small import GET_KEYS, Cell, figures, size_label
from s3lite.config import NodeConfig
from s3lite.db import connect
from s3lite.gateway.data.splitting import DATA_SHARDS, shard_boundaries
from s3lite.gateway.metadata.records import ObjectPart, ObjectRecord, ShardRecord
from s3lite.gateway.metadata.store import object_id
from s3lite.node.app import open_store
from s3lite.node.gridfs_store import CHUNKS_PER_INSERT, GridFSShardStore, chunk_id

NAME = "database floor"  # figures are "small database floor PUT 4 KiB x16 ops/s" and so on
BUCKET = "bench"
CHUNK_SIZE = NodeConfig.chunk_size_bytes  # the nodes' default, which the benchmark keeps
CONNECT_SECONDS = 30.0
SHA256 = "0" * 64  # stands for the hex digest a node computes and the gateway records
ETAG = "0" * 32


class FloorError(Exception):
    """A document the floor wrote was missing or held other bytes."""


class Floor:
    """Six node databases and a gateway database, each reached through its own client."""

    def __init__(self, nodes: list[AsyncMongoClient], gateway: AsyncMongoClient, prefix: str):
        self.clients = [*nodes, gateway]
        self.names = [f"{prefix}_node_{i}" for i in range(len(nodes))] + [f"{prefix}_gw"]
        self.stores: list[GridFSShardStore] = []
        self.objects: AsyncCollection = gateway[self.names[-1]]["objects"]

    @classmethod
    async def open(cls, mongo_uri: str, prefix: str) -> Floor:
        """Connect as the nodes do (``s3lite.db.connect``) and open their stores as they do."""
        count = DATA_SHARDS + 1
        clients = await asyncio.gather(*(connect(mongo_uri, CONNECT_SECONDS) for _ in range(count)))
        floor = cls(clients[:-1], clients[-1], prefix)
        floor.stores = await asyncio.gather(
            *(
                open_store(client[name], CHUNK_SIZE)
                for client, name in zip(clients[:-1], floor.names[:-1], strict=True)
            )
        )
        return floor

    async def close(self) -> None:
        """Drop every database the floor wrote, then disconnect."""
        try:
            for client, name in zip(self.clients, self.names, strict=True):
                await client.drop_database(name)
        finally:
            await asyncio.gather(*(client.close() for client in self.clients))

    async def put(self, key: str, payload: bytes) -> None:
        write_id = secrets.token_hex(12)  # shard ids are "<write id>.<index>", as the gateway's
        shards = [
            ShardRecord(
                s.index, f"node-{s.index}", f"{write_id}.{s.index}", s.offset, s.size, SHA256
            )
            for s in shard_boundaries(len(payload))
        ]
        await asyncio.gather(
            *(
                store_part(self.stores[s.index], s.shard_id, payload[s.offset : s.offset + s.size])
                for s in shards
            )
        )
        parts = [ObjectPart(1, 0, len(payload), shards)]
        record = ObjectRecord(BUCKET, key, len(payload), ETAG, write_id, parts)
        document = {"_id": object_id(BUCKET, key), **record.to_document()}
        await self.objects.replace_one({"_id": document["_id"]}, document, upsert=True)

    async def get(self, key: str) -> bytes:
        document = await self.objects.find_one({"_id": object_id(BUCKET, key)})
        if document is None:
            raise FloorError(f"no object record for {key}")
        parts = sorted(document["parts"], key=lambda part: part["offset"])
        pieces = await asyncio.gather(
            *(read_part(self.stores[p["index"]], p["part_id"]) for p in parts)
        )
        return b"".join(pieces)

    async def keep_only(self, keys: list[str]) -> None:
        """Delete every object but ``keys`` (untimed): one scan per collection, not a lookup per
        document, since FerretDB/SQLite reads the whole collection for a filter on anything but
        ``_id`` equality anyway."""
        records = self.objects.find({"_id": {"$in": [object_id(BUCKET, k) for k in keys]}})
        part_ids = [p["part_id"] async for record in records for p in record["parts"]]
        await self.objects.delete_many({"_id": {"$nin": [object_id(BUCKET, k) for k in keys]}})
        await asyncio.gather(
            *(store.files.delete_many({"_id": {"$nin": part_ids}}) for store in self.stores),
            *(store.chunks.delete_many({"files_id": {"$nin": part_ids}}) for store in self.stores),
        )


async def store_part(store: GridFSShardStore, part_id: str, data: bytes) -> None:
    """A node's writes for one part (``GridFSShardWriter``): its chunks, then its files document."""
    documents = [
        {"_id": chunk_id(part_id, n), "files_id": part_id, "n": n, "data": Binary(piece)}
        for n, piece in enumerate(data[o : o + CHUNK_SIZE] for o in range(0, len(data), CHUNK_SIZE))
    ]
    for start in range(0, len(documents), CHUNKS_PER_INSERT):
        await store.chunks.insert_many(documents[start : start + CHUNKS_PER_INSERT], ordered=True)
    await store.files.insert_one(
        {
            "_id": part_id,
            "filename": part_id,
            "length": len(data),
            "chunkSize": CHUNK_SIZE,
            "uploadDate": datetime.datetime.now(datetime.UTC),
            "sha256": SHA256,
        }
    )


async def read_part(store: GridFSShardStore, part_id: str) -> bytes:
    """A node's reads for one whole part (its files document, then each chunk by ``_id``)."""
    files = await store.files.find_one({"_id": part_id})
    if files is None:
        raise FloorError(f"no files document for part {part_id}")
    data = bytearray()
    for n in range(-(-files["length"] // files["chunkSize"])):
        chunk = await store.chunks.find_one({"_id": chunk_id(part_id, n)})
        if chunk is None:
            raise FloorError(f"part {part_id} is missing chunk {n}")
        data += chunk["data"]
    return bytes(data)


async def closed_loop(
    clients: int, seconds: float, request: Callable[[int, int], Awaitable[None]]
) -> Cell:
    """``clients`` virtual clients, each calling ``request(client, sequence)`` again as soon as
    the last returned, for ``seconds``: the same closed loop as the HTTP cells."""
    cell = Cell()
    deadline = time.perf_counter() + seconds

    async def client(number: int) -> None:
        sequence = 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                await request(number, sequence)
            except (PyMongoError, FloorError) as error:
                cell.fail(f"{type(error).__name__}: {str(error)[:300]}")
            else:
                cell.latencies.values.append(time.perf_counter() - started)
            sequence += 1

    await asyncio.gather(*(client(number) for number in range(clients)))
    return cell


def floor_figures(name: str, cell: Cell, meter: CpuMeter) -> dict[str, float]:
    """``small.figures``, with the CPU per request of the database and of this client apart."""
    result = figures(name, cell, meter)
    ops = max(result[f"{name} ops"], 1)
    del result[f"{name} server CPU ms/op"]  # the database alone: named so below
    result[f"{name} database CPU ms/op"] = meter.servers["database"] / ops * 1e3
    result[f"{name} client CPU ms/op"] = meter.client / ops * 1e3
    return result


async def floor_cells(
    floor: Floor, payload: bytes, clients: int, seconds: float, tag: str, database_pid: int
) -> dict[str, float]:
    """One PUT cell and one GET cell of the floor, as ``small.py`` runs s3lite's."""
    keys: list[str] = []

    async def put(number: int, sequence: int) -> None:
        key = f"{tag}/{number}/{sequence}"
        await floor.put(key, payload)
        keys.append(key)

    async def get(number: int, sequence: int) -> None:
        key = keys[(number + sequence * clients) % len(keys)]
        if await floor.get(key) != payload:
            raise FloorError(f"GET {key}: not the bytes written")

    cell = f"small {NAME} {{}} {size_label(len(payload))} x{clients}"
    pids = {"database": database_pid}
    with CpuMeter(pids) as meter:
        put_cell = await closed_loop(clients, seconds, put)
    results = floor_figures(cell.format("PUT"), put_cell, meter)
    keys[:] = keys[:GET_KEYS]
    await floor.keep_only(keys)
    if keys:
        with CpuMeter(pids) as meter:
            get_cell = await closed_loop(clients, seconds, get)
        results.update(floor_figures(cell.format("GET"), get_cell, meter))
    print(
        f"  small {NAME} {size_label(len(payload))} x{clients}:"
        f" {len(put_cell.latencies.values)} PUTs ({len(put_cell.errors)} failed),"
        f" {len(get_cell.latencies.values) if keys else 0} GETs",
        file=sys.stderr,
    )
    await floor.keep_only([])
    return results


async def database_floor_async(
    mongo_uri: str,
    prefix: str,
    sizes: list[int],
    concurrencies: list[int],
    seconds: float,
    run: int,
    database_pid: int,
) -> dict[str, float]:
    """Every size at every concurrency, PUT then GET, in databases ``<prefix>_node_0..5`` and
    ``<prefix>_gw`` (dropped at the end); figures keyed like ``small.cell_name`` with the target
    "database floor", CPU per request split into ``database`` and ``client``."""
    results: dict[str, float] = {}
    floor = await Floor.open(mongo_uri, prefix)
    try:
        for size in sizes:
            payload = secrets.token_bytes(size)
            for clients in concurrencies:
                tag = f"floor-{run}-{size}-{clients}"
                results.update(
                    await floor_cells(floor, payload, clients, seconds, tag, database_pid)
                )
    finally:
        await floor.close()  # also after a failure: the next section starts without its data
    return results


def database_floor(*args, **kwargs) -> dict[str, float]:
    """``database_floor_async``, run to its end."""
    return asyncio.run(database_floor_async(*args, **kwargs))
