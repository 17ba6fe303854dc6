"""The cluster API: nodes join and report here, and operators look inside (JSON, token)."""

from pymongo.errors import PyMongoError

from s3lite import errors
from s3lite.gateway.metadata.records import ShardRole
from s3lite.gateway.services import GatewayServices
from s3lite.web import JsonHandler


class ClusterHandler(JsonHandler):
    def initialize(self, cluster_token: str, services: GatewayServices) -> None:
        super().initialize(cluster_token)
        self.services = services


class HealthHandler(ClusterHandler):
    async def get(self):
        try:
            await self.services.metadata.buckets.database.command("ping")
        except PyMongoError as error:
            raise errors.DatabaseUnavailable(f"the database does not answer: {error}") from None
        self.write_json({"status": "ok", "database": "ok"})


class NodesHandler(ClusterHandler):
    async def get(self):
        self.write_json({"nodes": await self.services.registry.describe_all()})

    async def post(self):
        node_id = await self.services.registry.register(self.json_body())
        self.write_json({"node_id": node_id})


class NodeHandler(ClusterHandler):
    """A node is never removed, so DELETE is refused along with every other method."""

    SUPPORTED_METHODS = ("GET", "DELETE")

    async def get(self, node_id: str):
        for node in await self.services.registry.describe_all():
            if node["node_id"] == node_id:
                self.write_json(node)
                return
        raise errors.UnknownNode(f"no node {node_id}")

    async def delete(self, node_id: str):
        self.set_header("Allow", "GET")
        self.write_json(
            {"error": "MethodNotAllowed", "message": "nodes are never removed from a cluster"},
            405,
        )


class HeartbeatHandler(ClusterHandler):
    async def post(self, node_id: str):
        await self.services.registry.heartbeat(node_id, self.json_body())
        self.write_json({"node_id": node_id})


class ObjectShardsHandler(ClusterHandler):
    """Where an object's shards live: its data shards in object order (``offset`` within the
    object), then its parity shards, part by part."""

    async def get(self, bucket: str, key: str):
        record = await self.services.metadata.get_object(bucket, key)
        data, parity = [], []
        for part in record.parts:
            for shard in sorted(part.shards, key=lambda shard: shard.index):
                entry = {
                    "index": shard.index,
                    "role": str(shard.role),
                    "node_id": shard.node_id,
                    "shard_id": shard.shard_id,
                    "size": shard.size,
                    "sha256": shard.sha256,
                }
                if shard.role is ShardRole.DATA:
                    data.append({**entry, "offset": part.offset + shard.offset})
                else:
                    parity.append({**entry, "part_number": part.number})
        self.write_json(
            {
                "bucket": record.bucket,
                "key": record.key,
                "size": record.size,
                "etag": record.etag,
                "parts": data,
                "parity": parity,
            }
        )


class RebalanceHandler(ClusterHandler):
    """How far the rebalancer of this gateway has come, and the spread of the nodes' fill."""

    async def get(self):
        self.write_json(await self.services.rebalancer.status())


class RepairHandler(ClusterHandler):
    """How far this gateway's last or current repair round has come, and what it found."""

    async def get(self):
        progress = self.services.repairer.progress
        self.write_json(
            {
                "lease_holder": await self.services.repairer.lease.current_holder(),
                "progress": progress.to_document(),
            }
        )


def routes(services: GatewayServices) -> list:
    dependencies = {"cluster_token": services.config.cluster_token, "services": services}
    return [
        (r"/_cluster/health", HealthHandler, dependencies),
        (r"/_cluster/nodes", NodesHandler, dependencies),
        (r"/_cluster/nodes/([A-Za-z0-9_-]+)", NodeHandler, dependencies),
        (r"/_cluster/nodes/([A-Za-z0-9_-]+)/heartbeat", HeartbeatHandler, dependencies),
        (r"/_cluster/objects/([^/]+)/(.+)", ObjectShardsHandler, dependencies),
        (r"/_cluster/rebalance", RebalanceHandler, dependencies),
        (r"/_cluster/repair", RepairHandler, dependencies),
    ]
