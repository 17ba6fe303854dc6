"""The one clock of records: UTC, to the millisecond, which is all BSON keeps, so a fresh
record equals the same record read back."""

from datetime import UTC, datetime


def now() -> datetime:
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
