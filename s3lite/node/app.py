"""Building and running a storage node."""

from pymongo import AsyncMongoClient
from tornado.httpclient import AsyncHTTPClient
from tornado.web import Application

from s3lite import db
from s3lite.config import NodeConfig
from s3lite.node import handlers
from s3lite.node.membership import Membership
from s3lite.node.store import PartStore
from s3lite.server import serve_until_stopped
from s3lite.tasks import BackgroundTasks


def make_app(
    config: NodeConfig, store: PartStore, identity: dict, tasks: BackgroundTasks
) -> Application:
    return Application(
        handlers.routes(
            cluster_token=config.cluster_token, store=store, identity=identity, tasks=tasks
        ),
    )


async def run(config: NodeConfig) -> None:
    client: AsyncMongoClient = await db.connect(config.mongo_uri, config.db_connect_seconds)
    tasks = BackgroundTasks()
    http = AsyncHTTPClient(force_instance=True)
    try:
        database = client[config.db]
        store = PartStore(database, config.chunk_size_bytes)
        await store.ensure_indexes()
        membership = Membership(config, database, store, http)
        await membership.load_identity()
        app = make_app(config, store, membership.identity, tasks)
        tasks.spawn(membership.run(), "membership")
        await serve_until_stopped(app, config.host, config.port, idle_connection_timeout=300)
    finally:
        await tasks.close()
        http.close()
        await client.close()
