"""Counting the requests in flight, so that a stopping server can let them finish."""

import asyncio
from collections.abc import Awaitable

from tornado import httputil


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
