"""The node's shard store driven in process against the real database, every command it sends
watched through PyMongo's command monitoring: which queries the data path makes, how many are in
flight, and the counts the node reports.
"""

import asyncio
import hashlib
import os
from collections import Counter

import pytest
from gridfs import AsyncGridFSBucket
from pymongo import AsyncMongoClient, monitoring

from s3lite.errors import NoSuchPart, PartExists
from s3lite.node.app import open_store
from s3lite.node.ferretdb import CHUNKS_INDEX_NAME, is_ferretdb
from s3lite.node.gridfs_store import COLLECTIONS, READ_AHEAD, GridFSShardStore
from s3lite.node.storage import Usage

CHUNK = 1024
CHUNKS = f"{COLLECTIONS}.chunks"
FILES = f"{COLLECTIONS}.files"
# The commands that read or delete, and the field of each that holds its filters.
FILTERS = {"find": "filter", "delete": "deletes", "findAndModify": "query", "count": "query"}
QUERYING = {*FILTERS, "aggregate", "distinct"}


class Commands(monitoring.CommandListener):
    """Every command a client sends, and the most chunk lookups it ever had in flight."""

    def __init__(self):
        self.sent: list[dict] = []
        self.chunk_lookups: set[int] = set()
        self.most_chunk_lookups = 0
        self.deletions_done = 0

    def started(self, event):
        self.sent.append(event.command)
        if event.command_name == "find" and event.command["find"] == CHUNKS:
            self.chunk_lookups.add(event.request_id)
            self.most_chunk_lookups = max(self.most_chunk_lookups, len(self.chunk_lookups))

    def succeeded(self, event):
        self.chunk_lookups.discard(event.request_id)
        self.deletions_done += event.command_name == "delete"

    def failed(self, event):
        self.chunk_lookups.discard(event.request_id)

    def querying(self) -> list[dict]:
        return [c for c in self.sent if QUERYING & c.keys()]

    def chunk_finds(self) -> list[str]:
        return [c["filter"]["_id"] for c in self.sent if c.get("find") == CHUNKS]

    def clear(self) -> None:
        self.sent.clear()


def filters_of(command: dict) -> list[dict]:
    name = next(iter(command))
    if name not in FILTERS:
        return [{"unfiltered": name}]
    value = command[FILTERS[name]]
    return [d["q"] for d in value] if name == "delete" else [value]


def shard_content(chunks: int) -> bytes:
    return os.urandom(chunks * CHUNK + CHUNK // 3)


async def store_shard(store, shard_id: str, content: bytes) -> None:
    writer = store.open_writer(shard_id, len(content))
    for offset in range(0, len(content), 5000):
        await writer.write(content[offset : offset + 5000])
    stored = await writer.commit()
    assert stored.sha256 == hashlib.sha256(content).hexdigest()


async def read_all(reader, pause: float = 0.0) -> bytes:
    pieces = []
    async for piece in reader.read(0, reader.shard.size):
        pieces.append(piece)
        await asyncio.sleep(pause)
    return b"".join(pieces)


@pytest.fixture
def commands() -> Commands:
    return Commands()


@pytest.fixture
def client(mongo_uri, commands, io_loop):
    client = AsyncMongoClient(mongo_uri, event_listeners=[commands])
    yield client
    io_loop.run_sync(client.close)


@pytest.fixture
def node_db(client, db_prefix):
    """A node's database, reached through the watched client."""
    return client[f"{db_prefix}_node"]


@pytest.mark.gen_test(timeout=60)
async def test_reading_and_deleting_a_shard_of_40_chunks_sends_only_id_equalities(
    node_db, commands
):
    store = await open_store(node_db, CHUNK)
    content = shard_content(40)
    await store_shard(store, "shard-a", content)
    commands.clear()

    for known_size in (None, len(content)):
        reader = await store.open_reader("shard-a", known_size)
        assert await read_all(reader) == content
        async for _ in reader.read(15 * CHUNK + 7, 22 * CHUNK):
            pass
    await store.delete("shard-a")

    querying = commands.querying()
    filters = [f for command in querying for f in filters_of(command)]
    assert filters and all(f.keys() == {"_id"} and isinstance(f["_id"], str) for f in filters)
    deleted = [f["_id"] for c in querying if "delete" in c for f in filters_of(c)]
    # the files document first, then the chunks from the last down
    assert deleted == ["shard-a"] + [f"shard-a/{n}" for n in reversed(range(41))]
    assert await node_db[CHUNKS].count_documents({}) == 0


@pytest.mark.gen_test(timeout=60)
async def test_a_read_keeps_at_most_its_read_ahead_of_lookups_in_flight(node_db, commands):
    store = await open_store(node_db, CHUNK)
    content = shard_content(40)
    await store_shard(store, "shard-b", content)

    for known_size in (None, len(content)):
        commands.clear()
        reader = await store.open_reader("shard-b", known_size)
        pieces = aiter(reader.read(0, len(content)))
        received = [await anext(pieces)]
        await asyncio.sleep(0.5)  # a client that does not take more: the lookups stop
        # chunk 0, then the next READ_AHEAD, and no more until the client takes one
        assert sorted(commands.chunk_finds()) == [f"shard-b/{n}" for n in range(READ_AHEAD + 1)]
        async for piece in pieces:
            received.append(piece)
            await asyncio.sleep(0.01)
        assert b"".join(received) == content
        assert Counter(commands.chunk_finds()) == Counter(f"shard-b/{n}" for n in range(41))
        assert 1 < commands.most_chunk_lookups <= READ_AHEAD


@pytest.mark.gen_test(timeout=60)
async def test_a_read_that_stops_early_leaves_no_lookup_behind(node_db, commands):
    store = await open_store(node_db, CHUNK)
    await store_shard(store, "shard-c", shard_content(20))
    reader = await store.open_reader("shard-c")

    pieces = reader.read(0, reader.shard.size)
    await anext(pieces)
    await pieces.aclose()
    looked_up = len(commands.chunk_finds())
    await asyncio.sleep(0.3)

    assert looked_up <= 1 + READ_AHEAD
    assert len(commands.chunk_finds()) == looked_up
    assert not [t for t in asyncio.all_tasks() if "read_chunk" in repr(t.get_coro())]


@pytest.mark.gen_test(timeout=60)
async def test_a_missing_chunk_ends_the_read_with_no_such_part(node_db):
    store = await open_store(node_db, CHUNK)
    content = shard_content(12)
    await store_shard(store, "shard-d", content)
    await node_db[CHUNKS].delete_one({"_id": "shard-d/6"})
    reader = await store.open_reader("shard-d")

    received = b""
    with pytest.raises(NoSuchPart):
        async for piece in reader.read(0, len(content)):
            received += piece
    assert received == content[: 6 * CHUNK]


@pytest.mark.gen_test(timeout=60)
async def test_an_interrupted_deletion_leaves_a_prefix_that_a_later_deletion_removes(
    node_db, commands
):
    store = await open_store(node_db, CHUNK)
    await store_shard(store, "shard-e", shard_content(40))
    await store_shard(store, "other", shard_content(2))
    deletion = asyncio.ensure_future(store.delete("shard-e"))
    while commands.deletions_done < 10:  # the files document and some chunks
        await asyncio.sleep(0.001)
    deletion.cancel()
    with pytest.raises(asyncio.CancelledError):
        await deletion
    await asyncio.sleep(0.2)

    left = {d["n"] async for d in node_db[CHUNKS].find({"files_id": "shard-e"}, {"n": 1})}
    assert 0 < len(left) < 41 and left == set(range(len(left)))  # a prefix, found from chunk 0
    with pytest.raises(NoSuchPart):
        await store.stat("shard-e")

    await store.delete("shard-e")

    assert await node_db[CHUNKS].count_documents({"files_id": "shard-e"}) == 0
    assert await node_db[CHUNKS].count_documents({"files_id": "other"}) == 3
    assert store.usage() == Usage(2 * CHUNK + CHUNK // 3, 1)


async def recorded_usage(node_db) -> Usage:
    sizes = [d["length"] async for d in node_db[FILES].find({}, {"length": 1})]
    return Usage(sum(sizes), len(sizes))


@pytest.mark.gen_test(timeout=60)
async def test_counts_follow_commits_and_deletions_even_when_deletions_race(node_db):
    store = await open_store(node_db, CHUNK)
    assert store.usage() == Usage(0, 0)
    contents = {f"shard-{n}": shard_content(n) for n in range(6)}
    await asyncio.gather(*(store_shard(store, i, c) for i, c in contents.items()))
    assert store.usage() == await recorded_usage(node_db)
    assert store.usage().shards_stored == 6

    # the same shard deleted four times at once, another twice, and one never stored
    await asyncio.gather(
        *(store.delete("shard-3") for _ in range(4)),
        *(store.delete("shard-5") for _ in range(2)),
        store.delete("never-stored"),
    )
    # a commit that loses to a shard already stored counts nothing
    with pytest.raises(PartExists):
        await store_shard(store, "shard-1", contents["shard-1"])

    assert store.usage() == await recorded_usage(node_db)
    assert store.usage().shards_stored == 4


@pytest.mark.gen_test(timeout=60)
async def test_counts_are_taken_again_from_the_records_at_start(node_db):
    store = await open_store(node_db, CHUNK)
    for n in range(3):
        await store_shard(store, f"shard-{n}", shard_content(n + 1))
    # The records change behind the node's back, as after a crash or a restore: its counts
    # are wrong now, until it starts again.
    await node_db[FILES].delete_one({"_id": "shard-0"})
    await node_db[FILES].insert_one(
        {"_id": "restored", "length": 12345, "chunkSize": CHUNK, "sha256": ""}
    )
    assert store.usage() != await recorded_usage(node_db)

    restarted = await open_store(node_db, CHUNK)

    assert restarted.usage() == await recorded_usage(node_db)
    assert restarted.usage() == Usage(2 * CHUNK + 3 * CHUNK + 2 * (CHUNK // 3) + 12345, 3)


@pytest.mark.gen_test(timeout=60)
async def test_chunks_carry_the_index_their_server_uses(node_db):
    chunks = node_db[CHUNKS]
    await chunks.create_index([("files_id", 1), ("n", 1)], unique=True)  # as older nodes did

    store = await open_store(node_db, CHUNK)

    if await is_ferretdb(node_db):  # no query could use it, and it slows every insert
        assert CHUNKS_INDEX_NAME not in await chunks.index_information()
    else:
        assert isinstance(store, GridFSShardStore)
        assert CHUNKS_INDEX_NAME in await chunks.index_information()


@pytest.mark.gen_test(timeout=60)
async def test_gridfs_reads_the_shards_back(node_db):
    content = shard_content(3)
    await store_shard(await open_store(node_db, CHUNK), "plain", content)

    bucket = AsyncGridFSBucket(node_db, bucket_name=COLLECTIONS)
    assert await (await bucket.open_download_stream("plain")).read() == content
