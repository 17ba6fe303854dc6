"""The object API: Amazon S3, path style. Handlers stay thin; the work is in the services."""

import email.utils
import hashlib
import logging
import secrets
import sys
import urllib.parse
from datetime import UTC, datetime

from pymongo.errors import ConnectionFailure
from tornado import httputil
from tornado.web import HTTPError, RequestHandler, stream_request_body

from s3lite import errors
from s3lite.byteranges import content_range, parse_range
from s3lite.gateway.services import GatewayServices
from s3lite.gateway.spool import Spool
from s3lite.gateway.upload import ObjectInfo, ObjectUpload, parse_content_md5
from s3lite.s3 import multipart as multipart_xml
from s3lite.s3 import request_xml, sigv4, xml
from s3lite.s3.checksums import HEADER_PREFIX, requested_checksum
from s3lite.s3.errors import s3_status_and_code
from s3lite.s3.listing import (
    ListPage,
    PageBuilder,
    decode_token,
    parse_max_keys,
    start_bound,
    validate_encoding_type,
)
from s3lite.s3.names import validate_bucket_name, validate_key
from s3lite.s3.sigv4 import SignedRequest

log = logging.getLogger(__name__)

OWNER = ("s3lite", "s3lite")
USER_METADATA_PREFIX = "x-amz-meta-"
DEFAULT_CONTENT_TYPE = "binary/octet-stream"
UNSUPPORTED_BUCKET_QUERIES = {
    "acl",
    "cors",
    "lifecycle",
    "logging",
    "notification",
    "policy",
    "replication",
    "tagging",
    "versioning",
    "versions",
    "website",
    "encryption",
    "object-lock",
    "ownershipControls",
    "publicAccessBlock",
    "accelerate",
    "requestPayment",
}
UNSUPPORTED_OBJECT_QUERIES = {
    "acl",
    "tagging",
    "retention",
    "legal-hold",
    "attributes",
    "restore",
    "torrent",
    "select",
}
RESPONSE_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "Content-Language",
    "response-expires": "Expires",
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}


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

    def initialize(self, services: GatewayServices) -> None:
        self.services = services

    def set_default_headers(self) -> None:
        # Called again when an error replaces a response: the id must stay the same.
        if not hasattr(self, "request_id"):
            self.request_id = secrets.token_hex(8).upper()
        self.set_header("x-amz-request-id", self.request_id)
        self.set_header("Server", "s3lite")
        self.clear_header("Content-Type")  # only responses with a body say what it is

    signed: SignedRequest | None = None

    async def prepare(self):
        self.authenticate()

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
        if self.signed.payload_hash.startswith("STREAMING-"):
            raise errors.NotImplementedYet("aws-chunked request bodies are not supported yet")

    def check_small_body(self) -> None:
        """Bodies read whole (bucket requests) are checked against the signed hash at once."""
        claimed = self.signed.body_sha256 if self.signed else None
        if claimed and hashlib.sha256(self.request.body).hexdigest() != claimed:
            raise errors.ContentSha256Mismatch()

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


class ServiceHandler(S3Handler):
    async def get(self):
        buckets = await self.services.metadata.list_buckets()
        self.write_xml(xml.list_buckets_xml(buckets, *OWNER))


class BucketHandler(S3Handler):
    async def prepare(self):
        await super().prepare()
        self.check_small_body()
        validate_bucket_name(self.path_args[0])
        self.refuse_unsupported(UNSUPPORTED_BUCKET_QUERIES)

    async def put(self, bucket: str):
        try:
            await self.services.metadata.create_bucket(bucket)
        except errors.BucketAlreadyOwnedByYou:
            pass  # us-east-1 answers a repeated create of your own bucket with 200
        self.set_header("Location", f"/{bucket}")
        self.finish()

    async def head(self, bucket: str):
        await self.services.metadata.require_bucket(bucket)
        self.finish()

    async def delete(self, bucket: str):
        await self.services.metadata.delete_bucket(bucket)
        self.set_status(204)
        self.finish()

    async def post(self, bucket: str):
        if "delete" not in self.request.query_arguments:
            raise errors.NotImplementedYet("POST on a bucket is only supported for ?delete")
        keys, quiet = request_xml.parse_delete_request(self.request.body)
        await self.services.metadata.require_bucket(bucket)
        deleted, failed = [], []
        for key in keys:
            try:
                validate_key(key)
                await self.services.delete_object(bucket, key)
                deleted.append(key)
            except errors.S3liteError as error:
                failed.append((key, s3_status_and_code(error)[1], error.message))
        self.write_xml(xml.delete_result_xml([] if quiet else deleted, failed))

    async def get(self, bucket: str):
        if "location" in self.request.query_arguments:
            await self.services.metadata.require_bucket(bucket)
            self.write_xml(xml.location_xml())
            return
        if "uploads" in self.request.query_arguments:
            await self.services.metadata.require_bucket(bucket)
            uploads = [
                multipart_xml.UploadListing(u["key"], u["_id"], u["initiated"])
                for u in await self.services.metadata.open_multipart_uploads(bucket)
            ]
            self.write_xml(multipart_xml.list_uploads_xml(bucket, uploads, OWNER))
            return
        arguments = ListArguments(self)
        page = await self.services.metadata.list_objects(bucket, arguments.page_builder())
        self.write_xml(arguments.render(bucket, page))


@stream_request_body
class ObjectHandler(S3Handler):
    """One object: PUT, GET, HEAD, DELETE, and the multipart calls (``?uploads``,
    ``?uploadId=``), which all name the object they build."""

    upload: ObjectUpload | None = None
    spool: Spool | None = None
    small_body: bytearray | None = None
    part_number: int | None = None

    async def prepare(self):
        await super().prepare()
        bucket, key = self.path_args
        validate_bucket_name(bucket)
        validate_key(key)
        self.refuse_unsupported(UNSUPPORTED_OBJECT_QUERIES)
        upload_id = self.get_query_argument("uploadId", None)
        if self.get_query_argument("partNumber", None) is not None and upload_id is None:
            raise errors.NotImplementedYet("reading one part of an object is not supported yet")
        if self.request.method == "PUT" and "x-amz-copy-source" in self.request.headers:
            return  # a copy has no body; ``put`` does the work
        if self.request.method == "PUT":
            if upload_id is not None:
                await self.services.multipart.require_open(bucket, key, upload_id)
                self.part_number = parse_part_number(self.get_query_argument("partNumber", ""))
            await self.start_upload(bucket, key)
        elif self.request.method == "POST":
            self.small_body = bytearray()

    async def start_upload(self, bucket: str, key: str) -> None:
        await self.services.metadata.require_bucket(bucket)
        headers = self.request.headers
        limit = self.services.config.max_object_size
        length = headers.get("Content-Length")
        chunked = "chunked" in headers.get("Transfer-Encoding", "").lower()
        if length is None and not chunked:
            raise errors.MissingContentLength()
        if length is not None and int(length) > limit:
            raise errors.EntityTooLarge(f"{length} bytes is more than the limit of {limit}")
        self.request.connection.set_max_body_size(limit)
        self.upload = self.services.new_upload(
            ObjectInfo(
                bucket=bucket,
                key=key,
                content_type=headers.get("Content-Type", DEFAULT_CONTENT_TYPE),
                user_metadata=user_metadata(headers),
                content_md5=parse_content_md5(headers.get("Content-MD5")),
                content_sha256=self.signed.body_sha256 if self.signed else None,
                checksum=requested_checksum(headers),
                multipart_part=(self.get_query_argument("uploadId"), self.part_number)
                if self.part_number is not None
                else None,
            )
        )
        if length is None:
            self.spool = Spool(limit)
        else:
            await self.upload.begin(int(length))

    async def data_received(self, chunk: bytes) -> None:
        if self._finished:
            return
        try:
            if self.small_body is not None:
                self.small_body += chunk  # the server's small-body limit bounds it
            elif self.spool is not None:
                await self.spool.write(chunk)
            else:
                await self.upload.write(chunk)
        except Exception:
            self.fail_now()

    async def put(self, bucket: str, key: str):
        copy_source = self.request.headers.get("x-amz-copy-source")
        if copy_source is not None:
            await self.copy_object(copy_source, bucket, key)
            return
        if self.spool is not None:
            await self.upload.begin(self.spool.size)
            async for block in self.spool.read():
                await self.upload.write(block)
        if self.part_number is not None:
            upload_id = self.get_query_argument("uploadId")
            stored = await self.upload.commit_as_part(upload_id, self.part_number)
            etag = stored.etag
        else:
            record = await self.upload.commit()
            etag = record.etag
            if record.checksum:
                self.set_header(HEADER_PREFIX + record.checksum[0], record.checksum[1])
        self.upload = None
        self.set_header("ETag", f'"{etag}"')
        self.finish()

    async def copy_object(self, copy_source: str, bucket: str, key: str) -> None:
        source_bucket, source_key = parse_copy_source(copy_source)
        headers = self.request.headers
        directive = headers.get("x-amz-metadata-directive", "COPY").upper()
        if directive not in ("COPY", "REPLACE"):
            raise errors.InvalidArgument("x-amz-metadata-directive must be COPY or REPLACE")
        source = await self.services.metadata.get_object(source_bucket, source_key)
        check_preconditions(source, headers, prefix="x-amz-copy-source-")
        if directive == "REPLACE":
            content_type = headers.get("Content-Type", DEFAULT_CONTENT_TYPE)
            metadata = user_metadata(headers)
        else:
            if (source_bucket, source_key) == (bucket, key):
                raise errors.InvalidRequest(
                    "This copy request is illegal because it is trying to copy an object to "
                    "itself without changing the object's metadata."
                )
            content_type, metadata = source.content_type, source.user_metadata
        record = await self.services.copy_object(
            source, ObjectInfo(bucket, key, content_type, metadata)
        )
        self.write_xml(xml.copy_object_xml(record.etag, record.last_modified))

    async def post(self, bucket: str, key: str):
        self.check_small_body()
        multipart = self.services.multipart
        upload_id = self.get_query_argument("uploadId", None)
        if "uploads" in self.request.query_arguments:
            await self.services.metadata.require_bucket(bucket)
            upload_id = await self.services.metadata.create_multipart(
                bucket,
                key,
                self.request.headers.get("Content-Type", DEFAULT_CONTENT_TYPE),
                user_metadata(self.request.headers),
            )
            self.write_xml(multipart_xml.initiate_xml(bucket, key, upload_id))
        elif upload_id is not None:
            requested = multipart_xml.parse_complete_request(bytes(self.small_body))
            etag = await multipart.complete(bucket, key, upload_id, requested)
            location = f"{self.request.protocol}://{self.request.host}/{bucket}/{key}"
            self.write_xml(multipart_xml.complete_xml(location, bucket, key, etag))
        else:
            raise errors.NotImplementedYet("POST object uploads (HTML forms) are not supported")

    def check_small_body(self) -> None:
        """Streamed handlers keep a POST body themselves; check it like a read-whole body."""
        claimed = self.signed.body_sha256 if self.signed else None
        if claimed and hashlib.sha256(self.small_body).hexdigest() != claimed:
            raise errors.ContentSha256Mismatch()

    def on_finish(self):
        self.release_upload()

    def on_connection_close(self):
        super().on_connection_close()  # ends a handler still waiting for the rest of the body
        self.release_upload()

    def release_upload(self) -> None:
        if self.spool is not None:
            self.spool.close()
            self.spool = None
        if self.upload is not None:
            upload, self.upload = self.upload, None
            self.services.tasks.spawn(upload.abort(), f"abort upload {upload.upload_id}")

    async def head(self, bucket: str, key: str):
        await self.send_object(bucket, key, with_body=False)

    async def get(self, bucket: str, key: str):
        upload_id = self.get_query_argument("uploadId", None)
        if upload_id is None:
            await self.send_object(bucket, key, with_body=True)
            return
        await self.services.multipart.require_open(bucket, key, upload_id)
        marker = parse_part_number(self.get_query_argument("part-number-marker", "0"), low=0)
        max_parts = min(parse_part_number(self.get_query_argument("max-parts", "1000")), 1000)
        parts = [
            multipart_xml.PartListing(p.part_number, p.etag, p.size, p.last_modified)
            for p in await self.services.metadata.list_uploaded_parts(upload_id)
            if p.part_number > marker
        ]
        self.write_xml(
            multipart_xml.list_parts_xml(
                bucket,
                key,
                upload_id,
                parts[:max_parts],
                marker,
                max_parts,
                len(parts) > max_parts,
            )
        )

    async def open_object(self, bucket: str, key: str, with_body: bool):
        """The object's record, the span asked for, and a reader whose nodes all answered.

        An overwrite or delete that lands between reading the record and checking the nodes
        removes the parts just found; the record is then read once more, as S3 serves either
        the old or the new object, never an error in between.
        """
        for attempt in range(2):
            record = await self.services.metadata.get_object(bucket, key)
            check_preconditions(record, self.request.headers)
            span = parse_range(self.request.headers.get("Range"), record.size)
            reader = self.services.reader(record, *(span or (0, record.size)))
            if not with_body:
                return record, span, reader
            try:
                await reader.check_available()
                return record, span, reader
            except errors.NodeUnavailable:
                latest = await self.services.metadata.get_object(bucket, key)
                if attempt or latest.upload_id == record.upload_id:
                    raise

    async def send_object(self, bucket: str, key: str, with_body: bool) -> None:
        record, span, reader = await self.open_object(bucket, key, with_body)
        start, end = span or (0, record.size)
        if span is not None:
            self.set_status(206)
            self.set_header("Content-Range", content_range(start, end, record.size))
        self.set_header("Content-Length", end - start)
        self.set_header("Content-Type", record.content_type)
        self.set_header("ETag", f'"{record.etag}"')
        self.set_header("Last-Modified", xml.http_date(record.last_modified))
        self.set_header("Accept-Ranges", "bytes")
        for name, value in record.user_metadata:
            self.set_header(name, value)
        wants_checksum = self.request.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED"
        if record.checksum and wants_checksum and span is None:
            self.set_header(HEADER_PREFIX + record.checksum[0], record.checksum[1])
        for argument, header in RESPONSE_OVERRIDES.items():
            if (value := self.get_query_argument(argument, None)) is not None:
                self.set_header(header, value)
        if not with_body:
            self.finish()
            return
        try:
            await reader.stream(self.write_and_flush)
        except errors.S3liteError as error:
            # The status line is gone already: cutting the connection is the only honest
            # way left to tell the client that what it got is not the object.
            log.error("GET /%s/%s cut short: %s", bucket, key, error)
            self.request.connection.close()

    async def write_and_flush(self, chunk: bytes) -> None:
        self.write(chunk)
        await self.flush()

    async def delete(self, bucket: str, key: str):
        upload_id = self.get_query_argument("uploadId", None)
        if upload_id is None:
            await self.services.delete_object(bucket, key)
        else:
            await self.services.multipart.abort(bucket, key, upload_id)
        self.set_status(204)
        self.finish()


def parse_copy_source(header: str) -> tuple[str, str]:
    """``x-amz-copy-source``: ``bucket/key`` or ``/bucket/key``, percent-encoded."""
    path, _, version = header.partition("?")
    if version and version != "versionId=null":
        raise errors.NotImplementedYet("copying a version of an object is not supported")
    bucket, _, key = urllib.parse.unquote(path).lstrip("/").partition("/")
    validate_bucket_name(bucket)
    validate_key(key)
    return bucket, key


def check_preconditions(record, headers, prefix: str = "") -> None:
    """If-Match, If-None-Match, If-Modified-Since and If-Unmodified-Since, read as S3 reads
    them (on a copy, the same headers prefixed with ``x-amz-copy-source-``)."""
    etag = f'"{record.etag}"'

    def matches(value: str) -> bool:
        wanted = [tag.strip() for tag in value.split(",")]
        return "*" in wanted or etag in wanted or record.etag in wanted

    def since(name: str):
        value = headers.get(prefix + name)
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return parsed if parsed is None or parsed.tzinfo else parsed.replace(tzinfo=UTC)

    modified = record.last_modified.replace(microsecond=0)
    if_match, if_none_match = (
        headers.get(prefix + "If-Match"),
        headers.get(prefix + "If-None-Match"),
    )
    unmodified_since, modified_since = since("If-Unmodified-Since"), since("If-Modified-Since")
    if if_match is not None and not matches(if_match):
        raise errors.PreconditionFailed(Condition="If-Match")
    if if_match is None and unmodified_since is not None and modified > unmodified_since:
        raise errors.PreconditionFailed(Condition="If-Unmodified-Since")
    failure = errors.PreconditionFailed if prefix else errors.NotModified
    if if_none_match is not None and matches(if_none_match):
        raise failure(Condition="If-None-Match")
    if if_none_match is None and modified_since is not None and modified <= modified_since:
        raise failure(Condition="If-Modified-Since")


def parse_part_number(raw: str, low: int = 1) -> int:
    if not raw.isdigit() or not low <= int(raw) <= multipart_xml.MAX_PARTS:
        raise errors.InvalidArgument(
            f"Part number must be an integer between {low} and {multipart_xml.MAX_PARTS}",
            ArgumentName="partNumber",
            ArgumentValue=raw,
        )
    return int(raw)


def user_metadata(headers) -> list[tuple[str, str]]:
    return [
        (name.lower(), value)
        for name, value in headers.get_all()
        if name.lower().startswith(USER_METADATA_PREFIX)
    ]


class ListArguments:
    """ListObjects' query parameters, checked: version 2 (``list-type=2``) or version 1."""

    def __init__(self, handler: RequestHandler):
        argument = handler.get_query_argument
        self.version = 2 if argument("list-type", None) == "2" else 1
        self.prefix = argument("prefix", "")
        self.delimiter = argument("delimiter", None) or None
        self.max_keys = parse_max_keys(argument("max-keys", None))
        self.start_after = argument("start-after", None)
        self.continuation_token = argument("continuation-token", None)
        self.marker = argument("marker", "")
        self.encoding_type = argument("encoding-type", None)
        validate_encoding_type(self.encoding_type)

    def page_builder(self) -> PageBuilder:
        if self.version == 2:
            start = start_bound(self.start_after, self.continuation_token)
        else:
            start = start_bound(self.marker, None)
        return PageBuilder(self.prefix, self.delimiter, self.max_keys, start)

    def render(self, bucket: str, page: ListPage) -> bytes:
        if self.version == 1:
            return xml.list_objects_v1_xml(
                page,
                bucket=bucket,
                prefix=self.prefix,
                delimiter=self.delimiter,
                max_keys=self.max_keys,
                marker=self.marker,
                next_marker=decode_token(page.next_token)[0] if page.next_token else None,
                encoding_type=self.encoding_type,
            )
        return xml.list_objects_v2_xml(
            page,
            bucket=bucket,
            prefix=self.prefix,
            delimiter=self.delimiter,
            max_keys=self.max_keys,
            start_after=self.start_after,
            continuation_token=self.continuation_token,
            encoding_type=self.encoding_type,
        )


def routes(services: GatewayServices) -> list:
    dependencies = {"services": services}
    return [
        (r"/", ServiceHandler, dependencies),
        (r"/([^/]+)/?", BucketHandler, dependencies),
        (r"/([^/]+)/(.+)", ObjectHandler, dependencies),
    ]
