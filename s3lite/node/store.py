"""A node's parts, kept in GridFS: written as a stream, read back by byte range.

Each part is one GridFS file whose ``_id`` is the part id the gateway chose, with its SHA-256 in
the file document. Reads query the chunks collection with a small batch size instead of using
``GridOut``: FerretDB answers a ``getMore`` without GridOut's implied size bound, so a large part
would arrive as one reply bigger than the driver accepts.
"""

import hashlib
from dataclasses import dataclass
from typing import AsyncIterator

from gridfs import AsyncGridFSBucket
from gridfs.errors import FileExists
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from s3lite.errors import IncompleteBody, NoSuchPart, PartExists

BUCKET_NAME = "parts"
CHUNKS_PER_BATCH = 8


@dataclass(frozen=True)
class StoredPart:
    part_id: str
    size: int
    sha256: str


class PartWriter:
    """One part being written: ``write`` as bytes arrive, then ``commit`` or ``abort``."""

    def __init__(self, grid_in, part_id: str, expected_size: int):
        self.grid_in = grid_in
        self.part_id = part_id
        self.expected_size = expected_size
        self.received = 0
        self.digest = hashlib.sha256()

    async def write(self, data: bytes) -> None:
        self.received += len(data)
        if self.received > self.expected_size:
            raise IncompleteBody(f"part {self.part_id} got more than {self.expected_size} bytes")
        self.digest.update(data)
        try:
            await self.grid_in.write(data)
        except FileExists:
            raise PartExists(f"part {self.part_id} already exists") from None

    async def commit(self) -> StoredPart:
        if self.received != self.expected_size:
            raise IncompleteBody(
                f"part {self.part_id}: {self.received} of {self.expected_size} bytes arrived"
            )
        sha256 = self.digest.hexdigest()
        await self.grid_in.set("sha256", sha256)
        try:
            await self.grid_in.close()
        except (FileExists, DuplicateKeyError):
            raise PartExists(f"part {self.part_id} already exists") from None
        return StoredPart(self.part_id, self.received, sha256)

    async def abort(self) -> None:
        """Remove whatever chunks were written; safe to call more than once."""
        if not self.grid_in.closed:
            await self.grid_in.abort()


class PartStore:
    def __init__(self, database: AsyncDatabase, chunk_size: int):
        self.database = database
        self.chunk_size = chunk_size
        self.gridfs = AsyncGridFSBucket(database, BUCKET_NAME, chunk_size_bytes=chunk_size)
        self.files = database[f"{BUCKET_NAME}.files"]
        self.chunks = database[f"{BUCKET_NAME}.chunks"]

    async def ensure_indexes(self) -> None:
        # GridFS creates these lazily on the first write; doing it up front keeps the first
        # upload fast and makes a duplicate part id fail on the files document, not later.
        await self.chunks.create_index([("files_id", 1), ("n", 1)], unique=True)
        await self.files.create_index([("filename", 1), ("uploadDate", 1)])

    async def open_writer(self, part_id: str, size: int) -> PartWriter:
        if await self.files.find_one({"_id": part_id}, {"_id": 1}):
            raise PartExists(f"part {part_id} already exists")
        grid_in = self.gridfs.open_upload_stream_with_id(part_id, part_id)
        return PartWriter(grid_in, part_id, size)

    async def stat(self, part_id: str) -> StoredPart:
        document = await self.files.find_one({"_id": part_id})
        if document is None:
            raise NoSuchPart(f"no part {part_id}")
        return StoredPart(part_id, document["length"], document.get("sha256", ""))

    async def read(self, part_id: str, start: int, end: int) -> AsyncIterator[bytes]:
        """Yield the bytes [start, end) of a part, chunk by chunk."""
        document = await self.files.find_one({"_id": part_id}, {"chunkSize": 1})
        if document is None:
            raise NoSuchPart(f"no part {part_id}")
        if end <= start:
            return
        chunk_size = document["chunkSize"]
        first, last = start // chunk_size, (end - 1) // chunk_size
        cursor = (
            self.chunks.find({"files_id": part_id, "n": {"$gte": first, "$lte": last}})
            .sort("n", 1)
            .batch_size(CHUNKS_PER_BATCH)
        )
        expected_n = first
        async for chunk in cursor:
            if chunk["n"] != expected_n:
                raise NoSuchPart(f"part {part_id} is missing chunk {expected_n}")
            data = chunk["data"]
            offset = chunk["n"] * chunk_size
            yield data[max(start - offset, 0) : end - offset]
            expected_n += 1
        if expected_n != last + 1:
            raise NoSuchPart(f"part {part_id} is missing chunk {expected_n}")

    async def delete(self, part_id: str) -> bool:
        """Delete a part; answer whether it existed."""
        existed = (await self.files.delete_one({"_id": part_id})).deleted_count > 0
        await self.chunks.delete_many({"files_id": part_id})
        return existed

    async def list(self, after: str | None, limit: int) -> list[StoredPart]:
        query = {"_id": {"$gt": after}} if after else {}
        cursor = self.files.find(query).sort("_id", 1).limit(limit)
        return [StoredPart(d["_id"], d["length"], d.get("sha256", "")) async for d in cursor]

    async def usage(self) -> tuple[int, int]:
        """Bytes and parts stored, counted from the files collection."""
        pipeline = [{"$group": {"_id": None, "bytes": {"$sum": "$length"}, "parts": {"$sum": 1}}}]
        async for row in await self.files.aggregate(pipeline):
            return row["bytes"], row["parts"]
        return 0, 0
