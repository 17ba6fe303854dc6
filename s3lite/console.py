"""What the admin commands draw in a terminal: sizes, fill bars and job progress bars (rich).

Bars and tables go to a person; ``--json`` output goes to a script. A progress bar is drawn on
stderr and only when stderr is a terminal, so a command's stdout stays what a script reads, and
its log or CI output gets no cursor codes. ``JobBar`` draws any job's ``Progress`` (scrub now;
repair and rebalance reuse it), whether the job runs in this process or is polled from the
gateway.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import TextIO, TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress
from rich.text import Text

from s3lite.progress import Progress

UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
BAR_WIDTH = 20
BAR_SECONDS = 0.2  # how often ``follow`` redraws a bar
T = TypeVar("T")


def format_bytes(count: float) -> str:
    value, unit = float(count), 0
    while value >= 1024 and unit < len(UNITS) - 1:
        value /= 1024
        unit += 1
    return f"{value:.0f} {UNITS[unit]}" if unit == 0 else f"{value:.1f} {UNITS[unit]}"


def fill_bar(fraction: float, of_capacity: bool, width: int = BAR_WIDTH) -> Text:
    """A bar of ``width`` cells, ``fraction`` of them full; the percentage beside it only when
    the fraction is of a stated capacity (else the bar compares nodes, and is labelled so)."""
    fraction = min(max(fraction, 0.0), 1.0)
    full = round(fraction * width)
    style = "red" if of_capacity and fraction > 0.9 else "green"
    bar = Text("█" * full, style=style)
    bar.append("░" * (width - full), style="dim")
    bar.append(f" {fraction:4.0%}" if of_capacity else "  rel")
    return bar


class JobBar:
    """A terminal progress bar for one job: how much of its round is done (items where it
    counts them, else bytes), the bytes it moved, its rate and the time left.

    Use as a context manager and call ``show`` whenever the Progress moved (``follow`` does both
    for a round running in this process). A total of 0 means not known yet: the bar pulses."""

    def __init__(self, job: str, console: Console | None = None):
        self.console = console or Console(stderr=True)
        self.bar = RichProgress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[done]}"),
            TimeRemainingColumn(),
            console=self.console,
            disable=not self.console.is_terminal,
            # stdout stays the command's own, even when it goes to a file
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self.task = self.bar.add_task(job, total=None, done="")

    def __enter__(self) -> "JobBar":
        self.bar.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.bar.stop()

    def print_line(self, line: str, out: TextIO) -> None:
        """A line of output: above the bar when both go to the terminal (so the bar redraws
        below it instead of over it), else straight to ``out``."""
        if self.console.is_terminal and out.isatty():
            self.bar.console.print(line, highlight=False, markup=False)
        else:
            print(line, file=out)

    def show(self, progress: Progress) -> None:
        rate = f" at {format_bytes(progress.bytes_per_second)}/s" if progress.bytes_done else ""
        if progress.items_total:
            total = max(progress.items_total, progress.items_done)
            done = f"{progress.items_done}/{total}, {format_bytes(progress.bytes_done)}{rate}"
            self.bar.update(self.task, completed=progress.items_done, total=total, done=done)
        else:
            total = max(progress.bytes_total, progress.bytes_done)
            done = f"{format_bytes(progress.bytes_done)} of {format_bytes(total)}{rate}"
            self.bar.update(
                self.task, completed=progress.bytes_done, total=total or None, done=done
            )


async def follow(
    round: Awaitable[T], progress: Callable[[], Progress], job: str, console: Console | None = None
) -> T:
    """Run one round of a job in this process, its bar redrawn from ``progress()`` every
    ``BAR_SECONDS`` until it ends; answer what the round answered."""
    task = asyncio.ensure_future(round)
    with JobBar(job, console) as bar:
        while not task.done():
            bar.show(progress())
            await asyncio.wait({task}, timeout=BAR_SECONDS)
        bar.show(progress())
    return task.result()
