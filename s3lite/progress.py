"""How far a long maintenance job has come (a scrub, a repair, a rebalance), in one shape that
the cluster API serves, the dashboard draws, the metrics export and the CLI turns into a bar."""

import time
from dataclasses import dataclass, field
from enum import StrEnum


class JobState(StrEnum):
    IDLE = "idle"  # never ran, or waits for its next round
    RUNNING = "running"
    DONE = "done"  # its last round ended


@dataclass
class Progress:
    """Counts of one round of a job; totals are what it planned, and may grow as it finds more."""

    job: str
    state: JobState = JobState.IDLE
    items_total: int = 0
    items_done: int = 0
    bytes_total: int = 0
    bytes_done: int = 0
    problems: int = 0
    started: float | None = None  # time.time() of the round's start
    finished: float | None = None
    detail: dict = field(default_factory=dict)  # what only this job counts
    # Bytes done over every round since the process started: what a Prometheus counter needs.
    bytes_done_ever: int = 0

    def start(self, items_total: int = 0, bytes_total: int = 0) -> None:
        self.state = JobState.RUNNING
        self.items_total, self.items_done = items_total, 0
        self.bytes_total, self.bytes_done = bytes_total, 0
        self.problems = 0
        self.started, self.finished = time.time(), None
        self.detail = {}

    def advance(self, items: int = 0, nbytes: int = 0) -> None:
        self.items_done += items
        self.bytes_done += nbytes
        self.bytes_done_ever += nbytes

    def finish(self) -> None:
        self.state = JobState.DONE
        self.finished = time.time()

    @property
    def bytes_per_second(self) -> float:
        if self.started is None:
            return 0.0
        elapsed = (self.finished or time.time()) - self.started
        return self.bytes_done / elapsed if elapsed > 0 else 0.0

    def to_document(self) -> dict:
        return {
            "job": self.job,
            "state": str(self.state),
            "items_total": self.items_total,
            "items_done": self.items_done,
            "bytes_total": self.bytes_total,
            "bytes_done": self.bytes_done,
            "problems": self.problems,
            "bytes_per_second": round(self.bytes_per_second, 1),
            "started": self.started,
            "finished": self.finished,
            "detail": self.detail,
        }
