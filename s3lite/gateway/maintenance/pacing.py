"""Keeping background copying under a byte rate and out of the way of clients' requests."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterable, AsyncIterator

from s3lite.inflight import RequestsInFlight

# While requests are in flight, each chunk waits this long at most for them to end: yielding
# for ever would starve a busy cluster of its rebalance.
YIELD_SECONDS = 0.25


class Pace:
    def __init__(self, bytes_per_second: float):
        self.bytes_per_second = bytes_per_second
        self.requests: RequestsInFlight | None = None
        self.free_at = time.monotonic()  # when the next byte may go

    def follow(self, requests: RequestsInFlight) -> None:
        """Yield to the requests this server has in flight, once it serves."""
        self.requests = requests

    async def paced(self, source: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        async for chunk in source:
            await self.wait_for_quiet()
            await self.spend(len(chunk))
            yield chunk

    async def wait_for_quiet(self) -> None:
        if self.requests is not None and self.requests.count:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.requests.none.wait(), YIELD_SECONDS)

    async def spend(self, size: int) -> None:
        """Wait until ``size`` more bytes fit under the rate (no debt is kept from idle time)."""
        start = max(self.free_at, time.monotonic())
        self.free_at = start + size / self.bytes_per_second
        delay = start - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
