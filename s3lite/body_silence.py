"""Dropping clients whose request body goes silent, however long a steady body takes."""

import logging
from collections.abc import Awaitable

from tornado import httputil
from tornado.ioloop import IOLoop

log = logging.getLogger(__name__)


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
