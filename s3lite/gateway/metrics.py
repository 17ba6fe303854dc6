"""Every metric the gateway exports at ``/_cluster/metrics``, defined in this one module.

Counters are incremented where their event happens: requests in the request log hook, database
commands by the driver's listener, rebuilt reads where a GetObject ends. What other code keeps
(the nodes, the progress of repair and rebalance, their bytes moved) is read when Prometheus
scrapes, so it is never stale and that code needs no metrics of its own.
"""

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from tornado.web import RequestHandler

from s3lite.gateway.traffic import TrafficHistory
from s3lite.metrics import DatabaseMetrics, RequestMetrics
from s3lite.progress import JobState, Progress

# Jobs whose Progress the gateway may hold, by the attribute of GatewayServices that runs them.
MAINTENANCE_JOBS = ("repairer", "rebalancer")
CLUSTER_PATHS = "/_cluster/"


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
        # The ring shows the object API's traffic, not heartbeats or the dashboard's polling.
        if not handler.request.path.startswith(CLUSTER_PATHS):
            self.traffic.record(time.time(), received, sent)

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

    def follow_jobs(self, services: object) -> None:
        """Export the progress of the maintenance jobs ``services`` runs, from now on."""
        self.registry.register(JobCollector(services))


class JobCollector(Collector):
    """The maintenance jobs' gauges and bytes counter, read off their Progress at each scrape:
    the jobs need no metrics code of their own."""

    def __init__(self, services: object):
        self.services = services

    def collect(self) -> Iterator[Metric]:
        labels = ["job"]
        running = GaugeMetricFamily(
            "s3lite_maintenance_running", "1 while a maintenance job's round runs.", labels=labels
        )
        queue_items = GaugeMetricFamily(
            "s3lite_maintenance_queue_items",
            "Items a maintenance job's round has still to do.",
            labels=labels,
        )
        queue_bytes = GaugeMetricFamily(
            "s3lite_maintenance_queue_bytes",
            "Bytes a maintenance job's round has still to move.",
            labels=labels,
        )
        moved = CounterMetricFamily(
            "s3lite_maintenance_moved_bytes",
            "Bytes maintenance wrote to nodes since the gateway started, by job.",
            labels=labels,
        )
        for attribute in MAINTENANCE_JOBS:
            progress = job_progress(self.services, attribute)
            if progress is None:
                continue
            job = [progress.job]
            running.add_metric(job, 1 if progress.state is JobState.RUNNING else 0)
            queue_items.add_metric(job, max(progress.items_total - progress.items_done, 0))
            queue_bytes.add_metric(job, max(progress.bytes_total - progress.bytes_done, 0))
            moved.add_metric(job, progress.bytes_done_ever)
        yield from (running, queue_items, queue_bytes, moved)


def job_progress(services: object, attribute: str) -> Progress | None:
    """The Progress of a maintenance job, or None where this gateway does not run it."""
    return getattr(getattr(services, attribute, None), "progress", None)
