"""The ``s3lite`` command: ``s3lite gateway`` and ``s3lite node``, and for operators
``s3lite status``, ``scrub``, ``repair`` and ``rebalance``.

Each subcommand reads its settings once (the operator commands read the gateway's), then runs
its server until SIGTERM or SIGINT, or does its work and exits. A bad setting or an unreachable
database ends it with one line on stderr and a non-zero exit code.
"""

import argparse
import asyncio
import logging
import os
import sys

from s3lite import config as settings
from s3lite.errors import CannotListen, DatabaseUnavailable
from s3lite.server import configure_logging

# Each subcommand: the settings it reads (the operator commands read the gateway's) and what
# it does.
COMMANDS = {
    "gateway": (settings.GatewayConfig, "run a gateway"),
    "node": (settings.NodeConfig, "run a storage node"),
    "status": (settings.GatewayConfig, "show every node, up or down, how full, and the totals"),
    "scrub": (
        settings.GatewayConfig,
        "check every part of every object on its node; exit 1 if any is missing or damaged",
    ),
    "repair": (
        settings.GatewayConfig,
        "rebuild missing and damaged shards, delete stray ones, once; exit 1 if any is left",
    ),
    "rebalance": (
        settings.GatewayConfig,
        "show how far the nodes' fill is from even and, with --run, even it out once",
    ),
}
JSON_FLAG = ("--json", "as_json", "print one JSON document, for scripts")
# Flags of the operator commands beyond the settings: (flag, keyword of run(), help).
COMMAND_FLAGS = {
    "status": [JSON_FLAG],
    "scrub": [
        ("--deep", "deep", "also read every part's bytes and check their SHA-256 (slow)"),
        JSON_FLAG,
    ],
    "repair": [
        ("--deep", "deep", "have the nodes read every shard and check its bytes (slow)"),
        ("--add-parity", "add_parity", "give parity shards to parts written without them"),
        ("--dry-run", "dry_run", "list stray shards instead of deleting them"),
        JSON_FLAG,
    ],
    "rebalance": [("--run", "run_round", "run one round now"), JSON_FLAG],
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="s3lite", description=__doc__.splitlines()[0])
    roles = parser.add_subparsers(dest="role", required=True)
    for role, (config_class, summary) in COMMANDS.items():
        subparser = roles.add_parser(role, help=summary, description=summary)
        settings.add_arguments(subparser, config_class)
        for name, keyword, help in COMMAND_FLAGS.get(role, []):
            subparser.add_argument(name, dest=keyword, action="store_true", help=help)
    return parser


def runner(role: str):
    """Import a role's code only when it is asked for: each process runs one role."""
    if role == "gateway":
        from s3lite.gateway.app import run
    elif role == "node":
        from s3lite.node.app import run
    elif role == "status":
        from s3lite.gateway.cluster.status import run
    elif role == "rebalance":
        from s3lite.gateway.maintenance.rebalance_command import run
    elif role == "repair":
        from s3lite.gateway.maintenance.repair_command import run
    else:
        from s3lite.gateway.maintenance.scrub import run
    return run


def main(argv: list[str] | None = None) -> None:
    args = vars(build_parser().parse_args(argv))
    role = args.pop("role")
    options = {keyword: args.pop(keyword) for _, keyword, _ in COMMAND_FLAGS.get(role, [])}
    config_class = COMMANDS[role][0]
    try:
        config = settings.load(config_class, args, os.environ)
    except settings.ConfigError as error:
        sys.exit(f"s3lite {role}: {error}")
    configure_logging()
    try:
        exit_code = asyncio.run(runner(role)(config, **options))
    except DatabaseUnavailable as error:
        sys.exit(f"s3lite {role}: setting --mongo-uri: {error}")
    except CannotListen as error:
        sys.exit(f"s3lite {role}: {error}")
    if role not in COMMAND_FLAGS:
        logging.getLogger("s3lite").info("%s stopped", role)
    sys.exit(exit_code or 0)
