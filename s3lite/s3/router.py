"""Which S3 operation a request is, decided once from its method, path, query and headers.

Amazon S3 names an operation by the verb and the sub-resource together: ``PUT /b/k?acl`` is
PutObjectAcl, ``PUT /b/k?uploadId=..&partNumber=..`` with ``x-amz-copy-source`` is
UploadPartCopy. Deciding that in one place means a handler never re-derives it from flags of
its own, and what a request is stays the same from the first check to the log line that counts
it. Each operation also says what its body is: none, a document read whole (XML), or object
bytes streamed on.
"""

from collections.abc import Mapping
from enum import Enum

from s3lite.errors import MethodNotAllowed, NotImplementedYet
from s3lite.s3.chunked import is_aws_chunked


class Body(Enum):
    NONE = "none"
    DOCUMENT = "document"  # an XML document, read whole up to a limit and then parsed
    STREAM = "stream"  # object bytes, streamed to the nodes as they arrive


class Operation(Enum):
    """An S3 operation, by the name Amazon's API reference gives it, and the body it takes."""

    def __init__(self, s3_name: str, body: Body):
        self.s3_name = s3_name
        self.body = body

    LIST_BUCKETS = ("ListBuckets", Body.NONE)
    CREATE_BUCKET = ("CreateBucket", Body.DOCUMENT)
    HEAD_BUCKET = ("HeadBucket", Body.DOCUMENT)
    DELETE_BUCKET = ("DeleteBucket", Body.DOCUMENT)
    GET_BUCKET_LOCATION = ("GetBucketLocation", Body.DOCUMENT)
    GET_BUCKET_VERSIONING = ("GetBucketVersioning", Body.DOCUMENT)
    GET_BUCKET_ACL = ("GetBucketAcl", Body.DOCUMENT)
    PUT_BUCKET_ACL = ("PutBucketAcl", Body.DOCUMENT)
    LIST_OBJECTS = ("ListObjects", Body.DOCUMENT)
    LIST_OBJECTS_V2 = ("ListObjectsV2", Body.DOCUMENT)
    LIST_OBJECT_VERSIONS = ("ListObjectVersions", Body.DOCUMENT)
    LIST_MULTIPART_UPLOADS = ("ListMultipartUploads", Body.DOCUMENT)
    DELETE_OBJECTS = ("DeleteObjects", Body.DOCUMENT)
    PUT_OBJECT = ("PutObject", Body.STREAM)
    COPY_OBJECT = ("CopyObject", Body.NONE)
    GET_OBJECT = ("GetObject", Body.NONE)
    HEAD_OBJECT = ("HeadObject", Body.NONE)
    DELETE_OBJECT = ("DeleteObject", Body.NONE)
    GET_OBJECT_ACL = ("GetObjectAcl", Body.NONE)
    PUT_OBJECT_ACL = ("PutObjectAcl", Body.DOCUMENT)
    CREATE_MULTIPART_UPLOAD = ("CreateMultipartUpload", Body.DOCUMENT)
    UPLOAD_PART = ("UploadPart", Body.STREAM)
    UPLOAD_PART_COPY = ("UploadPartCopy", Body.NONE)
    COMPLETE_MULTIPART_UPLOAD = ("CompleteMultipartUpload", Body.DOCUMENT)
    ABORT_MULTIPART_UPLOAD = ("AbortMultipartUpload", Body.NONE)
    LIST_PARTS = ("ListParts", Body.NONE)


UNSUPPORTED_BUCKET_QUERIES = (
    "cors",
    "lifecycle",
    "logging",
    "notification",
    "policy",
    "replication",
    "tagging",
    "website",
    "encryption",
    "object-lock",
    "ownershipControls",
    "publicAccessBlock",
    "accelerate",
    "requestPayment",
)
UNSUPPORTED_OBJECT_QUERIES = (
    "tagging",
    "retention",
    "legal-hold",
    "attributes",
    "restore",
    "torrent",
    "select",
)
BUCKET_GETS = {
    "location": Operation.GET_BUCKET_LOCATION,
    "versioning": Operation.GET_BUCKET_VERSIONING,
    "acl": Operation.GET_BUCKET_ACL,
    "uploads": Operation.LIST_MULTIPART_UPLOADS,
    "versions": Operation.LIST_OBJECT_VERSIONS,
}


def route(
    method: str,
    bucket: str | None,
    key: str | None,
    query: Mapping[str, str],
    headers: Mapping[str, str],
) -> Operation:
    """The operation of a request on ``/``, ``/bucket`` or ``/bucket/key`` (``query``: each
    argument's value); an operation s3lite does not have raises NotImplementedYet, a verb the
    resource does not take MethodNotAllowed."""
    if bucket is None:
        if method == "GET":
            return Operation.LIST_BUCKETS
        raise MethodNotAllowed(f"{method} is not allowed on the service")
    if key is None:
        return route_bucket(method, query)
    return route_object(method, query, headers)


def refuse_unsupported(query: Mapping[str, str], names: tuple[str, ...]) -> None:
    for name in names:
        if name in query:
            raise NotImplementedYet(f"{name} is not supported by s3lite yet")


def route_bucket(method: str, query: Mapping[str, str]) -> Operation:
    refuse_unsupported(query, UNSUPPORTED_BUCKET_QUERIES)
    if method == "GET":
        for name, operation in BUCKET_GETS.items():
            if name in query:
                return operation
        if query.get("list-type") == "2":
            return Operation.LIST_OBJECTS_V2
        return Operation.LIST_OBJECTS
    if method == "PUT":
        if "versioning" in query:
            raise NotImplementedYet("versioning is not supported by s3lite yet")
        return Operation.PUT_BUCKET_ACL if "acl" in query else Operation.CREATE_BUCKET
    if method == "HEAD":
        return Operation.HEAD_BUCKET
    if method == "DELETE":
        return Operation.DELETE_BUCKET
    if method == "POST":
        if "delete" in query:
            return Operation.DELETE_OBJECTS
        raise NotImplementedYet("POST on a bucket is only supported for ?delete")
    raise MethodNotAllowed(f"{method} is not allowed on a bucket")


def route_object(method: str, query: Mapping[str, str], headers: Mapping[str, str]) -> Operation:
    refuse_unsupported(query, UNSUPPORTED_OBJECT_QUERIES)
    multipart = "uploadId" in query
    if "partNumber" in query and not multipart:
        raise NotImplementedYet("reading one part of an object is not supported yet")
    if method == "PUT":
        if "x-amz-copy-source" in headers:
            return Operation.UPLOAD_PART_COPY if multipart else Operation.COPY_OBJECT
        if "acl" in query:
            return Operation.PUT_OBJECT_ACL
        return Operation.UPLOAD_PART if multipart else Operation.PUT_OBJECT
    if method == "GET":
        if "acl" in query:
            return Operation.GET_OBJECT_ACL
        return Operation.LIST_PARTS if multipart else Operation.GET_OBJECT
    if method == "HEAD":
        return Operation.HEAD_OBJECT
    if method == "DELETE":
        return Operation.ABORT_MULTIPART_UPLOAD if multipart else Operation.DELETE_OBJECT
    if method == "POST":
        if is_aws_chunked(headers):
            raise NotImplementedYet("aws-chunked bodies are taken for uploads only")
        if "uploads" in query:
            return Operation.CREATE_MULTIPART_UPLOAD
        if multipart:
            return Operation.COMPLETE_MULTIPART_UPLOAD
        raise NotImplementedYet("POST object uploads (HTML forms) are not supported")
    raise MethodNotAllowed(f"{method} is not allowed on an object")
