"""Common ground of the object API handlers: the operation a request is, request ids, SigV4,
bodies read whole, S3 XML errors.

``prepare`` routes the request once (``s3.router``), checks its signature, reads nothing of
its body yet, and runs the operation's check before the body (``before_body``); the verb
methods all hand the request to the one coroutine its operation names (``actions``).
"""

import hashlib
import logging
import secrets
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from pymongo.errors import ConnectionFailure
from tornado import httputil
from tornado.web import HTTPError, OutputTransform, RequestHandler, stream_request_body

from s3lite import errors
from s3lite.byteranges import unsatisfied_content_range
from s3lite.gateway.services import GatewayServices
from s3lite.numbers import is_decimal
from s3lite.s3 import acl, sigv4, xml
from s3lite.s3.errors import s3_status_and_code
from s3lite.s3.object_headers import USER_METADATA_PREFIX
from s3lite.s3.router import Body, Operation, route
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
class S3Handler(RequestHandler):
    """Common ground of the object API. Every body is read as it arrives: kept whole for a
    document, streamed on for object bytes, dropped otherwise. Subclasses name the resource
    their path is (``resource``), the coroutine of each operation they serve (``actions``),
    and what an operation checks before its body arrives (``before_body``)."""

    signed: SignedRequest | None = None
    operation: Operation | None = None
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
            self.operation = route(
                self.request.method, bucket, key, self.query(), self.request.headers
            )
            self.authenticate()
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
        """With credentials configured, serve only requests signed with them (SigV4)."""
        credentials = self.services.credentials
        if not credentials:
            return
        headers = {
            name.lower(): self.request.headers.get_list(name) for name in self.request.headers
        }
        self.signed = sigv4.verify(
            self.request.method,
            self.request.path,
            self.request.query,
            headers,
            credentials,
            datetime.now(UTC),
        )

    def check_body_hash(self, body: bytes) -> None:
        """A body read whole (not an object's) is checked against its signed hash at once."""
        claimed = self.signed.body_sha256 if self.signed else None
        if claimed and hashlib.sha256(body).hexdigest() != claimed:
            raise errors.ContentSha256Mismatch()

    def put_acl(self, body: bytes) -> None:
        """PutBucketAcl and PutObjectAcl: accepted when they ask for what everything already
        has, the owner alone with full control."""
        acl.check_acl_headers(self.request.headers)
        if body.strip():
            acl.check_policy_body(body, OWNER[0])
        self.finish()

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
