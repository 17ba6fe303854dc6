"""Every metric the gateway exports at ``/_cluster/metrics``, defined in this one module.

Counters are incremented where their event happens: requests in the request log hook, database
commands by the driver's listener, rebuilt reads by the download path, bytes moved by the
repairer and the rebalancer (``moved``). Gauges of state kept elsewhere (nodes, the progress of
repair and rebalance) are read when Prometheus scrapes, so they are never stale.
"""

import time

from prometheus_client import CollectorRegistry, Counter, Gauge
from tornado.web import RequestHandler

from s3lite.gateway.traffic import TrafficHistory
from s3lite.metrics import DatabaseMetrics, RequestMetrics
from s3lite.progress import JobState, Progress

# Jobs whose Progress the gateway may hold, by the attribute of GatewayServices that runs them.
MAINTENANCE_JOBS = ("repairer", "rebalancer")


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = RequestMetrics(self.registry, "s3lite_gateway")
        self.database = DatabaseMetrics(self.registry)
        self.traffic = TrafficHistory()
        self.rebuilt_reads = Counter(
            "s3lite_rebuilt_reads",
            "Reads that rebuilt a missing or damaged data shard from parity.",
            registry=self.registry,
        )
        self.moved_bytes = Counter(
            "s3lite_maintenance_moved_bytes",
            "Bytes written to nodes by maintenance work, by job (repair, rebalance).",
            ["job"],
            registry=self.registry,
        )
        self.job_running = Gauge(
            "s3lite_maintenance_running",
            "1 while a maintenance job's round runs.",
            ["job"],
            registry=self.registry,
        )
        self.job_queue_items = Gauge(
            "s3lite_maintenance_queue_items",
            "Items a maintenance job's round has still to do.",
            ["job"],
            registry=self.registry,
        )
        self.job_queue_bytes = Gauge(
            "s3lite_maintenance_queue_bytes",
            "Bytes a maintenance job's round has still to move.",
            ["job"],
            registry=self.registry,
        )
        self.nodes = Gauge(
            "s3lite_cluster_nodes",
            "Registered nodes, by status.",
            ["status"],
            registry=self.registry,
        )
        self.node_up = Gauge(
            "s3lite_cluster_node_up",
            "1 while a node heartbeats.",
            ["node_id"],
            registry=self.registry,
        )
        self.node_bytes = Gauge(
            "s3lite_cluster_node_stored_bytes",
            "Bytes a node holds, as its last heartbeat said.",
            ["node_id"],
            registry=self.registry,
        )
        self.node_shards = Gauge(
            "s3lite_cluster_node_stored_shards",
            "Shards a node holds, as its last heartbeat said.",
            ["node_id"],
            registry=self.registry,
        )
        self.node_capacity = Gauge(
            "s3lite_cluster_node_capacity_bytes",
            "Bytes a node may hold; 0 where it states no limit.",
            ["node_id"],
            registry=self.registry,
        )

    def request_finished(self, handler: RequestHandler) -> None:
        received, sent = self.requests.observe(handler)
        self.traffic.record(time.time(), received, sent)

    def moved(self, job: str, nbytes: int) -> None:
        self.moved_bytes.labels(job).inc(nbytes)

    def show_nodes(self, nodes: list[dict]) -> None:
        """Set the node gauges from ``NodeRegistry.describe_all``."""
        counts = {"up": 0, "down": 0}
        for node in nodes:
            node_id = node["node_id"]
            counts[node["status"]] += 1
            self.node_up.labels(node_id).set(1 if node["status"] == "up" else 0)
            self.node_bytes.labels(node_id).set(node["bytes_stored"])
            self.node_shards.labels(node_id).set(node["parts_stored"])
            self.node_capacity.labels(node_id).set(node["capacity_bytes"])
        for status, count in counts.items():
            self.nodes.labels(status).set(count)

    def show_jobs(self, services: object) -> None:
        """Set the maintenance gauges from the Progress of each job this gateway runs."""
        for attribute in MAINTENANCE_JOBS:
            progress = job_progress(services, attribute)
            if progress is None:
                continue
            self.job_running.labels(progress.job).set(progress.state is JobState.RUNNING)
            self.job_queue_items.labels(progress.job).set(
                max(progress.items_total - progress.items_done, 0)
            )
            self.job_queue_bytes.labels(progress.job).set(
                max(progress.bytes_total - progress.bytes_done, 0)
            )


def job_progress(services: object, attribute: str) -> Progress | None:
    """The Progress of a maintenance job, or None where this gateway does not run it."""
    return getattr(getattr(services, attribute, None), "progress", None)
