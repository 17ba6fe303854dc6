"""Conditional reads and copies answer as S3 does: 412 or 304, which header outranks which."""

from datetime import UTC, datetime

import pytest

from s3lite import errors
from s3lite.s3.preconditions import check_preconditions

ETAG = "0123456789abcdef0123456789abcdef"
MODIFIED = datetime(2026, 5, 4, 12, 30, 15, 250_000, tzinfo=UTC)
BEFORE = "Mon, 04 May 2026 12:00:00 GMT"
SAME_SECOND = "Mon, 04 May 2026 12:30:15 GMT"
AFTER = "Mon, 04 May 2026 13:00:00 GMT"


def check(headers: dict, prefix: str = "") -> None:
    check_preconditions(ETAG, MODIFIED, headers, prefix)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"If-Match": f'"{ETAG}"'},
        {"If-Match": ETAG},
        {"If-Match": f'"other", "{ETAG}"'},
        {"If-Match": "*"},
        {"If-None-Match": '"other"'},
        {"If-Modified-Since": BEFORE},
        {"If-Unmodified-Since": AFTER},
        {"If-Unmodified-Since": SAME_SECOND},  # sub-second parts do not count
        # If-Match passing outranks If-Unmodified-Since failing
        {"If-Match": f'"{ETAG}"', "If-Unmodified-Since": BEFORE},
    ],
)
def test_conditions_that_hold_let_the_read_through(headers):
    check(headers)


@pytest.mark.parametrize(
    ("headers", "condition"),
    [
        ({"If-Match": '"other"'}, "If-Match"),
        ({"If-Unmodified-Since": BEFORE}, "If-Unmodified-Since"),
    ],
)
def test_a_failed_match_is_412(headers, condition):
    with pytest.raises(errors.PreconditionFailed) as failure:
        check(headers)
    assert failure.value.details["Condition"] == condition


@pytest.mark.parametrize(
    ("headers", "condition"),
    [
        ({"If-None-Match": f'"{ETAG}"'}, "If-None-Match"),
        ({"If-None-Match": "*"}, "If-None-Match"),
        ({"If-Modified-Since": SAME_SECOND}, "If-Modified-Since"),
        ({"If-Modified-Since": AFTER}, "If-Modified-Since"),
    ],
)
def test_an_unchanged_object_is_304_on_a_read_and_412_on_a_copy(headers, condition):
    with pytest.raises(errors.NotModified) as read:
        check(headers)
    assert read.value.details["Condition"] == condition
    prefixed = {f"x-amz-copy-source-{name}": value for name, value in headers.items()}
    with pytest.raises(errors.PreconditionFailed):
        check(prefixed, prefix="x-amz-copy-source-")


def test_if_none_match_outranks_if_modified_since():
    # The ETag differs, so the object counts as changed whatever the date says.
    check({"If-None-Match": '"other"', "If-Modified-Since": AFTER})


def test_a_copy_reads_only_the_prefixed_headers():
    check({"If-Match": '"other"'}, prefix="x-amz-copy-source-")
