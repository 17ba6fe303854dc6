"""How a node joins the cluster and stays visible: register once, then heartbeat for ever.

The id the gateway hands out is kept in the node's own database, so a restarted node, even at a
new URL, comes back as itself and its parts stay reachable.
"""

import asyncio
import json
import logging
import time

from pymongo.asynchronous.database import AsyncDatabase
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from s3lite.config import NodeConfig
from s3lite.node.storage import ShardStore

log = logging.getLogger(__name__)

IDENTITY_ID = "identity"
MAX_BACKOFF_SECONDS = 10.0


class Membership:
    def __init__(
        self, config: NodeConfig, database: AsyncDatabase, store: ShardStore, http: AsyncHTTPClient
    ):
        self.config = config
        self.meta = database["node_meta"]
        self.store = store
        self.http = http
        self.identity: dict = {"node_id": None}

    async def load_identity(self) -> None:
        document = await self.meta.find_one({"_id": IDENTITY_ID})
        if document:
            self.identity["node_id"] = document["node_id"]

    async def call_gateway(self, path: str, document: dict) -> dict:
        response = await self.http.fetch(
            self.config.gateway_url.rstrip("/") + path,
            method="POST",
            body=json.dumps(document),
            headers={
                "Authorization": f"Bearer {self.config.cluster_token}",
                "Content-Type": "application/json",
            },
            request_timeout=10,
        )
        return json.loads(response.body)

    async def register(self) -> None:
        answer = await self.call_gateway(
            "/_cluster/nodes",
            {
                "node_id": self.identity["node_id"],
                "url": self.config.advertise_url,
                "capacity_bytes": self.config.capacity_bytes,
                "heartbeat_seconds": self.config.heartbeat_seconds,
            },
        )
        node_id = answer["node_id"]
        if node_id != self.identity["node_id"]:
            await self.meta.replace_one({"_id": IDENTITY_ID}, {"node_id": node_id}, upsert=True)
            self.identity["node_id"] = node_id
        log.info("registered with %s as node %s", self.config.gateway_url, node_id)

    async def heartbeat(self) -> None:
        usage = self.store.usage()
        await self.call_gateway(
            f"/_cluster/nodes/{self.identity['node_id']}/heartbeat",
            {
                "url": self.config.advertise_url,
                "bytes_stored": usage.bytes_stored,
                "parts_stored": usage.shards_stored,
                "capacity_bytes": self.config.capacity_bytes,
                "heartbeat_seconds": self.config.heartbeat_seconds,
            },
        )

    async def run(self) -> None:
        """Register (retrying with backoff while the gateway is away), then heartbeat."""
        registered = False
        backoff = 0.2
        while True:
            try:
                if not registered:
                    await self.register()
                    registered = True
                started = time.monotonic()
                await self.heartbeat()
                backoff = 0.2
                # A fixed rate, not a fixed pause: a slow heartbeat must not delay the next one.
                elapsed = time.monotonic() - started
                await asyncio.sleep(max(self.config.heartbeat_seconds - elapsed, 0))
            except HTTPClientError as error:
                if error.code == 404:
                    registered = False  # the gateway's database forgot us: register again
                log.warning("gateway %s answered %s", self.config.gateway_url, error)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
            except Exception as error:
                # Whatever failed (the gateway unreachable, this node's own database away for
                # a while), the node must keep trying: a dead loop would leave it down for good.
                log.warning("heartbeat to %s failed: %s", self.config.gateway_url, error)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
