"""The ``s3lite`` command: ``s3lite gateway`` and ``s3lite node``, and maintenance.

Each subcommand reads its settings once, then runs its server until SIGTERM or SIGINT. A bad
setting or an unreachable database ends it with one line on stderr and a non-zero exit code.
"""

import argparse
import asyncio
import logging
import os
import sys

from s3lite import config as settings
from s3lite.errors import CannotListen, DatabaseUnavailable
from s3lite.server import configure_logging

# Each subcommand: the settings it reads (scrub reads the gateway's) and what it does.
COMMANDS = {
    "gateway": (settings.GatewayConfig, "run a gateway"),
    "node": (settings.NodeConfig, "run a storage node"),
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

# Options of a maintenance subcommand that are not settings, handed to its ``run``.
OPTIONS_OF = {
    "scrub": ("deep",),
    "repair": ("deep", "add_parity", "dry_run", "as_json"),
    "rebalance": ("run_round", "as_json"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="s3lite", description=__doc__.splitlines()[0])
    roles = parser.add_subparsers(dest="role", required=True)
    for role, (config_class, summary) in COMMANDS.items():
        subparser = roles.add_parser(role, help=summary, description=summary)
        settings.add_arguments(subparser, config_class)
        if role == "scrub":
            subparser.add_argument(
                "--deep",
                action="store_true",
                help="also read every part's bytes and check their SHA-256 (slow)",
            )
        if role == "repair":
            subparser.add_argument(
                "--deep",
                action="store_true",
                help="have the nodes read every shard and check its bytes (slow)",
            )
            subparser.add_argument(
                "--add-parity",
                action="store_true",
                help="give parity shards to parts written without them",
            )
            subparser.add_argument(
                "--dry-run", action="store_true", help="list stray shards instead of deleting them"
            )
            subparser.add_argument(
                "--json", dest="as_json", action="store_true", help="print JSON, for scripts"
            )
        if role == "rebalance":
            subparser.add_argument(
                "--run", dest="run_round", action="store_true", help="run one round now"
            )
            subparser.add_argument(
                "--json", dest="as_json", action="store_true", help="print JSON, for scripts"
            )
    return parser


def runner(role: str):
    """Import a role's code only when it is asked for: each process runs one role."""
    if role == "gateway":
        from s3lite.gateway.app import run
    elif role == "node":
        from s3lite.node.app import run
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
    options = {name: args.pop(name) for name in OPTIONS_OF.get(role, ())}
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
    if role not in OPTIONS_OF:
        logging.getLogger("s3lite").info("%s stopped", role)
    sys.exit(exit_code or 0)
