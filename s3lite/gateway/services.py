"""Everything the gateway's handlers need, built once per process and handed to each handler."""

from dataclasses import dataclass

from s3lite.config import GatewayConfig
from s3lite.gateway.cluster.registry import NodeRegistry
from s3lite.gateway.data.multipart import MultipartUploads
from s3lite.gateway.data.node_client import NodeClient
from s3lite.gateway.data.objects import Objects
from s3lite.gateway.data.removal import ShardRemover
from s3lite.gateway.maintenance.rebalancer import Rebalancer
from s3lite.gateway.maintenance.repair import Repairer
from s3lite.gateway.metadata.store import Metadata
from s3lite.tasks import BackgroundTasks


@dataclass
class GatewayServices:
    config: GatewayConfig
    metadata: Metadata
    registry: NodeRegistry
    nodes: NodeClient
    remover: ShardRemover
    objects: Objects
    multipart: MultipartUploads
    tasks: BackgroundTasks
    rebalancer: Rebalancer
    repairer: Repairer

    @property
    def credentials(self) -> dict[str, str]:
        """Access key to secret key; empty when signatures are not checked."""
        if self.config.access_key is None:
            return {}
        return {self.config.access_key: self.config.secret_key}
