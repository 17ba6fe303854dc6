"""What the admin commands draw in a terminal: sizes, fill bars and job progress bars (rich).

Bars and tables go to a person; ``--json`` output goes to a script. A progress bar is drawn on
stderr and only when stderr is a terminal, so a command's stdout stays what a script reads, and
its log or CI output gets no cursor codes. ``JobBar`` draws any job's ``Progress`` (scrub now;
repair and rebalance reuse it), whether the job runs in this process or is polled from the
gateway.
"""

from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress
from rich.text import Text

from s3lite.progress import Progress

UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
BAR_WIDTH = 20


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
    """A terminal progress bar for one job: items done of items planned, bytes, rate, time left.

    Use as a context manager and call ``show`` whenever the Progress moved (or ``update`` with a
    polled document's numbers). A total of 0 means not known yet: the bar pulses instead."""

    def __init__(self, job: str, console: Console | None = None):
        self.console = console or Console(stderr=True)
        self.bar = RichProgress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[moved]}"),
            TimeRemainingColumn(),
            console=self.console,
            disable=not self.console.is_terminal,
            # stdout stays the command's own, even when it goes to a file
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self.task = self.bar.add_task(job, total=None, moved="")

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

    def update(self, items_done: int, items_total: int, bytes_done: int, rate: float) -> None:
        moved = format_bytes(bytes_done) + (f" at {format_bytes(rate)}/s" if rate else "")
        self.bar.update(self.task, completed=items_done, total=items_total or None, moved=moved)

    def show(self, progress: Progress) -> None:
        self.update(
            progress.items_done,
            max(progress.items_total, progress.items_done),
            progress.bytes_done,
            progress.bytes_per_second,
        )
