"""Shards kept GridFS-shaped: per shard, one files document and its chunks, each chunk looked up
by its ``_id`` alone.

The files document's ``_id`` is the shard id, with its SHA-256 beside GridFS's fields; chunks are
GridFS chunks whose ``_id`` is ``<shard id>/<n>``, so GridFS tools can read the shards. Every
chunk read and deletion is an ``_id`` equality, the one query every MongoDB-compatible server
answers from an index (on FerretDB the only one: ``ferretdb.py``); nothing queries ``files_id``.

- Writes insert chunks as they fill, a few at a time, and the files document last, so an upload
  holds a few chunks in memory and a shard is visible only once it is whole. ``GridIn`` would
  keep up to 48 MB of chunks in memory before its first insert, per upload.
- A second upload of a shard id fails on its first chunk's ``_id`` instead of mixing its chunks
  with the first upload's, and on the files document's ``_id`` if the shard is empty.
- Reads keep ``READ_AHEAD`` lookups in flight ahead of the chunk being sent, so a large read runs
  at the database's throughput rather than one lookup's latency per chunk, in bounded memory.
  A read from byte 0 whose size the gateway sends starts from chunk 0, whose length is the chunk
  size: one lookup, not two, before the first byte.
- A shard's chunks are always a prefix ``0..k-1``: inserted in order, deleted one by one from the
  last down, after the files document. What an interrupted upload or deletion left is found again
  by counting up from chunk 0 until one is missing, and a later deletion completes it. Deleting
  four at a time measured no faster on FerretDB, whose SQLite takes one write at a time, and an
  interruption could then leave gaps.
- Each chunk carries the CRC-32 of its bytes, checked on every read: damage is found before a
  damaged chunk goes out, while the gateway can still rebuild the rest from parity.
- Bytes and shards stored are counted once at start, then kept in memory: a commit adds what its
  files document's insert stored, a deletion subtracts only what its own ``delete_one`` removed,
  so two deletions of one shard, racing, subtract it once.
"""

import asyncio
import datetime
import hashlib
import itertools
import zlib
from collections import deque
from collections.abc import AsyncIterator
from contextlib import aclosing

from bson import Binary
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from s3lite.errors import IncompleteBody, NoSuchPart, PartCorrupted, PartExists
from s3lite.node.storage import ShardReader, ShardStore, ShardWriter, StoredShard, Usage

COLLECTIONS = "parts"  # GridFS's bucket name: collections parts.files and parts.chunks
CHUNKS_PER_INSERT = 4
READ_AHEAD = 4
DUPLICATE_KEY = 11000


def chunk_id(shard_id: str, n: int) -> str:
    return f"{shard_id}/{n}"


def chunk_count(size: int, chunk_size: int) -> int:
    return -(-size // chunk_size)


def stored_shard(files_document: dict) -> StoredShard:
    uploaded = files_document.get("uploadDate")
    return StoredShard(
        files_document["_id"],
        files_document["length"],
        files_document.get("sha256", ""),
        uploaded.replace(tzinfo=datetime.UTC).timestamp() if uploaded else None,
    )


# GridFS's own indexes: what its drivers create, and what its tools' queries use on MongoDB.
FILES_INDEX = IndexModel([("filename", ASCENDING), ("uploadDate", ASCENDING)])
CHUNKS_INDEX = IndexModel([("files_id", ASCENDING), ("n", ASCENDING)], unique=True)


class GridFSShardStore(ShardStore):
    def __init__(self, database: AsyncDatabase, chunk_size: int):
        self.chunk_size = chunk_size
        self.files = database[f"{COLLECTIONS}.files"]
        self.chunks = database[f"{COLLECTIONS}.chunks"]
        self.bytes_stored = 0
        self.shards_stored = 0

    async def start(self) -> None:
        await self.ensure_indexes()
        await self.count_stored()

    async def ensure_indexes(self) -> None:
        await self.files.create_indexes([FILES_INDEX])
        await self.chunks.create_indexes([CHUNKS_INDEX])

    async def count_stored(self) -> None:
        """The counts, from the files documents: the record of what is stored."""
        self.bytes_stored = self.shards_stored = 0
        async for document in self.files.find({}, {"length": 1}):
            self.added(document["length"])

    def added(self, size: int) -> None:
        self.bytes_stored += size
        self.shards_stored += 1

    def removed(self, size: int) -> None:
        self.bytes_stored -= size
        self.shards_stored -= 1

    def usage(self) -> Usage:
        return Usage(self.bytes_stored, self.shards_stored)

    def open_writer(self, shard_id: str, size: int) -> "GridFSShardWriter":
        """No query first: a shard id that is stored already is refused by the unique ``_id`` of
        its first chunk, or of its files document for an empty shard."""
        return GridFSShardWriter(self, shard_id, size)

    async def files_document(self, shard_id: str) -> dict:
        document = await self.files.find_one({"_id": shard_id})
        if document is None:
            raise NoSuchPart(f"no part {shard_id}")
        return document

    async def stat(self, shard_id: str) -> StoredShard:
        return stored_shard(await self.files_document(shard_id))

    async def open_reader(self, shard_id: str, known_size: int | None = None) -> "GridFSReader":
        if known_size:  # found by chunk 0 alone: every chunk but the last is full
            first = await self.read_chunk(shard_id, 0)
            return GridFSReader(self, StoredShard(shard_id, known_size, ""), len(first), first)
        document = await self.files_document(shard_id)
        return GridFSReader(self, stored_shard(document), document["chunkSize"])

    async def read_chunk(self, shard_id: str, n: int) -> bytes:
        """A chunk's bytes, checked against the CRC-32 stored beside them, so that damage is
        found before the bytes are sent, while the gateway can still rebuild them."""
        chunk = await self.chunks.find_one({"_id": chunk_id(shard_id, n)})
        if chunk is None:
            raise NoSuchPart(f"part {shard_id} is missing chunk {n}")
        data = chunk["data"]
        if "crc32" in chunk and zlib.crc32(data) != chunk["crc32"]:  # none in older chunks
            raise PartCorrupted(f"part {shard_id} chunk {n} does not match its CRC-32")
        return data

    async def delete(self, shard_id: str) -> None:
        """The files document first, so the shard is never visible with chunks missing."""
        document = await self.files.find_one({"_id": shard_id}, {"length": 1, "chunkSize": 1})
        if document is None:
            count = await self.count_chunks(shard_id)
        else:
            if (await self.files.delete_one({"_id": shard_id})).deleted_count:
                self.removed(document["length"])
            count = chunk_count(document["length"], document["chunkSize"])
        await self.delete_chunks(shard_id, count)

    async def count_chunks(self, shard_id: str) -> int:
        """How many chunks an interrupted upload or deletion left: they are a prefix."""
        count = 0
        while await self.chunks.find_one({"_id": chunk_id(shard_id, count)}, {"_id": 1}):
            count += 1
        return count

    async def delete_chunks(self, shard_id: str, count: int) -> None:
        """Chunks ``0..count-1``, the last first, so that what is left is always a prefix."""
        for n in reversed(range(count)):
            await self.chunks.delete_one({"_id": chunk_id(shard_id, n)})

    async def list(self, after: str | None, limit: int) -> list[StoredShard]:
        query = {"_id": {"$gt": after}} if after else {}
        fields = {"length": 1, "sha256": 1, "uploadDate": 1}
        cursor = self.files.find(query, fields).sort("_id", 1).limit(limit)
        return [stored_shard(document) async for document in cursor]


class GridFSShardWriter(ShardWriter):
    def __init__(self, store: GridFSShardStore, shard_id: str, expected_size: int):
        self.store = store
        self.shard_id = shard_id
        self.expected_size = expected_size
        self.received = 0
        self.digest = hashlib.sha256()
        self.buffer = bytearray()
        self.chunks_written = 0
        self.committed = False

    def exists(self) -> PartExists:
        return PartExists(f"part {self.shard_id} already exists")

    async def write(self, data: bytes) -> None:
        self.received += len(data)
        if self.received > self.expected_size:
            raise IncompleteBody(f"part {self.shard_id} got more than {self.expected_size} bytes")
        self.digest.update(data)
        self.buffer += data
        if len(self.buffer) >= CHUNKS_PER_INSERT * self.store.chunk_size:
            await self.write_full_chunks()

    async def write_full_chunks(self, including_last: bool = False) -> None:
        """Insert the buffered chunks (the short last one only when the shard is complete)."""
        chunk_size = self.store.chunk_size
        end = len(self.buffer) if including_last else len(self.buffer) // chunk_size * chunk_size
        documents = [
            {
                "_id": chunk_id(self.shard_id, self.chunks_written + index),
                "files_id": self.shard_id,
                "n": self.chunks_written + index,
                "data": Binary(data),
                "crc32": zlib.crc32(data),
            }
            for index, offset in enumerate(range(0, end, chunk_size))
            for data in [bytes(self.buffer[offset : offset + chunk_size])]
        ]
        if not documents:
            return
        try:
            await self.store.chunks.insert_many(documents, ordered=True)
        except BulkWriteError as error:
            # An ordered insert stops at its first failure: count what landed, so that abort
            # removes exactly the chunks this upload wrote and never another upload's.
            self.chunks_written += error.details.get("nInserted", 0)
            if any(e.get("code") == DUPLICATE_KEY for e in error.details.get("writeErrors", [])):
                raise self.exists() from None  # the shard is stored already, or being stored
            raise
        self.chunks_written += len(documents)
        del self.buffer[:end]

    async def commit(self) -> StoredShard:
        if self.received != self.expected_size:
            raise IncompleteBody(
                f"part {self.shard_id}: {self.received} of {self.expected_size} bytes arrived"
            )
        await self.write_full_chunks(including_last=True)
        sha256 = self.digest.hexdigest()
        try:
            await self.store.files.insert_one(
                {
                    "_id": self.shard_id,
                    "filename": self.shard_id,
                    "length": self.received,
                    "chunkSize": self.store.chunk_size,
                    "uploadDate": datetime.datetime.now(datetime.UTC),
                    "sha256": sha256,
                }
            )
        except DuplicateKeyError:
            raise self.exists() from None
        self.committed = True
        self.store.added(self.received)
        return StoredShard(self.shard_id, self.received, sha256)

    async def abort(self) -> None:
        self.buffer.clear()
        if self.committed:
            return
        await self.store.delete_chunks(self.shard_id, self.chunks_written)
        self.chunks_written = 0


class GridFSReader(ShardReader):
    def __init__(
        self,
        store: GridFSShardStore,
        shard: StoredShard,
        chunk_size: int,
        first_chunk: bytes | None = None,
    ):
        self.store = store
        self.shard = shard
        self.chunk_size = max(chunk_size, 1)
        self.first_chunk = first_chunk

    async def read(self, start: int, end: int) -> AsyncIterator[bytes]:
        if end <= start:
            return
        first, last = start // self.chunk_size, (end - 1) // self.chunk_size
        n = first
        async with aclosing(self.chunks(first, last)) as chunks:  # its lookups end with us
            async for data in chunks:
                offset = n * self.chunk_size
                yield data[max(start - offset, 0) : end - offset]
                n += 1

    async def chunks(self, first: int, last: int) -> AsyncIterator[bytes]:
        """Chunks ``first..last`` in order, with up to ``READ_AHEAD`` lookups in flight while
        the consumer handles the one before them."""
        given = self.first_chunk if first == 0 else None
        numbers = iter(range(first if given is None else 1, last + 1))
        pending: deque[asyncio.Future] = deque()

        def look_up_ahead() -> None:
            for n in itertools.islice(numbers, READ_AHEAD - len(pending)):
                pending.append(asyncio.ensure_future(self.store.read_chunk(self.shard.shard_id, n)))

        look_up_ahead()
        try:
            if given is not None:
                yield given
            while pending:
                data = await pending.popleft()
                look_up_ahead()
                yield data
        finally:
            # Waited for, not cancelled: PyMongo 4.20 leaks the socket of a connection whose
            # creation is cancelled (PYTHON-5867), and at most READ_AHEAD chunks are in flight.
            await asyncio.gather(*pending, return_exceptions=True)
