"""Connecting to the MongoDB-compatible database, shared by gateway and node."""

import asyncio
import logging
import time
from collections.abc import Sequence

from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError
from pymongo.monitoring import CommandListener

from s3lite.errors import DatabaseUnavailable

log = logging.getLogger(__name__)


async def connect(
    uri: str, wait_seconds: float, listeners: Sequence[CommandListener] = ()
) -> AsyncMongoClient:
    """Return a client once the server answers a ping, retrying for at most ``wait_seconds``.
    ``listeners`` see every command the client runs (the metrics time them).

    Start-up order in a cluster is not guaranteed, so a database that is still starting is waited
    for; one that stays unreachable ends the process with a clear message instead of hanging.
    """
    client = AsyncMongoClient(
        uri,
        serverSelectionTimeoutMS=2000,
        connectTimeoutMS=2000,
        tz_aware=True,
        event_listeners=list(listeners),
    )
    deadline = time.monotonic() + wait_seconds
    delay = 0.2
    while True:
        try:
            await client.admin.command("ping")
            return client
        except PyMongoError as error:
            if time.monotonic() + delay > deadline:
                await client.close()
                raise DatabaseUnavailable(
                    f"cannot reach the database at {uri} after {wait_seconds:g}s: {error}"
                ) from None
            log.warning("database at %s not reachable yet (%s); retrying", uri, error)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
