"""``s3lite repair``: one repair round in the foreground, with a progress bar and a summary, or
``--json`` for scripts. It shares the gateway's settings and database and takes the same lease,
so it never repairs while a gateway does."""

import json
import sys

from rich.console import Console
from rich.table import Table

from s3lite.config import GatewayConfig
from s3lite.console import follow
from s3lite.gateway.maintenance.repair import RoundOptions, make_repairer
from s3lite.gateway.wiring import cluster_access


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
    async with cluster_access(config) as access:
        repairer = make_repairer(config, access)
        options = RoundOptions(
            check_all=True, deep=deep, add_parity=add_parity, strays=True, dry_run=dry_run
        )
        if as_json:
            ran = await repairer.run_round(options)
        else:
            ran = await follow(repairer.run_round(options), lambda: repairer.progress, "repairing")
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
