"""``s3lite rebalance``: the plan, for a person (a table) or a script (``--json``), and with
``--run`` one round in the foreground, with a progress bar.

It shares the gateway's settings and database, and takes the same lease, so it never moves
shards while a gateway does.
"""

import json
import sys

from rich.console import Console
from rich.table import Table

from s3lite.config import GatewayConfig
from s3lite.console import follow
from s3lite.gateway.maintenance.balance import BalancePlan
from s3lite.gateway.maintenance.rebalancer import make_rebalancer
from s3lite.gateway.wiring import cluster_access


def plan_document(plan: BalancePlan) -> dict:
    return {
        "spread": round(plan.spread(), 6),
        "target_spread": plan.target_spread,
        "balanced": plan.balanced(),
        "bytes_to_move": plan.bytes_to_move(),
        "nodes": [
            {
                "node_id": share.node_id,
                "bytes_stored": share.bytes_stored,
                "fair_bytes": round(plan.fair_bytes(share)),
                "capacity_bytes": share.capacity_bytes,
            }
            for share in plan.shares.values()
        ],
    }


def plan_table(plan: BalancePlan) -> Table:
    table = Table(title=f"spread {plan.spread():.2%} (target {plan.target_spread:.2%})")
    for column in ("node", "bytes stored", "fair share", "to move"):
        table.add_column(column, justify="left" if column == "node" else "right")
    for share in plan.shares.values():
        fair = round(plan.fair_bytes(share))
        table.add_row(
            share.node_id, f"{share.bytes_stored:,}", f"{fair:,}", f"{share.bytes_stored - fair:+,}"
        )
    return table


async def run(
    config: GatewayConfig, run_round: bool = False, as_json: bool = False, out=None
) -> int:
    out = out or sys.stdout
    console = Console(file=out if not as_json else sys.stderr)
    async with cluster_access(config) as access:
        rebalancer = make_rebalancer(config, access)
        plan = await rebalancer.plan()
        report = {"plan": plan_document(plan)}
        if not as_json:
            console.print(plan_table(plan))
            console.print(f"{plan.bytes_to_move():,} bytes to move")
        exit_code = 0
        if run_round:
            if as_json:
                ran = await rebalancer.run_round(when_counts_say=False)
            else:
                ran = await follow(
                    rebalancer.run_round(when_counts_say=False),
                    lambda: rebalancer.progress,
                    "rebalancing",
                )
            if not ran:
                holder = await rebalancer.lease.current_holder()
                console.print(f"not run: {holder} holds the rebalance lease")
                exit_code = 1
            report["ran"] = ran
            report["progress"] = rebalancer.progress.to_document()
            report["after"] = plan_document(await rebalancer.plan())
            if not as_json and ran:
                console.print(plan_table(await rebalancer.plan()))
        if as_json:
            print(json.dumps(report, indent=2), file=out)
        return exit_code
