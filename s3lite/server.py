"""Running a Tornado application until SIGTERM or SIGINT, then stopping it gracefully."""

import asyncio
import logging
import signal

from tornado.httpserver import HTTPServer
from tornado.web import Application

from s3lite.body_silence import BodySilenceLimit
from s3lite.errors import CannotListen
from s3lite.inflight import RequestsInFlight

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


async def serve_until_stopped(
    app: Application,
    host: str,
    port: int,
    body_silence_seconds: float | None = None,
    requests: RequestsInFlight | None = None,
    **server_options,
) -> None:
    """Listen, wait for a stop signal, then stop accepting and let requests in flight finish
    (for at most ``DRAIN_SECONDS``).

    ``server_options`` go to Tornado's ``HTTPServer``; ``body_silence_seconds``, when given,
    drops a client whose request body stops arriving for that long (``BodySilenceLimit``);
    ``requests``, when given, is the count of ``app``'s requests in flight to serve through,
    for work that yields to them.
    """
    requests = requests or RequestsInFlight(app)
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
