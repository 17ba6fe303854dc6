"""Access control lists, as far as they mean something with one account: the owner always has
full control, and a bucket or an object may also be readable (or, for a bucket, writable) by
everyone or by every signed-in caller.

That is exactly what the canned ACLs ``private``, ``public-read``, ``public-read-write`` and
``authenticated-read`` say, so an ACL is stored as one of these four names. Everything a client
can send is reduced to one of them: ``x-amz-acl``; ``x-amz-grant-*`` headers and an
AccessControlPolicy body, when their grants are those of a canned ACL; the owner-only
``bucket-owner-read`` and ``bucket-owner-full-control`` (the bucket owner is the object owner).
Grants to the owner are taken as the full control the owner always keeps.

What does not reduce is refused, never stored and silently not enforced. The choice of error
follows what S3 itself answers where it can: a malformed header or an unknown canned ACL, group
or account id is ``InvalidArgument`` (an id other than the owner's names no account here), an
e-mail grantee ``UnresolvableGrantByEmailAddress``, a malformed body ``MalformedACLError``; a
valid grant that this model cannot hold (to the log delivery group, ``READ_ACP`` to everyone,
``aws-exec-read``...) is ``NotImplemented``, since S3 would take it and s3lite does not.

``is_allowed`` is the one decision the handlers ask: may this caller read this object, list or
write this bucket, or read or change an ACL?
"""

import enum
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping

from s3lite.errors import (
    AccessDenied,
    InvalidArgument,
    InvalidRequest,
    MalformedXML,
    NoSuchKey,
    NotImplementedYet,
)
from s3lite.s3.errors import (
    MalformedACLError,
    MissingSecurityHeader,
    UnexpectedContent,
    UnresolvableGrantByEmailAddress,
)
from s3lite.s3.request_xml import local_name, parse_request
from s3lite.s3.xml import add_text_elements, result_root, serialize

XSI = "http://www.w3.org/2001/XMLSchema-instance"
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
LOG_DELIVERY = "http://acs.amazonaws.com/groups/s3/LogDelivery"
GROUPS = (ALL_USERS, AUTHENTICATED_USERS, LOG_DELIVERY)
PERMISSIONS = ("READ", "WRITE", "READ_ACP", "WRITE_ACP", "FULL_CONTROL")
FULL_CONTROL_MEANS = ("READ", "WRITE", "READ_ACP", "WRITE_ACP")
PRIVATE = "private"

# The grants each stored ACL gives beyond the owner's full control: (group URI, permission).
CANNED_GRANTS: dict[str, frozenset[tuple[str, str]]] = {
    "private": frozenset(),
    "public-read": frozenset({(ALL_USERS, "READ")}),
    "public-read-write": frozenset({(ALL_USERS, "READ"), (ALL_USERS, "WRITE")}),
    "authenticated-read": frozenset({(AUTHENTICATED_USERS, "READ")}),
}
# Canned ACLs that grant nothing beyond the owner when the bucket owner is the only account.
OWNER_ONLY_CANNED = {"private", "bucket-owner-read", "bucket-owner-full-control"}
# Canned ACLs S3 has whose grants name what s3lite has not (EC2, the log delivery group).
UNSUPPORTED_CANNED = {"aws-exec-read", "log-delivery-write"}
GRANT_HEADERS = {
    "x-amz-grant-read": "READ",
    "x-amz-grant-write": "WRITE",
    "x-amz-grant-read-acp": "READ_ACP",
    "x-amz-grant-write-acp": "WRITE_ACP",
    "x-amz-grant-full-control": "FULL_CONTROL",
}
GRANTEE = re.compile(r'\s*([A-Za-z]+)\s*=\s*(?:"([^"]*)"|([^,"\s]+))\s*(?:,|$)')
NOT_REDUCIBLE = (
    "s3lite keeps only the ACLs private, public-read, public-read-write and authenticated-read"
)


class Caller(enum.Enum):
    """Who sends a request, as far as ACLs care."""

    OWNER = "owner"  # signed with the configured credentials, or any caller without them
    AUTHENTICATED = "authenticated"  # signed by a known account that is not the owner
    ANONYMOUS = "anonymous"  # not signed at all


class Access(enum.Enum):
    """What a request needs: (whose ACL decides, the permission it must grant).

    READ_OBJECT: GetObject, HeadObject (and the source of CopyObject). LIST_BUCKET:
    ListObjects, ListObjectsV2, ListObjectVersions, ListMultipartUploads, HeadBucket.
    WRITE_BUCKET: PutObject, CopyObject's target, DeleteObject, DeleteObjects, the multipart
    upload calls. The ACL accesses: Get/Put of ?acl. OWNER_ONLY: everything else (creating and
    deleting buckets, CORS, location, versioning...).
    """

    READ_OBJECT = ("object", "READ")
    LIST_BUCKET = ("bucket", "READ")
    WRITE_BUCKET = ("bucket", "WRITE")
    READ_BUCKET_ACL = ("bucket", "READ_ACP")
    WRITE_BUCKET_ACL = ("bucket", "WRITE_ACP")
    READ_OBJECT_ACL = ("object", "READ_ACP")
    WRITE_OBJECT_ACL = ("object", "WRITE_ACP")
    OWNER_ONLY = ("bucket", None)


def groups_of(caller: Caller) -> set[str]:
    """The groups a caller belongs to: everyone is in AllUsers, signed callers also in
    AuthenticatedUsers."""
    if caller is Caller.ANONYMOUS:
        return {ALL_USERS}
    return {ALL_USERS, AUTHENTICATED_USERS}


def is_allowed(
    caller: Caller, access: Access, bucket_acl: str = PRIVATE, object_acl: str | None = None
) -> bool:
    """Whether ``caller`` may do what ``access`` needs. ``bucket_acl`` and ``object_acl`` are
    stored canned names (None or an unknown name reads as private); the object's ACL decides
    object accesses, as in S3: a public bucket does not make its objects readable."""
    if caller is Caller.OWNER:
        return True
    resource, permission = access.value
    if permission is None:
        return False
    acl = object_acl if resource == "object" else bucket_acl
    grants = CANNED_GRANTS.get(acl or PRIVATE, frozenset())
    groups = groups_of(caller)
    return any(uri in groups and granted == permission for uri, granted in grants)


def check_access(
    caller: Caller, access: Access, bucket_acl: str = PRIVATE, object_acl: str | None = None
) -> None:
    """Raise AccessDenied unless ``is_allowed``."""
    if not is_allowed(caller, access, bucket_acl, object_acl):
        raise AccessDenied("Access Denied")


def missing_key_error(caller: Caller, bucket_acl: str, key: str) -> Exception:
    """What reading a key that does not exist answers: NoSuchKey to a caller who may list the
    bucket, AccessDenied to others, as S3 does, so keys cannot be probed without the right."""
    if is_allowed(caller, Access.LIST_BUCKET, bucket_acl):
        return NoSuchKey(key=key)
    return AccessDenied("Access Denied")


def is_anonymous(headers: Mapping[str, list[str]], raw_query: str) -> bool:
    """Whether a request claims no signature at all (no Authorization header, no presigned
    query, either version); ``headers`` maps lower-case names to their values. A request that
    claims one and fails is refused, never served as anonymous."""
    if headers.get("authorization"):
        return False
    names = {argument.partition("=")[0] for argument in raw_query.split("&")}
    return not names & {"X-Amz-Signature", "X-Amz-Credential", "Signature", "AWSAccessKeyId"}


def acl_from_headers(headers: Mapping[str, str], owner_id: str) -> str | None:
    """The ACL that ``x-amz-acl`` or the ``x-amz-grant-*`` headers ask for, None if neither
    is sent. ``headers`` is case-insensitive (Tornado's HTTPHeaders joins repeated headers with
    commas, which is the grant lists' own syntax) or a dict with lower-case names."""
    canned = (headers.get("x-amz-acl") or "").strip()  # S3 takes an empty one as absent
    grant_values = {
        permission: headers.get(name)
        for name, permission in GRANT_HEADERS.items()
        if headers.get(name) is not None
    }
    if canned and grant_values:
        raise InvalidRequest("Specifying both Canned ACLs and Header Grants is not allowed")
    if canned:
        return canned_acl(canned)
    if not grant_values:
        return None
    grants = set()
    for permission, value in grant_values.items():
        for kind, grantee in parse_grantees(value):
            grants.add((_grantee(kind, grantee, owner_id), permission))
    return reduce_grants(grants)


def canned_acl(name: str) -> str:
    """The stored name for an ``x-amz-acl`` value."""
    if name in CANNED_GRANTS:
        return name
    if name in OWNER_ONLY_CANNED:
        return PRIVATE
    if name in UNSUPPORTED_CANNED:
        raise NotImplementedYet(f"the {name} ACL is not supported: {NOT_REDUCIBLE}")
    raise InvalidArgument("", ArgumentName="x-amz-acl", ArgumentValue=name)


def parse_grantees(value: str) -> list[tuple[str, str]]:
    """The (type, value) pairs of a grant header: ``id="..."``, ``uri="..."`` or
    ``emailAddress="..."``, comma-separated, quotes optional."""
    pairs, position = [], 0
    while position < len(value):
        match = GRANTEE.match(value, position)
        if match is None or match.end() == position:
            raise InvalidArgument(
                "Invalid grant header", ArgumentName="x-amz-grant", ArgumentValue=value
            )
        pairs.append((match[1], match[2] if match[2] is not None else match[3]))
        position = match.end()
    if not pairs:
        raise InvalidArgument(
            "Invalid grant header", ArgumentName="x-amz-grant", ArgumentValue=value
        )
    return pairs


def reduce_grants(grants: set[tuple[str, str]]) -> str:
    """The canned ACL whose grants are exactly ``grants`` (grantee, permission) once the
    owner's are set aside; NotImplemented if there is none."""
    wider = set()
    for grantee, permission in grants:
        if grantee == "owner":
            continue
        expanded = FULL_CONTROL_MEANS if permission == "FULL_CONTROL" else (permission,)
        wider.update((grantee, each) for each in expanded)
    for name, canned in CANNED_GRANTS.items():
        if wider == canned:
            return name
    raise NotImplementedYet(f"these grants are not supported: {NOT_REDUCIBLE}")


def acl_from_policy(body: bytes, owner_id: str) -> str:
    """The ACL an AccessControlPolicy document (PutBucketAcl, PutObjectAcl) asks for."""
    try:
        root = parse_request(body, "AccessControlPolicy")
    except MalformedXML as error:
        raise MalformedACLError() from error
    owners = [child for child in root if local_name(child) == "Owner"]
    lists = [child for child in root if local_name(child) == "AccessControlList"]
    if len(owners) > 1 or len(lists) != 1:
        raise MalformedACLError()
    if owners:
        owner = _child_text(owners[0], "ID")
        if owner is not None and owner != owner_id:
            raise InvalidArgument(
                "Invalid id", ArgumentName="CanonicalUser/ID", ArgumentValue=owner
            )
    grants = set()
    for grant in lists[0]:
        if local_name(grant) != "Grant":
            raise MalformedACLError()
        grantees = [child for child in grant if local_name(child) == "Grantee"]
        permission = _child_text(grant, "Permission")
        if len(grantees) != 1 or permission not in PERMISSIONS:
            raise MalformedACLError()
        kind, value = _policy_grantee(grantees[0])
        grants.add((_grantee(kind, value, owner_id), permission))
    return reduce_grants(grants)


def acl_for_put_acl(headers: Mapping[str, str], body: bytes, owner_id: str) -> str:
    """The ACL a PutBucketAcl or PutObjectAcl request sets: from its headers or from its body,
    not both (UnexpectedContent), not neither (MissingSecurityHeader), as S3 answers."""
    from_headers = acl_from_headers(headers, owner_id)
    if body.strip():
        if from_headers is not None:
            raise UnexpectedContent()
        return acl_from_policy(body, owner_id)
    if from_headers is None:
        raise MissingSecurityHeader(MissingHeaderName="x-amz-acl")
    return from_headers


def policy_xml(acl: str, owner_id: str, owner_name: str) -> bytes:
    """The AccessControlPolicy of GetBucketAcl and GetObjectAcl for a stored ACL: the owner's
    FULL_CONTROL first, then each group grant."""
    root = result_root("AccessControlPolicy")
    add_text_elements(
        ElementTree.SubElement(root, "Owner"), {"ID": owner_id, "DisplayName": owner_name}
    )
    grant_list = ElementTree.SubElement(root, "AccessControlList")
    _add_grant(
        grant_list, "CanonicalUser", {"ID": owner_id, "DisplayName": owner_name}, "FULL_CONTROL"
    )
    order = {permission: index for index, permission in enumerate(PERMISSIONS)}
    for uri, permission in sorted(
        CANNED_GRANTS.get(acl, frozenset()), key=lambda grant: (grant[0], order[grant[1]])
    ):
        _add_grant(grant_list, "Group", {"URI": uri}, permission)
    return serialize(root)


def owner_policy_xml(owner_id: str, owner_name: str) -> bytes:
    """The AccessControlPolicy of a private bucket or object: the owner has full control."""
    return policy_xml(PRIVATE, owner_id, owner_name)


def check_acl_headers(headers) -> None:
    """Accept ``x-amz-acl`` naming an owner-only ACL; refuse anything that grants more (for
    handlers that do not store ACLs)."""
    canned = headers.get("x-amz-acl")
    if canned is not None and canned.strip().lower() not in OWNER_ONLY_CANNED:
        raise NotImplementedYet(f"the {canned} ACL is not supported: everything is private")
    if any(name in headers for name in GRANT_HEADERS):
        raise NotImplementedYet("x-amz-grant-* headers are not supported: everything is private")


def check_policy_body(body: bytes, owner_id: str) -> None:
    """A PutBucketAcl/PutObjectAcl body is accepted when it grants the owner alone (for handlers
    that do not store ACLs)."""
    root = parse_request(body, "AccessControlPolicy")
    for grant in root.iter():
        if local_name(grant) != "Grant":
            continue
        grantee_ids = [e.text for e in grant.iter() if local_name(e) == "ID"]
        permission = next((e.text for e in grant if local_name(e) == "Permission"), None)
        if grantee_ids != [owner_id] or permission != "FULL_CONTROL":
            raise NotImplementedYet("only the owner's FULL_CONTROL grant is supported")


def _grantee(kind: str, value: str, owner_id: str) -> str:
    """ "owner" or a group URI, from a grantee's type and value; refusals as S3 words them."""
    kind = kind.lower()
    if kind == "id":
        if value != owner_id:
            raise InvalidArgument(
                "Invalid id", ArgumentName="CanonicalUser/ID", ArgumentValue=value
            )
        return "owner"
    if kind == "uri":
        if value not in GROUPS:
            raise InvalidArgument(
                "Invalid group uri", ArgumentName="Group/URI", ArgumentValue=value
            )
        return value
    if kind == "emailaddress":
        raise UnresolvableGrantByEmailAddress(EmailAddress=value)
    raise InvalidArgument(
        "Argument format not recognized", ArgumentName="x-amz-grant", ArgumentValue=kind
    )


def _policy_grantee(grantee: ElementTree.Element) -> tuple[str, str]:
    declared = grantee.get(f"{{{XSI}}}type")
    fields = {
        "CanonicalUser": ("id", "ID"),
        "Group": ("uri", "URI"),
        "AmazonCustomerByEmail": ("emailAddress", "EmailAddress"),
    }
    if declared is None:  # no xsi:type: the one identifying child says which
        declared = next(
            (name for name, (_, tag) in fields.items() if _child_text(grantee, tag) is not None),
            None,
        )
    if declared not in fields:
        raise MalformedACLError()
    kind, tag = fields[declared]
    value = _child_text(grantee, tag)
    if value is None:
        raise MalformedACLError()
    return kind, value.strip()


def _child_text(parent: ElementTree.Element, name: str) -> str | None:
    return next((child.text or "" for child in parent if local_name(child) == name), None)


def _add_grant(parent: ElementTree.Element, kind: str, fields: dict[str, str], permission: str):
    grant = ElementTree.SubElement(parent, "Grant")
    grantee = ElementTree.SubElement(grant, "Grantee", {"xmlns:xsi": XSI, "xsi:type": kind})
    add_text_elements(grantee, fields)
    add_text_elements(grant, {"Permission": permission})
