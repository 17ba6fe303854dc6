"""Running a Tornado application until SIGTERM or SIGINT, then stopping it gracefully."""

import asyncio
import logging
import signal
from collections.abc import Awaitable

from tornado import httputil
from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop
from tornado.web import Application

from s3lite.errors import CannotListen

log = logging.getLogger(__name__)

DRAIN_SECONDS = 10.0


def configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


async def wait_for_stop_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


class BodySilenceLimit(httputil.HTTPServerConnectionDelegate):
    """Drops a connection whose request body stops arriving for ``seconds``.

    Tornado's own ``body_timeout`` bounds the time of the whole body, which would cut off a
    large upload on a slow but steady link, and without it a client that stalls mid-body holds
    its connection (and an upload's node connections) for ever. This bounds the silence between
    two reads instead, and does not count the time the application spends on a chunk, so flow
    control towards slow nodes never looks like a silent client.
    """

    def __init__(self, app: httputil.HTTPServerConnectionDelegate, seconds: float):
        self.app = app
        self.seconds = seconds

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        delegate = self.app.start_request(server_conn, request_conn)
        return BodyWatch(delegate, request_conn, self.seconds)

    def on_close(self, server_conn: object) -> None:
        self.app.on_close(server_conn)


class BodyWatch(httputil.HTTPMessageDelegate):
    """One request's watch: a timer runs only while the server waits for the client's bytes."""

    def __init__(
        self,
        delegate: httputil.HTTPMessageDelegate,
        connection: httputil.HTTPConnection,
        seconds: float,
    ):
        self.delegate = delegate
        self.connection = connection
        self.seconds = seconds
        self.timer: object | None = None
        self.over = False

    def headers_received(self, start_line, headers) -> Awaitable[None] | None:
        self.start_line = start_line
        return self.then_wait(self.delegate.headers_received(start_line, headers))

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        self.stop_waiting()
        return self.then_wait(self.delegate.data_received(chunk))

    def finish(self) -> None:
        self.over = True
        self.stop_waiting()
        self.delegate.finish()

    def on_connection_close(self) -> None:
        self.over = True
        self.stop_waiting()
        self.delegate.on_connection_close()

    def then_wait(self, pending: Awaitable[None] | None) -> Awaitable[None] | None:
        if pending is None:
            self.wait()
            return None
        return self.wait_after(pending)

    async def wait_after(self, pending: Awaitable[None]) -> None:
        await pending
        self.wait()

    def wait(self) -> None:
        if not self.over:
            self.timer = IOLoop.current().call_later(self.seconds, self.give_up)

    def stop_waiting(self) -> None:
        if self.timer is not None:
            IOLoop.current().remove_timeout(self.timer)
            self.timer = None

    def give_up(self) -> None:
        self.timer = None
        log.info(
            "%s %s: no body bytes for %gs, dropping the connection",
            self.start_line.method,
            self.start_line.path,
            self.seconds,
        )
        self.connection.close()


class RequestsInFlight(httputil.HTTPServerConnectionDelegate):
    """Counts the requests in flight, from their headers to the end of their response, so that
    a stop can wait for them: Tornado's ``close_all_connections`` cuts them off, an upload
    half-sent included, since it closes every connection at once."""

    def __init__(self, app: httputil.HTTPServerConnectionDelegate):
        self.app = app
        self.count = 0
        self.none = asyncio.Event()
        self.none.set()

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        connection = TrackedConnection(request_conn, self)
        return TrackedRequest(self.app.start_request(server_conn, connection), connection)

    def on_close(self, server_conn: object) -> None:
        self.app.on_close(server_conn)

    def begin(self) -> None:
        self.count += 1
        self.none.clear()

    def end(self) -> None:
        self.count -= 1
        if self.count == 0:
            self.none.set()


class TrackedConnection:
    """A request's connection as the application sees it: the same, except that finishing the
    response, or losing the connection, ends the request in flight."""

    def __init__(self, connection: httputil.HTTPConnection, requests: RequestsInFlight):
        self._connection = connection
        self._requests = requests
        self._state = "waiting"  # waiting -> in flight -> over

    def __getattr__(self, name: str):
        return getattr(self._connection, name)

    def begin(self) -> None:
        if self._state == "waiting":
            self._state = "in flight"
            self._requests.begin()

    def end(self) -> None:
        if self._state == "in flight":
            self._requests.end()
        self._state = "over"

    def finish(self) -> None:
        try:
            self._connection.finish()
        finally:
            self.end()


class TrackedRequest(httputil.HTTPMessageDelegate):
    def __init__(self, delegate: httputil.HTTPMessageDelegate, connection: TrackedConnection):
        self.delegate = delegate
        self.connection = connection

    def headers_received(self, start_line, headers) -> Awaitable[None] | None:
        self.connection.begin()
        return self.delegate.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        return self.delegate.data_received(chunk)

    def finish(self) -> None:
        self.delegate.finish()

    def on_connection_close(self) -> None:
        self.connection.end()
        self.delegate.on_connection_close()


async def serve_until_stopped(
    app: Application,
    host: str,
    port: int,
    body_silence_seconds: float | None = None,
    **server_options,
) -> None:
    """Listen, wait for a stop signal, then stop accepting and let requests in flight finish
    (for at most ``DRAIN_SECONDS``).

    ``server_options`` go to Tornado's ``HTTPServer``; ``body_silence_seconds``, when given,
    drops a client whose request body stops arriving for that long (``BodySilenceLimit``).
    """
    requests = RequestsInFlight(app)
    delegate = (
        requests
        if body_silence_seconds is None
        else BodySilenceLimit(requests, body_silence_seconds)
    )
    server = HTTPServer(delegate, **server_options)
    try:
        server.listen(port, host)
    except OSError as error:
        raise CannotListen(f"setting --port: cannot listen on {host}:{port}: {error}") from None
    log.info("listening on http://%s:%d", host, port)
    await wait_for_stop_signal()
    log.info("stopping: no new connections, draining %d requests in flight", requests.count)
    server.stop()
    try:
        await asyncio.wait_for(requests.none.wait(), DRAIN_SECONDS)
    except TimeoutError:
        log.warning(
            "%d requests still in flight after %gs; closing anyway", requests.count, DRAIN_SECONDS
        )
    try:
        await asyncio.wait_for(server.close_all_connections(), DRAIN_SECONDS)
    except TimeoutError:
        log.warning("connections still open after %gs; closing anyway", DRAIN_SECONDS)
