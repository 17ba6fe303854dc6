"""The gateway's recent object API traffic, in memory: requests and body bytes per 10-second
slot over the last few minutes, for the dashboard's rate and throughput chart.

Prometheus keeps the long history; this ring keeps only what a page needs to draw without a
Prometheus server, in fixed memory. It is per gateway process and starts empty at each start.
"""

from collections import deque
from dataclasses import dataclass

SLOT_SECONDS = 10
SLOTS = 30  # five minutes


@dataclass
class Slot:
    start: int  # Unix time of the slot's start, a multiple of SLOT_SECONDS
    requests: int = 0
    bytes_in: int = 0
    bytes_out: int = 0

    def to_document(self) -> dict:
        return {
            "start": self.start,
            "requests": self.requests,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
        }


class TrafficHistory:
    def __init__(self, slot_seconds: int = SLOT_SECONDS, slots: int = SLOTS):
        self.slot_seconds = slot_seconds
        self.slots: deque[Slot] = deque(maxlen=slots)

    def slot_start(self, at: float) -> int:
        return int(at // self.slot_seconds) * self.slot_seconds

    def record(self, at: float, bytes_in: int, bytes_out: int) -> None:
        start = self.slot_start(at)
        if not self.slots or self.slots[-1].start < start:
            self.slots.append(Slot(start))
        slot = self.slots[-1]
        slot.requests += 1
        slot.bytes_in += bytes_in
        slot.bytes_out += bytes_out

    def recent(self, at: float) -> list[dict]:
        """Every slot of the window ending with the one ``at`` falls in, oldest first; slots
        without traffic are there with zeros, so a chart's x axis is time."""
        newest = self.slot_start(at)
        recorded = {slot.start: slot for slot in self.slots}
        count = self.slots.maxlen or 0
        starts = [newest - self.slot_seconds * back for back in range(count - 1, -1, -1)]
        return [recorded.get(start, Slot(start)).to_document() for start in starts]
