"""Fixtures that give tests real servers.

One database server runs for the whole session; each test gets its own database-name prefix, so
tests never see each other's data. Gateways and nodes are real ``s3lite`` subprocesses on free
loopback ports (see ``tests/processes.py``). When a test fails, the tail of every log of the
processes it used is added to the report.
"""

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.processes import (
    ACCESS_KEY,
    SECRET_KEY,
    Cluster,
    DatabaseProcess,
    NodeProcess,
    ServerProcess,
    drop_databases,
    standalone_node,
    start_all,
    stop_all,
    unique_prefix,
)

# Processes a test started through a factory fixture, for the failure report.
STARTED_BY_TEST = pytest.StashKey[list]()


def start_database(workdir: Path) -> DatabaseProcess:
    database = DatabaseProcess(workdir / "data", workdir / "dev-db.log")
    start_all([database])
    return database


@pytest.fixture(scope="session")
def database(tmp_path_factory) -> Iterator[DatabaseProcess]:
    """The session's database server. Tests must not stop it: use ``private_database``."""
    database = start_database(tmp_path_factory.mktemp("database"))
    yield database
    database.stop()


@pytest.fixture(scope="session")
def mongo_uri(database) -> str:
    return database.uri


@pytest.fixture
def private_database(tmp_path) -> Iterator[DatabaseProcess]:
    """A database server of this test's own, which it may stop, kill and restart."""
    database = start_database(tmp_path / "private-database")
    yield database
    database.stop()


@pytest.fixture
def db_prefix(mongo_uri) -> Iterator[str]:
    """A database-name prefix unique to this test; its databases are dropped afterwards."""
    prefix = unique_prefix()
    yield prefix
    drop_databases(mongo_uri, prefix)


@pytest.fixture
def start_node(mongo_uri, db_prefix, tmp_path, request) -> Iterator[Callable[..., NodeProcess]]:
    """``start_node(*extra_args, gateway_url=None, token=...)`` answers a running node.

    No gateway is needed: by default the node's gateway URL is a closed port.
    """
    started: list[NodeProcess] = []

    def start(*extra_args: str, **options) -> NodeProcess:
        node = standalone_node(mongo_uri, db_prefix, tmp_path / "logs", *extra_args, **options)
        started.append(node)
        request.node.stash.setdefault(STARTED_BY_TEST, []).append(node)
        start_all([node])
        return node

    yield start
    stop_all(started)


@pytest.fixture
def cluster(mongo_uri, db_prefix, tmp_path) -> Iterator[Cluster]:
    """A gateway and six nodes of this test's own, all listed "up"; the test may break them."""
    cluster = Cluster(mongo_uri, db_prefix, tmp_path / "logs")
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def shared_cluster(mongo_uri, tmp_path_factory, request) -> Iterator[Cluster]:
    """One cluster for a whole module, for tests that only need fresh buckets and never break it."""
    prefix = unique_prefix()
    cluster = Cluster(mongo_uri, prefix, tmp_path_factory.mktemp(f"{request.module.__name__}-logs"))
    try:
        yield cluster.start()
    finally:
        cluster.stop()
        drop_databases(mongo_uri, prefix)


@pytest.fixture(scope="module")
def secured(shared_cluster) -> Cluster:
    """The module's cluster, its gateway restarted to serve only requests signed for
    ``ACCESS_KEY``/``SECRET_KEY``."""
    shared_cluster.restart_gateway("--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY)
    # a new gateway places nothing on a node until it has heard from it
    shared_cluster.wait_for_nodes_up()
    return shared_cluster


@pytest.fixture
def signed_s3(secured):
    """A boto3 client with the secured gateway's credentials, default settings, no retries."""
    return secured.s3(access_key=ACCESS_KEY, secret_key=SECRET_KEY, retries={"max_attempts": 1})


@pytest.fixture
def s3(shared_cluster):
    """A boto3 client for the module's cluster that reports errors at once, without retries."""
    return shared_cluster.s3(retries={"max_attempts": 1})


@pytest.fixture
def bucket(s3) -> str:
    """A fresh, empty bucket on the module's cluster."""
    name = f"bucket-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    return name


def processes_used_by(item: pytest.Item) -> list[ServerProcess]:
    processes = list(item.stash.get(STARTED_BY_TEST, []))
    for name, value in getattr(item, "funcargs", {}).items():
        if name == "database":
            continue  # the session's server logs every client that goes away: noise here
        if isinstance(value, Cluster):
            processes.extend(p for p in (value.gateway, *value.nodes) if p is not None)
        elif isinstance(value, ServerProcess):
            processes.append(value)
    return processes


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed and call.when == "call":
        for process in processes_used_by(item):
            report.sections.append((f"log of {process.name}", process.log_tail()))
    return report
