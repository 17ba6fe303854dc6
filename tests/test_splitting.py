"""Where objects are cut into parts, and which parts a byte range needs."""

import pytest

from s3lite.gateway.data.splitting import DATA_SHARDS, Span, overlapping, shard_boundaries


@pytest.mark.parametrize("size", [0, 1, 5, 6, 7, 11, 12, 13, 1024 * 1024 + 1, 10**12 + 3])
def test_six_contiguous_parts_that_differ_by_at_most_one_byte(size):
    spans = shard_boundaries(size)
    assert len(spans) == DATA_SHARDS
    assert [span.index for span in spans] == list(range(DATA_SHARDS))
    assert spans[0].offset == 0
    assert all(a.end == b.offset for a, b in zip(spans, spans[1:], strict=False))
    assert spans[-1].end == size
    sizes = [span.size for span in spans]
    assert max(sizes) - min(sizes) <= 1


def test_part_i_starts_at_floor_of_i_times_size_over_six():
    size = 1000003
    assert [span.offset for span in shard_boundaries(size)] == [i * size // 6 for i in range(6)]


def test_a_range_inside_one_part_needs_only_that_part():
    spans = shard_boundaries(60)  # parts of 10 bytes
    assert overlapping(spans, 12, 18) == [(Span(1, 10, 10), 2, 8)]


def test_a_range_across_a_boundary_needs_both_parts_each_partly():
    spans = shard_boundaries(60)
    assert overlapping(spans, 8, 23) == [
        (Span(0, 0, 10), 8, 10),
        (Span(1, 10, 10), 0, 10),
        (Span(2, 20, 10), 0, 3),
    ]


def test_empty_parts_are_never_needed():
    spans = shard_boundaries(3)  # three parts of one byte, three empty ones
    needed = overlapping(spans, 0, 3)
    assert [part_start_end[0].size for part_start_end in needed] == [1, 1, 1]
    assert sum(end - start for _, start, end in needed) == 3
