"""The gateway's list of storage nodes: who joined, who is up, and how full each one is.

Every node that ever registered stays in the ``nodes`` collection for ever. A node is up while
its heartbeats keep arriving; nothing needs to mark it down, its status is read off the time of
its last heartbeat. ``bytes_assigned`` counts the bytes of every part placed on a node, from the
moment it is placed (so concurrent uploads see each other) until it is deleted: placement
ranks nodes by it. It lives in the database, so every gateway sharing it sees the same numbers.

The counts are kept apart from the node documents, in one ``node_fill`` document that every
gateway adds to with ``$inc`` (bytes by node id), one write per placement whatever the number of
nodes; an increment is atomic (on FerretDB, the project's patches make it so), so gateways sharing
the database never lose each other's. A node's ``bytes_assigned`` is the sum over the documents of
``node_fill``: gateways of earlier versions kept one document per process there.

Placement reads the nodes and the counts at most once a ``PLACEMENT_VIEW_SECONDS`` and counts its
own placements into what it read, instead of two reads per upload. A node's status is still
judged at placement time, from the heartbeat time it read: a read that old can only make a node
look down early, never up late.
"""

import asyncio
import secrets
import time
import urllib.parse
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from pymongo.asynchronous.database import AsyncDatabase

from s3lite.clock import now
from s3lite.errors import InvalidArgument, NodeUnavailable, NodeUrlConflict, UnknownNode
from s3lite.gateway.cluster.placement import NodeLoad, choose_nodes

# Heartbeats of less than this are not trusted to arrive on time (scheduling, GC pauses).
MIN_DOWN_AFTER_SECONDS = 2.0
# Node URLs are read for every part of every request; they change only when a node comes back
# at a new address, so a URL read this recently is used as it is.
URL_CACHE_SECONDS = 5.0
# Other gateways' placements and heartbeats reach this one's placement at most this late.
PLACEMENT_VIEW_SECONDS = 1.0
FILL_DOCUMENT = "placed"  # the node_fill document every gateway adds its placements to


def new_node_id() -> str:
    return "node-" + secrets.token_hex(6)


def check_url(url: object) -> str:
    if not isinstance(url, str):
        raise InvalidArgument("url must be a string")
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise InvalidArgument(f"url {url!r} is not an http(s) URL")
    return url.rstrip("/")


def check_count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidArgument(f"{name} must be a whole number of at least 0")
    return value


def check_seconds(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise InvalidArgument("heartbeat_seconds must be a positive number")
    return float(value)


@dataclass
class PlacementView:
    """The nodes and the bytes placed on each, as read at ``read_at`` (monotonic seconds)
    plus this gateway's own placements since."""

    nodes: list[dict]
    assigned: dict[str, int]
    read_at: float


class NodeRegistry:
    def __init__(self, database: AsyncDatabase, down_after_missed_heartbeats: int):
        self.nodes = database["nodes"]
        self.fill = database["node_fill"]
        self.missed = down_after_missed_heartbeats
        self.placement_lock = asyncio.Lock()
        self.urls: dict[str, tuple[str, float]] = {}  # node id -> (url, monotonic time read)
        self.view: PlacementView | None = None
        self.nodes_changed_at = 0.0  # monotonic time of the last registration here

    async def ensure_indexes(self) -> None:
        await self.nodes.create_index("url")

    def is_up(self, node: dict, at: datetime) -> bool:
        window = max(self.missed * node.get("heartbeat_seconds", 5.0), MIN_DOWN_AFTER_SECONDS)
        return at - node["last_seen"] <= timedelta(seconds=window)

    async def check_url_free(self, url: str, node_id: str | None) -> None:
        at = now()
        async for other in self.nodes.find({"url": url, "_id": {"$ne": node_id}}):
            if self.is_up(other, at):
                raise NodeUrlConflict(f"node {other['_id']} is registered at {url} and is up")

    async def register(self, document: dict) -> str:
        """Register a new node or welcome back a known one; answer its id."""
        node_id = document.get("node_id")
        if node_id is not None and not isinstance(node_id, str):
            raise InvalidArgument("node_id must be a string or null")
        url = check_url(document.get("url"))
        fields = {
            "url": url,
            "capacity_bytes": check_count("capacity_bytes", document.get("capacity_bytes", 0)),
            "heartbeat_seconds": check_seconds(document.get("heartbeat_seconds", 5.0)),
            "last_seen": now(),
        }
        await self.check_url_free(url, node_id)
        if node_id is None:
            node_id = new_node_id()
            await self.nodes.insert_one(
                {
                    "_id": node_id,
                    **fields,
                    "registered_at": fields["last_seen"],
                    "bytes_stored": 0,
                    "parts_stored": 0,
                }
            )
            self.nodes_changed()
            return node_id
        if (await self.nodes.update_one({"_id": node_id}, {"$set": fields})).matched_count == 0:
            raise UnknownNode(f"no node {node_id} was ever registered here")
        self.urls.pop(node_id, None)
        self.nodes_changed()
        return node_id

    def nodes_changed(self) -> None:
        """A node joined or came back through this gateway: the next upload places with it."""
        self.nodes_changed_at = time.monotonic()

    async def heartbeat(self, node_id: str, document: dict) -> None:
        fields = {
            "bytes_stored": check_count("bytes_stored", document.get("bytes_stored", 0)),
            "parts_stored": check_count("parts_stored", document.get("parts_stored", 0)),
            "last_seen": now(),
        }
        if "url" in document:
            fields["url"] = check_url(document["url"])
            await self.check_url_free(fields["url"], node_id)
            self.urls.pop(node_id, None)
        if "capacity_bytes" in document:
            fields["capacity_bytes"] = check_count("capacity_bytes", document["capacity_bytes"])
        if "heartbeat_seconds" in document:
            fields["heartbeat_seconds"] = check_seconds(document["heartbeat_seconds"])
        if (await self.nodes.update_one({"_id": node_id}, {"$set": fields})).matched_count == 0:
            raise UnknownNode(f"no node {node_id} was ever registered here")

    async def assigned_bytes(self) -> dict[str, int]:
        """Bytes of the parts placed on each node, summed over every gateway's counts."""
        totals: dict[str, int] = defaultdict(int)
        async for counter in self.fill.find():
            for node_id, placed in counter["bytes"].items():
                totals[node_id] += placed
        return totals

    async def describe_all(self) -> list[dict]:
        at = now()
        assigned = await self.assigned_bytes()
        return [
            {
                "node_id": node["_id"],
                "url": node["url"],
                "status": "up" if self.is_up(node, at) else "down",
                "bytes_stored": node["bytes_stored"],
                "parts_stored": node["parts_stored"],
                "bytes_assigned": assigned[node["_id"]],
                "capacity_bytes": node["capacity_bytes"],
                "registered_at": node["registered_at"].isoformat(),
                "last_seen": node["last_seen"].isoformat(),
            }
            async for node in self.nodes.find().sort("registered_at", 1)
        ]

    async def url_of(self, node_id: str) -> str:
        cached = self.urls.get(node_id)
        if cached is not None and time.monotonic() - cached[1] < URL_CACHE_SECONDS:
            return cached[0]
        node = await self.nodes.find_one({"_id": node_id}, {"url": 1})
        if node is None:
            raise NodeUnavailable(f"node {node_id} is not registered")
        self.urls[node_id] = (node["url"], time.monotonic())
        return node["url"]

    async def up_node_ids(self) -> set[str]:
        at = now()
        return {node["_id"] async for node in self.nodes.find() if self.is_up(node, at)}

    async def place(self, shard_sizes: list[int]) -> list[str]:
        """Choose a node for each shard of these sizes and count the bytes as theirs now.

        The lock keeps this gateway's concurrent uploads from choosing on the same counts
        before either has added its own; gateways sharing the database can still overlap by
        a part or two, which the next placements even out.
        """
        async with self.placement_lock:
            view = await self.placement_view()
            at = now()
            loads = [
                NodeLoad(node["_id"], view.assigned[node["_id"]], node["capacity_bytes"])
                for node in view.nodes
                if self.is_up(node, at)
            ]
            chosen = choose_nodes(loads, shard_sizes)
            deltas: dict[str, int] = defaultdict(int)
            for node_id, size in zip(chosen, shard_sizes, strict=True):
                deltas[node_id] += size
            await self.adjust_assigned(deltas)
            return chosen

    async def placement_view(self) -> PlacementView:
        """The nodes and their counts, read again once too old, or once a registration here
        may have landed after they were read."""
        view = self.view
        if (
            view is None
            or view.read_at <= self.nodes_changed_at
            or time.monotonic() - view.read_at > PLACEMENT_VIEW_SECONDS
        ):
            read_at = time.monotonic()
            nodes = [node async for node in self.nodes.find()]
            self.view = PlacementView(nodes, await self.assigned_bytes(), read_at)
        return self.view

    async def adjust_assigned(self, deltas: dict[str, int]) -> None:
        """Add to the bytes placed on nodes, all in one write."""
        increments = {f"bytes.{node_id}": delta for node_id, delta in deltas.items() if delta}
        if not increments:
            return
        await self.fill.update_one({"_id": FILL_DOCUMENT}, {"$inc": increments}, upsert=True)
        if self.view is not None:
            for node_id, delta in deltas.items():
                self.view.assigned[node_id] += delta
