"""Range headers read the way S3 reads them."""

import pytest

from s3lite.byteranges import content_range, parse_range
from s3lite.errors import InvalidRange


@pytest.mark.parametrize(
    ("header", "span"),
    [
        ("bytes=0-0", (0, 1)),
        ("bytes=10-19", (10, 20)),
        ("bytes=10-", (10, 100)),
        ("bytes=-10", (90, 100)),
        ("bytes=-1000", (0, 100)),
        ("bytes=90-1000", (90, 100)),
    ],
)
def test_satisfiable_ranges(header, span):
    assert parse_range(header, 100) == span


@pytest.mark.parametrize(
    "header",
    [None, "", "bytes=", "bytes=-", "items=0-1", "bytes=0-1,5-6", "bytes=a-b", "bytes=9-3"],
)
def test_ranges_s3_ignores_mean_the_whole_object(header):
    assert parse_range(header, 100) is None


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=100-200", "bytes=-0"])
def test_unsatisfiable_ranges(header):
    with pytest.raises(InvalidRange):
        parse_range(header, 100)


def test_any_range_of_an_empty_object_is_unsatisfiable():
    with pytest.raises(InvalidRange):
        parse_range("bytes=0-", 0)


def test_content_range_names_the_last_byte_inclusively():
    assert content_range(10, 20, 100) == "bytes 10-19/100"
