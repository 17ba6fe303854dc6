"""``s3lite repair``: one repair round in the foreground, with a progress bar and a summary, or
``--json`` for scripts. It shares the gateway's settings and database and takes the same lease,
so it never repairs while a gateway does."""

import asyncio
import json
import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress
from rich.table import Table

from s3lite import db
from s3lite.config import GatewayConfig
from s3lite.gateway.cluster.registry import NodeRegistry
from s3lite.gateway.data.node_client import NodeClient
from s3lite.gateway.data.node_http import NodeConnections
from s3lite.gateway.data.removal import ShardRemover
from s3lite.gateway.maintenance.repair import Repairer, RoundOptions, make_repairer
from s3lite.gateway.metadata.store import Metadata

BAR_SECONDS = 0.2


async def run_with_bar(repairer: Repairer, options: RoundOptions, console: Console) -> bool:
    round_task = asyncio.ensure_future(repairer.run_round(options))
    with Progress(
        *Progress.get_default_columns()[:1], BarColumn(), MofNCompleteColumn(), console=console
    ) as bar:
        objects = bar.add_task("repairing", total=None)
        while not round_task.done():
            done = repairer.progress
            bar.update(objects, completed=done.items_done, total=done.items_total or None)
            await asyncio.wait({round_task}, timeout=BAR_SECONDS)
        bar.update(objects, completed=repairer.progress.items_done)
    return round_task.result()


def summary_table(detail: dict) -> Table:
    table = Table(title="repair")
    table.add_column("")
    table.add_column("shards", justify="right")
    rows = {
        "rebuilt on another node": "rebuilt",
        "parity added (parts)": "parity_added",
        "waiting for their node": "waiting",
        "no node to rebuild on": "no_node",
        "cannot be rebuilt": "unrecoverable",
        "stray shards found": "strays",
        "stray shards deleted": "strays_deleted",
    }
    for label, name in rows.items():
        table.add_row(label, f"{detail.get(name, 0):,}")
    return table


async def run(
    config: GatewayConfig,
    deep: bool = False,
    add_parity: bool = False,
    dry_run: bool = False,
    as_json: bool = False,
    out=None,
) -> int:
    """Exit 0 when nothing is left to repair, 1 when something is (or another process holds
    the lease)."""
    out = out or sys.stdout
    console = Console(file=out if not as_json else sys.stderr)
    client = await db.connect(config.mongo_uri, config.db_connect_seconds)
    http = NodeConnections()
    try:
        database = client[config.db]
        metadata = Metadata(database)
        registry = NodeRegistry(database, config.down_after_missed_heartbeats)
        nodes = NodeClient(http, config.cluster_token)
        remover = ShardRemover(metadata, registry, nodes, config.delete_delay_seconds)
        repairer = make_repairer(config, database, metadata, registry, nodes, remover)
        options = RoundOptions(deep=deep, add_parity=add_parity, dry_run=dry_run)
        if as_json:
            ran = await repairer.run_round(options)
        else:
            ran = await run_with_bar(repairer, options, console)
        detail = repairer.progress.detail
        left = sum(detail.get(name, 0) for name in ("waiting", "no_node", "unrecoverable"))
        if as_json:
            print(json.dumps({"ran": ran, **repairer.progress.to_document()}, indent=2), file=out)
        elif not ran:
            console.print(f"not run: {await repairer.lease.current_holder()} holds the lease")
        else:
            console.print(summary_table(detail))
            for stray in detail.get("stray_shards", []) if dry_run else []:
                console.print(
                    f"stray: {stray['shard_id']} on {stray['node_id']} ({stray['size']:,} B)"
                )
        return 0 if ran and not left else 1
    finally:
        http.close()
        await client.close()
