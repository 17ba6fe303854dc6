"""The one interface the node's handlers and membership talk to: a store of shards.

A shard is what the gateway places on a node, one data part or parity shard of an object, under
an id the gateway chose. The handlers speak HTTP and nothing else; how shards are kept, and the
quirks of the database that keeps them, live behind this interface (``gridfs.py`` keeps them in
GridFS-shaped collections, ``ferretdb.py`` adapts that to FerretDB), as Swift's object server
talks to its diskfile managers. Errors are the domain exceptions of ``s3lite.errors``.
"""

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass


@dataclass(frozen=True)
class StoredShard:
    shard_id: str
    size: int
    sha256: str  # empty when the shard was found without its record: the gateway checks it
    stored_at: float | None = None  # when it was committed (seconds since the epoch), if known


@dataclass(frozen=True)
class Usage:
    bytes_stored: int
    shards_stored: int


class ShardWriter(ABC):
    """One shard being written: ``write`` as bytes arrive, then ``commit``, or ``abort``."""

    shard_id: str

    @abstractmethod
    async def write(self, data: bytes) -> None:
        """Take the next bytes; raises ``IncompleteBody`` past the announced size, and
        ``PartExists`` as soon as the id turns out to be taken."""

    @abstractmethod
    async def commit(self) -> StoredShard:
        """Make the shard visible, whole, in one step; raises ``IncompleteBody`` if bytes are
        missing and ``PartExists`` if another upload of the id committed first."""

    @abstractmethod
    async def abort(self) -> None:
        """Remove whatever this upload stored; safe to call again, a no-op once committed."""


class ShardReader(ABC):
    """A shard found for reading, its bytes not yet fetched."""

    shard: StoredShard

    @abstractmethod
    def read(self, start: int, end: int) -> AsyncIterator[bytes]:
        """The bytes ``[start, end)`` in order, a piece at a time, fetched as they are consumed
        (a bounded read-ahead), so a slow client holds a bounded amount of memory."""


class ShardStore(ABC):
    @abstractmethod
    async def start(self) -> None:
        """Prepare the database and count what is stored; once, before serving."""

    @abstractmethod
    def open_writer(self, shard_id: str, size: int) -> ShardWriter:
        """A writer for a new shard of ``size`` bytes; an id in use is refused by the writer."""

    @abstractmethod
    async def stat(self, shard_id: str) -> StoredShard:
        """The shard's record; raises ``NoSuchPart``."""

    @abstractmethod
    async def open_reader(self, shard_id: str, known_size: int | None = None) -> ShardReader:
        """A reader for the shard; raises ``NoSuchPart``. ``known_size`` is the size the gateway
        recorded, given when the read starts at byte 0: a store may then skip the record."""

    @abstractmethod
    async def delete(self, shard_id: str) -> None:
        """Remove the shard, or what an interrupted upload or deletion left of it; no error
        when there is nothing."""

    @abstractmethod
    async def list(self, after: str | None, limit: int) -> list[StoredShard]:
        """Up to ``limit`` shards in id order, from the first id greater than ``after``."""

    @abstractmethod
    def usage(self) -> Usage:
        """Bytes and shards stored, exact, without asking the database."""
