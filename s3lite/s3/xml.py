"""S3's XML response bodies, built with ElementTree so every key and message is escaped.

Result documents carry S3's namespace; ``<Error>`` does not, as S3 sends it. With
``encoding-type=url`` names are percent-encoded with ``quote(value, safe="/")``: space becomes
``%20`` and ``+`` becomes ``%2B`` (the Ceph s3-tests expect exactly that of S3), which decodes
correctly both with ``unquote`` and with botocore's ``unquote_plus``.
"""

import re
import xml.etree.ElementTree as ElementTree
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import quote

from s3lite.s3.listing import ListArguments, ListPage, decode_token

S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
# Bytes below 0x20 other than tab, line feed and carriage return; never part of a UTF-8
# multi-byte sequence, so they can be replaced in the encoded document.
CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def iso8601(dt: datetime) -> str:
    """Return ``dt`` as S3 writes times in XML, to the millisecond: 2026-11-24T07:00:00.000Z."""
    utc = as_utc(dt)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def http_date(dt: datetime) -> str:
    """Return ``dt`` as an RFC 7231 date for headers such as Last-Modified."""
    return format_datetime(as_utc(dt).replace(microsecond=0), usegmt=True)


def as_utc(dt: datetime) -> datetime:
    """Return ``dt`` in UTC; a naive datetime, as the database returns them, is taken as UTC."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def error_xml(code: str, message: str, resource: str, request_id: str, **extra: str) -> bytes:
    """Return an S3 ``<Error>`` body; ``extra`` adds elements such as BucketName or Key."""
    root = ElementTree.Element("Error")
    fields = {"Code": code, "Message": message, "Resource": resource, "RequestId": request_id}
    add_text_elements(root, {**fields, **extra})
    return serialize(root)


def list_buckets_xml(buckets: list[tuple[str, datetime]], owner_id: str, owner_name: str) -> bytes:
    """Return the ListAllMyBucketsResult body of ``GET /``, buckets in the order given."""
    root = result_root("ListAllMyBucketsResult")
    owner = ElementTree.SubElement(root, "Owner")
    add_text_elements(owner, {"ID": owner_id, "DisplayName": owner_name})
    listed = ElementTree.SubElement(root, "Buckets")
    for name, created in buckets:
        bucket = ElementTree.SubElement(listed, "Bucket")
        add_text_elements(bucket, {"Name": name, "CreationDate": iso8601(created)})
    return serialize(root)


def list_objects_v2_xml(
    result: ListPage,
    *,
    bucket: str,
    prefix: str,
    delimiter: str | None,
    max_keys: int,
    start_after: str | None,
    continuation_token: str | None,
    encoding_type: str | None,
    owner: tuple[str, str] | None = None,
) -> bytes:
    """Return the ListBucketResult body of ListObjectsV2 for one page.

    Optional elements appear only when S3 would send them: Delimiter, StartAfter,
    ContinuationToken and EncodingType when the request gave them, even empty or whitespace
    (None means not given), NextContinuationToken when the page is truncated, and each object's
    Owner (id, display name) when ``owner`` is given, as for ``fetch-owner=true``.
    """

    def encoded(value: str) -> str:
        return quote(value, safe="/") if encoding_type == "url" else value

    root = result_root("ListBucketResult")
    fields = {"Name": bucket, "Prefix": encoded(prefix)}
    if delimiter is not None:
        fields["Delimiter"] = encoded(delimiter)
    fields["MaxKeys"] = str(max_keys)
    fields["KeyCount"] = str(len(result.contents) + len(result.common_prefixes))
    fields["IsTruncated"] = "true" if result.is_truncated else "false"
    if continuation_token is not None:
        fields["ContinuationToken"] = continuation_token
    if result.next_token:
        fields["NextContinuationToken"] = result.next_token
    if start_after is not None:
        fields["StartAfter"] = encoded(start_after)
    if encoding_type:
        fields["EncodingType"] = encoding_type
    add_text_elements(root, fields)
    add_listing_entries(root, result, encoded, owner)
    return serialize(root)


def list_objects_v1_xml(
    result: ListPage,
    *,
    bucket: str,
    prefix: str,
    delimiter: str | None,
    max_keys: int,
    marker: str,
    next_marker: str | None,
    encoding_type: str | None,
    owner: tuple[str, str] | None = None,
) -> bytes:
    """Return the ListBucketResult body of ListObjects (version 1) for one page; NextMarker is
    sent when the page is truncated (S3 sends it only with a delimiter; it never hurts). S3
    lists each object's Owner in version 1 always: pass ``owner``."""

    def encoded(value: str) -> str:
        return quote(value, safe="/") if encoding_type == "url" else value

    root = result_root("ListBucketResult")
    fields = {"Name": bucket, "Prefix": encoded(prefix), "Marker": encoded(marker)}
    if next_marker is not None:
        fields["NextMarker"] = encoded(next_marker)
    add_text_elements(root, fields | page_fields(result, max_keys, delimiter, encoding_type))
    add_listing_entries(root, result, encoded, owner)
    return serialize(root)


def page_fields(
    result: ListPage, max_keys: int, delimiter: str | None, encoding_type: str | None
) -> dict[str, str]:
    """The fields ListObjects (v1) and ListObjectVersions share after their markers."""
    fields = {"MaxKeys": str(max_keys)}
    if delimiter is not None:
        fields["Delimiter"] = quote(delimiter, safe="/") if encoding_type == "url" else delimiter
    fields["IsTruncated"] = "true" if result.is_truncated else "false"
    if encoding_type:
        fields["EncodingType"] = encoding_type
    return fields


def list_versions_xml(
    result: ListPage,
    *,
    bucket: str,
    prefix: str,
    delimiter: str | None,
    max_keys: int,
    key_marker: str,
    next_key_marker: str | None,
    encoding_type: str | None,
    owner: tuple[str, str],
) -> bytes:
    """ListObjectVersions of an unversioned bucket: each object once, as its only version,
    with the version id ``null``, as S3 lists objects stored before versioning was enabled."""

    def encoded(value: str) -> str:
        return quote(value, safe="/") if encoding_type == "url" else value

    root = result_root("ListVersionsResult")
    fields = {"Name": bucket, "Prefix": encoded(prefix), "KeyMarker": encoded(key_marker)}
    fields["VersionIdMarker"] = ""
    if next_key_marker is not None:
        fields["NextKeyMarker"] = encoded(next_key_marker)
        fields["NextVersionIdMarker"] = "null"
    add_text_elements(root, fields | page_fields(result, max_keys, delimiter, encoding_type))
    for entry in result.contents:
        version = ElementTree.SubElement(root, "Version")
        add_text_elements(
            version,
            {
                "Key": encoded(entry.key),
                "VersionId": "null",
                "IsLatest": "true",
                "LastModified": iso8601(entry.last_modified),
                "ETag": f'"{entry.etag}"',
                "Size": str(entry.size),
            },
        )
        owner_element = ElementTree.SubElement(version, "Owner")
        add_text_elements(owner_element, {"ID": owner[0], "DisplayName": owner[1]})
        add_text_elements(version, {"StorageClass": "STANDARD"})
    add_common_prefixes(root, result, encoded)
    return serialize(root)


def listing_xml(
    arguments: ListArguments, bucket: str, page: ListPage, owner: tuple[str, str]
) -> bytes:
    """The answer of whichever listing ``arguments`` asked for, echoing its parameters; ``owner``
    is (id, display name), shown where S3 shows it: always in versions and in version 1, in
    ListObjectsV2 with ``fetch-owner=true``."""
    common = {
        "bucket": bucket,
        "prefix": arguments.prefix,
        "delimiter": arguments.delimiter,
        "max_keys": arguments.max_keys,
        "encoding_type": arguments.encoding_type,
    }
    next_marker = decode_token(page.next_token)[0] if page.next_token else None
    if arguments.versions:
        return list_versions_xml(
            page, **common, key_marker=arguments.marker, next_key_marker=next_marker, owner=owner
        )
    if arguments.version == 1:
        return list_objects_v1_xml(
            page, **common, marker=arguments.marker, next_marker=next_marker, owner=owner
        )
    return list_objects_v2_xml(
        page,
        **common,
        start_after=arguments.start_after,
        continuation_token=arguments.continuation_token,
        owner=owner if arguments.fetch_owner else None,
    )


def versioning_xml() -> bytes:
    """GetBucketVersioning of a bucket that never had versioning: an empty configuration."""
    return serialize(result_root("VersioningConfiguration"))


def add_listing_entries(
    root: ElementTree.Element,
    result: ListPage,
    encoded,
    owner: tuple[str, str] | None = None,
) -> None:
    for entry in result.contents:
        contents = ElementTree.SubElement(root, "Contents")
        add_text_elements(
            contents,
            {
                "Key": encoded(entry.key),
                "LastModified": iso8601(entry.last_modified),
                "ETag": f'"{entry.etag}"',
                "Size": str(entry.size),
                "StorageClass": "STANDARD",
            },
        )
        if owner is not None:
            owner_element = ElementTree.SubElement(contents, "Owner")
            add_text_elements(owner_element, {"ID": owner[0], "DisplayName": owner[1]})
    add_common_prefixes(root, result, encoded)


def add_common_prefixes(root: ElementTree.Element, result: ListPage, encoded) -> None:
    for common_prefix in result.common_prefixes:
        rolled_up = ElementTree.SubElement(root, "CommonPrefixes")
        add_text_elements(rolled_up, {"Prefix": encoded(common_prefix)})


def location_xml() -> bytes:
    """GetBucketLocation: an empty constraint means us-east-1, what clients assume here."""
    return serialize(result_root("LocationConstraint"))


def copy_object_xml(etag: str, last_modified: datetime) -> bytes:
    root = result_root("CopyObjectResult")
    add_text_elements(root, {"ETag": f'"{etag}"', "LastModified": iso8601(last_modified)})
    return serialize(root)


def delete_result_xml(deleted: list[str], failed: list[tuple[str, str, str]]) -> bytes:
    """DeleteObjects' answer: each deleted key, then each (key, code, message) that failed."""
    root = result_root("DeleteResult")
    for key in deleted:
        add_text_elements(ElementTree.SubElement(root, "Deleted"), {"Key": key})
    for key, code, message in failed:
        add_text_elements(
            ElementTree.SubElement(root, "Error"), {"Key": key, "Code": code, "Message": message}
        )
    return serialize(root)


def result_root(tag: str) -> ElementTree.Element:
    """Return a root element in S3's namespace, declared once so children stay unprefixed."""
    return ElementTree.Element(tag, xmlns=S3_NAMESPACE)


def add_text_elements(parent: ElementTree.Element, fields: dict[str, str]) -> None:
    """Append one child per field, in order, holding its text."""
    for tag, text in fields.items():
        ElementTree.SubElement(parent, tag).text = text


def serialize(root: ElementTree.Element) -> bytes:
    """Return the document as UTF-8 with the declaration S3 sends (double-quoted).

    A carriage return (possible in keys) is written as ``&#13;``: written raw, every XML parser
    would read it back as a line feed. Other control characters, which XML 1.0 cannot hold at
    all, are written as S3 writes them, ``&#x1;``: no XML 1.0 parser reads those either, which
    is why clients ask for ``encoding-type=url`` (boto3 always does for listings).
    """
    body = ElementTree.tostring(root, encoding="utf-8").replace(b"\r", b"&#13;")
    return DECLARATION + CONTROL_BYTES.sub(lambda m: b"&#x%X;" % m[0][0], body)
