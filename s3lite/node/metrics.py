"""Every metric a node exports at ``/_node/metrics``: its requests and body bytes, its
database's latency and errors, and the bytes and shards it holds (read as Prometheus asks)."""

from prometheus_client import CollectorRegistry, Gauge

from s3lite.metrics import DatabaseMetrics, RequestMetrics
from s3lite.node.storage import ShardStore


class NodeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = RequestMetrics(self.registry, "s3lite_node")
        self.database = DatabaseMetrics(self.registry)
        self.stored_bytes = Gauge(
            "s3lite_node_stored_bytes",
            "Bytes of the shards this node holds.",
            registry=self.registry,
        )
        self.stored_shards = Gauge(
            "s3lite_node_stored_shards", "Shards this node holds.", registry=self.registry
        )

    def show_usage(self, store: ShardStore) -> None:
        usage = store.usage()
        self.stored_bytes.set(usage.bytes_stored)
        self.stored_shards.set(usage.shards_stored)
