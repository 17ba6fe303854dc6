"""The operation of a request is decided once, from its method, path, query and headers."""

import pytest

from s3lite import errors
from s3lite.s3.router import Body, Operation, route

COPY = {"x-amz-copy-source": "/src/key"}


@pytest.mark.parametrize(
    ("method", "bucket", "key", "query", "headers", "operation"),
    [
        ("GET", None, None, {}, {}, Operation.LIST_BUCKETS),
        ("PUT", "b", None, {}, {}, Operation.CREATE_BUCKET),
        ("PUT", "b", None, {"acl": ""}, {}, Operation.PUT_BUCKET_ACL),
        ("HEAD", "b", None, {}, {}, Operation.HEAD_BUCKET),
        ("DELETE", "b", None, {}, {}, Operation.DELETE_BUCKET),
        ("POST", "b", None, {"delete": ""}, {}, Operation.DELETE_OBJECTS),
        ("GET", "b", None, {}, {}, Operation.LIST_OBJECTS),
        ("GET", "b", None, {"list-type": "2"}, {}, Operation.LIST_OBJECTS_V2),
        ("GET", "b", None, {"list-type": "1"}, {}, Operation.LIST_OBJECTS),
        ("GET", "b", None, {"versions": "", "list-type": "2"}, {}, Operation.LIST_OBJECT_VERSIONS),
        ("GET", "b", None, {"uploads": ""}, {}, Operation.LIST_MULTIPART_UPLOADS),
        ("GET", "b", None, {"location": ""}, {}, Operation.GET_BUCKET_LOCATION),
        ("GET", "b", None, {"versioning": ""}, {}, Operation.GET_BUCKET_VERSIONING),
        ("GET", "b", None, {"acl": ""}, {}, Operation.GET_BUCKET_ACL),
        ("PUT", "b", "k", {}, {}, Operation.PUT_OBJECT),
        ("PUT", "b", "k", {}, COPY, Operation.COPY_OBJECT),
        # a copy header outranks ?acl, as it always has here
        ("PUT", "b", "k", {"acl": ""}, COPY, Operation.COPY_OBJECT),
        ("PUT", "b", "k", {"acl": ""}, {}, Operation.PUT_OBJECT_ACL),
        ("PUT", "b", "k", {"uploadId": "u", "partNumber": "1"}, {}, Operation.UPLOAD_PART),
        ("PUT", "b", "k", {"uploadId": "u", "partNumber": "1"}, COPY, Operation.UPLOAD_PART_COPY),
        ("GET", "b", "k", {}, {}, Operation.GET_OBJECT),
        ("GET", "b", "k", {"acl": ""}, {}, Operation.GET_OBJECT_ACL),
        ("GET", "b", "k", {"uploadId": "u"}, {}, Operation.LIST_PARTS),
        ("HEAD", "b", "k", {}, {}, Operation.HEAD_OBJECT),
        ("DELETE", "b", "k", {}, {}, Operation.DELETE_OBJECT),
        ("DELETE", "b", "k", {"uploadId": "u"}, {}, Operation.ABORT_MULTIPART_UPLOAD),
        ("POST", "b", "k", {"uploads": ""}, {}, Operation.CREATE_MULTIPART_UPLOAD),
        ("POST", "b", "k", {"uploadId": "u"}, {}, Operation.COMPLETE_MULTIPART_UPLOAD),
    ],
)
def test_each_request_routes_to_its_operation(method, bucket, key, query, headers, operation):
    assert route(method, bucket, key, query, headers) is operation


@pytest.mark.parametrize(
    ("operation", "body"),
    [
        (Operation.PUT_OBJECT, Body.STREAM),
        (Operation.UPLOAD_PART, Body.STREAM),
        (Operation.COPY_OBJECT, Body.NONE),
        (Operation.DELETE_OBJECTS, Body.DOCUMENT),
        (Operation.PUT_OBJECT_ACL, Body.DOCUMENT),
        (Operation.COMPLETE_MULTIPART_UPLOAD, Body.DOCUMENT),
        (Operation.GET_OBJECT, Body.NONE),
    ],
)
def test_an_operation_says_what_its_body_is(operation, body):
    assert operation.body is body


def test_operations_carry_the_names_of_amazons_api_reference():
    assert Operation.LIST_OBJECTS_V2.s3_name == "ListObjectsV2"
    assert Operation.UPLOAD_PART_COPY.s3_name == "UploadPartCopy"
    assert len({operation.s3_name for operation in Operation}) == len(Operation)


@pytest.mark.parametrize(
    ("method", "bucket", "key", "query", "headers", "refusal", "message"),
    [
        ("GET", "b", None, {"cors": ""}, {}, errors.NotImplementedYet, "cors"),
        ("PUT", "b", None, {"versioning": ""}, {}, errors.NotImplementedYet, "versioning"),
        ("POST", "b", None, {}, {}, errors.NotImplementedYet, r"\?delete"),
        ("GET", "b", "k", {"tagging": ""}, {}, errors.NotImplementedYet, "tagging"),
        ("GET", "b", "k", {"partNumber": "2"}, {}, errors.NotImplementedYet, "one part"),
        ("POST", "b", "k", {}, {}, errors.NotImplementedYet, "HTML forms"),
        (
            "POST",
            "b",
            "k",
            {"uploads": ""},
            {"Content-Encoding": "aws-chunked"},
            errors.NotImplementedYet,
            "aws-chunked",
        ),
        ("PUT", None, None, {}, {}, errors.MethodNotAllowed, "service"),
        ("PATCH", "b", None, {}, {}, errors.MethodNotAllowed, "bucket"),
        ("OPTIONS", "b", "k", {}, {}, errors.MethodNotAllowed, "object"),
    ],
)
def test_what_s3lite_does_not_serve_is_refused_by_name(
    method, bucket, key, query, headers, refusal, message
):
    with pytest.raises(refusal, match=message):
        route(method, bucket, key, query, headers)
