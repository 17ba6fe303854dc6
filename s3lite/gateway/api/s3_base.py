"""Common ground of the object API handlers: the operation a request is, request ids,
signatures (SigV4 and SigV2), who may do what, CORS headers, bodies read whole, S3 XML errors.

``prepare`` finds the CORS headers a request from a browser gets (from its bucket's rules, so
that errors carry them too), routes the request once (``s3.router``), tells who sends it
(``s3.auth``: the owner, or an anonymous caller when credentials are configured), refuses what
that caller may not do (``s3.acl``), reads nothing of its body yet, and runs the operation's
check before the body (``before_body``); the verb methods all hand the request to the one
coroutine its operation names (``actions``).

Anonymous callers may only read objects and list buckets whose ACLs allow it; everything else
is refused before any of it is read or stored. Reading an object is decided by the object's
ACL, once its record is read (``check_object_read``).
"""

import hashlib
import logging
import secrets
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from pymongo.errors import ConnectionFailure
from tornado import httputil
from tornado.web import HTTPError, OutputTransform, stream_request_body

from s3lite import errors
from s3lite.byteranges import unsatisfied_content_range
from s3lite.gateway.metadata.records import BucketRecord, ObjectRecord
from s3lite.gateway.services import GatewayServices
from s3lite.metrics import ByteCounting
from s3lite.numbers import is_decimal
from s3lite.s3 import auth, cors, xml
from s3lite.s3.acl import Access, Caller, check_access, missing_key_error
from s3lite.s3.errors import s3_status_and_code
from s3lite.s3.object_headers import USER_METADATA_PREFIX
from s3lite.s3.router import PREFLIGHTS, Body, Operation, route
from s3lite.s3.sigv4 import SignedRequest

log = logging.getLogger(__name__)
OWNER = ("s3lite", "s3lite")
# XML request bodies (a batch delete of 1000 long keys, a completion of thousands of parts) are
# read whole, up to this size.
XML_BODY_LIMIT = 8 * 1024 * 1024
# A request refused before its body was read gets its answer after the body, up to this size:
# closing with the body unread resets the connection, and a client still sending it (one that
# does not wait for "100 Continue") loses the answer. Larger bodies are cut off at once.
DRAIN_LIMIT = 64 * 1024 * 1024
# What an anonymous caller may ever be allowed, where the ACLs say so.
ANONYMOUS_ACCESS = (Access.READ_OBJECT, Access.LIST_BUCKET)


class S3ResponseHeaders(httputil.HTTPHeaders):
    """Header names as S3 writes them: Tornado title-cases every name, but user metadata goes
    out in lower case, and boto3 hands metadata names back exactly as they came."""

    def get_all(self):
        for name, value in super().get_all():
            lowered = name.lower()
            yield (lowered if lowered.startswith(USER_METADATA_PREFIX) else name), value


class S3HeaderCase(OutputTransform):
    """Hands every response's headers on as ``S3ResponseHeaders`` (an application transform,
    so no handler reaches into Tornado's private header store)."""

    def transform_first_chunk(self, status_code, headers, chunk, finishing):
        return status_code, S3ResponseHeaders(headers), chunk


@stream_request_body
class S3Handler(ByteCounting):
    """Common ground of the object API. Every body is read as it arrives: kept whole for a
    document, streamed on for object bytes, dropped otherwise. Subclasses name the resource
    their path is (``resource``), the coroutine of each operation they serve (``actions``),
    and what an operation checks before its body arrives (``before_body``)."""

    signed: SignedRequest | None = None
    caller: Caller = Caller.OWNER
    operation: Operation | None = None
    bucket_record: BucketRecord | None = None  # read once, when something needs it
    cors_headers: dict[str, str] | None = None  # Access-Control-* of every answer, errors too
    document: bytearray | None = None  # the body of a Body.DOCUMENT operation, as it arrives
    refusal: Exception | None = None  # answered once the body has been read and dropped
    answered_early = False  # an error was sent from ``data_received``

    def initialize(self, services: GatewayServices) -> None:
        self.services = services

    def set_default_headers(self) -> None:
        # Called again when an error replaces a response: the id must stay the same.
        if not hasattr(self, "request_id"):
            self.request_id = secrets.token_hex(8).upper()
        self.set_header("x-amz-request-id", self.request_id)
        self.set_header("Server", "s3lite")
        self.clear_header("Content-Type")  # only responses with a body say what it is

    def resource(self) -> tuple[str | None, str | None]:
        """The bucket and key this request names (None where the path has none), checked."""
        return None, None

    def actions(self) -> dict[Operation, Callable[..., Awaitable[None]]]:
        raise NotImplementedError

    async def before_body(self) -> None:
        """What the operation checks before its body arrives (bucket, sizes, an upload)."""

    def query(self) -> dict[str, str]:
        return {name: self.get_query_argument(name) for name in self.request.query_arguments}

    async def prepare(self):
        try:
            bucket, key = self.resource()
            if bucket is not None:
                await self.find_cors_headers(bucket)
            self.operation = route(
                self.request.method, bucket, key, self.query(), self.request.headers
            )
            if self.operation in PREFLIGHTS:
                # A preflight is never signed (a presigned URL's signature is for the request
                # that follows) and is answered from the CORS rules alone.
                self.caller = Caller.ANONYMOUS if self.services.credentials else Caller.OWNER
            else:
                self.authenticate()
            await self.authorize(bucket)
            if self.operation.body is Body.DOCUMENT:
                self.expect_document()
            await self.before_body()
        except Exception as error:
            if not self.can_drain_body():
                raise
            self.refuse_after_body(error)

    async def serve(self, *path_args: str) -> None:
        if self.refusal is not None:
            raise self.refusal
        await self.actions()[self.operation](*path_args)

    get = head = put = post = delete = patch = options = serve

    def can_drain_body(self) -> bool:
        headers = self.request.headers
        if headers.get("Expect", "").lower() == "100-continue":
            return False  # the client waits for a go-ahead it won't get
        if "chunked" in headers.get("Transfer-Encoding", "").lower():
            return True
        length = headers.get("Content-Length", "")
        return is_decimal(length) and 0 < int(length) <= DRAIN_LIMIT

    def refuse_after_body(self, error: Exception) -> None:
        """Read and drop the body, then answer ``error`` instead of the request."""
        self.refusal = error
        self.document = None
        self.request.connection.set_max_body_size(DRAIN_LIMIT)

    def decode_argument(self, value: bytes, name: str | None = None) -> str:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise errors.InvalidURI(f"{name or 'the path'} is not UTF-8") from None

    def expect_document(self) -> None:
        """Read this request's body whole (it is an XML document), refusing one too big with
        S3's error rather than the server's bare 400."""
        length = self.request.headers.get("Content-Length", "")
        if is_decimal(length) and int(length) > XML_BODY_LIMIT:
            raise errors.MaxMessageLengthExceeded(f"the body is over {XML_BODY_LIMIT} bytes")
        self.request.connection.set_max_body_size(2 * XML_BODY_LIMIT)
        self.document = bytearray()

    async def data_received(self, chunk: bytes) -> None:
        self.bytes_streamed_in += len(chunk)
        if self.answered_early or self.refusal is not None:
            return
        try:
            await self.take_body(chunk)
        except Exception:
            self.fail_now()

    async def take_body(self, chunk: bytes) -> None:
        """A piece of the body; a document is kept, anything else is not asked for."""
        if self.document is None:
            return
        self.document += chunk
        if len(self.document) > XML_BODY_LIMIT:
            raise errors.MaxMessageLengthExceeded(f"the body is over {XML_BODY_LIMIT} bytes")

    def document_checked(self) -> bytes:
        """The whole document body, checked against the hash it was signed with."""
        body = bytes(self.document or b"")
        self.check_body_hash(body)
        return body

    def authenticate(self) -> None:
        """Who sends the request (``self.caller``) and what its signature vouches for
        (``self.signed``): without credentials configured, the owner; with them, the owner for
        a valid SigV4 or SigV2 signature, an anonymous caller for none, and a refusal for a
        bad one."""
        headers = {
            name.lower(): self.request.headers.get_list(name) for name in self.request.headers
        }
        self.caller, self.signed = auth.authenticate(
            self.request.method,
            self.request.path,
            self.request.query,
            headers,
            self.services.credentials,
            datetime.now(UTC),
        )

    async def read_bucket(self, name: str) -> BucketRecord:
        """The bucket's record, read once per request (NoSuchBucket if there is none)."""
        if self.bucket_record is None or self.bucket_record.name != name:
            self.bucket_record = await self.services.metadata.get_bucket(name)
        return self.bucket_record

    async def authorize(self, bucket: str | None) -> None:
        """Refuse what the caller may not do, before any of the request is read or stored.
        The owner may do everything; an anonymous caller may read objects (decided by each
        object's ACL, ``check_object_read``) and list a bucket whose ACL allows it."""
        access = self.operation.access
        if self.caller is Caller.OWNER or access is None:
            return
        if access not in ANONYMOUS_ACCESS or bucket is None:
            raise errors.AccessDenied("Access Denied")
        record = await self.read_bucket(bucket)
        if access is Access.LIST_BUCKET:
            check_access(self.caller, access, record.acl)

    async def readable_object(self, bucket: str, key: str) -> ObjectRecord:
        """The object's record, if the caller may read it: a caller who may not gets
        AccessDenied, also for a key that does not exist unless it may list the bucket."""
        try:
            record = await self.services.metadata.get_object(bucket, key)
        except errors.NoSuchKey:
            if self.caller is Caller.OWNER:
                raise
            bucket_acl = (await self.read_bucket(bucket)).acl
            raise missing_key_error(self.caller, bucket_acl, key) from None
        if self.caller is not Caller.OWNER:
            bucket_acl = (await self.read_bucket(bucket)).acl
            check_access(self.caller, Access.READ_OBJECT, bucket_acl, record.acl)
        return record

    async def find_cors_headers(self, bucket: str) -> None:
        """The Access-Control-* headers an actual request from a browser gets from its bucket's
        CORS rules (a preflight is answered by its own operation), set now and again on an
        error (``write_error``)."""
        headers = self.request.headers
        if self.request.method == "OPTIONS" or not headers.get("Origin"):
            return
        try:
            rules = (await self.read_bucket(bucket)).cors
        except errors.NoSuchBucket:
            return
        self.cors_headers = cors.request_headers(rules, self.request.method, headers)
        self.apply_cors_headers()

    async def answer_preflight(self, bucket: str, is_object: bool) -> None:
        """A CORS preflight, answered from the bucket's rules (403 AccessForbidden if none
        allows it, also when the bucket does not exist)."""
        try:
            rules, exists = (await self.read_bucket(bucket)).cors, True
        except errors.NoSuchBucket:
            rules, exists = None, False
        headers = cors.preflight_headers(rules, self.request.headers, is_object, exists)
        for name, value in headers.items():
            self.set_header(name, value)
        self.finish()

    def apply_cors_headers(self) -> None:
        for name, value in (self.cors_headers or {}).items():
            self.set_header(name, value)

    def check_body_hash(self, body: bytes) -> None:
        """A body read whole (not an object's) is checked against its signed hash at once."""
        claimed = self.signed.body_sha256 if self.signed else None
        if claimed and hashlib.sha256(body).hexdigest() != claimed:
            raise errors.ContentSha256Mismatch()

    def compute_etag(self):
        return None  # ETags are the objects' own, never a hash of the response

    def log_exception(self, typ, value, tb):
        if isinstance(value, errors.S3liteError | HTTPError):
            log.info("%s %s: %s", self.request.method, self.request.path, value)
        else:
            super().log_exception(typ, value, tb)

    def write_error(self, status_code: int, **kwargs) -> None:
        error = kwargs.get("exc_info", (None, None))[1]
        if isinstance(error, ConnectionFailure):
            error = errors.DatabaseUnavailable("the metadata database cannot be reached")
        extra = {}
        if isinstance(error, errors.InvalidRange) and unsatisfied_content_range(error):
            self.set_header("Content-Range", unsatisfied_content_range(error))
        if isinstance(error, errors.S3liteError):
            status_code, code = s3_status_and_code(error)
            message = error.message
            for name, value in error.details.items():
                extra[{"bucket": "BucketName", "key": "Key"}.get(name, name)] = str(value)
        elif isinstance(error, HTTPError) and status_code < 500:
            code, message = "InvalidRequest", error.log_message or error.reason or "bad request"
        else:
            status_code, code, message = 500, "InternalError", "We encountered an internal error."
        self.set_status(status_code)
        self.apply_cors_headers()  # send_error cleared them with the rest
        if self.request.method == "HEAD" or status_code == 304:
            self.finish()
            return
        self.set_header("Content-Type", "application/xml")
        self.finish(xml.error_xml(code, message, self.request.path, self.request_id, **extra))

    def fail_now(self) -> None:
        """Answer the current exception at once, from inside ``data_received``."""
        self.answered_early = True
        self.send_error(exc_info=sys.exc_info())

    def write_xml(self, body: bytes) -> None:
        self.set_header("Content-Type", "application/xml")
        self.finish(body)
