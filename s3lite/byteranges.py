"""HTTP Range headers, read the way Amazon S3 reads them (one range of bytes)."""

import re

from s3lite.errors import InvalidArgument, InvalidRange

RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Return the half-open span [start, end) that ``header`` asks for, or None for all of it.

    A header S3 would not understand (several ranges, another unit, garbage) is ignored, as S3
    ignores it; a well-formed range that lies outside the object raises InvalidRange.
    """
    if not header:
        return None
    match = RANGE.match(header.strip())
    if not match or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise unsatisfiable(header, size)
        return max(size - suffix, 0), size
    start = int(first)
    end = size if last == "" else int(last) + 1
    if last != "" and end <= start:
        return None
    if start >= size:
        raise unsatisfiable(header, size)
    return start, min(end, size)


COPY_RANGE = re.compile(r"bytes=([0-9]+)-([0-9]+)")


def parse_copy_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The span [start, end) of ``x-amz-copy-source-range`` (UploadPartCopy), which, unlike
    Range, must name both ends and lie inside the source."""
    if header is None:
        return None
    match = COPY_RANGE.fullmatch(header.strip())
    if match is None:
        raise InvalidArgument(
            "The x-amz-copy-source-range value must be of the form bytes=first-last where "
            "first and last are the zero-based offsets of the first and last bytes to copy",
            ArgumentName="x-amz-copy-source-range",
            ArgumentValue=header,
        )
    first, last = int(match[1]), int(match[2])
    if first > last or last >= size:
        raise unsatisfiable(
            header, size, f"Range specified is not valid for source object of size: {size}"
        )
    return first, last + 1


def unsatisfiable(header: str, size: int, message: str = "") -> InvalidRange:
    """The error for a range outside the object; its answer says the object's size
    (``Content-Range: bytes */size``, and S3's RangeRequested and ActualObjectSize)."""
    return InvalidRange(
        message or f"range {header!r} lies outside the object's {size} bytes",
        RangeRequested=header,
        ActualObjectSize=size,
    )


def unsatisfied_content_range(error: InvalidRange) -> str | None:
    size = error.details.get("ActualObjectSize")
    return None if size is None else f"bytes */{size}"


def content_range(start: int, end: int, size: int) -> str:
    return f"bytes {start}-{end - 1}/{size}"
