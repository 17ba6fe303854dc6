"""The XML of S3's multipart upload calls: the part list a client completes with, and the
documents that Create, Complete, ListParts and ListMultipartUploads answer."""

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from datetime import datetime

from s3lite.errors import InvalidArgument, MalformedXML
from s3lite.numbers import is_decimal
from s3lite.s3.request_xml import local_name, parse_request
from s3lite.s3.xml import add_text_elements, iso8601, result_root, serialize

MAX_PARTS = 10000


def parse_part_number(raw: str, low: int = 1) -> int:
    """A part number (or a ``part-number-marker``, from 0) as S3 checks it."""
    if not is_decimal(raw) or not low <= int(raw) <= MAX_PARTS:
        raise InvalidArgument(
            f"Part number must be an integer between {low} and {MAX_PARTS}",
            ArgumentName="partNumber",
            ArgumentValue=raw,
        )
    return int(raw)


@dataclass(frozen=True)
class PartListing:
    part_number: int
    etag: str  # bare hex
    size: int
    last_modified: datetime


@dataclass(frozen=True)
class UploadListing:
    key: str
    upload_id: str
    initiated: datetime


def parse_complete_request(body: bytes) -> list[tuple[int, str]]:
    """The (part number, bare ETag) pairs of a CompleteMultipartUpload body, in its order."""
    root = parse_request(body, "CompleteMultipartUpload")
    parts = []
    for part in root:
        if local_name(part) != "Part":
            continue
        fields = {local_name(child): (child.text or "").strip() for child in part}
        number, etag = fields.get("PartNumber", ""), fields.get("ETag", "")
        if not is_decimal(number) or not etag:
            raise MalformedXML("every Part needs a PartNumber and an ETag")
        parts.append((int(number), etag.strip('"')))
    if not parts or len(parts) > MAX_PARTS:
        raise MalformedXML(f"a completion lists between 1 and {MAX_PARTS} parts")
    return parts


def initiate_xml(bucket: str, key: str, upload_id: str) -> bytes:
    root = result_root("InitiateMultipartUploadResult")
    add_text_elements(root, {"Bucket": bucket, "Key": key, "UploadId": upload_id})
    return serialize(root)


def complete_xml(location: str, bucket: str, key: str, etag: str) -> bytes:
    root = result_root("CompleteMultipartUploadResult")
    add_text_elements(
        root, {"Location": location, "Bucket": bucket, "Key": key, "ETag": f'"{etag}"'}
    )
    return serialize(root)


def copy_part_xml(etag: str, last_modified: datetime) -> bytes:
    """UploadPartCopy's answer: the new part's ETag, as UploadPart gives it in a header."""
    root = result_root("CopyPartResult")
    add_text_elements(root, {"LastModified": iso8601(last_modified), "ETag": f'"{etag}"'})
    return serialize(root)


def list_parts_xml(
    bucket: str,
    key: str,
    upload_id: str,
    parts: list[PartListing],
    marker: int,
    max_parts: int,
    is_truncated: bool,
) -> bytes:
    root = result_root("ListPartsResult")
    add_text_elements(
        root,
        {
            "Bucket": bucket,
            "Key": key,
            "UploadId": upload_id,
            "PartNumberMarker": str(marker),
            "NextPartNumberMarker": str(parts[-1].part_number if parts else marker),
            "MaxParts": str(max_parts),
            "IsTruncated": "true" if is_truncated else "false",
            "StorageClass": "STANDARD",
        },
    )
    for part in parts:
        add_text_elements(
            ElementTree.SubElement(root, "Part"),
            {
                "PartNumber": str(part.part_number),
                "LastModified": iso8601(part.last_modified),
                "ETag": f'"{part.etag}"',
                "Size": str(part.size),
            },
        )
    return serialize(root)


def list_uploads_xml(bucket: str, uploads: list[UploadListing], owner: tuple[str, str]) -> bytes:
    root = result_root("ListMultipartUploadsResult")
    add_text_elements(
        root,
        {
            "Bucket": bucket,
            "KeyMarker": "",
            "UploadIdMarker": "",
            "MaxUploads": "1000",
            "IsTruncated": "false",
        },
    )
    for upload in uploads:
        entry = ElementTree.SubElement(root, "Upload")
        add_text_elements(entry, {"Key": upload.key, "UploadId": upload.upload_id})
        for role in ("Initiator", "Owner"):
            add_text_elements(
                ElementTree.SubElement(entry, role), {"ID": owner[0], "DisplayName": owner[1]}
            )
        add_text_elements(
            entry, {"StorageClass": "STANDARD", "Initiated": iso8601(upload.initiated)}
        )
    return serialize(root)
