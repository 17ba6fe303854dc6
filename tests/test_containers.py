"""The Dockerfile and compose.yaml, built and run for real with podman.

No image registry is reachable from the machines this runs on, and a build step cannot reach
PyPI, so the test makes what it needs from what is: a Debian base image made by debootstrap
(passed as the Dockerfile's ``BASE``), wheels downloaded on the host and mounted into the build,
and the project's FerretDB in place of the ``mongo`` image. Podman runs the containers with runc
(crun's setrlimit is refused here), from a containers.conf the test writes, and podman-compose
(from PyPI: Debian's cannot do ``network_mode: host``) starts compose.yaml with an override file
that puts every service on the host's network, listening on 127.0.0.1 only, on free ports.
compose.yaml itself is used unchanged, and a seventh node is added as the README says: node6's
service copied under a new name, with its own URL and database.

Everything the test makes (containers, the database volume, the images) is removed at the end.
Only the debootstrap tarball is kept, under ``var/cache/``, since making it takes a minute.
"""

import configparser
import contextlib
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest
import yaml

from tests.processes import REPO_ROOT, free_port, http_request, wait_until

MIB = 1024 * 1024
SUITE = "bookworm"
BASE_PACKAGES = "python3,python3-venv,ca-certificates"
# The packages the test installs with apt-get when podman is missing (and it may: it runs as root).
APT_PACKAGES = ["podman", "runc", "debootstrap"]
CACHE_DIR = REPO_ROOT / "var" / "cache"
CACHE_SECONDS = 30 * 24 * 3600  # then made anew, with the security updates of the month
PODMAN_COMPOSE = Path(sys.executable).parent / "podman-compose"
# What podman needs on these machines: runc, no default ulimits (their setrlimit is refused), and
# cgroupfs, since no systemd runs here.
CONTAINERS_CONF = """\
[containers]
default_ulimits = []
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
"""
COMMAND_SECONDS = 240  # one podman command, a build among them
SLOW_COMMAND_SECONDS = 600  # apt-get, or debootstrap: a minute alone, minutes on a busy machine
HEALTHY_SECONDS = 90
NODES = [f"node{number}" for number in range(1, 7)]  # as compose.yaml names them
CURL_SIGV4 = ["--aws-sigv4", "aws:amz:us-east-1:s3", "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"]


def run(command: list, env: dict[str, str] | None = None, check: bool = True, **kwargs):
    """Run one command; on failure, fail showing what it printed."""
    command = [str(part) for part in command]
    result = subprocess.run(
        command,
        env=env,
        capture_output=True,
        timeout=kwargs.pop("timeout", COMMAND_SECONDS),
        stdin=subprocess.DEVNULL,
        **kwargs,
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"{command[0]} exited with {result.returncode}: {' '.join(command)}\n"
            f"--- stdout:\n{result.stdout.decode(errors='replace')[-3000:]}\n"
            f"--- stderr:\n{result.stderr.decode(errors='replace')[-3000:]}"
        )
    return result


def tool(name: str) -> str | None:
    """A program's path, looked up in the sbin directories too (runc and debootstrap are there)."""
    return shutil.which(name, path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")


def install_podman() -> None:
    """Install what is missing with apt-get, as scripts/bootstrap installs rclone; skip where
    that cannot be done."""
    if os.geteuid() != 0:
        pytest.skip("needs root: debootstrap makes the base image as root")
    missing = [name for name in APT_PACKAGES if tool(name) is None]
    if not missing:
        return
    if tool("apt-get") is None:
        pytest.skip(f"podman cannot be installed: {', '.join(missing)} missing, and no apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update", "-qq"], env, timeout=SLOW_COMMAND_SECONDS)
    run(["apt-get", "install", "-y", "-qq", *APT_PACKAGES], env, timeout=SLOW_COMMAND_SECONDS)


@dataclass
class Podman:
    """podman, with this test's containers.conf."""

    env: dict[str, str]

    def __call__(self, *args, **kwargs):
        return run(["podman", *args], self.env, **kwargs)

    def output(self, *args) -> str:
        return self(*args).stdout.decode().strip()


@pytest.fixture(scope="module")
def podman(tmp_path_factory) -> Podman:
    install_podman()
    if not PODMAN_COMPOSE.exists():
        pytest.fail(f"{PODMAN_COMPOSE} is missing: scripts/bootstrap installs it (test extra)")
    conf = tmp_path_factory.mktemp("podman") / "containers.conf"
    conf.write_text(CONTAINERS_CONF)
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("S3LITE_", "CONTAINERS_", "COMPOSE_"))
    }
    return Podman({**env, "CONTAINERS_CONF": str(conf)})


def base_tarball(workdir: Path) -> Path:
    """A minimal Debian with Python, made once by debootstrap and kept under var/cache/."""
    key = hashlib.sha256(f"{SUITE} minbase {BASE_PACKAGES}".encode()).hexdigest()[:12]
    tarball = CACHE_DIR / f"debootstrap-{SUITE}-{key}.tar"
    if tarball.exists() and time.time() - tarball.stat().st_mtime < CACHE_SECONDS:
        return tarball
    root = workdir / "rootfs"
    debootstrap = [tool("debootstrap"), "--variant=minbase", f"--include={BASE_PACKAGES}"]
    run([*debootstrap, SUITE, root], timeout=SLOW_COMMAND_SECONDS)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    # Written under another name and renamed, so no run ever sees half a tarball.
    partial = tarball.with_name(f"{tarball.name}.{uuid.uuid4().hex}.partial")
    try:
        run(["tar", "-C", root, "-cf", partial, "."])
        partial.replace(tarball)
    finally:
        partial.unlink(missing_ok=True)
        shutil.rmtree(root, ignore_errors=True)
    return tarball


def install_requires() -> list[str]:
    """s3lite's dependencies, as setup.cfg declares them."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(REPO_ROOT / "setup.cfg", encoding="utf-8")
    return [line for line in parser["options"]["install_requires"].splitlines() if line.strip()]


def wheelhouse(podman: Podman, base: str, directory: Path) -> Path:
    """Wheels of s3lite's dependencies and its build tools, for the base image's Python.

    Downloaded on the host (which reaches PyPI) for the Python, C library and machine of the
    image, so that the build installs offline.
    """
    python, glibc_minor = podman.output(
        "run", "--rm", "--network=none", base, "python3", "-c",
        "import platform, sys; print('%d%d' % sys.version_info[:2], platform.libc_ver()[1])",
    ).split()  # fmt: skip
    glibc_minor = int(glibc_minor.split(".")[1])
    tags = [f"manylinux_2_{minor}" for minor in range(glibc_minor, 4, -1)]
    tags += ["manylinux2014", "manylinux2010", "manylinux1"]  # older names of 2_17, 2_12, 2_5
    platforms = [f"--platform={tag}_{platform.machine()}" for tag in tags]
    run(
        [
            sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
            "--dest", directory, "--only-binary=:all:", "--python-version", python,
            "--implementation", "cp", *platforms, *install_requires(), "setuptools", "wheel",
        ]
    )  # fmt: skip
    return directory


@dataclass
class Images:
    base: str
    s3lite: str


@pytest.fixture(scope="module")
def images(podman, tmp_path_factory) -> Iterator[Images]:
    """The base image and the s3lite image built on it from the Dockerfile, removed afterwards."""
    workdir = tmp_path_factory.mktemp("images")
    name = f"localhost/s3lite-test-{uuid.uuid4().hex[:8]}"
    made = Images(base=f"{name}-base:latest", s3lite=f"{name}:latest")
    path = "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    try:
        podman("import", "--change", path, base_tarball(workdir), made.base)
        wheels = wheelhouse(podman, made.base, workdir / "wheels")
        podman(
            "build", "--layers=false", "--network=none", "--file", REPO_ROOT / "Dockerfile",
            "--build-arg", f"BASE={made.base}",
            "--volume", f"{wheels}:/wheels:ro",
            "--build-arg", "PIP_NO_INDEX=1", "--build-arg", "PIP_FIND_LINKS=/wheels",
            "--tag", made.s3lite, REPO_ROOT,
        )  # fmt: skip
        yield made
    finally:
        for image in (made.s3lite, made.base):
            podman("rmi", "--force", image, check=False)


class ComposeProject:
    """compose.yaml run by podman-compose on the host's network, with this test's override."""

    def __init__(self, podman: Podman, images: Images, workdir: Path):
        self.podman = podman
        self.images = images
        self.workdir = workdir
        self.name = f"s3lite-test-{uuid.uuid4().hex[:8]}"
        self.token = uuid.uuid4().hex
        self.access_key = "container-test"
        self.secret_key = uuid.uuid4().hex
        self.db_port = free_port()
        self.gateway_port = free_port()
        self.node_ports: dict[str, int] = {}
        self.files = [REPO_ROOT / "compose.yaml"]
        self.definition = yaml.safe_load((REPO_ROOT / "compose.yaml").read_text())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    def add_file(self, name: str, document: dict) -> None:
        path = self.workdir / name
        path.write_text(json.dumps(document, indent=2))  # JSON is YAML
        self.files.append(path)

    def on_loopback(self, service: str) -> dict:
        """The override of one s3lite service: host network, 127.0.0.1, a port of its own."""
        if service == "gateway":
            port = self.gateway_port
            environment = {}
        else:
            port = self.node_ports.setdefault(service, free_port())
            environment = {
                "S3LITE_ADVERTISE_URL": f"http://127.0.0.1:{port}",
                "S3LITE_GATEWAY_URL": self.url,
            }
        return {
            "image": self.images.s3lite,
            "network_mode": "host",
            "environment": {
                **environment,
                "S3LITE_HOST": "127.0.0.1",
                "S3LITE_PORT": str(port),
                "S3LITE_MONGO_URI": f"mongodb://127.0.0.1:{self.db_port}",
            },
        }

    def write_override(self) -> None:
        ferretdb = REPO_ROOT / ".venv" / "bin" / "ferretdb"
        if not ferretdb.exists():
            pytest.fail(f"{ferretdb} is missing: scripts/bootstrap builds it")
        services = {
            name: self.on_loopback(name) for name in self.definition["services"] if name != "mongo"
        }
        services["mongo"] = {
            "image": self.images.base,
            "network_mode": "host",
            "volumes": [f"{ferretdb}:/usr/local/bin/ferretdb:ro"],
            "entrypoint": ["/usr/local/bin/ferretdb"],
            "command": [
                "--handler=sqlite",
                "--sqlite-url=file:/data/db/",
                "--state-dir=/data/db",
                f"--listen-addr=127.0.0.1:{self.db_port}",
                "--telemetry=disable",
                "--debug-addr=-",
                "--log-level=warn",
            ],
        }
        self.add_file("override.yaml", {"services": services})

    def add_node_as_documented(self, name: str, like: str = "node6") -> None:
        """A new node service, copied from ``like`` with its own URL and database."""
        service = json.loads(json.dumps(self.definition["services"][like]))
        service["environment"]["S3LITE_ADVERTISE_URL"] = f"http://{name}:8101"
        service["environment"]["S3LITE_DB"] = f"s3lite_{name}"
        self.add_file(f"{name}.yaml", {"services": {name: service}})
        self.add_file(f"override-{name}.yaml", {"services": {name: self.on_loopback(name)}})

    @property
    def env(self) -> dict[str, str]:
        return {
            **self.podman.env,
            "S3LITE_CLUSTER_TOKEN": self.token,
            "S3LITE_ACCESS_KEY": self.access_key,
            "S3LITE_SECRET_KEY": self.secret_key,
        }

    def compose(self, *args, **kwargs):
        files = [part for path in self.files for part in ("-f", path)]
        return run([PODMAN_COMPOSE, "-p", self.name, *files, *args], self.env, **kwargs)

    def containers(self) -> dict[str, str]:
        """Service name to container name, of this project's containers."""
        listing = self.podman.output(
            "ps", "--all", "--filter", f"label=io.podman.compose.project={self.name}",
            "--format", "{{.Names}} {{index .Labels \"com.docker.compose.service\"}}",
        )  # fmt: skip
        return dict(reversed(line.split()) for line in listing.splitlines() if line.strip())

    def healthy(self, service: str) -> bool:
        """The service's own compose health check, run now."""
        container = self.containers().get(service)
        return container is not None and (
            self.podman("healthcheck", "run", container, check=False).returncode == 0
        )

    def wait_healthy(self, services: list[str]) -> None:
        for service in services:
            wait_until(partial(self.healthy, service), HEALTHY_SECONDS, f"{service} healthy")

    @contextlib.contextmanager
    def logs_on_failure(self) -> Iterator[None]:
        """Print every container's last lines (pytest shows them) when the block fails."""
        try:
            yield
        except BaseException:
            print(self.logs())
            raise

    def logs(self) -> str:
        parts = []
        for service, container in sorted(self.containers().items()):
            result = self.podman("logs", "--tail", "20", container, check=False)
            text = (result.stdout + result.stderr).decode(errors="replace")
            parts.append(f"--- {service} ({container}):\n{text}")
        return "\n".join(parts)

    def listed_nodes(self, status: str, count: int) -> list[dict] | None:
        """The listed nodes, once there are ``count`` of them, all with ``status``."""
        nodes = self.cluster("/_cluster/nodes")["nodes"]
        if len(nodes) == count and all(node["status"] == status for node in nodes):
            return nodes
        return None

    def cluster(self, path: str):
        response = http_request("GET", self.url + path, token=self.token)
        assert response.status == 200, (path, response.status, response.body)
        return response.json()

    def curl(self, *args) -> None:
        credentials = f"{self.access_key}:{self.secret_key}"
        run(
            [
                "curl",
                "--fail",
                "--silent",
                "--show-error",
                *CURL_SIGV4,
                "--user",
                credentials,
                *args,
            ]
        )

    def down(self) -> None:
        self.compose("down", "--volumes", "--timeout", "10", check=False)


@pytest.fixture
def project(podman, images, tmp_path) -> Iterator[ComposeProject]:
    project = ComposeProject(podman, images, tmp_path)
    project.write_override()
    try:
        yield project
    finally:
        project.down()


def check_image(podman: Podman, image: str) -> None:
    """The image runs as a user other than root, without pip, and has no token in it."""
    config = json.loads(podman.output("image", "inspect", "--format", "{{json .Config}}", image))
    assert config["User"] == "10001:10001"
    assert not [line for line in config["Env"] if line.startswith("S3LITE_CLUSTER_TOKEN")]
    contained = ["run", "--rm", "--network=none"]
    assert podman.output(*contained, "--entrypoint", "id", image, "-u") == "10001"
    assert podman(*contained, "--entrypoint", "python", image, "-m", "pip", check=False).returncode
    # Settings come from the environment; without a token a node says so, in one line.
    refused = podman(*contained, image, "node", check=False)
    assert refused.returncode != 0
    assert (
        refused.stderr.decode()
        .strip()
        .endswith("setting --cluster-token: required, give the flag or S3LITE_CLUSTER_TOKEN")
    )


def nodes_holding(project: ComposeProject, bucket: str, key: str) -> set[str]:
    listing = project.cluster(f"/_cluster/objects/{bucket}/{key}")
    return {entry["node_id"] for entry in listing["parts"] + listing.get("parity", [])}


@pytest.mark.slow
# About two minutes with the base image's tarball kept from an earlier run; on a fresh machine,
# apt-get and debootstrap come first, and take minutes more when the machine is busy.
@pytest.mark.timeout(900)
def test_compose_runs_the_cluster_and_takes_a_seventh_node(project, tmp_path):
    check_image(project.podman, project.images.s3lite)
    with project.logs_on_failure():
        project.compose("up", "--detach", "--no-build")
        project.wait_healthy(["gateway", *NODES])
        nodes_up = wait_until(lambda: project.listed_nodes("up", 6), HEALTHY_SECONDS, "6 nodes up")
        assert sorted(node["url"] for node in nodes_up) == sorted(
            f"http://127.0.0.1:{project.node_ports[name]}" for name in NODES
        )

        sent = tmp_path / "sent.bin"
        sent.write_bytes(os.urandom(20 * MIB))
        project.curl("-X", "PUT", f"{project.url}/photos")
        project.curl("-T", sent, f"{project.url}/photos/big.bin")
        received = tmp_path / "received.bin"
        project.curl("-o", received, f"{project.url}/photos/big.bin")
        assert received.read_bytes() == sent.read_bytes()
        assert len(project.cluster("/_cluster/nodes")["nodes"]) == 6

        project.add_node_as_documented("node7")
        project.compose("up", "--detach", "--no-build", "node7")
        project.wait_healthy(["node7"])
        seven = wait_until(lambda: project.listed_nodes("up", 7), HEALTHY_SECONDS, "node7 up")
        node7_url = f"http://127.0.0.1:{project.node_ports['node7']}"
        (node7,) = [node["node_id"] for node in seven if node["url"] == node7_url]
        assert node7 not in nodes_holding(project, "photos", "big.bin")
        project.curl("-T", sent, f"{project.url}/photos/after-node7.bin")
        assert node7 in nodes_holding(project, "photos", "after-node7.bin")
        # the README's check of every stored byte, run in the gateway's container
        project.compose("exec", "-T", "gateway", "s3lite", "scrub", "--deep")

        volume = f"{project.name}_mongo-data"
        assert project.podman("volume", "exists", volume, check=False).returncode == 0
        project.down()
        assert project.containers() == {}
        assert project.podman("volume", "exists", volume, check=False).returncode == 1
