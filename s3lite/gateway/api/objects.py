"""Objects: streamed PUT, GET and HEAD by range, DELETE, copy, and the multipart calls."""

import email.utils
import logging
import urllib.parse
from datetime import UTC

from tornado.iostream import StreamClosedError
from tornado.web import stream_request_body

from s3lite import errors
from s3lite.byteranges import content_range, parse_copy_range, parse_range
from s3lite.gateway.api.s3_base import DEFAULT_CONTENT_TYPE, OWNER, USER_METADATA_PREFIX, S3Handler
from s3lite.gateway.data.spool import Spool
from s3lite.gateway.data.upload import ObjectInfo, ObjectUpload, parse_content_md5
from s3lite.gateway.metadata.store import newest_attempts
from s3lite.numbers import is_decimal
from s3lite.s3 import acl, xml
from s3lite.s3 import multipart as multipart_xml
from s3lite.s3.checksums import HEADER_PREFIX, requested_checksum
from s3lite.s3.chunked import MAX_LINE, AwsChunkedDecoder, check_payload_kind, is_aws_chunked
from s3lite.s3.names import validate_bucket_name, validate_key

log = logging.getLogger(__name__)
UNSUPPORTED_OBJECT_QUERIES = {
    "tagging",
    "retention",
    "legal-hold",
    "attributes",
    "restore",
    "torrent",
    "select",
}
STORED_HTTP_HEADERS = (
    "Cache-Control",
    "Content-Disposition",
    "Content-Encoding",
    "Content-Language",
    "Expires",
)
RESPONSE_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "Content-Language",
    "response-expires": "Expires",
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}


@stream_request_body
class ObjectHandler(S3Handler):
    """One object: PUT, GET, HEAD, DELETE, and the multipart calls (``?uploads``,
    ``?uploadId=``), which all name the object they build."""

    upload: ObjectUpload | None = None
    spool: Spool | None = None
    decoder: AwsChunkedDecoder | None = None
    part_number: int | None = None

    streams_body = True

    async def check_request(self):
        bucket, key = self.path_args
        validate_bucket_name(bucket)
        validate_key(key)
        self.refuse_unsupported(UNSUPPORTED_OBJECT_QUERIES)
        upload_id = self.get_query_argument("uploadId", None)
        if self.get_query_argument("partNumber", None) is not None and upload_id is None:
            raise errors.NotImplementedYet("reading one part of an object is not supported yet")
        if self.request.method in ("PUT", "POST") and "acl" not in self.request.query_arguments:
            acl.check_acl_headers(self.request.headers)
        if self.request.method == "PUT" and "x-amz-copy-source" in self.request.headers:
            return  # a copy has no body; ``put`` does the work
        if self.request.method == "PUT" and "acl" in self.request.query_arguments:
            self.expect_small_body()
        elif self.request.method == "PUT":
            if upload_id is not None:
                await self.services.multipart.require_open(bucket, key, upload_id)
                self.part_number = parse_part_number(self.get_query_argument("partNumber", ""))
            await self.start_upload(bucket, key)
        elif self.request.method == "POST":
            if is_aws_chunked(self.request.headers):
                raise errors.NotImplementedYet("aws-chunked bodies are taken for uploads only")
            self.expect_small_body()

    async def start_upload(self, bucket: str, key: str) -> None:
        await self.services.metadata.require_bucket(bucket)
        headers = self.request.headers
        limit = self.services.config.max_object_size
        chunked = "chunked" in headers.get("Transfer-Encoding", "").lower()
        if is_aws_chunked(headers):
            self.decoder = self.new_decoder()
            length = headers.get("x-amz-decoded-content-length")
            if length is not None and not is_decimal(length):
                raise errors.InvalidArgument("x-amz-decoded-content-length must be a byte count")
            # The framing adds a line per chunk; the decoded length is what is bounded.
            self.request.connection.set_max_body_size(2 * limit + MAX_LINE)
        else:
            length = headers.get("Content-Length")
            if length is not None and not is_decimal(length):
                raise errors.InvalidArgument("Content-Length must be one byte count")
            self.request.connection.set_max_body_size(limit)
        if length is None and not chunked and self.decoder is None:
            raise errors.MissingContentLength()
        if length is not None and int(length) > limit:
            raise errors.EntityTooLarge(f"{length} bytes is more than the limit of {limit}")
        self.upload = self.services.new_upload(
            ObjectInfo(
                bucket=bucket,
                key=key,
                content_type=headers.get("Content-Type", DEFAULT_CONTENT_TYPE),
                user_metadata=user_metadata(headers),
                http_headers=stored_http_headers(headers),
                content_md5=parse_content_md5(headers.get("Content-MD5")),
                content_sha256=self.signed.body_sha256 if self.signed else None,
                checksum=requested_checksum(headers, trailing=self.decoder is not None),
                multipart_part=(self.get_query_argument("uploadId"), self.part_number)
                if self.part_number is not None
                else None,
            )
        )
        if length is None:
            self.spool = Spool(limit)
        else:
            await self.upload.begin(int(length))

    def new_decoder(self) -> AwsChunkedDecoder:
        payload = self.request.headers.get("x-amz-content-sha256", "")
        if payload.startswith("STREAMING-"):
            check_payload_kind(payload)
        return AwsChunkedDecoder(self.signed.chunk_signer if self.signed else None)

    async def data_received(self, chunk: bytes) -> None:
        if self._finished or self.refusal is not None:
            return
        try:
            if self.small_body is not None:
                self.take_small_body_chunk(chunk)
                return
            for data in self.decoder.feed(chunk) if self.decoder else (chunk,):
                if self.spool is not None:
                    await self.spool.write(data)
                else:
                    await self.upload.write(data)
        except Exception:
            self.fail_now()

    async def put(self, bucket: str, key: str):
        if self.small_body is not None:  # ?acl
            await self.services.metadata.get_object(bucket, key)
            self.put_acl(self.small_body_checked())
            return
        copy_source = self.request.headers.get("x-amz-copy-source")
        if copy_source is not None:
            upload_id = self.get_query_argument("uploadId", None)
            if upload_id is None:
                await self.copy_object(copy_source, bucket, key)
            else:
                await self.copy_part(copy_source, bucket, key, upload_id)
            return
        if self.decoder is not None:
            self.upload.take_trailers(self.decoder.finish())
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
        await self.services.metadata.require_bucket(bucket)  # before the source is read
        source = await self.services.metadata.get_object(source_bucket, source_key)
        check_preconditions(source, headers, prefix="x-amz-copy-source-")
        if directive == "REPLACE":
            target = ObjectInfo(
                bucket,
                key,
                headers.get("Content-Type", DEFAULT_CONTENT_TYPE),
                user_metadata(headers),
                stored_http_headers(headers),
            )
        else:
            if (source_bucket, source_key) == (bucket, key):
                raise errors.InvalidRequest(
                    "This copy request is illegal because it is trying to copy an object to "
                    "itself without changing the object's metadata."
                )
            target = ObjectInfo(
                bucket, key, source.content_type, source.user_metadata, source.http_headers
            )
        record = await self.services.copy_object(source, target)
        self.write_xml(xml.copy_object_xml(record.etag, record.last_modified))

    async def copy_part(self, copy_source: str, bucket: str, key: str, upload_id: str) -> None:
        """UploadPartCopy: a range of an object (or all of it) becomes one part of an upload."""
        await self.services.multipart.require_open(bucket, key, upload_id)
        part_number = parse_part_number(self.get_query_argument("partNumber", ""))
        source = await self.services.metadata.get_object(*parse_copy_source(copy_source))
        check_preconditions(source, self.request.headers, prefix="x-amz-copy-source-")
        span = parse_copy_range(self.request.headers.get("x-amz-copy-source-range"), source.size)
        target = ObjectInfo(
            bucket, key, DEFAULT_CONTENT_TYPE, [], multipart_part=(upload_id, part_number)
        )
        part = await self.services.copy_object(source, target, span)
        self.write_xml(multipart_xml.copy_part_xml(part.etag, part.last_modified))

    async def post(self, bucket: str, key: str):
        body = self.small_body_checked()
        multipart = self.services.multipart
        upload_id = self.get_query_argument("uploadId", None)
        if "uploads" in self.request.query_arguments:
            await self.services.metadata.require_bucket(bucket)
            upload_id = await self.services.metadata.create_multipart(
                bucket,
                key,
                self.request.headers.get("Content-Type", DEFAULT_CONTENT_TYPE),
                user_metadata(self.request.headers),
                stored_http_headers(self.request.headers),
            )
            self.write_xml(multipart_xml.initiate_xml(bucket, key, upload_id))
        elif upload_id is not None:
            requested = multipart_xml.parse_complete_request(body)
            etag = await multipart.complete(bucket, key, upload_id, requested)
            location = f"{self.request.protocol}://{self.request.host}/{bucket}/{key}"
            self.write_xml(multipart_xml.complete_xml(location, bucket, key, etag))
        else:
            raise errors.NotImplementedYet("POST object uploads (HTML forms) are not supported")

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
        if "acl" in self.request.query_arguments:
            await self.services.metadata.get_object(bucket, key)
            self.write_xml(acl.owner_policy_xml(*OWNER))
            return
        upload_id = self.get_query_argument("uploadId", None)
        if upload_id is None:
            await self.send_object(bucket, key, with_body=True)
            return
        await self.services.multipart.require_open(bucket, key, upload_id)
        marker = parse_part_number(self.get_query_argument("part-number-marker", "0"), low=0)
        max_parts = min(parse_part_number(self.get_query_argument("max-parts", "1000")), 1000)
        parts = [
            multipart_xml.PartListing(p.part_number, p.etag, p.size, p.last_modified)
            for p in newest_attempts(await self.services.metadata.list_uploaded_parts(upload_id))
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
        for name, value in record.http_headers:
            self.set_header(name, value)
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
        except StreamClosedError:
            log.info("GET /%s/%s: the client went away before the end", bucket, key)
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
    if not is_decimal(raw) or not low <= int(raw) <= multipart_xml.MAX_PARTS:
        raise errors.InvalidArgument(
            f"Part number must be an integer between {low} and {multipart_xml.MAX_PARTS}",
            ArgumentName="partNumber",
            ArgumentValue=raw,
        )
    return int(raw)


def stored_http_headers(headers) -> list[tuple[str, str]]:
    """The standard headers S3 keeps with an object and sends back on reads; ``aws-chunked``
    describes the request's framing, not the object, and is not kept."""
    kept = []
    for name in STORED_HTTP_HEADERS:
        value = headers.get(name, "")
        if name == "Content-Encoding":
            codings = [coding.strip() for coding in value.split(",")]
            value = ", ".join(c for c in codings if c and c.lower() != "aws-chunked")
        if value:
            kept.append((name, value))
    return kept


def user_metadata(headers) -> list[tuple[str, str]]:
    return [
        (name.lower(), value)
        for name, value in headers.get_all()
        if name.lower().startswith(USER_METADATA_PREFIX)
    ]
