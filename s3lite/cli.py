"""The ``s3lite`` command: ``s3lite gateway`` and ``s3lite node``, and for operators
``s3lite status`` and ``s3lite scrub``.

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

# Each subcommand: the settings it reads (scrub reads the gateway's) and what it does.
COMMANDS = {
    "gateway": (settings.GatewayConfig, "run a gateway"),
    "node": (settings.NodeConfig, "run a storage node"),
    "scrub": (
        settings.GatewayConfig,
        "check every part of every object on its node; exit 1 if any is missing or damaged",
    ),
    "status": (settings.GatewayConfig, "show every node, up or down, how full, and the totals"),
}
# Flags of the operator commands beyond the settings: (flag, keyword of run(), help).
COMMAND_FLAGS = {
    "scrub": [
        ("--deep", "deep", "also read every part's bytes and check their SHA-256 (slow)"),
        ("--json", "as_json", "print the findings and totals as one JSON document"),
    ],
    "status": [("--json", "as_json", "print nodes, buckets and totals as one JSON document")],
}
SERVERS = ("gateway", "node")


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
    if role in SERVERS:
        logging.getLogger("s3lite").info("%s stopped", role)
    sys.exit(exit_code or 0)
