"""Building and running the gateway."""

from tornado.web import Application

from s3lite.config import GatewayConfig
from s3lite.gateway.api import cluster, dashboard, s3_routes
from s3lite.gateway.api.request_log import log_request
from s3lite.gateway.api.s3_base import S3HeaderCase
from s3lite.gateway.data.erasure import ParityCode
from s3lite.gateway.data.multipart import MultipartUploads
from s3lite.gateway.data.objects import Objects
from s3lite.gateway.maintenance.collector import OrphanCollector
from s3lite.gateway.maintenance.rebalancer import make_rebalancer
from s3lite.gateway.maintenance.repair import make_repairer
from s3lite.gateway.metrics import GatewayMetrics
from s3lite.gateway.services import GatewayServices
from s3lite.gateway.wiring import ClusterAccess, cluster_access
from s3lite.inflight import RequestsInFlight
from s3lite.server import serve_until_stopped
from s3lite.tasks import BackgroundTasks, every

# Bodies of requests that are not object uploads (bucket creation, cluster JSON) stay small;
# object uploads raise their own limit to the maximum object size.
SMALL_BODY_LIMIT = 1024 * 1024


def make_app(services: GatewayServices) -> Application:
    # Cluster routes come first: "_cluster" is not a valid bucket name, so nothing is shadowed.
    return Application(
        cluster.routes(services) + dashboard.routes(services) + s3_routes.routes(services),
        transforms=[S3HeaderCase],
        log_function=log_request,
        metrics=services.metrics,  # for the request log hook, which sees every handler
    )


async def run(config: GatewayConfig) -> None:
    metrics = GatewayMetrics()
    async with cluster_access(config, [metrics.database]) as access:
        tasks = BackgroundTasks()
        try:
            await serve(config, access, metrics, tasks)
        finally:
            await tasks.close()


async def serve(
    config: GatewayConfig, access: ClusterAccess, metrics: GatewayMetrics, tasks: BackgroundTasks
) -> None:
    metadata, registry, nodes, remover = (
        access.metadata,
        access.registry,
        access.nodes,
        access.remover,
    )
    objects = Objects(
        metadata,
        registry,
        nodes,
        remover,
        ParityCode.of(config.parity_shards),
        touch_seconds=config.gc_grace_seconds / 4,
    )
    multipart = MultipartUploads(metadata, remover)
    rebalancer = make_rebalancer(config, access)
    repairer = make_repairer(config, access)
    services = GatewayServices(
        config,
        metadata,
        registry,
        nodes,
        remover,
        objects,
        multipart,
        tasks,
        rebalancer,
        repairer,
        metrics,
    )
    metrics.follow_jobs(services)
    await metadata.ensure_indexes()
    await metadata.upgrade_records()
    await registry.ensure_indexes()
    collector = OrphanCollector(
        metadata, remover, config.gc_grace_seconds, config.multipart_expiry_seconds
    )
    tasks.spawn(
        every(config.retry_deletes_seconds, remover.retry_deferred, "deferred deletions"),
        "deferred shard deletions",
    )
    tasks.spawn(
        every(config.gc_interval_seconds, collector.collect, "collecting abandoned uploads"),
        "abandoned upload collector",
    )
    app = make_app(services)
    requests = RequestsInFlight(app)
    rebalancer.pace.follow(requests)
    if config.repair_interval_seconds:
        tasks.spawn(repairer.run_forever(config.repair_interval_seconds), "repairer")
    if config.rebalance:
        tasks.spawn(rebalancer.run_forever(config.rebalance_interval_seconds), "rebalancer")
    await serve_until_stopped(
        app,
        config.host,
        config.port,
        body_silence_seconds=config.body_timeout_seconds,
        requests=requests,
        max_body_size=SMALL_BODY_LIMIT,
        idle_connection_timeout=config.idle_timeout_seconds,
    )
