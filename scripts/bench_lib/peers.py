"""Peers measured with the same clients: moto in server mode and, when it was built, SeaweedFS.

Neither is a dependency of s3lite: they live in their own virtual environment, ``.venv/bench``
(inside the ignored ``.venv/``), which ``ensure_bench_venv`` creates on first use with pinned
versions. SeaweedFS is a Go program; ``build_seaweedfs`` builds it there from the Go module proxy
when asked (``--build-seaweedfs``), since its go.mod has replace directives that ``go install``
refuses, the same way ``scripts/bootstrap`` builds FerretDB: from a copy of the module source.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.processes import REPO_ROOT, ServerProcess, free_port, http_request

BENCH_VENV = REPO_ROOT / ".venv" / "bench"
BENCH_PACKAGES = ["moto[server]==5.2.5", "py-spy==0.4.3", "pyinstrument==5.1.3"]
SEAWEEDFS_MODULE = "github.com/seaweedfs/seaweedfs"
SEAWEEDFS_VERSION = "v0.0.0-20261109003541-7506e5f91cd6"
WEED = BENCH_VENV / "bin" / "weed"
# moto answers an unsigned GET with 403 (anonymous access to a private object) but does not check
# signatures: a well-formed SigV4 header with a dummy signature makes every request "signed".
MOTO_HEADERS = {
    "Authorization": "AWS4-HMAC-SHA256 Credential=bench/20260101/us-east-1/s3/aws4_request,"
    " SignedHeaders=host, Signature=0000",
}


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr)


def ensure_bench_venv() -> None:
    """Create ``.venv/bench`` with moto's server (and the profilers) unless it is there."""
    if (BENCH_VENV / "bin" / "moto_server").exists():
        return
    log(f"creating {BENCH_VENV} with {', '.join(BENCH_PACKAGES)}")
    subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
    pip = [str(BENCH_VENV / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "install", "--quiet", *BENCH_PACKAGES], check=True)


def moto_version() -> str:
    python = BENCH_VENV / "bin" / "python"
    answer = subprocess.run(
        [str(python), "-c", "import moto; print(moto.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    return answer.stdout.strip()


def build_seaweedfs() -> None:
    """Build ``weed`` into ``.venv/bench/bin`` from the module source (about 10 minutes)."""
    downloaded = subprocess.run(
        ["go", "mod", "download", "-json", f"{SEAWEEDFS_MODULE}@{SEAWEEDFS_VERSION}"],
        capture_output=True,
        text=True,
        check=True,
    )
    source = json.loads(downloaded.stdout)["Dir"]
    with tempfile.TemporaryDirectory() as build_dir:
        shutil.copytree(source, build_dir, dirs_exist_ok=True)
        subprocess.run(["chmod", "-R", "u+w", build_dir], check=True)
        subprocess.run(
            ["go", "build", "-trimpath", "-o", str(WEED), "./weed"],
            cwd=build_dir,
            env={**os.environ, "GOFLAGS": "-mod=mod"},
            check=True,
        )


class AnswersHttp(ServerProcess):
    """Ready once ``GET /`` gets any HTTP answer."""

    def is_ready(self) -> bool:
        try:
            http_request("GET", self.url + "/", timeout=2)
            return True
        except OSError:
            return False


class MotoServer(AnswersHttp):
    name = "moto server"

    def command(self) -> list[str]:
        moto_server = BENCH_VENV / "bin" / "moto_server"
        return [str(moto_server), "-H", "127.0.0.1", "-p", str(self.port)]


class SeaweedFs(AnswersHttp):
    """``weed server`` with master, volume, filer and S3 in one process; the port is the S3 one.

    Every gRPC port is given explicitly: by default each is its HTTP port + 10000, which may be
    past 65535 for a free port chosen at random. It is ready once S3 answers and the master knows
    the volume server: before that, uploads fail with 500.
    """

    name = "SeaweedFS"

    def __init__(self, log_path: Path, data_dir: Path):
        super().__init__(log_path)
        self.data_dir = data_dir
        self.others = {name: free_port() for name in SEAWEEDFS_PORTS}

    def command(self) -> list[str]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        ports = [f"-{name}={port}" for name, port in self.others.items()]
        return [
            str(WEED),
            "server",
            f"-dir={self.data_dir}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-filer",
            "-s3",
            f"-s3.port={self.port}",
            "-master.volumeSizeLimitMB=1024",  # room for many volumes on any disk
            "-volume.max=16",
            *ports,
        ]

    def is_ready(self) -> bool:
        if not super().is_ready():
            return False
        master = f"http://127.0.0.1:{self.others['master.port']}"
        try:
            status = http_request("GET", master + "/dir/status", timeout=2).json()
        except (OSError, ValueError):
            return False
        centers = status.get("Topology", {}).get("DataCenters") or []
        return any(rack.get("DataNodes") for dc in centers for rack in dc.get("Racks") or [])


SEAWEEDFS_PORTS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port.grpc",
)


def seaweedfs_version() -> str:
    answer = subprocess.run([str(WEED), "version"], capture_output=True, text=True, check=False)
    return " ".join(answer.stdout.split()) or SEAWEEDFS_VERSION
