"""The pure part of ListObjectsV2: which keys and common prefixes make up one page.

The database only has to read keys in binary (code point) order from a lower bound;
``PageBuilder`` decides what each key contributes, when a whole common prefix can be skipped,
and when the page is complete. The loop that drives it looks like this::

    builder = PageBuilder(prefix, delimiter, max_keys, start_bound(start_after, token))
    while not builder.done:
        key, inclusive = builder.lower_bound
        # keys >= key (or > key unless inclusive), < builder.upper_bound if not None, in order
        for entry in read_keys_from(key, inclusive, builder.upper_bound):
            if builder.offer(entry) or builder.done:
                break  # re-read from the new lower bound, or stop
        else:
            break  # the database has no more keys
    page = builder.page()

``lower_bound`` moves past every key offered, so a loop that reads in batches can also simply
re-read from it when a batch ends. A page counts contents and common prefixes together against
``max_keys``; it is truncated only when one more item was seen beyond a full page, so
``max_keys=0`` gives an empty page that is not truncated, as S3 answers.

Continuation tokens name the last item returned: after a key the next page starts just past
that key; after a common prefix it starts at ``key_successor(prefix)``, so the prefix is not
returned twice. A common prefix that sorts at or before the starting point (``start-after``
inside it) is skipped: S3 returns a common prefix only if it sorts after the marker.
"""

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from s3lite.errors import InvalidArgument, InvalidURI

MAX_KEYS_LIMIT = 1000
MAX_KEYS_ARGUMENT = 2**31 - 1
LAST_CODE_POINT = 0x10FFFF
SURROGATES = range(0xD800, 0xE000)
BAD_TOKEN = "The continuation token provided is incorrect"
TOKEN_KEY = "k"
TOKEN_PREFIX = "p"
INTEGER = re.compile(r"-?[0-9]+")


@dataclass
class ListEntry:
    """One object as a listing shows it; ``etag`` is bare hex, the XML layer quotes it."""

    key: str
    size: int
    etag: str
    last_modified: datetime


@dataclass
class ListPage:
    """What one ListObjectsV2 response returns, before it is rendered as XML."""

    contents: list[ListEntry]
    common_prefixes: list[str]
    is_truncated: bool
    next_token: str | None


def key_successor(prefix: str) -> str | None:
    """Return the smallest string greater than every string that starts with ``prefix``.

    Order is UTF-8 binary order, which is code point order; surrogates are never valid in keys,
    so U+D7FF is followed by U+E000. None means nothing sorts after such strings (``prefix`` is
    empty or all U+10FFFF), so there is no upper bound.
    """
    stem = prefix.rstrip(chr(LAST_CODE_POINT))
    if not stem:
        return None
    following = ord(stem[-1]) + 1
    if following in SURROGATES:
        following = SURROGATES.stop
    return stem[:-1] + chr(following)


def encode_token(key: str, is_prefix: bool) -> str:
    """Return an opaque continuation token naming the last key or common prefix returned.

    Unpadded URL-safe base64 keeps the token to unreserved characters, so it survives query
    strings and ``encoding-type=url`` untouched.
    """
    payload = (TOKEN_PREFIX if is_prefix else TOKEN_KEY) + key
    return base64.urlsafe_b64encode(payload.encode("utf-8")).decode("ascii").rstrip("=")


def decode_token(token: str) -> tuple[str, bool]:
    """Return the (key, is_prefix) that ``encode_token`` packed; InvalidArgument on garbage."""
    try:
        padded = token.encode("ascii") + b"=" * (-len(token) % 4)
        payload = base64.b64decode(padded, altchars=b"-_", validate=True).decode("utf-8")
    except ValueError as error:
        raise InvalidArgument(BAD_TOKEN, ArgumentName="continuation-token") from error
    if payload[:1] not in (TOKEN_KEY, TOKEN_PREFIX):
        raise InvalidArgument(BAD_TOKEN, ArgumentName="continuation-token")
    return payload[1:], payload[0] == TOKEN_PREFIX


def start_bound(start_after: str | None, token: str | None) -> tuple[str | None, bool]:
    """Return where a listing starts as (key, inclusive); (None, False) means the beginning.

    A continuation token wins over start-after, as in S3. Resuming after a common prefix starts
    at its successor, inclusive; resuming after a key, or after start-after, excludes that key.
    An empty token is no token: S3 answers it with a first page (and echoes it back empty).
    """
    if token:
        key, is_prefix = decode_token(token)
        if not is_prefix:
            return key, False
        successor = key_successor(key)
        if successor is None:
            raise InvalidArgument(BAD_TOKEN, ArgumentName="continuation-token")
        return successor, True
    if start_after:
        return start_after, False
    return None, False


def parse_max_keys(raw: str | None) -> int:
    """Return the page size a ``max-keys`` argument asks for, at most 1000 as S3 caps it.

    The messages and argument names are those S3 sends for a malformed or negative value.
    """
    if raw is None:
        return MAX_KEYS_LIMIT
    if not INTEGER.fullmatch(raw) or not -MAX_KEYS_ARGUMENT <= int(raw) <= MAX_KEYS_ARGUMENT:
        raise InvalidArgument(
            "Provided max-keys not an integer or within integer range",
            ArgumentName="max-keys",
            ArgumentValue=raw,
        )
    if int(raw) < 0:
        raise InvalidArgument(
            f"Argument maxKeys must be an integer between 0 and {MAX_KEYS_ARGUMENT}",
            ArgumentName="maxKeys",
            ArgumentValue=raw,
        )
    return min(int(raw), MAX_KEYS_LIMIT)


def validate_encoding_type(raw: str | None) -> None:
    """Raise InvalidArgument, as S3 does, for an ``encoding-type`` other than ``url``."""
    if raw is not None and raw != "url":
        raise InvalidArgument(
            "Invalid Encoding Method specified in Request",
            ArgumentName="encoding-type",
            ArgumentValue=raw,
        )


class PageBuilder:
    """Collects one page from keys offered in order; see the module docstring for the loop.

    It is a state machine with no I/O, so the database loop can be async or not, read in
    batches or not, and the listing rules are tested with an in-memory list.
    """

    def __init__(
        self,
        prefix: str,
        delimiter: str | None,
        max_keys: int,
        start: tuple[str | None, bool] = (None, False),
    ):
        self.prefix = prefix
        self.delimiter = delimiter or None
        self.max_keys = max_keys
        self.upper_bound = key_successor(prefix)
        self.lower_bound = _later_bound((prefix, True), start)
        self.done = max_keys <= 0
        self.is_truncated = False
        self.contents: list[ListEntry] = []
        self.common_prefixes: list[str] = []
        self._floor = self.lower_bound
        self._last_returned: tuple[str, bool] | None = None

    def offer(self, entry: ListEntry) -> bool:
        """Take the next entry in key order; True means re-read from ``lower_bound``.

        That happens when the entry fell into a common prefix: the rest of its keys need not be
        read. Once ``done`` is set, offers are ignored.
        """
        if self.done:
            return False
        group = self._common_prefix_of(entry.key)
        item = entry.key if group is None else group
        if not self._after_floor(item):
            return group is not None and self._skip_past(group)
        if len(self.contents) + len(self.common_prefixes) == self.max_keys:
            self.is_truncated = True
            self.done = True
            return False
        self._floor = (item, False)
        self._last_returned = (item, group is not None)
        if group is None:
            self.contents.append(entry)
            self.lower_bound = (entry.key, False)
            return False
        self.common_prefixes.append(group)
        return self._skip_past(group)

    def page(self) -> ListPage:
        """Return the page gathered so far, with a token naming its last item if truncated."""
        next_token = None
        if self.is_truncated:
            next_token = encode_token(*self._last_returned)
        return ListPage(self.contents, self.common_prefixes, self.is_truncated, next_token)

    def _common_prefix_of(self, key: str) -> str | None:
        if self.delimiter is None:
            return None
        found = key.find(self.delimiter, len(self.prefix))
        if found < 0:
            return None
        return key[: found + len(self.delimiter)]

    def _after_floor(self, item: str) -> bool:
        floor, inclusive = self._floor
        return item > floor or (inclusive and item == floor)

    def _skip_past(self, group: str) -> bool:
        successor = key_successor(group)
        if successor is None:
            self.done = True
        else:
            self.lower_bound = (successor, True)
        return True


def _later_bound(first: tuple[str, bool], second: tuple[str | None, bool]) -> tuple[str, bool]:
    """Return the stricter of two lower bounds; at the same key, the exclusive one."""
    key, inclusive = second
    if key is None or key < first[0]:
        return first
    if key == first[0]:
        return key, inclusive and first[1]
    return key, inclusive


@dataclass(frozen=True)
class ListArguments:
    """The query parameters of ListObjects (v1), ListObjectsV2 and ListObjectVersions, exactly
    as sent, so the answer can echo them.

    ``from_query`` reads the raw query arguments: a value such as ``" "`` or ``"\\n"`` is a real
    prefix, delimiter or marker and must reach the page builder and the XML untouched. Tornado's
    ``get_query_argument`` strips whitespace by default and turns control characters into spaces
    even with ``strip=False``, so a delimiter of " " became "" and then absent (``or None``, and
    ``if delimiter:`` in the XML). None means the parameter was not sent; ``""`` means it was
    sent empty.
    """

    version: int  # 1 or 2; ListObjectVersions is version 1 with ``versions`` set
    versions: bool
    prefix: str
    delimiter: str | None
    max_keys: int
    start_after: str | None
    continuation_token: str | None
    marker: str  # ``marker`` (v1) or ``key-marker`` (versions)
    encoding_type: str | None
    fetch_owner: bool

    @classmethod
    def from_query(cls, query: Mapping[str, list[bytes]]) -> "ListArguments":
        """Parse Tornado's ``request.query_arguments`` (names to lists of raw byte values, blank
        values kept); InvalidArgument or InvalidURI as S3 answers bad values."""

        def argument(name: str) -> str | None:
            values = query.get(name)
            if not values:
                return None
            try:
                return values[-1].decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidURI(f"the {name} argument is not UTF-8") from None

        versions = "versions" in query
        encoding_type = argument("encoding-type")
        validate_encoding_type(encoding_type)
        return cls(
            version=2 if argument("list-type") == "2" and not versions else 1,
            versions=versions,
            prefix=argument("prefix") or "",
            delimiter=argument("delimiter"),
            max_keys=parse_max_keys(argument("max-keys")),
            start_after=argument("start-after"),
            continuation_token=argument("continuation-token"),
            marker=argument("key-marker" if versions else "marker") or "",
            encoding_type=encoding_type,
            fetch_owner=(argument("fetch-owner") or "").lower() == "true",
        )

    def page_builder(self) -> PageBuilder:
        """The builder for this page: v2 starts from the token or start-after, v1 and version
        listings from the marker."""
        if self.version == 2:
            start = start_bound(self.start_after, self.continuation_token)
        else:
            start = start_bound(self.marker, None)
        return PageBuilder(self.prefix, self.delimiter, self.max_keys, start)
