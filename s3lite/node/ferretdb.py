"""What the node does differently on FerretDB, and why; a MongoDB-only build drops this module.

FerretDB v1 on SQLite keeps each collection as one SQLite table of JSON documents. With the
project's patches (``scripts/ferretdb/``, ``docs/database.md``), SQLite answers conditions on
``_id`` from an index; any other filter or sort is evaluated in FerretDB's Go code, which decodes
every document of the collection, per query. That is why the shard store (``gridfs_store.py``)
reads and deletes chunks by ``_id`` only: on a node holding 2 GiB, reading a 64 MiB shard
through a ``files_id`` cursor took 90 s or more, and so did its ``delete_many`` by ``files_id``.

FerretDB never answers a query from a secondary index, yet each one costs a parse of the whole
document's JSON at every insert: with GridFS's unique (``files_id``, ``n``) index, 1 MiB chunks
went in at 59 MiB/s, without it at 74 (2 idle cores). So this store does not create it, and drops
it where an earlier version made it. Nothing is lost: no query here could use it, and a chunk's
``_id``, ``<shard id>/<n>``, already keeps chunks unique. Should the data move to MongoDB, the
GridFS store there builds the index again at start.
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
