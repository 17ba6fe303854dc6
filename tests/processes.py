"""Real processes for the integration tests: the database, gateways and nodes.

Each server runs as its own subprocess on a free loopback port, exactly as a user would start it,
with its output kept in a log file whose tail is shown when it fails to come up. Tests stop,
kill and restart these processes to inject faults, so every handle can do that by itself.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import botocore.config
import pymongo
from pymongo.errors import PyMongoError

REPO_ROOT = Path(__file__).resolve().parent.parent
READY_SECONDS = 30.0
STOP_SECONDS = 15.0
POLL_SECONDS = 0.05
NODE_COUNT = 6
PARITY_SHARDS = 2  # the gateway's default, which the tests' gateways run with
SHARDS_PER_PART = 6 + PARITY_SHARDS  # six data shards, then parity
# What a gateway that checks signatures is started with (the ``secured`` fixture); the secret has
# the characters that clients which mangle a secret trip over.
ACCESS_KEY = "s3lite-test-access"
SECRET_KEY = "s3lite-test-secret/with+odd=chars"


class ProcessFailed(AssertionError):
    """A server process did not come up, or went away when a test needed it."""


_PORTS_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now, never the same one twice per run."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in _PORTS_HANDED_OUT:
            _PORTS_HANDED_OUT.add(port)
            return port


def unique_prefix() -> str:
    """A database-name prefix no other test uses, so tests never see each other's data."""
    return f"t_{uuid.uuid4().hex[:12]}"


def wait_until(condition: Callable[[], object], seconds: float, waiting_for: str) -> object:
    """Poll ``condition`` until it returns something truthy; fail naming what never happened."""
    deadline = time.monotonic() + seconds
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {seconds:g}s waiting for {waiting_for}")
        time.sleep(POLL_SECONDS)


def clean_environment() -> dict[str, str]:
    """The test runner's environment without S3LITE_* settings that would leak into servers."""
    return {name: value for name, value in os.environ.items() if not name.startswith("S3LITE_")}


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self):
        return json.loads(self.body)

    @property
    def s3_error_code(self) -> str | None:
        """The ``<Code>`` of an S3 XML error body."""
        return ElementTree.fromstring(self.body).findtext("Code")


def http_request(
    method: str,
    url: str,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    body: bytes | Iterable[bytes] | None = None,
    timeout: float = 30.0,
) -> Response:
    """One HTTP request on a fresh connection; ``token`` becomes a Bearer Authorization header.

    An iterable ``body`` without a Content-Length header is sent with chunked encoding.
    """
    parsed = urllib.parse.urlsplit(url)
    all_headers = dict(headers or {})
    if token is not None:
        all_headers["Authorization"] = f"Bearer {token}"
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=timeout)
    try:
        target = parsed.path + (f"?{parsed.query}" if parsed.query else "")
        connection.request(method, target, body=body, headers=all_headers)
        response = connection.getresponse()
        return Response(response.status, response.headers, response.read())
    finally:
        connection.close()


class ServerProcess:
    """One server subprocess: start, wait until ready, signal, kill, restart.

    ``command()`` is rebuilt at every start, so a test may change the port (or other
    attributes of a subclass) between ``stop()`` and ``start()``.
    """

    name = "server"

    def __init__(self, log_path: Path, port: int | None = None):
        self.log_path = log_path
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def is_ready(self) -> bool:
        raise NotImplementedError

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> ServerProcess:
        """Launch the process without waiting for it; pair with ``wait_ready``."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"--- starting: {' '.join(self.command())}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO_ROOT,
                env=clean_environment(),
            )
        return self

    def wait_ready(self, seconds: float = READY_SECONDS) -> ServerProcess:
        deadline = time.monotonic() + seconds
        while True:
            if not self.running:
                raise ProcessFailed(
                    f"{self.name} exited with code {self.returncode} before it was ready\n"
                    + self.log_tail()
                )
            if self.is_ready():
                return self
            if time.monotonic() > deadline:
                raise ProcessFailed(
                    f"{self.name} on port {self.port} not ready after {seconds:g}s\n"
                    + self.log_tail()
                )
            time.sleep(POLL_SECONDS)

    def send_signal(self, signum: int) -> None:
        if self.running:
            self.process.send_signal(signum)

    def wait(self, seconds: float = STOP_SECONDS) -> int:
        """Wait for the process to end on its own; fail (and kill it) if it does not."""
        try:
            return self.process.wait(seconds)
        except subprocess.TimeoutExpired:
            self.kill()
            raise ProcessFailed(
                f"{self.name} still running {seconds:g}s after it was told to stop\n"
                + self.log_tail()
            ) from None

    def stop(self, seconds: float = STOP_SECONDS) -> int | None:
        """SIGTERM, then SIGKILL if it has not ended within ``seconds``; answer its exit code."""
        if self.process is None:
            return None
        self.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(seconds)
        except subprocess.TimeoutExpired:
            return self.kill()

    def kill(self) -> int | None:
        if self.process is None:
            return None
        self.send_signal(signal.SIGKILL)
        return self.process.wait()

    def restart(self, seconds: float = READY_SECONDS) -> ServerProcess:
        self.stop()
        return self.start().wait_ready(seconds)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError as error:
            return f"(no log at {self.log_path}: {error})"
        tail = "\n".join(text.splitlines()[-lines:])
        return f"--- last {lines} lines of {self.log_path}:\n{tail}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url} returncode={self.returncode}>"


class DatabaseProcess(ServerProcess):
    """The MongoDB-compatible server, started through ``scripts/dev-db``."""

    name = "database"

    def __init__(self, data_dir: Path, log_path: Path):
        super().__init__(log_path)
        self.data_dir = data_dir

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [
            str(REPO_ROOT / "scripts" / "dev-db"),
            "--port",
            str(self.port),
            "--data",
            str(self.data_dir),
        ]

    def is_ready(self) -> bool:
        client = pymongo.MongoClient(self.uri, serverSelectionTimeoutMS=500, connectTimeoutMS=500)
        try:
            client.admin.command("ping")
            return True
        except PyMongoError:
            return False
        finally:
            client.close()


class S3liteProcess(ServerProcess):
    """An ``s3lite`` role, ready once its token-protected health endpoint answers 200."""

    role = ""
    health_path = ""

    def __init__(
        self,
        log_path: Path,
        *,
        mongo_uri: str,
        db: str,
        token: str,
        port: int | None = None,
        extra_args: list[str] | tuple[str, ...] = (),
    ):
        super().__init__(log_path, port)
        self.mongo_uri = mongo_uri
        self.db = db
        self.token = token
        self.extra_args = list(extra_args)

    @property
    def name(self) -> str:
        return f"{self.role} {self.url}"

    def role_args(self) -> list[str]:
        return []

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "s3lite",
            self.role,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--mongo-uri",
            self.mongo_uri,
            "--db",
            self.db,
            "--cluster-token",
            self.token,
            *self.role_args(),
            *self.extra_args,
        ]

    def request(self, method: str, path: str, **kwargs) -> Response:
        """An HTTP request to this process, carrying the cluster token unless told otherwise."""
        kwargs.setdefault("token", self.token)
        return http_request(method, self.url + path, **kwargs)

    def is_ready(self) -> bool:
        try:
            return self.request("GET", self.health_path, timeout=2).status == 200
        except OSError:
            return False


class GatewayProcess(S3liteProcess):
    role = "gateway"
    health_path = "/_cluster/health"

    def role_args(self) -> list[str]:
        # Tests see an overwritten or deleted object's parts go at once, unless they ask for
        # the delay (a later flag wins). Nodes heartbeat every half second here; a node is down
        # after eight missed (four seconds), so a loaded machine does not flap them. Shards
        # stay where placement put them unless a test turns the rebalancer on, and the
        # repairer runs when a test runs `s3lite repair`, not on its own timer.
        return [
            "--delete-delay-seconds",
            "0",
            "--down-after-missed-heartbeats",
            "8",
            "--repair-interval-seconds",
            "0",
            "--rebalance",
            "off",
        ]


class NodeProcess(S3liteProcess):
    role = "node"
    health_path = "/_node/health"

    def __init__(self, log_path: Path, *, gateway_url: str, heartbeat_seconds: float = 0.5, **kw):
        super().__init__(log_path, **kw)
        self.gateway_url = gateway_url
        self.heartbeat_seconds = heartbeat_seconds
        self.node_id: str | None = None  # as the gateway lists it, once known

    def role_args(self) -> list[str]:
        return [
            "--gateway-url",
            self.gateway_url,
            "--heartbeat-seconds",
            str(self.heartbeat_seconds),
        ]


def standalone_node(
    mongo_uri: str,
    prefix: str,
    log_dir: Path,
    *extra_args: str,
    gateway_url: str | None = None,
    token: str = "node-test-token",
) -> NodeProcess:
    """A node handle whose gateway (by default) is a closed port: it serves, and keeps retrying."""
    port = free_port()
    return NodeProcess(
        log_dir / f"node-{port}.log",
        port=port,
        mongo_uri=mongo_uri,
        db=f"{prefix}_node_{port}",
        token=token,
        gateway_url=gateway_url or f"http://127.0.0.1:{free_port()}",
        extra_args=extra_args,
    )


def start_all(processes: list[ServerProcess], seconds: float = READY_SECONDS) -> None:
    """Start every process, then wait for each: they boot side by side."""
    try:
        for process in processes:
            process.start()
        for process in processes:
            process.wait_ready(seconds)
    except BaseException:
        stop_all(processes)
        raise


def stop_all(processes: list[ServerProcess], seconds: float = STOP_SECONDS) -> None:
    """SIGTERM every process at once, then wait for each (SIGKILL for stragglers)."""
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        process.stop(seconds)


def drop_databases(mongo_uri: str, prefix: str) -> None:
    """Remove every database a test created under its prefix."""
    client = pymongo.MongoClient(mongo_uri, serverSelectionTimeoutMS=5000)
    try:
        for name in client.list_database_names():
            if name == prefix or name.startswith(prefix + "_"):
                client.drop_database(name)
    finally:
        client.close()


@dataclass
class Cluster:
    """One gateway and its nodes, all real processes sharing one database server."""

    mongo_uri: str
    prefix: str
    log_dir: Path
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    gateway: GatewayProcess | None = None
    nodes: list[NodeProcess] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.gateway.url

    def new_node(self, *extra_args: str, port: int | None = None) -> NodeProcess:
        """A handle for one more node, not started yet; its database is ``<prefix>_node_<port>``."""
        port = port or free_port()
        node = NodeProcess(
            self.log_dir / f"node-{port}.log",
            port=port,
            mongo_uri=self.mongo_uri,
            db=f"{self.prefix}_node_{port}",
            token=self.token,
            gateway_url=self.url,
            extra_args=extra_args,
        )
        self.nodes.append(node)
        return node

    def start(self, node_count: int = NODE_COUNT) -> Cluster:
        self.gateway = GatewayProcess(
            self.log_dir / "gateway.log",
            mongo_uri=self.mongo_uri,
            db=f"{self.prefix}_gw",
            token=self.token,
        )
        nodes = [self.new_node() for _ in range(node_count)]
        start_all([self.gateway, *nodes])
        self.wait_for_nodes_up(nodes)
        return self

    def add_node(self, *extra_args: str, port: int | None = None) -> NodeProcess:
        """Start one more node and wait until it is listed "up".

        ``extra_args`` go to its command line, e.g. ``add_node("--capacity-bytes", "1000")``.
        """
        node = self.new_node(*extra_args, port=port)
        start_all([node])
        self.wait_for_nodes_up([node])
        return node

    def stop(self) -> None:
        stop_all([p for p in (self.gateway, *self.nodes) if p is not None])

    def restart_gateway(self, *extra_args: str) -> None:
        """Restart the gateway with more options, e.g. ``("--max-object-size", "1000")``, and
        wait until the running nodes' heartbeats have reached it again."""
        self.gateway.stop()
        self.gateway.extra_args += extra_args
        self.gateway.start()
        self.gateway.wait_ready()
        self.wait_for_nodes_up([node for node in self.nodes if node.running])

    def stored_part_ids(self, nodes: list[NodeProcess] | None = None) -> set[str]:
        """Every part id the nodes (all, by default) hold; tests store far fewer than a page."""
        ids = set()
        for node in self.nodes if nodes is None else nodes:
            listing = node.request("GET", "/_node/parts?limit=1000").json()["parts"]
            ids |= {part["part_id"] for part in listing}
        return ids

    def command(self, name: str, *extra: str) -> subprocess.CompletedProcess:
        """``s3lite NAME`` (scrub, repair, rebalance...) on this cluster's database, with the
        gateway's settings, as a shared config file would give them."""
        settings = ["--mongo-uri", self.mongo_uri, "--db", self.gateway.db]
        settings += ["--cluster-token", self.token, *self.gateway.role_args()]
        return subprocess.run(
            [sys.executable, "-m", "s3lite", name, *settings, *extra],
            capture_output=True,
            text=True,
            timeout=120,
        )

    def api(self, method: str, path: str, document: dict | None = None, **kwargs) -> Response:
        """A request to the gateway's cluster API, with the token and an optional JSON body."""
        if document is not None:
            kwargs["body"] = json.dumps(document).encode()
            kwargs["headers"] = {"Content-Type": "application/json", **kwargs.get("headers", {})}
        return self.gateway.request(method, path, **kwargs)

    def listed_nodes(self) -> list[dict]:
        response = self.api("GET", "/_cluster/nodes")
        assert response.status == 200, (response.status, response.body)
        return response.json()["nodes"]

    def wait_for_status(
        self, nodes: list[NodeProcess], status: str, seconds: float = READY_SECONDS
    ) -> list[dict]:
        """Wait until the gateway lists every one of ``nodes`` (by URL) with ``status``."""
        wanted = {node.url: node for node in nodes}

        def listed_with_status():
            listed = {entry["url"]: entry for entry in self.listed_nodes()}
            if all(listed.get(url, {}).get("status") == status for url in wanted):
                return [listed[url] for url in wanted]
            return None

        try:
            entries = wait_until(
                listed_with_status, seconds, f"{len(nodes)} node(s) listed as {status!r}"
            )
        except AssertionError as error:
            raise ProcessFailed(
                f"{error}; the gateway lists {self.listed_nodes()}\n{self.gateway.log_tail()}"
            ) from None
        for entry in entries:
            wanted[entry["url"]].node_id = entry["node_id"]
        return entries

    def wait_for_nodes_up(self, nodes: list[NodeProcess] | None = None) -> list[dict]:
        return self.wait_for_status(self.nodes if nodes is None else nodes, "up")

    def s3(self, *, access_key: str = "test", secret_key: str = "test", **config_options):
        """A boto3 S3 client for the gateway, path-style, with throwaway credentials by default."""
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            region_name="us-east-1",
            config=botocore.config.Config(s3={"addressing_style": "path"}, **config_options),
        )
