"""XML bodies and error codes: shape, escaping of awkward keys, encoding-type=url, dates."""

import xml.etree.ElementTree as ElementTree
from datetime import UTC, datetime, timedelta, timezone

import pytest

from s3lite import errors
from s3lite.s3.errors import S3_ERRORS, s3_status_and_code
from s3lite.s3.listing import ListEntry, ListPage
from s3lite.s3.xml import error_xml, http_date, iso8601, list_buckets_xml, list_objects_v2_xml

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>'
WHEN = datetime(2026, 11, 24, 7, 0, 0, 123456, tzinfo=UTC)
AWKWARD_KEYS = ["a&b<c>", "naïve/ключ/鍵", "a%20b", "quote\"'s", "x]]>y"]


def parse(body: bytes) -> ElementTree.Element:
    assert body.startswith(DECLARATION)
    return ElementTree.fromstring(body)


def texts(parent: ElementTree.Element, path: str) -> list[str | None]:
    return [element.text for element in parent.findall(path)]


def list_v2(page: ListPage, **overrides) -> ElementTree.Element:
    arguments = {
        "bucket": "bucket",
        "prefix": "",
        "delimiter": None,
        "max_keys": 1000,
        "start_after": None,
        "continuation_token": None,
        "encoding_type": None,
    }
    return parse(list_objects_v2_xml(page, **{**arguments, **overrides}))


def entry(key: str) -> ListEntry:
    return ListEntry(key=key, size=3, etag="acbd18db4cc2f85cedef654fccc4a4d8", last_modified=WHEN)


def test_timestamps():
    assert iso8601(WHEN) == "2026-11-24T07:00:00.123Z"
    assert iso8601(datetime(2026, 11, 24, 7)) == "2026-11-24T07:00:00.000Z"
    plus_two = datetime(2026, 11, 24, 9, tzinfo=timezone(timedelta(hours=2)))
    assert iso8601(plus_two) == "2026-11-24T07:00:00.000Z"
    assert http_date(WHEN) == "Tue, 24 Nov 2026 07:00:00 GMT"
    assert http_date(plus_two) == "Tue, 24 Nov 2026 07:00:00 GMT"


def test_error_xml_shape_without_namespace():
    body = error_xml("NoSuchKey", "The specified key does not exist.", "/b/a&b", "RID1", Key="a&b")
    root = parse(body)
    assert root.tag == "Error"
    assert [(child.tag, child.text) for child in root] == [
        ("Code", "NoSuchKey"),
        ("Message", "The specified key does not exist."),
        ("Resource", "/b/a&b"),
        ("RequestId", "RID1"),
        ("Key", "a&b"),
    ]
    assert b"a&amp;b" in body


def test_list_buckets_xml():
    root = parse(list_buckets_xml([("alpha", WHEN), ("beta", WHEN)], "owner-id", "owner"))
    assert root.tag == f"{NS}ListAllMyBucketsResult"
    assert texts(root, f"{NS}Owner/{NS}ID") == ["owner-id"]
    assert texts(root, f"{NS}Owner/{NS}DisplayName") == ["owner"]
    assert texts(root, f"{NS}Buckets/{NS}Bucket/{NS}Name") == ["alpha", "beta"]
    assert texts(root, f"{NS}Buckets/{NS}Bucket/{NS}CreationDate") == [iso8601(WHEN)] * 2


def test_list_objects_v2_minimal_page():
    root = list_v2(ListPage([entry("a")], [], False, None))
    assert root.tag == f"{NS}ListBucketResult"
    assert [child.tag.removeprefix(NS) for child in root] == [
        "Name",
        "Prefix",
        "MaxKeys",
        "KeyCount",
        "IsTruncated",
        "Contents",
    ]
    assert texts(root, f"{NS}Prefix") == [None]
    contents = root.find(f"{NS}Contents")
    assert [(child.tag.removeprefix(NS), child.text) for child in contents] == [
        ("Key", "a"),
        ("LastModified", "2026-11-24T07:00:00.123Z"),
        ("ETag", '"acbd18db4cc2f85cedef654fccc4a4d8"'),
        ("Size", "3"),
        ("StorageClass", "STANDARD"),
    ]


def test_list_objects_v2_optional_elements():
    page = ListPage([entry("d/a")], ["d/e/"], True, "TOKEN2")
    root = list_v2(
        page,
        prefix="d/",
        delimiter="/",
        max_keys=2,
        start_after="d/0",
        continuation_token="TOKEN1",
        encoding_type="url",
    )
    fields = {child.tag.removeprefix(NS): child.text for child in root}
    assert fields["Delimiter"] == "/"
    assert fields["MaxKeys"] == "2"
    assert fields["KeyCount"] == "2"
    assert fields["IsTruncated"] == "true"
    assert fields["ContinuationToken"] == "TOKEN1"
    assert fields["NextContinuationToken"] == "TOKEN2"
    assert fields["StartAfter"] == "d/0"
    assert fields["EncodingType"] == "url"
    assert texts(root, f"{NS}CommonPrefixes/{NS}Prefix") == ["d/e/"]


def test_awkward_keys_are_escaped_and_come_back_unchanged():
    page = ListPage([entry(key) for key in AWKWARD_KEYS], ["p&q<r>/"], False, None)
    body = list_objects_v2_xml(
        page,
        bucket="bucket",
        prefix="",
        delimiter="/",
        max_keys=1000,
        start_after="s&t",
        continuation_token=None,
        encoding_type=None,
    )
    assert b"a&amp;b&lt;c&gt;" in body
    root = parse(body)
    assert texts(root, f"{NS}Contents/{NS}Key") == AWKWARD_KEYS
    assert texts(root, f"{NS}CommonPrefixes/{NS}Prefix") == ["p&q<r>/"]
    assert texts(root, f"{NS}StartAfter") == ["s&t"]


def test_encoding_type_url_encodes_names_as_s3_does():
    keys = ["asdf+b", "a%20b", "a b/c", "é/ü", "x&y"]
    page = ListPage([entry(key) for key in keys], ["foo+1/", "quux ab/"], False, None)
    root = list_v2(page, prefix="p q/", delimiter="/", start_after="s+t", encoding_type="url")
    assert texts(root, f"{NS}Contents/{NS}Key") == [
        "asdf%2Bb",
        "a%2520b",
        "a%20b/c",
        "%C3%A9/%C3%BC",
        "x%26y",
    ]
    assert texts(root, f"{NS}CommonPrefixes/{NS}Prefix") == ["foo%2B1/", "quux%20ab/"]
    assert texts(root, f"{NS}Prefix") == ["p%20q/"]
    assert texts(root, f"{NS}Delimiter") == ["/"]
    assert texts(root, f"{NS}StartAfter") == ["s%2Bt"]


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (errors.NoSuchBucket(), 404, "NoSuchBucket"),
        (errors.NoSuchKey(), 404, "NoSuchKey"),
        (errors.BucketNotEmpty(), 409, "BucketNotEmpty"),
        (errors.KeyTooLong(), 400, "KeyTooLongError"),
        (errors.InvalidKey(), 400, "InvalidArgument"),
        (errors.MissingContentLength(), 411, "MissingContentLength"),
        (errors.InvalidRange(), 416, "InvalidRange"),
        (errors.NotImplementedYet(), 501, "NotImplemented"),
        (errors.InsufficientNodes(), 503, "ServiceUnavailable"),
        (errors.PartCorrupted(), 500, "InternalError"),
        (errors.NoSuchPart(), 500, "InternalError"),
        (ValueError("a bug"), 500, "InternalError"),
    ],
)
def test_status_and_code(error, status, code):
    assert s3_status_and_code(error) == (status, code)


def test_subclass_inherits_its_parents_code():
    class VanishedKey(errors.NoSuchKey):
        pass

    assert s3_status_and_code(VanishedKey()) == (404, "NoSuchKey")


def test_every_mapped_class_is_a_domain_exception():
    assert all(issubclass(cls, errors.S3liteError) for cls in S3_ERRORS)
