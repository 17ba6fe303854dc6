"""What the servers spend while a figure is taken: CPU seconds and peak RSS, per process."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import psutil

SAMPLE_SECONDS = 0.05


@dataclass
class Target:
    """A server under test: where it answers S3, its bucket, and its processes by label."""

    name: str
    host: str
    port: int
    bucket: str
    pids: dict[str, int] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)  # sent with every request

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """User plus system CPU seconds each process has used so far (0.0 for one that is gone)."""
    used = {}
    for label, pid in pids.items():
        try:
            times = psutil.Process(pid).cpu_times()
            used[label] = times.user + times.system
        except psutil.Error:
            used[label] = 0.0
    return used


class CpuMeter:
    """CPU seconds of some server processes and of this client process over a ``with`` block."""

    def __init__(self, pids: dict[str, int]):
        self.pids = pids
        self.servers: dict[str, float] = {}
        self.client = 0.0
        self.wall = 0.0

    def __enter__(self) -> CpuMeter:
        self.started = cpu_seconds(self.pids), time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc_info) -> None:
        servers, client, wall = self.started
        now = cpu_seconds(self.pids)
        self.servers = {label: now[label] - servers[label] for label in now}
        self.client = time.process_time() - client
        self.wall = time.perf_counter() - wall


class PeakRss(threading.Thread):
    """Samples the RSS of some processes every 50 ms while in a ``with`` block; keeps the max."""

    def __init__(self, pids: dict[str, int]):
        super().__init__(daemon=True)
        self.processes = {label: psutil.Process(pid) for label, pid in pids.items()}
        self.peak = dict.fromkeys(pids, 0)
        self.done = threading.Event()

    def sample(self) -> None:
        for label, process in self.processes.items():
            try:
                self.peak[label] = max(self.peak[label], process.memory_info().rss)
            except psutil.Error:
                pass  # gone: the transfer will fail and say so

    def run(self) -> None:
        while not self.done.wait(SAMPLE_SECONDS):
            self.sample()

    def __enter__(self) -> PeakRss:
        self.sample()
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.done.set()
        self.join()
        self.sample()
