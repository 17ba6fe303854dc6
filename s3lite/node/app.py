"""Building and running a storage node."""

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from tornado.httpclient import AsyncHTTPClient
from tornado.web import Application

from s3lite import db
from s3lite.config import NodeConfig
from s3lite.node import handlers
from s3lite.node.ferretdb import FerretDBShardStore, is_ferretdb
from s3lite.node.gridfs_store import GridFSShardStore
from s3lite.node.membership import Membership
from s3lite.node.metrics import NodeMetrics
from s3lite.node.storage import ShardStore
from s3lite.server import serve_until_stopped
from s3lite.tasks import BackgroundTasks


def make_app(
    config: NodeConfig,
    store: ShardStore,
    identity: dict,
    tasks: BackgroundTasks,
    metrics: NodeMetrics,
) -> Application:
    return Application(
        handlers.routes(
            cluster_token=config.cluster_token,
            store=store,
            identity=identity,
            tasks=tasks,
            metrics=metrics,
        ),
    )


async def open_store(database: AsyncDatabase, chunk_size: int) -> ShardStore:
    """The shard store for this database server, started: counts taken, indexes in place."""
    if await is_ferretdb(database):
        store: ShardStore = FerretDBShardStore(database, chunk_size)
    else:
        store = GridFSShardStore(database, chunk_size)
    await store.start()
    return store


async def run(config: NodeConfig) -> None:
    metrics = NodeMetrics()
    client: AsyncMongoClient = await db.connect(
        config.mongo_uri, config.db_connect_seconds, [metrics.database]
    )
    tasks = BackgroundTasks()
    http = AsyncHTTPClient(force_instance=True)
    try:
        database = client[config.db]
        store = await open_store(database, config.chunk_size_bytes)
        membership = Membership(config, database, store, http)
        await membership.load_identity()
        app = make_app(config, store, membership.identity, tasks, metrics)
        tasks.spawn(membership.run(), "membership")
        await serve_until_stopped(app, config.host, config.port, idle_connection_timeout=300)
    finally:
        await tasks.close()
        http.close()
        await client.close()
