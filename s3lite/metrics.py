"""Prometheus metrics shared by gateway and node: requests, bytes and database commands.

Each process keeps its metrics in a ``CollectorRegistry`` of its own, handed around like any
other service, never in prometheus_client's global one: two applications in one test process
then never count into each other. Requests are counted in one place per request (the gateway's
``log_function``, the node handlers' ``on_finish``), the database through the driver's command
listener, so no query needs code of its own to be timed.
"""

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import choose_encoder
from pymongo import monitoring
from tornado.escape import utf8
from tornado.web import RequestHandler

# Seconds, from a cached GET of a small object to a large upload on a loaded machine.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
# Seconds, from an ``_id`` lookup to a full-collection scan on FerretDB.
DATABASE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5)


def write_exposition(handler: RequestHandler, registry: CollectorRegistry) -> None:
    """Answer a scrape in the format its Accept header asks for: Prometheus's text format by
    default, OpenMetrics for a scraper that prefers it."""
    encoder, content_type = choose_encoder(handler.request.headers.get("Accept", ""))
    handler.set_header("Content-Type", content_type)
    handler.finish(encoder(registry))


class ByteCounting(RequestHandler):
    """Counts the body bytes a handler received and sent, for the request metrics.

    Streaming handlers add to ``bytes_streamed_in`` in their ``data_received``; the others'
    bodies arrive whole in ``request.body``."""

    bytes_streamed_in = 0
    bytes_sent = 0

    def write(self, chunk) -> None:
        if not isinstance(chunk, dict):
            chunk = utf8(chunk)
            self.bytes_sent += len(chunk)
        super().write(chunk)

    @property
    def bytes_received(self) -> int:
        return self.bytes_streamed_in or len(self.request.body or b"")


def operation_label(handler: RequestHandler) -> str:
    """The S3 operation of a gateway request, else the method and handler ("GET NodesHandler"):
    a short, bounded set of values, as a label must have."""
    operation = getattr(handler, "operation", None)
    if operation is not None:
        return operation.s3_name
    return f"{handler.request.method} {type(handler).__name__}"


class RequestMetrics:
    """Requests by operation and status, their latency, and the body bytes in and out."""

    def __init__(self, registry: CollectorRegistry, prefix: str):
        self.requests = Counter(
            f"{prefix}_requests",
            "Requests answered, by operation and HTTP status.",
            ["operation", "status"],
            registry=registry,
        )
        self.seconds = Histogram(
            f"{prefix}_request_duration_seconds",
            "Time from a request's arrival to the end of its answer.",
            ["operation"],
            buckets=REQUEST_BUCKETS,
            registry=registry,
        )
        self.received = Counter(
            f"{prefix}_received_bytes",
            "Request body bytes received.",
            ["operation"],
            registry=registry,
        )
        self.sent = Counter(
            f"{prefix}_sent_bytes", "Response body bytes sent.", ["operation"], registry=registry
        )

    def observe(self, handler: RequestHandler) -> tuple[int, int]:
        """Count one finished request; answer its bytes received and sent."""
        operation = operation_label(handler)
        received = getattr(handler, "bytes_received", 0)
        sent = getattr(handler, "bytes_sent", 0)
        self.requests.labels(operation, str(handler.get_status())).inc()
        self.seconds.labels(operation).observe(handler.request.request_time())
        self.received.labels(operation).inc(received)
        self.sent.labels(operation).inc(sent)
        return received, sent


class DatabaseMetrics(monitoring.CommandListener):
    """Every database command's latency, and its failures, by command name (find, update...).

    A database that cannot be reached at all fails before any command starts: that shows as
    503 answers in the request metrics instead."""

    def __init__(self, registry: CollectorRegistry):
        self.seconds = Histogram(
            "s3lite_database_command_duration_seconds",
            "Time the database took to answer a command.",
            ["command"],
            buckets=DATABASE_BUCKETS,
            registry=registry,
        )
        self.errors = Counter(
            "s3lite_database_errors",
            "Database commands that failed.",
            ["command"],
            registry=registry,
        )

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass  # the duration arrives with the outcome

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self.seconds.labels(event.command_name).observe(event.duration_micros / 1e6)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self.seconds.labels(event.command_name).observe(event.duration_micros / 1e6)
        self.errors.labels(event.command_name).inc()
