"""CORS: configurations as boto3 sends them, checked and shown back; preflights and actual
requests answered with the headers S3 sends, or refused with its errors."""

import botocore.parsers
import botocore.serialize
import botocore.session
import pytest
from tornado.httputil import HTTPHeaders

from s3lite import errors
from s3lite.s3.cors import (
    BUCKET_NOT_FOUND,
    NOT_ALLOWED,
    NOT_ENABLED,
    VARY,
    CORSRule,
    configuration_xml,
    parse_configuration,
    pattern_matches,
    preflight_headers,
    refusal,
    request_headers,
)
from s3lite.s3.errors import AccessForbidden, BadRequest, MissingRequestBody, s3_status_and_code

S3_MODEL = botocore.session.get_session().get_service_model("s3")
ORIGIN = "https://app.example.com"
SITE = {
    "ID": "site",
    "AllowedOrigins": ["https://*.example.com"],
    "AllowedMethods": ["GET", "PUT"],
    "AllowedHeaders": ["x-amz-*", "Content-Type"],
    "ExposeHeaders": ["ETag", "x-amz-version-id"],
    "MaxAgeSeconds": 600,
}
EVERYONE = {"AllowedOrigins": ["*"], "AllowedMethods": ["HEAD"]}
SITE_HEADERS = {
    "Access-Control-Allow-Origin": ORIGIN,
    "Access-Control-Allow-Methods": "GET, PUT",
    "Access-Control-Allow-Credentials": "true",
    "Access-Control-Expose-Headers": "ETag, x-amz-version-id",
    "Access-Control-Max-Age": "600",
    "Vary": VARY,
}
EVERYONE_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "HEAD",
    "Vary": VARY,
}


def boto3_body(*rules: dict) -> bytes:
    """The PutBucketCors body boto3 sends for these rules."""
    serializer = botocore.serialize.create_serializer("rest-xml")
    request = serializer.serialize_to_request(
        {"Bucket": "bucket", "CORSConfiguration": {"CORSRules": list(rules)}},
        S3_MODEL.operation_model("PutBucketCors"),
    )
    return request["body"]


def boto3_reads(body: bytes) -> list[dict]:
    shape = S3_MODEL.operation_model("GetBucketCors").output_shape
    parsed = botocore.parsers.RestXMLParser().parse(
        {"body": body, "headers": {}, "status_code": 200}, shape
    )
    return parsed["CORSRules"]


def xml_body(rules: str) -> bytes:
    return f'<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">{rules}</CORSConfiguration>'.encode()


def request(origin=None, method=None, requested=None) -> HTTPHeaders:
    received = HTTPHeaders()
    for name, value in [
        ("Origin", origin),
        ("Access-Control-Request-Method", method),
        ("Access-Control-Request-Headers", requested),
    ]:
        if value is not None:
            received[name] = value
    return received


RULES = parse_configuration(boto3_body(SITE, EVERYONE))


# Configurations


def test_a_boto3_configuration_is_parsed_and_shown_back_the_same():
    assert RULES == [
        CORSRule(
            allowed_origins=("https://*.example.com",),
            allowed_methods=("GET", "PUT"),
            allowed_headers=("x-amz-*", "Content-Type"),
            expose_headers=("ETag", "x-amz-version-id"),
            max_age_seconds=600,
            id="site",
        ),
        CORSRule(allowed_origins=("*",), allowed_methods=("HEAD",)),
    ]
    assert boto3_reads(configuration_xml(RULES)) == [SITE, EVERYONE]


def test_rules_round_trip_through_database_documents():
    documents = [rule.to_document() for rule in RULES]
    assert documents[1] == {
        "allowed_origins": ["*"],
        "allowed_methods": ["HEAD"],
        "allowed_headers": [],
        "expose_headers": [],
        "max_age_seconds": None,
        "id": None,
    }
    assert [CORSRule.from_document(document) for document in documents] == RULES


def test_a_hundred_rules_are_taken_and_no_more():
    assert len(parse_configuration(boto3_body(*[EVERYONE] * 100))) == 100
    with pytest.raises(errors.MalformedXML):
        parse_configuration(boto3_body(*[EVERYONE] * 101))


def test_an_empty_body_is_a_missing_request_body():
    with pytest.raises(MissingRequestBody) as refused:
        parse_configuration(b"")
    assert s3_status_and_code(refused.value) == (400, "MissingRequestBodyError")


@pytest.mark.parametrize(
    "body",
    [
        b"not xml",
        b"<Other/>",
        xml_body(""),  # no rule
        xml_body("<CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule>"),
        xml_body("<CORSRule><AllowedOrigin>*</AllowedOrigin></CORSRule>"),
        xml_body(
            "<CORSRule><AllowedOrigin></AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>"
        ),
        xml_body(
            "<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
            "<MaxAgeSeconds>soon</MaxAgeSeconds></CORSRule>"
        ),
        xml_body(
            "<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
            "<MaxAgeSeconds>-1</MaxAgeSeconds></CORSRule>"
        ),
        xml_body(
            "<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
            "<Colour>red</Colour></CORSRule>"
        ),
        xml_body(
            f"<CORSRule><ID>{'i' * 256}</ID><AllowedOrigin>*</AllowedOrigin>"
            "<AllowedMethod>GET</AllowedMethod></CORSRule>"
        ),
        xml_body("<Rule/>"),
    ],
)
def test_malformed_configurations_are_malformed_xml(body):
    with pytest.raises(errors.MalformedXML) as refused:
        parse_configuration(body)
    assert s3_status_and_code(refused.value) == (400, "MalformedXML")


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}, "Unsupported method is PATCH"),
        ({"AllowedOrigins": ["*"], "AllowedMethods": ["get"]}, "Unsupported method is get"),
        (
            {"AllowedOrigins": ["http://*.*.com"], "AllowedMethods": ["GET"]},
            'AllowedOrigin "http://*.*.com" can not have more than one wildcard.',
        ),
        (
            {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "AllowedHeaders": ["x-*-*"]},
            'AllowedHeader "x-*-*" can not have more than one wildcard.',
        ),
    ],
)
def test_rules_s3_refuses_are_invalid_requests(rule, message):
    with pytest.raises(errors.InvalidRequest, match=message.replace("*", r"\*")) as refused:
        parse_configuration(boto3_body(rule))
    assert s3_status_and_code(refused.value) == (400, "InvalidRequest")


def test_a_rule_id_of_255_characters_is_taken():
    rule = {"ID": "i" * 255, **EVERYONE}
    assert parse_configuration(boto3_body(rule))[0].id == "i" * 255


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        ("*", "", True),
        ("*", "null", True),
        ("https://*.example.com", "https://app.example.com", True),
        ("https://*.example.com", "https://.example.com", True),
        ("https://*.example.com", "https://example.com", False),
        ("https://*.example.com", "http://app.example.com", False),
        ("https://example.com", "https://example.com", True),
        ("https://example.com", "https://EXAMPLE.com", False),
        ("x-amz-*", "x-amz-meta-a", True),
        ("*-id", "x-amz-version-id", True),
        ("ab*ba", "aba", False),
    ],
)
def test_patterns(pattern, value, matches):
    assert pattern_matches(pattern, value) is matches


# Preflight


def test_a_preflight_gets_the_first_matching_rules_headers():
    assert preflight_headers(RULES, request(ORIGIN, "GET"), False) == SITE_HEADERS
    assert preflight_headers(
        RULES, request(ORIGIN, "PUT", "Content-Type, X-Amz-Meta-Name"), True
    ) == {
        **SITE_HEADERS,
        "Access-Control-Allow-Headers": "content-type, x-amz-meta-name",
    }
    assert preflight_headers(RULES, request("null", "HEAD"), True) == EVERYONE_HEADERS
    assert preflight_headers(RULES, request(ORIGIN, "HEAD"), True) == EVERYONE_HEADERS


def test_a_specific_origin_is_echoed_even_beside_a_wildcard():
    rules = parse_configuration(
        boto3_body({"AllowedOrigins": ["https://a.example", "*"], "AllowedMethods": ["GET"]})
    )
    assert (
        preflight_headers(rules, request("https://a.example", "GET"), True)[
            "Access-Control-Allow-Origin"
        ]
        == "https://a.example"
    )
    assert (
        preflight_headers(rules, request("https://b.example", "GET"), True)[
            "Access-Control-Allow-Origin"
        ]
        == "*"
    )


def test_a_plain_dict_with_lower_case_names_works_too():
    received = {"origin": ORIGIN, "access-control-request-method": "GET"}
    assert preflight_headers(RULES, received, True) == SITE_HEADERS


@pytest.mark.parametrize(
    ("headers", "is_object", "message", "resource_type"),
    [
        (request(ORIGIN, "DELETE"), True, NOT_ALLOWED, "OBJECT"),
        (request("https://example.org", "GET"), False, NOT_ALLOWED, "BUCKET"),
        (request(ORIGIN, "GET", "authorization"), True, NOT_ALLOWED, "OBJECT"),
        (request(ORIGIN, "GET", "x-amz-date, authorization"), True, NOT_ALLOWED, "OBJECT"),
    ],
)
def test_a_preflight_no_rule_allows_is_forbidden(headers, is_object, message, resource_type):
    with pytest.raises(AccessForbidden) as refused:
        preflight_headers(RULES, headers, is_object)
    assert refused.value.message == message
    assert refused.value.details == {
        "Method": headers["Access-Control-Request-Method"],
        "ResourceType": resource_type,
    }
    assert s3_status_and_code(refused.value) == (403, "AccessForbidden")


@pytest.mark.parametrize("rules", [None, []])
def test_a_preflight_to_a_bucket_without_cors_is_forbidden(rules):
    with pytest.raises(AccessForbidden) as refused:
        preflight_headers(rules, request(ORIGIN, "PUT"), False)
    assert refused.value.message == NOT_ENABLED
    assert refused.value.details == {"Method": "PUT", "ResourceType": "BUCKET"}


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        (request(None, "GET"), "Insufficient information. Origin request header needed."),
        (request("", "GET"), "Insufficient information. Origin request header needed."),
        (request(ORIGIN), "Invalid Access-Control-Request-Method: null"),
        (request(ORIGIN, "PATCH"), "Invalid Access-Control-Request-Method: PATCH"),
    ],
)
def test_an_incomplete_preflight_is_a_bad_request(headers, message):
    for rules in (RULES, None):  # checked before the configuration
        with pytest.raises(BadRequest) as refused:
            preflight_headers(rules, headers, True)
        assert refused.value.message == message
        assert s3_status_and_code(refused.value) == (400, "BadRequest")


def test_a_preflight_to_a_missing_bucket_is_forbidden():
    with pytest.raises(AccessForbidden) as refused:
        preflight_headers(None, request(ORIGIN, "GET"), True, bucket_exists=False)
    assert refused.value.message == BUCKET_NOT_FOUND == "CORSResponse: Bucket not found"
    assert refused.value.details == {"Method": "GET", "ResourceType": "OBJECT"}
    with pytest.raises(BadRequest):
        preflight_headers(None, request(None, "GET"), True, bucket_exists=False)


def test_refusals_name_the_method_and_resource_type():
    refused = refusal(NOT_ALLOWED, "PUT", False)
    assert refused.details == {"Method": "PUT", "ResourceType": "BUCKET"}


def test_a_presigned_upload_from_a_browser():
    """A preflight for a PUT with a presigned URL, then the PUT itself."""
    rules = parse_configuration(
        boto3_body(
            {
                "AllowedOrigins": ["http://localhost:*"],
                "AllowedMethods": ["PUT", "GET"],
                "AllowedHeaders": ["*"],
                "ExposeHeaders": ["ETag"],
                "MaxAgeSeconds": 3000,
            }
        )
    )
    origin = "http://localhost:5173"
    allowed = preflight_headers(rules, request(origin, "PUT", "content-type"), True)
    assert allowed["Access-Control-Allow-Origin"] == origin
    assert allowed["Access-Control-Allow-Methods"] == "PUT, GET"
    assert allowed["Access-Control-Allow-Headers"] == "content-type"
    assert allowed["Access-Control-Max-Age"] == "3000"
    put = request_headers(rules, "PUT", request(origin))
    assert put["Access-Control-Allow-Origin"] == origin
    assert put["Access-Control-Expose-Headers"] == "ETag"
    assert "Access-Control-Allow-Headers" not in put


# Actual requests


@pytest.mark.parametrize(
    ("method", "headers", "expected"),
    [
        ("GET", request(ORIGIN), SITE_HEADERS),
        ("PUT", request(ORIGIN), SITE_HEADERS),
        ("HEAD", request("https://example.org"), EVERYONE_HEADERS),
        ("GET", request("https://example.org"), {}),
        ("GET", request(), {}),
        ("DELETE", request(ORIGIN), {}),
        # S3 takes the method from Access-Control-Request-Method when the request has it.
        ("DELETE", request(ORIGIN, "GET"), SITE_HEADERS),
        ("GET", request(ORIGIN, "DELETE"), {}),
    ],
)
def test_actual_requests_get_the_matching_rules_headers(method, headers, expected):
    assert request_headers(RULES, method, headers) == expected


def test_actual_requests_to_a_bucket_without_cors_get_nothing():
    assert request_headers(None, "GET", request(ORIGIN)) == {}
    assert request_headers([], "GET", request(ORIGIN)) == {}
