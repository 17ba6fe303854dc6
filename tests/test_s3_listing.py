"""ListObjectsV2 paging, driven the way the database loop drives it, over an in-memory bucket."""

from datetime import UTC, datetime
from itertools import islice

import pytest

from s3lite.errors import InvalidArgument
from s3lite.s3.listing import (
    ListEntry,
    ListPage,
    PageBuilder,
    decode_token,
    encode_token,
    key_successor,
    parse_max_keys,
    start_bound,
    validate_encoding_type,
)

WHEN = datetime(2026, 11, 24, 7, tzinfo=UTC)
KEYS = sorted(
    [
        "a",
        "a b",
        "a%20b",
        "b/1",
        "b/2",
        "b/c/1",
        "b/c/2",
        "b0",
        "c/",
        "c//d",
        "d/x/1",
        "d/y",
        "e",
        "é/1",
        "é/2",
        "鍵",
        "😀/1",
    ]
)


class Database:
    """A sorted list that answers range reads and counts them, standing in for the query."""

    def __init__(self, keys: list[str]):
        self.keys = sorted(keys)
        self.reads = 0

    def read(self, lower: str, inclusive: bool, upper: str | None):
        self.reads += 1
        for key in self.keys:
            after_lower = key >= lower if inclusive else key > lower
            if after_lower and (upper is None or key < upper):
                yield ListEntry(key=key, size=len(key), etag="0" * 32, last_modified=WHEN)


def list_page(
    database: Database, prefix="", delimiter=None, max_keys=1000, start_after=None, token=None
) -> ListPage:
    builder = PageBuilder(prefix, delimiter, max_keys, start_bound(start_after, token))
    while not builder.done:
        key, inclusive = builder.lower_bound
        for entry in database.read(key, inclusive, builder.upper_bound):
            if builder.offer(entry) or builder.done:
                break
        else:
            break
    return builder.page()


def list_page_in_batches(database: Database, batch: int, **request) -> ListPage:
    """The same loop for a database read in batches: a short batch means no more keys."""
    builder = PageBuilder(
        request.get("prefix", ""),
        request.get("delimiter"),
        request.get("max_keys", 1000),
        start_bound(request.get("start_after"), None),
    )
    while not builder.done:
        key, inclusive = builder.lower_bound
        entries = list(islice(database.read(key, inclusive, builder.upper_bound), batch))
        for entry in entries:
            if builder.offer(entry) or builder.done:
                break
        else:
            if len(entries) < batch:
                break
    return builder.page()


def list_all(database: Database, **request) -> list[str]:
    """Follow continuation tokens to the end; return every key and common prefix, in order.

    Within a page, contents and common prefixes are separate lists, so each page is merged.
    """
    items, token = [], None
    while True:
        page = list_page(database, token=token, **request)
        items += sorted([entry.key for entry in page.contents] + page.common_prefixes)
        assert len(page.contents) + len(page.common_prefixes) <= request.get("max_keys", 1000)
        if not page.is_truncated:
            assert page.next_token is None
            return items
        token = page.next_token


def expected(keys, prefix="", delimiter=None, start_after=None) -> list[str]:
    """The listing by definition: filter, roll up, sort, deduplicate."""
    items = set()
    for key in keys:
        if not key.startswith(prefix):
            continue
        found = key.find(delimiter, len(prefix)) if delimiter else -1
        items.add(key if found < 0 else key[: found + len(delimiter)])
    return sorted(item for item in items if start_after is None or item > start_after)


def split_page(page: ListPage) -> tuple[list[str], list[str]]:
    return [entry.key for entry in page.contents], page.common_prefixes


@pytest.mark.parametrize(
    ("prefix", "successor"),
    [
        ("abc", "abd"),
        ("a/", "a0"),
        ("a\x7f", "a\x80"),
        ("aé", "aê"),
        ("a\uffff", "a\U00010000"),
        ("a\ud7ff", "a\ue000"),
        ("a\U0010ffff", "b"),
        ("a\U0010ffff\U0010ffff", "b"),
        ("\U0010ffff", None),
        ("", None),
    ],
)
def test_key_successor(prefix, successor):
    assert key_successor(prefix) == successor


@pytest.mark.parametrize("prefix", ["abc", "a/", "aé", "a\ud7ff", "a\U0010ffff", "😀"])
def test_key_successor_bounds_every_extension_in_utf8_order(prefix):
    successor = key_successor(prefix).encode("utf-8")
    for tail in ["", "\x00", "z", "\U0010ffff" * 3]:
        assert (prefix + tail).encode("utf-8") < successor
    assert prefix.encode("utf-8") < successor


@pytest.mark.parametrize(("key", "is_prefix"), [("a", False), ("b/", True), ("é 鍵%20", False)])
def test_token_round_trip(key, is_prefix):
    token = encode_token(key, is_prefix)
    assert token.replace("-", "").replace("_", "").isalnum()
    assert decode_token(token) == (key, is_prefix)


@pytest.mark.parametrize("token", ["", "!!!", "a", "eA", "é", encode_token("k", False) + "*"])
def test_garbage_tokens_are_rejected(token):
    with pytest.raises(InvalidArgument) as raised:
        decode_token(token)
    assert raised.value.message == "The continuation token provided is incorrect"


def test_start_bound():
    assert start_bound(None, None) == (None, False)
    assert start_bound("", None) == (None, False)
    assert start_bound("m", None) == ("m", False)
    assert start_bound("m", encode_token("k", False)) == ("k", False)
    assert start_bound(None, encode_token("b/", True)) == ("b0", True)
    with pytest.raises(InvalidArgument):
        start_bound(None, encode_token("\U0010ffff", True))


def test_plain_listing():
    assert split_page(list_page(Database(KEYS))) == (KEYS, [])


def test_prefix_and_delimiter_roll_up():
    page = list_page(Database(KEYS), delimiter="/")
    assert split_page(page) == (
        ["a", "a b", "a%20b", "b0", "e", "鍵"],
        ["b/", "c/", "d/", "é/", "😀/"],
    )
    assert not page.is_truncated
    assert split_page(list_page(Database(KEYS), prefix="b/", delimiter="/")) == (
        ["b/1", "b/2"],
        ["b/c/"],
    )
    assert split_page(list_page(Database(KEYS), prefix="c/", delimiter="/")) == (["c/"], ["c//"])
    assert split_page(list_page(Database(KEYS), prefix="b", delimiter="/")) == (["b0"], ["b/"])
    assert split_page(list_page(Database(KEYS), prefix="zzz", delimiter="/")) == ([], [])


def test_multi_character_delimiter():
    keys = ["a--b--c", "a--d", "a-e", "f"]
    page = list_page(Database(keys), delimiter="--")
    assert split_page(page) == (["a-e", "f"], ["a--"])


def test_common_prefix_is_read_once_then_skipped():
    database = Database([f"big/{n:04}" for n in range(500)] + ["z"])
    page = list_page(database, delimiter="/")
    assert split_page(page) == (["z"], ["big/"])
    assert database.reads == 2


@pytest.mark.parametrize("max_keys", [1, 2, 3, 4, 7, 1000])
@pytest.mark.parametrize(("prefix", "delimiter"), [("", None), ("", "/"), ("b", "/"), ("", "//")])
def test_pages_concatenate_to_the_whole_listing(max_keys, prefix, delimiter):
    request = {"prefix": prefix, "delimiter": delimiter, "max_keys": max_keys}
    assert list_all(Database(KEYS), **request) == expected(KEYS, prefix, delimiter)


@pytest.mark.parametrize("batch", [1, 2, 3, 50])
@pytest.mark.parametrize(
    "listing_request",
    [
        {},
        {"delimiter": "/", "max_keys": 4},
        {"prefix": "b", "delimiter": "/"},
        {"delimiter": "/", "start_after": "b/1", "max_keys": 3},
    ],
)
def test_batched_reads_give_the_same_page(batch, listing_request):
    page = list_page(Database(KEYS), **listing_request)
    assert list_page_in_batches(Database(KEYS), batch, **listing_request) == page


@pytest.mark.parametrize("start_after", ["a", "b/1", "b/c/1", "b/", "c", "鍵", "😀/1", "~"])
@pytest.mark.parametrize("delimiter", [None, "/"])
def test_start_after(start_after, delimiter):
    items = list_all(Database(KEYS), delimiter=delimiter, max_keys=2, start_after=start_after)
    assert items == expected(KEYS, "", delimiter, start_after)


def test_start_after_inside_a_common_prefix_skips_that_prefix():
    page = list_page(Database(KEYS), delimiter="/", start_after="b/1")
    assert split_page(page) == (["b0", "e", "鍵"], ["c/", "d/", "é/", "😀/"])


def test_token_wins_over_start_after():
    first = list_page(Database(KEYS), max_keys=2)
    second = list_page(Database(KEYS), max_keys=2, start_after="e", token=first.next_token)
    assert split_page(second) == (KEYS[2:4], [])


def test_max_keys_one_returns_each_item_on_its_own_page():
    database = Database(KEYS)
    first = list_page(database, delimiter="/", max_keys=1)
    assert split_page(first) == (["a"], []) and first.is_truncated
    pages, token = [], None
    while True:
        page = list_page(database, delimiter="/", max_keys=1, token=token)
        pages.append(page.contents or page.common_prefixes)
        if not page.is_truncated:
            break
        token = page.next_token
    assert len(pages) == len(expected(KEYS, "", "/"))
    assert all(len(items) == 1 for items in pages)


def test_truncation_needs_one_more_item():
    exact = list_page(Database(["a", "b"]), max_keys=2)
    assert split_page(exact) == (["a", "b"], []) and not exact.is_truncated
    rolled = list_page(Database(["a", "b/1", "b/2"]), delimiter="/", max_keys=2)
    assert split_page(rolled) == (["a"], ["b/"]) and not rolled.is_truncated


def test_max_keys_zero_is_empty_and_not_truncated():
    page = list_page(Database(KEYS), max_keys=0)
    assert page == ListPage([], [], False, None)


def test_last_possible_common_prefix_ends_the_listing():
    keys = ["a", "\U0010ffff/1", "\U0010ffff/2"]
    page = list_page(Database(keys), delimiter="\U0010ffff", max_keys=1)
    assert split_page(page) == (["a"], []) and page.is_truncated
    rest = list_page(Database(keys), delimiter="\U0010ffff", max_keys=1, token=page.next_token)
    assert split_page(rest) == ([], ["\U0010ffff"]) and not rest.is_truncated


@pytest.mark.parametrize(("raw", "max_keys"), [(None, 1000), ("0", 0), ("5", 5), ("5000", 1000)])
def test_parse_max_keys(raw, max_keys):
    assert parse_max_keys(raw) == max_keys


@pytest.mark.parametrize(
    ("raw", "argument_name"),
    [
        ("abc", "max-keys"),
        ("1.5", "max-keys"),
        ("", "max-keys"),
        ("9" * 20, "max-keys"),
        ("-1", "maxKeys"),
    ],
)
def test_bad_max_keys(raw, argument_name):
    with pytest.raises(InvalidArgument) as raised:
        parse_max_keys(raw)
    assert raised.value.details == {"ArgumentName": argument_name, "ArgumentValue": raw}


def test_encoding_type():
    validate_encoding_type(None)
    validate_encoding_type("url")
    with pytest.raises(InvalidArgument):
        validate_encoding_type("base64")
