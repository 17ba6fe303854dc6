"""Where a part's bytes are cut: six contiguous data shards whose sizes differ by at most one
byte."""

from dataclasses import dataclass

DATA_SHARDS = 6


@dataclass(frozen=True)
class Span:
    index: int
    offset: int
    size: int

    @property
    def end(self) -> int:
        return self.offset + self.size


def shard_boundaries(size: int, count: int = DATA_SHARDS) -> list[Span]:
    """Shard i covers [floor(i*size/count), floor((i+1)*size/count))."""
    cuts = [i * size // count for i in range(count + 1)]
    return [Span(i, cuts[i], cuts[i + 1] - cuts[i]) for i in range(count)]


def overlapping(spans: list[Span], start: int, end: int) -> list[tuple[Span, int, int]]:
    """The spans that hold bytes of [start, end), each with the range to read inside it."""
    return [
        (span, max(start, span.offset) - span.offset, min(end, span.end) - span.offset)
        for span in spans
        if span.size and span.offset < end and start < span.end
    ]
