"""Conditional requests: If-Match, If-None-Match, If-Modified-Since and If-Unmodified-Since,
read as S3 reads them, for reads and (prefixed ``x-amz-copy-source-``) for a copy's source."""

import email.utils
from collections.abc import Mapping
from datetime import UTC, datetime

from s3lite.errors import NotModified, PreconditionFailed


def http_date_header(headers: Mapping[str, str], name: str) -> datetime | None:
    value = headers.get(name)
    parsed = email.utils.parsedate_to_datetime(value) if value else None
    return parsed if parsed is None or parsed.tzinfo else parsed.replace(tzinfo=UTC)


def check_preconditions(
    etag: str, last_modified: datetime, headers: Mapping[str, str], prefix: str = ""
) -> None:
    """Raise PreconditionFailed or NotModified when the object (bare hex ``etag``) fails the
    request's conditions. If-Match outranks If-Unmodified-Since and If-None-Match outranks
    If-Modified-Since, as S3 documents; a copy fails with 412 where a read answers 304."""
    quoted = f'"{etag}"'

    def matches(value: str) -> bool:
        wanted = [tag.strip() for tag in value.split(",")]
        return "*" in wanted or quoted in wanted or etag in wanted

    modified = last_modified.replace(microsecond=0)
    if_match = headers.get(prefix + "If-Match")
    if_none_match = headers.get(prefix + "If-None-Match")
    unmodified_since = http_date_header(headers, prefix + "If-Unmodified-Since")
    modified_since = http_date_header(headers, prefix + "If-Modified-Since")
    if if_match is not None and not matches(if_match):
        raise PreconditionFailed(Condition="If-Match")
    if if_match is None and unmodified_since is not None and modified > unmodified_since:
        raise PreconditionFailed(Condition="If-Unmodified-Since")
    failure = PreconditionFailed if prefix else NotModified
    if if_none_match is not None and matches(if_none_match):
        raise failure(Condition="If-None-Match")
    if if_none_match is None and modified_since is not None and modified <= modified_since:
        raise failure(Condition="If-Modified-Since")
