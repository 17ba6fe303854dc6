"""The ``s3lite`` command: ``s3lite gateway`` and ``s3lite node``.

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="s3lite", description=__doc__.splitlines()[0])
    roles = parser.add_subparsers(dest="role", required=True)
    for config_class in (settings.GatewayConfig, settings.NodeConfig):
        role = settings.SECTIONS[config_class]
        settings.add_arguments(roles.add_parser(role, help=f"run a {role}"), config_class)
    return parser


def runner(role: str):
    """Import a role's server only when it is asked for: each process runs one role."""
    if role == "gateway":
        from s3lite.gateway.app import run
    else:
        from s3lite.node.app import run
    return run


def main(argv: list[str] | None = None) -> None:
    args = vars(build_parser().parse_args(argv))
    role = args.pop("role")
    config_class = next(c for c, name in settings.SECTIONS.items() if name == role)
    try:
        config = settings.load(config_class, args, os.environ)
    except settings.ConfigError as error:
        sys.exit(f"s3lite {role}: {error}")
    configure_logging()
    try:
        asyncio.run(runner(role)(config))
    except DatabaseUnavailable as error:
        sys.exit(f"s3lite {role}: setting --mongo-uri: {error}")
    except CannotListen as error:
        sys.exit(f"s3lite {role}: {error}")
    logging.getLogger("s3lite").info("%s stopped", role)
