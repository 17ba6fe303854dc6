"""Running a Tornado application until SIGTERM or SIGINT, then stopping it gracefully."""

import asyncio
import logging
import signal

from tornado.httpserver import HTTPServer
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


async def serve_until_stopped(app: Application, host: str, port: int, **server_options) -> None:
    """Listen, wait for a stop signal, then stop accepting and let requests in flight finish."""
    server = HTTPServer(app, **server_options)
    try:
        server.listen(port, host)
    except OSError as error:
        raise CannotListen(f"setting --port: cannot listen on {host}:{port}: {error}") from None
    log.info("listening on http://%s:%d", host, port)
    await wait_for_stop_signal()
    log.info("stopping: no new connections, draining requests in flight")
    server.stop()
    try:
        await asyncio.wait_for(server.close_all_connections(), DRAIN_SECONDS)
    except TimeoutError:
        log.warning("connections still open after %gs; closing anyway", DRAIN_SECONDS)
