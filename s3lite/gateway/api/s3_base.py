"""Common ground of the object API handlers: request ids, SigV4, S3 XML errors."""

import hashlib
import logging
import secrets
import sys
from datetime import UTC, datetime

from pymongo.errors import ConnectionFailure
from tornado import httputil
from tornado.web import HTTPError, RequestHandler

from s3lite import errors
from s3lite.byteranges import unsatisfied_content_range
from s3lite.gateway.services import GatewayServices
from s3lite.numbers import is_decimal
from s3lite.s3 import acl, sigv4, xml
from s3lite.s3.errors import s3_status_and_code
from s3lite.s3.sigv4 import SignedRequest

log = logging.getLogger(__name__)
OWNER = ("s3lite", "s3lite")
USER_METADATA_PREFIX = "x-amz-meta-"
DEFAULT_CONTENT_TYPE = "binary/octet-stream"
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


class S3Handler(RequestHandler):
    """Common ground of the object API: request ids and S3 XML errors."""

    def clear(self) -> None:
        super().clear()
        self._headers = S3ResponseHeaders(self._headers)

    signed: SignedRequest | None = None

    def initialize(self, services: GatewayServices) -> None:
        self.services = services

    def set_default_headers(self) -> None:
        # Called again when an error replaces a response: the id must stay the same.
        if not hasattr(self, "request_id"):
            self.request_id = secrets.token_hex(8).upper()
        self.set_header("x-amz-request-id", self.request_id)
        self.set_header("Server", "s3lite")
        self.clear_header("Content-Type")  # only responses with a body say what it is

    small_body: bytearray | None = None
    streams_body = False  # set by handlers that read their body with @stream_request_body
    refusal: Exception | None = None

    async def prepare(self):
        try:
            self.authenticate()
            await self.check_request()
        except Exception as error:
            if not self.can_drain_body():
                raise
            self.refuse_after_body(error)

    async def check_request(self) -> None:
        """What a handler checks before the body arrives (names, bucket, sizes)."""

    def can_drain_body(self) -> bool:
        headers = self.request.headers
        if not self.streams_body or headers.get("Expect", "").lower() == "100-continue":
            return False  # nothing unread, or the client waits for a go-ahead it won't get
        if "chunked" in headers.get("Transfer-Encoding", "").lower():
            return True
        length = headers.get("Content-Length", "")
        return is_decimal(length) and 0 < int(length) <= DRAIN_LIMIT

    def refuse_after_body(self, error: Exception) -> None:
        """Read and drop the body, then answer ``error`` instead of the request."""
        self.refusal = error
        self.request.connection.set_max_body_size(DRAIN_LIMIT)

        async def refuse(*args, **kwargs):
            raise error

        setattr(self, self.request.method.lower(), refuse)

    def decode_argument(self, value: bytes, name: str | None = None) -> str:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise errors.InvalidURI(f"{name or 'the path'} is not UTF-8") from None

    def expect_small_body(self) -> None:
        """Read this request's body whole (it is an XML document), refusing one too big with
        S3's error rather than the server's bare 400."""
        length = self.request.headers.get("Content-Length", "")
        if is_decimal(length) and int(length) > XML_BODY_LIMIT:
            raise errors.MaxMessageLengthExceeded(f"the body is over {XML_BODY_LIMIT} bytes")
        self.request.connection.set_max_body_size(2 * XML_BODY_LIMIT)
        self.small_body = bytearray()

    def take_small_body_chunk(self, chunk: bytes) -> None:
        self.small_body += chunk
        if len(self.small_body) > XML_BODY_LIMIT:
            raise errors.MaxMessageLengthExceeded(f"the body is over {XML_BODY_LIMIT} bytes")

    def small_body_checked(self) -> bytes:
        """The whole small body, checked against the hash it was signed with."""
        body = bytes(self.small_body or b"")
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

    def refuse_unsupported(self, queries: set[str]) -> None:
        asked = [name for name in self.request.query_arguments if name in queries]
        if asked:
            raise errors.NotImplementedYet(f"{asked[0]} is not supported by s3lite yet")

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
        self.send_error(exc_info=sys.exc_info())

    def write_xml(self, body: bytes) -> None:
        self.set_header("Content-Type", "application/xml")
        self.finish(body)
