"""``s3lite status``: the cluster at a glance, read from the gateway's database as the gateway
reads it (same settings), so it works with no gateway running: every node with a fill bar, up
or down, and the totals; ``--json`` for scripts.

A node's fill is against its stated capacity, or, where it states none, against the fullest
node, as the dashboard draws it.
"""

import json
import sys
from datetime import datetime
from typing import TextIO

from rich import box
from rich.console import Console
from rich.table import Table

from s3lite import db
from s3lite.clock import now
from s3lite.config import GatewayConfig
from s3lite.console import fill_bar, format_bytes
from s3lite.gateway.cluster.registry import NodeRegistry
from s3lite.gateway.metadata.store import Metadata


def fill_fraction(node: dict, fullest: int) -> float:
    if node["capacity_bytes"]:
        return node["bytes_stored"] / node["capacity_bytes"]
    return node["bytes_stored"] / fullest if fullest else 0.0


def totals(nodes: list[dict], buckets: list[dict]) -> dict:
    return {
        "nodes": len(nodes),
        "nodes_up": sum(node["status"] == "up" for node in nodes),
        "nodes_down": sum(node["status"] == "down" for node in nodes),
        "bytes_stored": sum(node["bytes_stored"] for node in nodes),
        "shards_stored": sum(node["parts_stored"] for node in nodes),
        "capacity_bytes": sum(node["capacity_bytes"] for node in nodes),
        "buckets": len(buckets),
        "objects": sum(bucket["objects"] for bucket in buckets),
        "object_bytes": sum(bucket["bytes"] for bucket in buckets),
    }


def seconds_ago(iso_time: str) -> str:
    return f"{(now() - datetime.fromisoformat(iso_time)).total_seconds():.0f} s ago"


def node_table(nodes: list[dict]) -> Table:
    fullest = max((node["bytes_stored"] for node in nodes), default=0)
    table = Table(
        box=box.SIMPLE_HEAD,
        title="Nodes",
        title_justify="left",
        caption="fill: of the stated capacity; rel: against the fullest node, where none is stated",
        caption_justify="left",
    )
    # Every column keeps its width but the URL's, which a narrow terminal cuts short.
    widths = {"node": 17, "status": 6, "fill": 17, "stored": 9, "shards": 6, "capacity": 9}
    widths["last seen"] = 9
    for column, width in widths.items():
        justify = "right" if column in ("stored", "shards", "capacity") else "left"
        table.add_column(column, justify=justify, no_wrap=True, min_width=width)
    table.add_column("url", no_wrap=True, overflow="ellipsis")
    for node in nodes:
        up = node["status"] == "up"
        table.add_row(
            node["node_id"],
            "[green]up[/]" if up else "[red]down[/]",
            fill_bar(
                fill_fraction(node, fullest), of_capacity=bool(node["capacity_bytes"]), width=12
            ),
            format_bytes(node["bytes_stored"]),
            str(node["parts_stored"]),
            format_bytes(node["capacity_bytes"]) if node["capacity_bytes"] else "no limit",
            seconds_ago(node["last_seen"]),
            node["url"],
        )
    return table


def summary(total: dict) -> str:
    return (
        f"{total['nodes']} nodes: {total['nodes_up']} up, {total['nodes_down']} down; "
        f"{format_bytes(total['bytes_stored'])} in {total['shards_stored']} shards; "
        f"{total['buckets']} buckets, {total['objects']} objects, "
        f"{format_bytes(total['object_bytes'])}"
    )


def render(nodes: list[dict], buckets: list[dict], out: TextIO) -> None:
    console = Console(file=out, highlight=False)
    console.print(node_table(nodes))
    console.print(summary(totals(nodes, buckets)))


async def run(config: GatewayConfig, as_json: bool = False, out: TextIO = sys.stdout) -> int:
    client = await db.connect(config.mongo_uri, config.db_connect_seconds)
    try:
        database = client[config.db]
        nodes = await NodeRegistry(database, config.down_after_missed_heartbeats).describe_all()
        buckets = await Metadata(database).buckets_with_usage()
    finally:
        await client.close()
    if as_json:
        document = {"nodes": nodes, "buckets": buckets, "totals": totals(nodes, buckets)}
        print(json.dumps(document, indent=2), file=out)
    else:
        render(nodes, buckets, out)
    return 0
