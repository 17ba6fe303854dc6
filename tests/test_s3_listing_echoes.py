"""Listing parameters come back as sent: whitespace and control characters are real values,
an empty continuation token is a first page, and fetch-owner shows each object's owner.

The answers are read back with botocore's own XML parser, so what is checked is what a boto3
client sees.
"""

from datetime import UTC, datetime

import botocore.parsers
import botocore.session
import pytest

from s3lite.errors import InvalidArgument, InvalidURI
from s3lite.s3.listing import ListArguments, ListEntry, ListPage, PageBuilder, start_bound
from s3lite.s3.xml import listing_xml

WHEN = datetime(2026, 11, 24, 7, tzinfo=UTC)
OWNER = ("owner-id", "owner")
S3_MODEL = botocore.session.get_session().get_service_model("s3")


def query(**arguments: str) -> dict[str, list[bytes]]:
    """Tornado's ``query_arguments`` for these parameters (underscores stand for dashes)."""
    return {name.replace("_", "-"): [value.encode()] for name, value in arguments.items()}


def answer(operation: str, body: bytes) -> dict:
    shape = S3_MODEL.operation_model(operation).output_shape
    parsed = botocore.parsers.RestXMLParser().parse(
        {"body": body, "headers": {}, "status_code": 200}, shape
    )
    parsed.pop("ResponseMetadata", None)
    return parsed


def entry(key: str) -> ListEntry:
    return ListEntry(key=key, size=1, etag="0" * 32, last_modified=WHEN)


def fill(builder: PageBuilder, keys: list[str]) -> ListPage:
    """Drive the builder over an in-memory bucket, as the database loop does."""
    keys = sorted(keys)
    while not builder.done:
        lower, inclusive = builder.lower_bound
        upper = builder.upper_bound
        for key in keys:
            if (key > lower or (inclusive and key == lower)) and (upper is None or key < upper):
                if builder.offer(entry(key)) or builder.done:
                    break
        else:
            break
    return builder.page()


AWKWARD = [" ", "\n", "\t", " \n ", "\r"]


@pytest.mark.parametrize("value", AWKWARD)
def test_whitespace_parameters_are_kept_as_sent(value):
    arguments = ListArguments.from_query(
        query(list_type="2", prefix=value, delimiter=value, start_after=value)
    )
    assert (arguments.prefix, arguments.delimiter, arguments.start_after) == (value,) * 3
    v1 = ListArguments.from_query(query(marker=value, delimiter=value))
    assert (v1.version, v1.marker, v1.delimiter) == (1, value, value)
    versions = ListArguments.from_query({"versions": [b""], **query(key_marker=value)})
    assert versions.versions and versions.marker == value


def test_absent_and_empty_parameters_differ():
    absent = ListArguments.from_query(query(list_type="2"))
    assert (absent.delimiter, absent.start_after, absent.continuation_token) == (None,) * 3
    assert (absent.prefix, absent.marker, absent.max_keys, absent.fetch_owner) == (
        "",
        "",
        1000,
        False,
    )
    empty = ListArguments.from_query(
        query(list_type="2", delimiter="", start_after="", continuation_token="")
    )
    assert (empty.delimiter, empty.start_after, empty.continuation_token) == ("", "", "")


def test_bad_arguments_are_refused_as_s3_does():
    with pytest.raises(InvalidArgument):
        ListArguments.from_query(query(max_keys="ten"))
    with pytest.raises(InvalidArgument):
        ListArguments.from_query(query(encoding_type="base64"))
    with pytest.raises(InvalidURI):
        ListArguments.from_query({"prefix": [b"\xff"]})


def test_list_type_other_than_2_and_versions_are_version_1():
    assert ListArguments.from_query(query(list_type="1")).version == 1
    both = ListArguments.from_query({"versions": [b""], **query(list_type="2")})
    assert (both.version, both.versions) == (1, True)


@pytest.mark.parametrize("delimiter", [" ", "\n"])
def test_a_whitespace_delimiter_groups_keys(delimiter):
    keys = [f"a{delimiter}1", f"a{delimiter}2", "ab", f"b{delimiter}", "c"]
    arguments = ListArguments.from_query(query(list_type="2", delimiter=delimiter))
    page = fill(arguments.page_builder(), keys)
    assert [e.key for e in page.contents] == ["ab", "c"]
    assert page.common_prefixes == [f"a{delimiter}", f"b{delimiter}"]


def test_a_whitespace_prefix_and_start_after_select_keys():
    keys = [" ", " a", " b", "\n", "\na", "a"]
    arguments = ListArguments.from_query(query(list_type="2", prefix=" ", start_after=" "))
    assert [e.key for e in fill(arguments.page_builder(), keys).contents] == [" a", " b"]
    arguments = ListArguments.from_query(query(prefix="\n"))
    assert [e.key for e in fill(arguments.page_builder(), keys).contents] == ["\n", "\na"]
    arguments = ListArguments.from_query(query(marker="\n"))
    page = fill(arguments.page_builder(), keys)
    assert [e.key for e in page.contents] == ["\na", " ", " a", " b", "a"]  # "\n" < " "


@pytest.mark.parametrize("value", AWKWARD)
def test_listobjectsv2_echoes_whitespace_as_sent(value):
    arguments = ListArguments.from_query(
        query(list_type="2", prefix=value, delimiter=value, start_after=value)
    )
    page = ListPage([entry(value + "k")], [value + "p" + value], False, None)
    parsed = answer("ListObjectsV2", listing_xml(arguments, "bucket", page, OWNER))
    assert (parsed["Prefix"], parsed["Delimiter"], parsed["StartAfter"]) == (value,) * 3
    assert parsed["Contents"][0]["Key"] == value + "k"
    assert parsed["CommonPrefixes"] == [{"Prefix": value + "p" + value}]


@pytest.mark.parametrize("value", AWKWARD)
def test_listobjects_v1_and_versions_echo_whitespace_as_sent(value):
    page = ListPage([entry("k")], [], False, None)
    v1 = ListArguments.from_query(query(prefix=value, delimiter=value, marker=value))
    parsed = answer("ListObjects", listing_xml(v1, "bucket", page, OWNER))
    assert (parsed["Prefix"], parsed["Delimiter"], parsed["Marker"]) == (value,) * 3
    versions = ListArguments.from_query(
        {"versions": [b""], **query(prefix=value, delimiter=value, key_marker=value)}
    )
    parsed = answer("ListObjectVersions", listing_xml(versions, "bucket", page, OWNER))
    assert (parsed["Prefix"], parsed["Delimiter"], parsed["KeyMarker"]) == (value,) * 3


def test_encoding_type_url_encodes_the_echoes_where_s3_does():
    arguments = ListArguments.from_query(
        query(
            list_type="2",
            prefix=" ",
            delimiter="\n",
            start_after="a b",
            continuation_token="",
            encoding_type="url",
        )
    )
    page = ListPage([entry(" \nk")], [], False, None)
    parsed = answer("ListObjectsV2", listing_xml(arguments, "bucket", page, OWNER))
    assert (parsed["Prefix"], parsed["Delimiter"], parsed["StartAfter"]) == ("%20", "%0A", "a%20b")
    assert parsed["Contents"][0]["Key"] == "%20%0Ak"
    assert parsed["EncodingType"] == "url"
    assert parsed["ContinuationToken"] == ""  # tokens are never encoded
    v1 = ListArguments.from_query(query(marker="\n", delimiter=" ", encoding_type="url"))
    parsed = answer("ListObjects", listing_xml(v1, "bucket", page, OWNER))
    assert (parsed["Marker"], parsed["Delimiter"]) == ("%0A", "%20")


def test_an_empty_delimiter_is_echoed_and_groups_nothing():
    arguments = ListArguments.from_query(query(list_type="2", delimiter=""))
    page = fill(arguments.page_builder(), ["a/1", "b"])
    assert [e.key for e in page.contents] == ["a/1", "b"] and page.common_prefixes == []
    assert answer("ListObjectsV2", listing_xml(arguments, "bucket", page, OWNER))["Delimiter"] == ""


def test_an_empty_continuation_token_reads_as_a_first_page_and_is_echoed_empty():
    assert start_bound(None, "") == (None, False)
    assert start_bound("b", "") == ("b", False)  # start-after still applies
    arguments = ListArguments.from_query(query(list_type="2", continuation_token=""))
    page = fill(arguments.page_builder(), ["a", "b"])
    assert [e.key for e in page.contents] == ["a", "b"]
    parsed = answer("ListObjectsV2", listing_xml(arguments, "bucket", page, OWNER))
    assert parsed["ContinuationToken"] == ""
    assert "ContinuationToken" not in answer(
        "ListObjectsV2",
        listing_xml(ListArguments.from_query(query(list_type="2")), "bucket", page, OWNER),
    )


def test_a_truncated_page_gives_tokens_and_markers():
    keys = ["a", "b", "c"]
    arguments = ListArguments.from_query(query(list_type="2", max_keys="2"))
    page = fill(arguments.page_builder(), keys)
    parsed = answer("ListObjectsV2", listing_xml(arguments, "bucket", page, OWNER))
    assert parsed["IsTruncated"] and parsed["NextContinuationToken"] == page.next_token
    follow = ListArguments.from_query(
        query(list_type="2", continuation_token=page.next_token, start_after="zzz")
    )
    assert [e.key for e in fill(follow.page_builder(), keys).contents] == ["c"]
    v1 = ListArguments.from_query(query(max_keys="2", delimiter="/"))
    parsed = answer("ListObjects", listing_xml(v1, "bucket", fill(v1.page_builder(), keys), OWNER))
    assert parsed["NextMarker"] == "b"


def test_fetch_owner_adds_each_objects_owner_to_listobjectsv2():
    page = ListPage([entry("a"), entry("b")], ["p/"], False, None)
    plain = ListArguments.from_query(query(list_type="2"))
    parsed = answer("ListObjectsV2", listing_xml(plain, "bucket", page, OWNER))
    assert all("Owner" not in contents for contents in parsed["Contents"])
    for value in ("true", "TRUE"):
        fetching = ListArguments.from_query(query(list_type="2", fetch_owner=value))
        parsed = answer("ListObjectsV2", listing_xml(fetching, "bucket", page, OWNER))
        owners = [contents["Owner"] for contents in parsed["Contents"]]
        assert owners == [{"ID": "owner-id", "DisplayName": "owner"}] * 2
    refusing = ListArguments.from_query(query(list_type="2", fetch_owner="false"))
    assert not refusing.fetch_owner


def test_listobjects_v1_always_shows_the_owner():
    page = ListPage([entry("a")], [], False, None)
    parsed = answer("ListObjects", listing_xml(ListArguments.from_query({}), "bucket", page, OWNER))
    assert parsed["Contents"][0]["Owner"] == {"ID": "owner-id", "DisplayName": "owner"}


def test_control_characters_survive_and_are_url_encoded():
    """Tornado's get_query_argument turns these into spaces even with strip=False."""
    arguments = ListArguments.from_query(
        query(list_type="2", prefix="\x01", delimiter="\x1f", encoding_type="url")
    )
    assert (arguments.prefix, arguments.delimiter) == ("\x01", "\x1f")
    page = ListPage([entry("\x01a")], ["\x01b\x1f"], False, None)
    parsed = answer("ListObjectsV2", listing_xml(arguments, "bucket", page, OWNER))
    assert (parsed["Prefix"], parsed["Delimiter"]) == ("%01", "%1F")
    assert parsed["Contents"][0]["Key"] == "%01a"
    assert parsed["CommonPrefixes"] == [{"Prefix": "%01b%1F"}]


def test_control_characters_without_url_encoding_are_written_as_s3_writes_them():
    arguments = ListArguments.from_query(query(list_type="2", prefix="a\x01\x1fb\t\r\n"))
    body = listing_xml(arguments, "bucket", ListPage([entry("\x08")], [], False, None), OWNER)
    assert b"<Prefix>a&#x1;&#x1F;b\t&#13;\n</Prefix>" in body
    assert b"<Key>&#x8;</Key>" in body
    assert not any(byte < 0x20 and byte not in b"\t\n" for byte in body)
