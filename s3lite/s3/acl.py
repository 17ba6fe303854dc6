"""Access control lists, as far as s3lite has them: every bucket and object is private to the
one owner. Clients that read ACLs get that; clients that set the owner-only ACLs (what ``aws``
and rclone send by default) are answered as S3 does; any wider grant is refused rather than
stored and silently not enforced."""

import xml.etree.ElementTree as ElementTree

from s3lite.errors import NotImplementedYet
from s3lite.s3.request_xml import local_name, parse_request
from s3lite.s3.xml import add_text_elements, result_root, serialize

XSI = "http://www.w3.org/2001/XMLSchema-instance"
# Canned ACLs that grant nothing beyond the owner when the bucket owner is the only account.
OWNER_ONLY_CANNED = {"private", "bucket-owner-read", "bucket-owner-full-control"}
GRANT_HEADERS = (
    "x-amz-grant-read",
    "x-amz-grant-write",
    "x-amz-grant-read-acp",
    "x-amz-grant-write-acp",
    "x-amz-grant-full-control",
)


def check_acl_headers(headers) -> None:
    """Accept ``x-amz-acl`` naming an owner-only ACL; refuse anything that grants more."""
    canned = headers.get("x-amz-acl")
    if canned is not None and canned.strip().lower() not in OWNER_ONLY_CANNED:
        raise NotImplementedYet(f"the {canned} ACL is not supported: everything is private")
    if any(name in headers for name in GRANT_HEADERS):
        raise NotImplementedYet("x-amz-grant-* headers are not supported: everything is private")


def check_policy_body(body: bytes, owner_id: str) -> None:
    """A PutBucketAcl/PutObjectAcl body is accepted when it grants the owner alone."""
    root = parse_request(body, "AccessControlPolicy")
    for grant in root.iter():
        if local_name(grant) != "Grant":
            continue
        grantee_ids = [e.text for e in grant.iter() if local_name(e) == "ID"]
        permission = next((e.text for e in grant if local_name(e) == "Permission"), None)
        if grantee_ids != [owner_id] or permission != "FULL_CONTROL":
            raise NotImplementedYet("only the owner's FULL_CONTROL grant is supported")


def owner_policy_xml(owner_id: str, owner_name: str) -> bytes:
    """The AccessControlPolicy of everything in s3lite: the owner has full control."""
    root = result_root("AccessControlPolicy")
    add_text_elements(
        ElementTree.SubElement(root, "Owner"), {"ID": owner_id, "DisplayName": owner_name}
    )
    grant = ElementTree.SubElement(ElementTree.SubElement(root, "AccessControlList"), "Grant")
    grantee = ElementTree.SubElement(
        grant, "Grantee", {"xmlns:xsi": XSI, "xsi:type": "CanonicalUser"}
    )
    add_text_elements(grantee, {"ID": owner_id, "DisplayName": owner_name})
    add_text_elements(grant, {"Permission": "FULL_CONTROL"})
    return serialize(root)
