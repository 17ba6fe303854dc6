"""A node's parts, kept in GridFS: written as a stream, read back by byte range.

Each part is one GridFS file whose ``_id`` is the part id the gateway chose, with its SHA-256 in
the file document. Both directions work on the chunks collection directly:

- Writes insert chunks as they fill, a few at a time, and the files document last, so an upload
  holds about a MiB in memory and a part is visible only once it is whole. ``GridIn`` would keep up
  to 48 MB of chunks in memory before its first insert, per upload.
- Chunks carry the ``_id`` ``<part id>/<n>``: a second upload of the same part id fails on its
  first chunk instead of mixing its chunks with the first one's.
- Short reads and deletions look every chunk up by that ``_id``; reads of many chunks use one
  cursor over ``files_id`` and ``n``, without a sort, checking that chunks come in order, and
  deletions of many one ``delete_many`` by ``files_id``.
  MongoDB serves both from an index. FerretDB v1 on SQLite uses no index at all: it hands an
  ``_id`` equality to SQLite, which scans the collection in C (about 1.6 GB/s), and filters
  anything else itself, decoding every document in Go (about 25 MB/s) once per query. So one
  lookup per chunk is cheapest for a few chunks, and one pass for many; a sort would make it
  hold the whole part in memory first. Its natural order is the order of insertion, which is
  ``n`` order for a part's chunks.
- A part's chunks are always a prefix ``0..k-1``: they are inserted in order and deleted from
  the last one down (or all at once), so what an interrupted upload or deletion left is found by
  counting up from chunk 0 until one is missing. One ``delete_many`` is a single statement on
  FerretDB; MongoDB may stop one part way, leaving chunks after a gap (noted as a known limit).
"""

import asyncio
import datetime
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from bson import Binary
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from s3lite.errors import IncompleteBody, NoSuchPart, PartExists

BUCKET_NAME = "parts"
CHUNKS_PER_INSERT = 4
# Reads and deletions of more chunks than this take one query over the part's chunks (see above).
MAX_CHUNK_LOOKUPS = 16
DUPLICATE_KEY = 11000


def chunk_id(part_id: str, n: int) -> str:
    return f"{part_id}/{n}"


async def delete_chunks(chunks: AsyncCollection, part_id: str, count: int) -> None:
    """Delete chunks ``0..count-1`` of a part, the last first, so what is left is a prefix; or,
    when there are many, every chunk of the part in one query (one statement on FerretDB)."""
    if count > MAX_CHUNK_LOOKUPS:
        await chunks.delete_many({"files_id": part_id})
        return
    for n in reversed(range(count)):
        await chunks.delete_one({"_id": chunk_id(part_id, n)})


@dataclass(frozen=True)
class StoredPart:
    part_id: str
    size: int
    sha256: str
    chunk_size: int = 0


class PartWriter:
    """One part being written: ``write`` as bytes arrive, then ``commit`` or ``abort``."""

    def __init__(
        self,
        files: AsyncCollection,
        chunks: AsyncCollection,
        chunk_size: int,
        part_id: str,
        expected_size: int,
    ):
        self.files = files
        self.chunks = chunks
        self.chunk_size = chunk_size
        self.part_id = part_id
        self.expected_size = expected_size
        self.received = 0
        self.digest = hashlib.sha256()
        self.buffer = bytearray()
        self.chunks_written = 0
        self.committed = False

    def exists(self) -> PartExists:
        return PartExists(f"part {self.part_id} already exists")

    async def write(self, data: bytes) -> None:
        self.received += len(data)
        if self.received > self.expected_size:
            raise IncompleteBody(f"part {self.part_id} got more than {self.expected_size} bytes")
        self.digest.update(data)
        self.buffer += data
        if len(self.buffer) >= CHUNKS_PER_INSERT * self.chunk_size:
            await self.write_full_chunks()

    async def write_full_chunks(self, including_last: bool = False) -> None:
        """Insert the buffered chunks (the short last one only when the part is complete)."""
        full = len(self.buffer) - len(self.buffer) % self.chunk_size
        end = len(self.buffer) if including_last else full
        documents = [
            {
                "_id": chunk_id(self.part_id, self.chunks_written + index),
                "files_id": self.part_id,
                "n": self.chunks_written + index,
                "data": Binary(bytes(self.buffer[offset : offset + self.chunk_size])),
            }
            for index, offset in enumerate(range(0, end, self.chunk_size))
        ]
        if not documents:
            return
        try:
            await self.chunks.insert_many(documents, ordered=True)
        except BulkWriteError as error:
            # An ordered insert stops at its first failure: count what landed, so that abort
            # removes exactly the chunks this upload wrote and never another upload's.
            self.chunks_written += error.details.get("nInserted", 0)
            if any(e.get("code") == DUPLICATE_KEY for e in error.details.get("writeErrors", [])):
                # Chunks of this id exist: the part is stored already, or being stored now.
                raise self.exists() from None
            raise
        self.chunks_written += len(documents)
        del self.buffer[:end]

    async def commit(self) -> StoredPart:
        if self.received != self.expected_size:
            raise IncompleteBody(
                f"part {self.part_id}: {self.received} of {self.expected_size} bytes arrived"
            )
        await self.write_full_chunks(including_last=True)
        sha256 = self.digest.hexdigest()
        try:
            await self.files.insert_one(
                {
                    "_id": self.part_id,
                    "filename": self.part_id,
                    "length": self.received,
                    "chunkSize": self.chunk_size,
                    "uploadDate": datetime.datetime.now(datetime.UTC),
                    "sha256": sha256,
                }
            )
        except DuplicateKeyError:
            raise self.exists() from None
        self.committed = True
        return StoredPart(self.part_id, self.received, sha256)

    async def abort(self) -> None:
        """Remove the chunks this upload wrote; safe to call again, and a no-op once committed."""
        self.buffer.clear()
        if self.committed:
            return
        await delete_chunks(self.chunks, self.part_id, self.chunks_written)
        self.chunks_written = 0


class PartStore:
    def __init__(self, database: AsyncDatabase, chunk_size: int):
        self.database = database
        self.chunk_size = chunk_size
        self.files = database[f"{BUCKET_NAME}.files"]
        self.chunks = database[f"{BUCKET_NAME}.chunks"]

    async def ensure_indexes(self) -> None:
        # The indexes GridFS drivers expect. The unique one is also what stops two uploads of
        # one part id from mixing their chunks: the second fails on its first chunk.
        await self.chunks.create_index([("files_id", 1), ("n", 1)], unique=True)
        await self.files.create_index([("filename", 1), ("uploadDate", 1)])

    def open_writer(self, part_id: str, size: int) -> PartWriter:
        """A writer for a new part. No query first: a part id that is stored already is refused
        by the unique ``_id`` of its first chunk, or of its files document for an empty part."""
        return PartWriter(self.files, self.chunks, self.chunk_size, part_id, size)

    async def stat(self, part_id: str) -> StoredPart:
        document = await self.files.find_one({"_id": part_id})
        if document is None:
            raise NoSuchPart(f"no part {part_id}")
        return StoredPart(
            part_id, document["length"], document.get("sha256", ""), document["chunkSize"]
        )

    async def find_by_first_chunk(self, part_id: str, size: int) -> tuple[StoredPart, bytes]:
        """A part of a known size (the gateway's record of it), found by its first chunk alone.

        Every chunk but the last is full, so the first one's length is the part's chunk size
        and the files document is not needed: one lookup instead of two on the hot path of
        every read. The part's SHA-256 is then unknown here; the gateway checks it.
        """
        first = await self.read_chunk(part_id, 0)
        return StoredPart(part_id, size, "", max(len(first), 1)), first

    async def read(
        self, part: StoredPart, start: int, end: int, first_chunk: bytes | None = None
    ) -> AsyncIterator[bytes]:
        """Yield the bytes [start, end) of a part, chunk by chunk. ``first_chunk`` is chunk 0
        when it was read already."""
        if end <= start:
            return
        first, last = start // part.chunk_size, (end - 1) // part.chunk_size
        async for n, data in self.chunks_in_order(part.part_id, first, last, first_chunk):
            offset = n * part.chunk_size
            yield data[max(start - offset, 0) : end - offset]

    async def chunks_in_order(
        self, part_id: str, first: int, last: int, first_chunk: bytes | None
    ) -> AsyncIterator[tuple[int, bytes]]:
        """Chunks ``first..last`` of a part, in order: through one cursor when there are many
        of them, else (and for whatever a cursor did not give in order) one lookup each."""
        n = first
        if n == 0 and first_chunk is not None:
            yield 0, first_chunk
            n = 1
        if last - n + 1 > MAX_CHUNK_LOOKUPS:
            cursor = self.chunks.find(
                {"files_id": part_id, "n": {"$gte": n, "$lte": last}},
                batch_size=CHUNKS_PER_INSERT,
            )
            try:
                async for chunk in cursor:
                    if chunk["n"] != n:
                        break  # not in order (no sort is asked for): the rest one by one
                    yield n, chunk["data"]
                    n += 1
            finally:
                await cursor.close()
        async for item in self.chunks_by_id(part_id, n, last):
            yield item

    async def chunks_by_id(
        self, part_id: str, first: int, last: int
    ) -> AsyncIterator[tuple[int, bytes]]:
        """Chunks ``first..last`` looked up by ``_id``; the next is being fetched while one is
        handed on."""
        if first > last:
            return
        next_chunk = asyncio.ensure_future(self.read_chunk(part_id, first))
        try:
            for n in range(first, last + 1):
                data = await next_chunk
                if n < last:
                    next_chunk = asyncio.ensure_future(self.read_chunk(part_id, n + 1))
                yield n, data
        finally:
            if not next_chunk.done():
                next_chunk.cancel()

    async def read_chunk(self, part_id: str, n: int) -> bytes:
        chunk = await self.chunks.find_one({"_id": chunk_id(part_id, n)})
        if chunk is None:
            raise NoSuchPart(f"part {part_id} is missing chunk {n}")
        return chunk["data"]

    async def delete(self, part_id: str) -> bool:
        """Delete a part, or what an interrupted upload left of it; answer whether it existed.

        The files document goes first, so the part is never visible with chunks missing.
        """
        document = await self.files.find_one_and_delete({"_id": part_id})
        if document is not None:
            count = -(-document["length"] // document["chunkSize"])
        else:  # no part, or an upload's remains: count its chunks, up to many
            count = 0
            while count <= MAX_CHUNK_LOOKUPS and await self.chunks.find_one(
                {"_id": chunk_id(part_id, count)}, {"_id": 1}
            ):
                count += 1
        await delete_chunks(self.chunks, part_id, count)
        return document is not None

    async def list(self, after: str | None, limit: int) -> list[StoredPart]:
        query = {"_id": {"$gt": after}} if after else {}
        cursor = self.files.find(query).sort("_id", 1).limit(limit)
        return [StoredPart(d["_id"], d["length"], d.get("sha256", "")) async for d in cursor]

    async def usage(self) -> tuple[int, int]:
        """Bytes and parts stored, counted from the files collection.

        Two queries: FerretDB v1 answers 0 for the second accumulator of a ``$group``.
        """
        parts = await self.files.count_documents({})
        pipeline = [{"$group": {"_id": None, "bytes": {"$sum": "$length"}}}]
        async for row in await self.files.aggregate(pipeline):
            return row["bytes"], parts
        return 0, parts
