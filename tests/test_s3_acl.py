"""ACLs: canned names, grant headers and policy bodies reduced to the four ACLs s3lite keeps,
refusals with S3's codes, the AccessControlPolicy shown back, and who may do what."""

import xml.etree.ElementTree as ElementTree

import pytest
from tornado.httputil import HTTPHeaders

from s3lite import errors
from s3lite.s3 import acl
from s3lite.s3.acl import (
    ALL_USERS,
    AUTHENTICATED_USERS,
    LOG_DELIVERY,
    Access,
    Caller,
    acl_for_put_acl,
    acl_from_headers,
    acl_from_policy,
    check_access,
    is_allowed,
    is_anonymous,
    missing_key_error,
    parse_grantees,
    policy_xml,
)
from s3lite.s3.errors import (
    MalformedACLError,
    MissingSecurityHeader,
    UnexpectedContent,
    UnresolvableGrantByEmailAddress,
    s3_status_and_code,
)

OWNER_ID = "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a"
OWNER = (OWNER_ID, "owner")
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"


def headers(**fields: str) -> HTTPHeaders:
    received = HTTPHeaders()
    for name, value in fields.items():
        received.add(name.replace("_", "-"), value)
    return received


def grants_of(body: bytes) -> list[tuple[str, str, str]]:
    """(type, ID or URI, permission) of each grant, in order."""
    root = ElementTree.fromstring(body)
    found = []
    for grant in root.iter(f"{NS}Grant"):
        grantee = grant.find(f"{NS}Grantee")
        who = grantee.findtext(f"{NS}ID") or grantee.findtext(f"{NS}URI")
        found.append((grantee.get(XSI_TYPE), who, grant.findtext(f"{NS}Permission")))
    return found


def policy(*grants: tuple[str, str, str], owner: str | None = OWNER_ID) -> bytes:
    """An AccessControlPolicy body as boto3 writes it."""
    owner_xml = f"<Owner><ID>{owner}</ID><DisplayName>o</DisplayName></Owner>" if owner else ""
    grant_xml = ""
    for kind, who, permission in grants:
        tag = {"CanonicalUser": "ID", "Group": "URI", "AmazonCustomerByEmail": "EmailAddress"}
        grant_xml += (
            '<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            f'xsi:type="{kind}"><{tag[kind]}>{who}</{tag[kind]}></Grantee>'
            f"<Permission>{permission}</Permission></Grant>"
        )
    return (
        '<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        f"{owner_xml}<AccessControlList>{grant_xml}</AccessControlList></AccessControlPolicy>"
    ).encode()


# Canned ACLs


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("private", "private"),
        ("public-read", "public-read"),
        ("public-read-write", "public-read-write"),
        ("authenticated-read", "authenticated-read"),
        ("bucket-owner-read", "private"),
        ("bucket-owner-full-control", "private"),
    ],
)
def test_canned_acls_are_stored_by_name(sent, stored):
    assert acl_from_headers(headers(x_amz_acl=sent), OWNER_ID) == stored


def test_a_canned_acl_is_read_without_surrounding_blanks():
    assert acl_from_headers({"x-amz-acl": " public-read "}, OWNER_ID) == "public-read"


def test_no_acl_header_or_an_empty_one_asks_for_nothing():
    assert acl_from_headers(headers(), OWNER_ID) is None
    assert acl_from_headers(headers(x_amz_acl=""), OWNER_ID) is None
    assert acl_from_headers({"content-type": "text/plain"}, OWNER_ID) is None


def test_an_unknown_canned_acl_is_an_invalid_argument():
    with pytest.raises(errors.InvalidArgument) as refused:
        acl_from_headers(headers(x_amz_acl="public"), OWNER_ID)
    assert refused.value.details == {"ArgumentName": "x-amz-acl", "ArgumentValue": "public"}


@pytest.mark.parametrize("name", ["aws-exec-read", "log-delivery-write"])
def test_canned_acls_for_other_services_are_not_implemented(name):
    with pytest.raises(errors.NotImplementedYet) as refused:
        acl_from_headers(headers(x_amz_acl=name), OWNER_ID)
    assert s3_status_and_code(refused.value) == (501, "NotImplemented")


# Grant headers


@pytest.mark.parametrize(
    ("grants", "stored"),
    [
        ({"x_amz_grant_read": f'uri="{ALL_USERS}"'}, "public-read"),
        ({"x_amz_grant_read": f"uri={ALL_USERS}"}, "public-read"),
        (
            {"x_amz_grant_read": f'uri="{ALL_USERS}"', "x_amz_grant_write": f'uri="{ALL_USERS}"'},
            "public-read-write",
        ),
        ({"x_amz_grant_read": f'uri="{AUTHENTICATED_USERS}"'}, "authenticated-read"),
        ({"x_amz_grant_full_control": f'id="{OWNER_ID}"'}, "private"),
        (
            {
                "x_amz_grant_full_control": f'id="{OWNER_ID}"',
                "x_amz_grant_read": f'uri="{ALL_USERS}", id="{OWNER_ID}"',
            },
            "public-read",
        ),
        ({"x_amz_grant_read": f'Id = "{OWNER_ID}" , URI="{ALL_USERS}"'}, "public-read"),
    ],
)
def test_grant_headers_that_reduce_to_a_canned_acl(grants, stored):
    assert acl_from_headers(headers(**grants), OWNER_ID) == stored


def test_repeated_grant_headers_are_joined_as_one_list():
    received = HTTPHeaders()
    received.add("x-amz-grant-read", f'uri="{ALL_USERS}"')
    received.add("x-amz-grant-read", f'id="{OWNER_ID}"')
    assert acl_from_headers(received, OWNER_ID) == "public-read"


@pytest.mark.parametrize(
    "grants",
    [
        {"x_amz_grant_read_acp": f'uri="{ALL_USERS}"'},
        {"x_amz_grant_write_acp": f'uri="{AUTHENTICATED_USERS}"'},
        {"x_amz_grant_full_control": f'uri="{ALL_USERS}"'},
        {"x_amz_grant_write": f'uri="{ALL_USERS}"'},  # write without read: no canned ACL
        {"x_amz_grant_write": f'uri="{LOG_DELIVERY}"'},
        {"x_amz_grant_read": f'uri="{ALL_USERS}", uri="{AUTHENTICATED_USERS}"'},
    ],
)
def test_grants_that_do_not_reduce_are_not_implemented(grants):
    with pytest.raises(errors.NotImplementedYet):
        acl_from_headers(headers(**grants), OWNER_ID)


def test_grants_naming_what_does_not_exist_are_refused_as_s3_does():
    with pytest.raises(errors.InvalidArgument, match="Invalid id"):
        acl_from_headers(headers(x_amz_grant_read='id="someone-else"'), OWNER_ID)
    with pytest.raises(errors.InvalidArgument, match="Invalid group uri"):
        acl_from_headers(headers(x_amz_grant_read='uri="http://example.com/g"'), OWNER_ID)
    with pytest.raises(UnresolvableGrantByEmailAddress) as refused:
        acl_from_headers(headers(x_amz_grant_read='emailAddress="a@example.com"'), OWNER_ID)
    assert s3_status_and_code(refused.value) == (400, "UnresolvableGrantByEmailAddress")


@pytest.mark.parametrize("value", ["", "AllUsers", 'uri="a" junk', 'colour="red"', "id=", ","])
def test_malformed_grant_headers_are_invalid_arguments(value):
    with pytest.raises(errors.InvalidArgument):
        acl_from_headers(headers(x_amz_grant_read=value), OWNER_ID)


def test_a_canned_acl_and_grant_headers_together_are_refused():
    both = headers(x_amz_acl="private", x_amz_grant_read=f'uri="{ALL_USERS}"')
    with pytest.raises(errors.InvalidRequest, match="both Canned ACLs and Header Grants"):
        acl_from_headers(both, OWNER_ID)


def test_parse_grantees():
    assert parse_grantees(f'uri="{ALL_USERS}", id="x y", emailAddress=a@b') == [
        ("uri", ALL_USERS),
        ("id", "x y"),
        ("emailAddress", "a@b"),
    ]


# Policy bodies


@pytest.mark.parametrize(
    ("grants", "stored"),
    [
        ([("CanonicalUser", OWNER_ID, "FULL_CONTROL")], "private"),
        ([], "private"),
        (
            [("CanonicalUser", OWNER_ID, "FULL_CONTROL"), ("Group", ALL_USERS, "READ")],
            "public-read",
        ),
        (
            [("Group", ALL_USERS, "WRITE"), ("Group", ALL_USERS, "READ")],
            "public-read-write",
        ),
        ([("Group", AUTHENTICATED_USERS, "READ")], "authenticated-read"),
    ],
)
def test_policy_bodies_that_reduce_to_a_canned_acl(grants, stored):
    assert acl_from_policy(policy(*grants), OWNER_ID) == stored


def test_a_policy_body_without_owner_or_xsi_type_is_read():
    body = (
        "<AccessControlPolicy><AccessControlList><Grant><Grantee><URI>"
        f"{ALL_USERS}</URI></Grantee><Permission>READ</Permission></Grant>"
        "</AccessControlList></AccessControlPolicy>"
    ).encode()
    assert acl_from_policy(body, OWNER_ID) == "public-read"


def test_the_policy_shown_is_accepted_back_unchanged():
    for stored in acl.CANNED_GRANTS:
        assert acl_from_policy(policy_xml(stored, *OWNER), OWNER_ID) == stored


@pytest.mark.parametrize(
    "body",
    [
        b"not xml",
        b"<Other/>",
        b"<AccessControlPolicy/>",  # no AccessControlList
        policy(("CanonicalUser", OWNER_ID, "EVERYTHING")),
        policy(("CanonicalUser", OWNER_ID, "FULL_CONTROLL")),
        (
            b"<AccessControlPolicy><AccessControlList><Grant><Permission>READ</Permission>"
            b"</Grant></AccessControlList></AccessControlPolicy>"
        ),
        (
            b"<AccessControlPolicy><AccessControlList><Grant><Grantee><ID>x</ID></Grantee>"
            b"</Grant></AccessControlList></AccessControlPolicy>"
        ),
        b"<AccessControlPolicy><AccessControlList/><AccessControlList/></AccessControlPolicy>",
        b"<AccessControlPolicy><AccessControlList><Other/></AccessControlList></AccessControlPolicy>",
    ],
)
def test_malformed_policy_bodies_are_malformed_acl_errors(body):
    with pytest.raises(MalformedACLError) as refused:
        acl_from_policy(body, OWNER_ID)
    assert s3_status_and_code(refused.value) == (400, "MalformedACLError")


def test_policy_bodies_naming_others_are_refused():
    with pytest.raises(errors.InvalidArgument, match="Invalid id"):
        acl_from_policy(policy(owner="someone-else"), OWNER_ID)
    with pytest.raises(errors.InvalidArgument, match="Invalid id"):
        acl_from_policy(policy(("CanonicalUser", "someone-else", "READ")), OWNER_ID)
    with pytest.raises(UnresolvableGrantByEmailAddress):
        acl_from_policy(policy(("AmazonCustomerByEmail", "a@example.com", "READ")), OWNER_ID)
    with pytest.raises(errors.NotImplementedYet):
        acl_from_policy(policy(("Group", ALL_USERS, "READ_ACP")), OWNER_ID)
    with pytest.raises(errors.NotImplementedYet):
        acl_from_policy(policy(("Group", LOG_DELIVERY, "WRITE")), OWNER_ID)


def test_an_entity_declaration_is_malformed():
    body = b'<!DOCTYPE x [<!ENTITY e "y">]><AccessControlPolicy/>'
    with pytest.raises(MalformedACLError):
        acl_from_policy(body, OWNER_ID)


# PutBucketAcl / PutObjectAcl


def test_put_acl_takes_headers_or_a_body():
    assert acl_for_put_acl(headers(x_amz_acl="public-read"), b"", OWNER_ID) == "public-read"
    assert acl_for_put_acl(headers(x_amz_acl="public-read"), b"  \n", OWNER_ID) == "public-read"
    body = policy(("Group", AUTHENTICATED_USERS, "READ"))
    assert acl_for_put_acl(headers(), body, OWNER_ID) == "authenticated-read"


def test_put_acl_with_both_or_neither_is_refused_as_s3_does():
    with pytest.raises(UnexpectedContent) as both:
        acl_for_put_acl(headers(x_amz_acl="private"), policy(), OWNER_ID)
    assert s3_status_and_code(both.value) == (400, "UnexpectedContent")
    with pytest.raises(MissingSecurityHeader) as neither:
        acl_for_put_acl(headers(), b"", OWNER_ID)
    assert s3_status_and_code(neither.value) == (400, "MissingSecurityHeader")


# What GetBucketAcl and GetObjectAcl show


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ("private", []),
        ("public-read", [("Group", ALL_USERS, "READ")]),
        ("public-read-write", [("Group", ALL_USERS, "READ"), ("Group", ALL_USERS, "WRITE")]),
        ("authenticated-read", [("Group", AUTHENTICATED_USERS, "READ")]),
    ],
)
def test_the_policy_shows_the_owner_then_the_group_grants(stored, expected):
    body = policy_xml(stored, *OWNER)
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root = ElementTree.fromstring(body)
    assert root.tag == f"{NS}AccessControlPolicy"
    assert root.findtext(f"{NS}Owner/{NS}ID") == OWNER_ID
    assert grants_of(body) == [("CanonicalUser", OWNER_ID, "FULL_CONTROL"), *expected]


def test_the_owner_only_policy_is_the_private_one():
    assert acl.owner_policy_xml(*OWNER) == policy_xml("private", *OWNER)


def test_boto3_reads_the_policy():
    import botocore.parsers
    import botocore.session

    shape = (
        botocore.session.get_session()
        .get_service_model("s3")
        .operation_model("GetObjectAcl")
        .output_shape
    )
    parsed = botocore.parsers.RestXMLParser().parse(
        {"body": policy_xml("public-read", *OWNER), "headers": {}, "status_code": 200}, shape
    )
    assert parsed["Owner"] == {"ID": OWNER_ID, "DisplayName": "owner"}
    assert parsed["Grants"][1] == {
        "Grantee": {"Type": "Group", "URI": ALL_USERS},
        "Permission": "READ",
    }


# Who may do what

ANONYMOUS, SIGNED, OWNS = Caller.ANONYMOUS, Caller.AUTHENTICATED, Caller.OWNER


@pytest.mark.parametrize("access", list(Access))
@pytest.mark.parametrize("stored", [*acl.CANNED_GRANTS, None, "unknown"])
def test_the_owner_may_do_everything(access, stored):
    assert is_allowed(OWNS, access, stored or "private", stored)


@pytest.mark.parametrize(
    ("object_acl", "anonymous", "signed"),
    [
        ("private", False, False),
        ("public-read", True, True),
        ("public-read-write", True, True),
        ("authenticated-read", False, True),
        (None, False, False),
    ],
)
def test_reading_an_object_follows_the_objects_acl(object_acl, anonymous, signed):
    for bucket_acl in acl.CANNED_GRANTS:  # the bucket's ACL does not matter
        assert is_allowed(ANONYMOUS, Access.READ_OBJECT, bucket_acl, object_acl) is anonymous
        assert is_allowed(SIGNED, Access.READ_OBJECT, bucket_acl, object_acl) is signed


@pytest.mark.parametrize(
    ("bucket_acl", "list_anonymous", "list_signed", "write_anonymous", "write_signed"),
    [
        ("private", False, False, False, False),
        ("public-read", True, True, False, False),
        ("public-read-write", True, True, True, True),
        ("authenticated-read", False, True, False, False),
    ],
)
def test_listing_and_writing_follow_the_buckets_acl(
    bucket_acl, list_anonymous, list_signed, write_anonymous, write_signed
):
    assert is_allowed(ANONYMOUS, Access.LIST_BUCKET, bucket_acl) is list_anonymous
    assert is_allowed(SIGNED, Access.LIST_BUCKET, bucket_acl) is list_signed
    assert is_allowed(ANONYMOUS, Access.WRITE_BUCKET, bucket_acl) is write_anonymous
    assert is_allowed(SIGNED, Access.WRITE_BUCKET, bucket_acl) is write_signed


@pytest.mark.parametrize(
    "access",
    [
        Access.READ_BUCKET_ACL,
        Access.WRITE_BUCKET_ACL,
        Access.READ_OBJECT_ACL,
        Access.WRITE_OBJECT_ACL,
        Access.OWNER_ONLY,
    ],
)
@pytest.mark.parametrize("stored", list(acl.CANNED_GRANTS))
def test_acls_and_everything_else_stay_the_owners(access, stored):
    for caller in (ANONYMOUS, SIGNED):
        assert not is_allowed(caller, access, stored, stored)
        with pytest.raises(errors.AccessDenied):
            check_access(caller, access, stored, stored)


def test_a_missing_key_is_no_such_key_only_to_who_may_list():
    assert isinstance(missing_key_error(ANONYMOUS, "public-read", "k"), errors.NoSuchKey)
    assert isinstance(missing_key_error(ANONYMOUS, "private", "k"), errors.AccessDenied)
    assert isinstance(missing_key_error(SIGNED, "authenticated-read", "k"), errors.NoSuchKey)
    assert isinstance(missing_key_error(OWNS, "private", "k"), errors.NoSuchKey)


@pytest.mark.parametrize(
    ("received", "query", "anonymous"),
    [
        ({}, "", True),
        ({"host": ["h"]}, "list-type=2&prefix=a", True),
        ({"authorization": ["AWS4-HMAC-SHA256 x"]}, "", False),
        ({"authorization": ["AWS k:s"]}, "", False),
        ({}, "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=s", False),
        ({}, "AWSAccessKeyId=k&Signature=s&Expires=1", False),
        ({}, "Signature=s", False),
    ],
)
def test_is_anonymous(received, query, anonymous):
    assert is_anonymous(received, query) is anonymous
