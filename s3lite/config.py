"""Typed settings for both processes, read once at start-up.

Every option comes, in this order of precedence, from a command-line flag, an ``S3LITE_<OPTION>``
environment variable, the ``[gateway]`` or ``[node]`` section of an INI config file
(``--config PATH`` or ``S3LITE_CONFIG``), or its default. ``conf/s3lite.conf`` documents them all.
"""

import argparse
import configparser
import dataclasses
import ipaddress
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

TIB = 1024**4
MAX_PARITY_SHARDS = 6  # as many as data shards: beyond, replicas cost less


class ConfigError(Exception):
    """A setting is missing or wrong; the message names it and says why."""


def option(default: Any, help: str, *, required: bool = False) -> Any:
    return field(default=default, metadata={"help": help, "required": required})


@dataclass(frozen=True)
class GatewayConfig:
    host: str = option("127.0.0.1", "address to listen on")
    port: int = option(8000, "port to listen on")
    mongo_uri: str = option("mongodb://127.0.0.1:27017", "MongoDB URI of the metadata database")
    db: str = option("s3lite", "database name for buckets, objects and nodes")
    cluster_token: str = option(None, "shared secret of gateway and nodes", required=True)
    access_key: str = option(None, "S3 access key; with --secret-key, requests must be signed")
    secret_key: str = option(None, "S3 secret key")
    max_object_size: int = option(5 * TIB, "largest object a single PUT may store, in bytes")
    parity_shards: int = option(
        2, "Reed-Solomon parity shards per part; with 6 + this many nodes, any this many may fail"
    )
    repair_after_seconds: float = option(
        900.0, "a node down this long has its shards rebuilt on other nodes"
    )
    repair_interval_seconds: float = option(
        300.0, "how often the repairer looks for shards to rebuild (0: never by itself)"
    )
    down_after_missed_heartbeats: int = option(3, "heartbeats a node may miss before it is down")
    retry_deletes_seconds: float = option(10.0, "how often deferred part deletions are retried")
    delete_delay_seconds: float = option(
        300.0, "parts of an overwritten or deleted object outlive it this long, for its readers"
    )
    gc_grace_seconds: float = option(
        600.0, "an upload silent this long is abandoned: its parts are collected"
    )
    gc_interval_seconds: float = option(30.0, "how often abandoned uploads are looked for")
    multipart_expiry_seconds: float = option(
        7 * 24 * 3600.0, "a multipart upload not completed this long after it began is aborted"
    )
    db_connect_seconds: float = option(30.0, "how long to wait for the database at start-up")
    idle_timeout_seconds: float = option(
        300.0, "a connection that sends no request, or not all its headers, this long is closed"
    )
    body_timeout_seconds: float = option(
        60.0, "a request whose body sends nothing for this long is dropped, its upload undone"
    )
    rebalance: bool = option(
        True, "move stored shards onto emptier nodes in the background (on/off)"
    )
    rebalance_target_spread: float = option(
        0.02, "the rebalancer stops once (max - min) / mean of the nodes' fill is at most this"
    )
    rebalance_bytes_per_second: int = option(
        8 * 1024 * 1024, "most bytes a second the rebalancer copies between nodes"
    )
    rebalance_interval_seconds: float = option(
        600.0, "how often the rebalancer looks at the nodes' fill (and soon after a join)"
    )


@dataclass(frozen=True)
class NodeConfig:
    host: str = option("127.0.0.1", "address to listen on")
    port: int = option(8101, "port to listen on")
    advertise_url: str = option(None, "URL the gateway uses to reach this node (http://HOST:PORT)")
    gateway_url: str = option("http://127.0.0.1:8000", "URL of the gateway to register with")
    mongo_uri: str = option("mongodb://127.0.0.1:27017", "MongoDB URI of this node's part store")
    db: str = option(None, "database name for this node's parts (s3lite_node_PORT)")
    cluster_token: str = option(None, "shared secret of gateway and nodes", required=True)
    capacity_bytes: int = option(0, "bytes this node may hold; 0 means no stated limit")
    heartbeat_seconds: float = option(5.0, "seconds between heartbeats to the gateway")
    chunk_size_bytes: int = option(1024 * 1024, "GridFS chunk size of stored parts")
    db_connect_seconds: float = option(30.0, "how long to wait for the database at start-up")

    def __post_init__(self) -> None:
        # Defaults that depend on other settings are filled in once, here.
        if self.advertise_url is None:
            object.__setattr__(self, "advertise_url", f"http://{self.host}:{self.port}")
        if self.db is None:
            object.__setattr__(self, "db", f"s3lite_node_{self.port}")


SECTIONS = {GatewayConfig: "gateway", NodeConfig: "node"}


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def env_name(name: str) -> str:
    return "S3LITE_" + name.upper()


def add_arguments(parser: argparse.ArgumentParser, config_class: type) -> None:
    """Declare one flag per setting; unset flags stay absent so lower layers can fill them."""
    parser.add_argument("--config", default=argparse.SUPPRESS, help="INI file with settings")
    for f in dataclasses.fields(config_class):
        parser.add_argument(
            flag(f.name),
            dest=f.name,
            default=argparse.SUPPRESS,
            help=f"{f.metadata['help']} (env {env_name(f.name)}; default {shown(f.default)})",
        )


def shown(default: Any) -> str:
    if isinstance(default, bool):
        return "on" if default else "off"
    return str(default)


def read_file_section(path: str, section: str) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as file:
            parser.read_file(file)
    except (OSError, configparser.Error) as error:
        raise ConfigError(f"setting config: cannot read {path}: {error}") from None
    if not parser.has_section(section):
        return {}
    return {key.replace("-", "_"): value for key, value in parser.items(section)}


SWITCHES = {"on": True, "true": True, "yes": True, "1": True}
SWITCHES |= {"off": False, "false": False, "no": False, "0": False}


def convert(name: str, raw: Any, kind: type) -> Any:
    if kind is bool:
        try:
            return SWITCHES[str(raw).strip().lower()]
        except KeyError:
            raise ConfigError(f"setting {flag(name)}: {raw!r} is not on or off") from None
    if kind is int:
        try:
            return int(str(raw).replace("_", ""))
        except ValueError:
            raise ConfigError(f"setting {flag(name)}: {raw!r} is not a whole number") from None
    if kind is float:
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"setting {flag(name)}: {raw!r} is not a number") from None
    return str(raw)


def load(
    config_class: type, flags: Mapping[str, Any], environ: Mapping[str, str]
) -> GatewayConfig | NodeConfig:
    """Merge flags, environment, config file and defaults into a validated config."""
    config_path = flags.get("config") or environ.get("S3LITE_CONFIG")
    from_file = read_file_section(config_path, SECTIONS[config_class]) if config_path else {}
    known = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(from_file) - known)
    if unknown:
        raise ConfigError(f"setting {unknown[0]}: unknown option in {config_path}")

    values = {}
    for f in dataclasses.fields(config_class):
        for source in (flags, environ, from_file):
            key = env_name(f.name) if source is environ else f.name
            if source.get(key) not in (None, ""):
                values[f.name] = convert(f.name, source[key], f.type)
                break
        else:
            if f.metadata["required"]:
                raise ConfigError(
                    f"setting {flag(f.name)}: required, give the flag or {env_name(f.name)}"
                )
    config = config_class(**values)
    validate(config)
    return config


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_http_url(name: str, url: str) -> None:
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigError(f"setting {flag(name)}: {url!r} is not an http(s) URL")


def validate(config: GatewayConfig | NodeConfig) -> None:
    if not 0 < config.port < 65536:
        raise ConfigError(f"setting --port: {config.port} is not a TCP port (1-65535)")
    if config.db_connect_seconds < 0:
        raise ConfigError("setting --db-connect-seconds: must not be negative")
    if isinstance(config, GatewayConfig):
        validate_gateway(config)
    else:
        validate_node(config)


def validate_gateway(config: GatewayConfig) -> None:
    if (config.access_key is None) != (config.secret_key is None):
        missing = "--secret-key" if config.secret_key is None else "--access-key"
        raise ConfigError(f"setting {missing}: access key and secret key go together")
    if config.access_key is None and not is_loopback(config.host):
        raise ConfigError(
            f"setting --host: {config.host} is not a loopback address, and without "
            "--access-key/--secret-key the object API would be open to anyone"
        )
    if config.max_object_size < 0:
        raise ConfigError("setting --max-object-size: must not be negative")
    if config.down_after_missed_heartbeats < 1:
        raise ConfigError("setting --down-after-missed-heartbeats: must be at least 1")
    if not 0 <= config.parity_shards <= MAX_PARITY_SHARDS:
        raise ConfigError(f"setting --parity-shards: must be between 0 and {MAX_PARITY_SHARDS}")
    if config.repair_after_seconds < 0 or config.repair_interval_seconds < 0:
        raise ConfigError(
            "settings --repair-after-seconds and --repair-interval-seconds: must not be negative"
        )
    if config.delete_delay_seconds < 0:
        raise ConfigError("setting --delete-delay-seconds: must not be negative")
    if not 0 < config.rebalance_target_spread < 1:
        raise ConfigError("setting --rebalance-target-spread: must be between 0 and 1")
    for name in (
        "rebalance_bytes_per_second",
        "rebalance_interval_seconds",
        "retry_deletes_seconds",
        "gc_grace_seconds",
        "gc_interval_seconds",
        "multipart_expiry_seconds",
        "idle_timeout_seconds",
        "body_timeout_seconds",
    ):
        if getattr(config, name) <= 0:
            raise ConfigError(f"setting {flag(name)}: must be positive")


def validate_node(config: NodeConfig) -> None:
    require_http_url("advertise_url", config.advertise_url)
    require_http_url("gateway_url", config.gateway_url)
    if config.capacity_bytes < 0:
        raise ConfigError("setting --capacity-bytes: must not be negative")
    if config.heartbeat_seconds <= 0:
        raise ConfigError("setting --heartbeat-seconds: must be positive")
    if not 1024 <= config.chunk_size_bytes <= 15 * 1024 * 1024:
        raise ConfigError("setting --chunk-size-bytes: must be between 1 KiB and 15 MiB")
