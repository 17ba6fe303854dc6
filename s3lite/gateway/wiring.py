"""What reaches the database and the nodes, built one way for the gateway and for every
command that shares its settings (``s3lite scrub``, ``repair``, ``rebalance``)."""

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.monitoring import CommandListener

from s3lite import db
from s3lite.config import GatewayConfig
from s3lite.gateway.cluster.registry import NodeRegistry
from s3lite.gateway.data.node_client import NodeClient
from s3lite.gateway.data.node_http import NodeConnections
from s3lite.gateway.data.removal import ShardRemover
from s3lite.gateway.metadata.store import Metadata


@dataclass(frozen=True)
class ClusterAccess:
    database: AsyncDatabase
    metadata: Metadata
    registry: NodeRegistry
    nodes: NodeClient
    remover: ShardRemover


@asynccontextmanager
async def cluster_access(
    config: GatewayConfig, listeners: Sequence[CommandListener] = ()
) -> AsyncIterator[ClusterAccess]:
    """Connected once the database answers; its connections, and the nodes', closed after."""
    client = await db.connect(config.mongo_uri, config.db_connect_seconds, listeners)
    http = NodeConnections()
    try:
        database = client[config.db]
        metadata = Metadata(database)
        registry = NodeRegistry(database, config.down_after_missed_heartbeats)
        nodes = NodeClient(http, config.cluster_token)
        remover = ShardRemover(metadata, registry, nodes, config.delete_delay_seconds)
        yield ClusterAccess(database, metadata, registry, nodes, remover)
    finally:
        http.close()
        await client.close()
