"""What the node does differently on FerretDB, and why; a MongoDB-only build drops this module.

FerretDB v1 on SQLite, as ``scripts/bootstrap`` builds it, keeps each collection as one SQLite
table of JSON documents. Of a query, only an ``_id`` equality reaches SQLite, which answers it
from the table's ``_id`` index. Every other filter, sort or projection is evaluated in FerretDB's
Go code, which decodes every document of the collection, about 25 MB/s, once per query. That is
why the shard store (``gridfs_store.py``) reads and deletes chunks by ``_id`` only: a read of a
64 MiB shard over a ``files_id`` cursor, on a node holding 2 GiB, took 90 s, and its
``delete_many`` by ``files_id`` as long. Listing shards filters and sorts the files collection in
Go too, but that collection holds about 200 bytes per shard, and listing is for maintenance.

SQLite builds the secondary indexes FerretDB is asked for, but no query uses them, and each costs
a parse of the whole document's JSON at every insert. GridFS's unique (``files_id``, ``n``) index
on chunks, on 1 MiB chunks: inserts at 59 MiB/s with it, 74 MiB/s without. So this store does not
create it, and drops it where an earlier version made it. Nothing is lost: on FerretDB no query
could use it, and a chunk's ``_id`` ``<shard id>/<n>`` already makes it unique. Should the
database move to MongoDB, the GridFS store there creates the index again at start.
"""

from pymongo.asynchronous.database import AsyncDatabase

from s3lite.node.gridfs_store import FILES_INDEX, GridFSShardStore

CHUNKS_INDEX_NAME = "files_id_1_n_1"


async def is_ferretdb(database: AsyncDatabase) -> bool:
    return "ferretdbVersion" in await database.client.admin.command("buildInfo")


class FerretDBShardStore(GridFSShardStore):
    async def ensure_indexes(self) -> None:
        await self.files.create_indexes([FILES_INDEX])
        if CHUNKS_INDEX_NAME in await self.chunks.index_information():
            await self.chunks.drop_index(CHUNKS_INDEX_NAME)
