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
from s3lite.s3.acl import Access
from s3lite.s3.content_encoding import body_encoding


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
    GET_BUCKET_CORS = ("GetBucketCors", Body.DOCUMENT)
    PUT_BUCKET_CORS = ("PutBucketCors", Body.DOCUMENT)
    DELETE_BUCKET_CORS = ("DeleteBucketCors", Body.DOCUMENT)
    PREFLIGHT_BUCKET = ("PreflightBucket", Body.NONE)  # a CORS preflight OPTIONS on a bucket
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
    PREFLIGHT_OBJECT = ("PreflightObject", Body.NONE)  # a CORS preflight OPTIONS on an object

    @property
    def access(self) -> Access | None:
        """What a caller needs to be allowed this operation (``acl.is_allowed``); None for a
        CORS preflight, which anyone may send: the bucket's CORS rules answer it."""
        return OPERATION_ACCESS.get(self, Access.OWNER_ONLY)


PREFLIGHTS = (Operation.PREFLIGHT_BUCKET, Operation.PREFLIGHT_OBJECT)
# Operations other than the owner's alone (Access.OWNER_ONLY is every one not named here).
OPERATION_ACCESS: dict[Operation, Access | None] = {
    Operation.GET_OBJECT: Access.READ_OBJECT,
    Operation.HEAD_OBJECT: Access.READ_OBJECT,
    Operation.LIST_OBJECTS: Access.LIST_BUCKET,
    Operation.LIST_OBJECTS_V2: Access.LIST_BUCKET,
    Operation.LIST_OBJECT_VERSIONS: Access.LIST_BUCKET,
    Operation.LIST_MULTIPART_UPLOADS: Access.LIST_BUCKET,
    Operation.HEAD_BUCKET: Access.LIST_BUCKET,
    Operation.PUT_OBJECT: Access.WRITE_BUCKET,
    Operation.COPY_OBJECT: Access.WRITE_BUCKET,
    Operation.DELETE_OBJECT: Access.WRITE_BUCKET,
    Operation.DELETE_OBJECTS: Access.WRITE_BUCKET,
    Operation.CREATE_MULTIPART_UPLOAD: Access.WRITE_BUCKET,
    Operation.UPLOAD_PART: Access.WRITE_BUCKET,
    Operation.UPLOAD_PART_COPY: Access.WRITE_BUCKET,
    Operation.COMPLETE_MULTIPART_UPLOAD: Access.WRITE_BUCKET,
    Operation.ABORT_MULTIPART_UPLOAD: Access.WRITE_BUCKET,
    Operation.LIST_PARTS: Access.WRITE_BUCKET,
    Operation.GET_BUCKET_ACL: Access.READ_BUCKET_ACL,
    Operation.PUT_BUCKET_ACL: Access.WRITE_BUCKET_ACL,
    Operation.GET_OBJECT_ACL: Access.READ_OBJECT_ACL,
    Operation.PUT_OBJECT_ACL: Access.WRITE_OBJECT_ACL,
    Operation.PREFLIGHT_BUCKET: None,
    Operation.PREFLIGHT_OBJECT: None,
}


UNSUPPORTED_BUCKET_QUERIES = (
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
    "cors": Operation.GET_BUCKET_CORS,
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
    if method == "OPTIONS":
        return Operation.PREFLIGHT_BUCKET  # whatever the query: the CORS rules answer it
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
        if "cors" in query:
            return Operation.PUT_BUCKET_CORS
        return Operation.PUT_BUCKET_ACL if "acl" in query else Operation.CREATE_BUCKET
    if method == "HEAD":
        return Operation.HEAD_BUCKET
    if method == "DELETE":
        return Operation.DELETE_BUCKET_CORS if "cors" in query else Operation.DELETE_BUCKET
    if method == "POST":
        if "delete" in query:
            return Operation.DELETE_OBJECTS
        raise NotImplementedYet("POST on a bucket is only supported for ?delete")
    raise MethodNotAllowed(f"{method} is not allowed on a bucket")


def route_object(method: str, query: Mapping[str, str], headers: Mapping[str, str]) -> Operation:
    if method == "OPTIONS":
        return Operation.PREFLIGHT_OBJECT
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
        if body_encoding(headers).aws_chunked:
            raise NotImplementedYet("aws-chunked bodies are taken for uploads only")
        if "uploads" in query:
            return Operation.CREATE_MULTIPART_UPLOAD
        if multipart:
            return Operation.COMPLETE_MULTIPART_UPLOAD
        raise NotImplementedYet("POST object uploads (HTML forms) are not supported")
    raise MethodNotAllowed(f"{method} is not allowed on an object")
