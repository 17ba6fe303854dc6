"""Objects: streamed PUT, GET and HEAD by range, DELETE, copy, and the multipart calls."""

import logging

from tornado.iostream import StreamClosedError

from s3lite import errors
from s3lite.byteranges import content_range, parse_copy_range, parse_range
from s3lite.gateway.api.s3_base import OWNER, S3Handler
from s3lite.gateway.data.spool import Spool
from s3lite.gateway.data.upload import ObjectInfo, ObjectUpload
from s3lite.gateway.metadata.records import PRIVATE, newest_attempts
from s3lite.numbers import is_decimal
from s3lite.s3 import acl, xml
from s3lite.s3 import multipart as multipart_xml
from s3lite.s3.checksums import HEADER_PREFIX, requested_checksum
from s3lite.s3.chunked import MAX_LINE, AwsChunkedDecoder, check_payload_kind
from s3lite.s3.content_encoding import body_encoding
from s3lite.s3.multipart import parse_part_number
from s3lite.s3.names import validate_bucket_name, validate_key
from s3lite.s3.object_headers import (
    DEFAULT_CONTENT_TYPE,
    RESPONSE_OVERRIDES,
    parse_content_md5,
    parse_copy_source,
    stored_http_headers,
    user_metadata,
)
from s3lite.s3.preconditions import check_preconditions
from s3lite.s3.router import Body, Operation

log = logging.getLogger(__name__)
# Operations that store the ACL their x-amz-acl or x-amz-grant-* headers ask for (checked
# before the body, so a refused one streams nothing).
TAKES_ACL_HEADERS = {
    Operation.PUT_OBJECT,
    Operation.COPY_OBJECT,
    Operation.CREATE_MULTIPART_UPLOAD,
}


class ObjectHandler(S3Handler):
    """One object: PUT, GET, HEAD, DELETE, copies, ACLs, and the multipart calls, which all
    name the object they build."""

    upload: ObjectUpload | None = None
    spool: Spool | None = None
    decoder: AwsChunkedDecoder | None = None
    part_number: int | None = None
    acl: str = PRIVATE  # what the object is stored with, for operations that store one

    def resource(self) -> tuple[str, str]:
        bucket, key = self.path_args
        validate_bucket_name(bucket)
        validate_key(key)
        return bucket, key

    def actions(self):
        return {
            Operation.PUT_OBJECT: self.put_object,
            Operation.UPLOAD_PART: self.upload_part,
            Operation.COPY_OBJECT: self.copy_object,
            Operation.UPLOAD_PART_COPY: self.upload_part_copy,
            Operation.PUT_OBJECT_ACL: self.put_object_acl,
            Operation.GET_OBJECT_ACL: self.get_object_acl,
            Operation.GET_OBJECT: self.get_object,
            Operation.HEAD_OBJECT: self.head_object,
            Operation.DELETE_OBJECT: self.delete_object,
            Operation.LIST_PARTS: self.list_parts,
            Operation.CREATE_MULTIPART_UPLOAD: self.create_multipart_upload,
            Operation.COMPLETE_MULTIPART_UPLOAD: self.complete_multipart_upload,
            Operation.ABORT_MULTIPART_UPLOAD: self.abort_multipart_upload,
            Operation.PREFLIGHT_OBJECT: self.preflight,
        }

    async def before_body(self):
        if self.operation in TAKES_ACL_HEADERS:
            self.acl = acl.acl_from_headers(self.request.headers, OWNER[0]) or PRIVATE
        bucket, key = self.path_args
        if self.operation is Operation.UPLOAD_PART:
            await self.services.multipart.require_open(bucket, key, self.upload_id())
            self.part_number = parse_part_number(self.get_query_argument("partNumber", ""))
        if self.operation.body is Body.STREAM:
            await self.start_upload(bucket, key)

    def upload_id(self) -> str:
        """S3's UploadId of the multipart upload this request is about."""
        return self.get_query_argument("uploadId")

    async def start_upload(self, bucket: str, key: str) -> None:
        await self.services.metadata.require_bucket(bucket)
        headers = self.request.headers
        limit = self.services.config.max_object_size
        chunked = "chunked" in headers.get("Transfer-Encoding", "").lower()
        if body_encoding(headers).aws_chunked:
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
        self.upload = self.services.objects.new_upload(
            ObjectInfo(
                bucket=bucket,
                key=key,
                content_type=headers.get("Content-Type", DEFAULT_CONTENT_TYPE),
                user_metadata=user_metadata(headers),
                http_headers=stored_http_headers(headers),
                content_md5=parse_content_md5(headers.get("Content-MD5")),
                content_sha256=self.signed.body_sha256 if self.signed else None,
                checksum=requested_checksum(headers, trailing=self.decoder is not None),
                multipart_part=(self.upload_id(), self.part_number)
                if self.part_number is not None
                else None,
                acl=self.acl,
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

    async def take_body(self, chunk: bytes) -> None:
        if self.operation.body is not Body.STREAM:
            await super().take_body(chunk)
            return
        for data in self.decoder.feed(chunk) if self.decoder else (chunk,):
            if self.spool is not None:
                await self.spool.write(data)
            else:
                await self.upload.write(data)

    async def finish_body(self) -> None:
        """The body has all arrived: take its trailers, and send on what was spooled."""
        if self.decoder is not None:
            self.upload.take_trailers(self.decoder.finish())
        if self.spool is not None:
            await self.upload.begin(self.spool.size)
            async for block in self.spool.read():
                await self.upload.write(block)

    async def put_object(self, bucket: str, key: str):
        await self.finish_body()
        record = await self.upload.commit()
        self.upload = None
        if record.checksum:
            self.set_header(HEADER_PREFIX + record.checksum[0], record.checksum[1])
        self.set_header("ETag", f'"{record.etag}"')
        self.finish()

    async def upload_part(self, bucket: str, key: str):
        await self.finish_body()
        stored = await self.upload.commit_as_part(self.upload_id(), self.part_number)
        self.upload = None
        self.set_header("ETag", f'"{stored.etag}"')
        self.finish()

    async def put_object_acl(self, bucket: str, key: str):
        body = self.document_checked()
        record = await self.services.metadata.get_object(bucket, key)
        canned = acl.acl_for_put_acl(self.request.headers, body, OWNER[0])
        # Conditioned on the version read: an overwrite or delete that lands meanwhile wins,
        # as if this change came just before it, and the new object keeps its own ACL.
        await self.services.metadata.set_object_acl(bucket, key, record.write_id, canned)
        self.finish()

    async def get_object_acl(self, bucket: str, key: str):
        record = await self.services.metadata.get_object(bucket, key)
        self.write_xml(acl.policy_xml(record.acl, *OWNER))

    async def preflight(self, bucket: str, key: str):
        await self.answer_preflight(bucket, is_object=True)

    async def copy_object(self, bucket: str, key: str) -> None:
        headers = self.request.headers
        source_bucket, source_key = parse_copy_source(headers["x-amz-copy-source"])
        directive = headers.get("x-amz-metadata-directive", "COPY").upper()
        if directive not in ("COPY", "REPLACE"):
            raise errors.InvalidArgument("x-amz-metadata-directive must be COPY or REPLACE")
        await self.services.metadata.require_bucket(bucket)  # before the source is read
        source = await self.services.metadata.get_object(source_bucket, source_key)
        check_preconditions(source.etag, source.last_modified, headers, "x-amz-copy-source-")
        if directive == "REPLACE":
            target = ObjectInfo(
                bucket,
                key,
                headers.get("Content-Type", DEFAULT_CONTENT_TYPE),
                user_metadata(headers),
                stored_http_headers(headers),
                acl=self.acl,
            )
        else:
            if (source_bucket, source_key) == (bucket, key):
                raise errors.InvalidRequest(
                    "This copy request is illegal because it is trying to copy an object to "
                    "itself without changing the object's metadata."
                )
            target = ObjectInfo(
                bucket,
                key,
                source.content_type,
                source.user_metadata,
                source.http_headers,
                acl=self.acl,  # a copy's ACL is the request's, never the source's
            )
        record = await self.services.objects.copy(source, target)
        self.write_xml(xml.copy_object_xml(record.etag, record.last_modified))

    async def upload_part_copy(self, bucket: str, key: str) -> None:
        """A range of an object (or all of it) becomes one part of a multipart upload."""
        headers = self.request.headers
        upload_id = self.upload_id()
        await self.services.multipart.require_open(bucket, key, upload_id)
        part_number = parse_part_number(self.get_query_argument("partNumber", ""))
        source = await self.services.metadata.get_object(
            *parse_copy_source(headers["x-amz-copy-source"])
        )
        check_preconditions(source.etag, source.last_modified, headers, "x-amz-copy-source-")
        span = parse_copy_range(headers.get("x-amz-copy-source-range"), source.size)
        target = ObjectInfo(
            bucket, key, DEFAULT_CONTENT_TYPE, [], multipart_part=(upload_id, part_number)
        )
        part = await self.services.objects.copy(source, target, span)
        self.write_xml(multipart_xml.copy_part_xml(part.etag, part.last_modified))

    async def create_multipart_upload(self, bucket: str, key: str):
        self.document_checked()
        await self.services.metadata.require_bucket(bucket)
        upload_id = await self.services.metadata.create_multipart(
            bucket,
            key,
            self.request.headers.get("Content-Type", DEFAULT_CONTENT_TYPE),
            user_metadata(self.request.headers),
            stored_http_headers(self.request.headers),
            self.acl,
        )
        self.write_xml(multipart_xml.initiate_xml(bucket, key, upload_id))

    async def complete_multipart_upload(self, bucket: str, key: str):
        requested = multipart_xml.parse_complete_request(self.document_checked())
        etag = await self.services.multipart.complete(bucket, key, self.upload_id(), requested)
        location = f"{self.request.protocol}://{self.request.host}/{bucket}/{key}"
        self.write_xml(multipart_xml.complete_xml(location, bucket, key, etag))

    async def abort_multipart_upload(self, bucket: str, key: str):
        await self.services.multipart.abort(bucket, key, self.upload_id())
        self.set_status(204)
        self.finish()

    async def list_parts(self, bucket: str, key: str):
        upload_id = self.upload_id()
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
            self.services.tasks.spawn(upload.abort(), f"abort upload {upload.write_id}")

    async def head_object(self, bucket: str, key: str):
        await self.send_object(bucket, key, with_body=False)

    async def get_object(self, bucket: str, key: str):
        await self.send_object(bucket, key, with_body=True)

    async def open_object(self, bucket: str, key: str, with_body: bool):
        """The object's record, the span asked for, and a reader whose nodes all answered.

        An overwrite or delete that lands between reading the record and checking the nodes
        removes the shards just found; the record is then read once more, as S3 serves either
        the old or the new object, never an error in between.
        """
        for attempt in range(2):
            record = await self.readable_object(bucket, key)
            check_preconditions(record.etag, record.last_modified, self.request.headers)
            span = parse_range(self.request.headers.get("Range"), record.size)
            reader = self.services.objects.reader(record, *(span or (0, record.size)))
            if not with_body:
                return record, span, reader
            try:
                await reader.check_available()
                return record, span, reader
            except errors.NodeUnavailable:
                latest = await self.services.metadata.get_object(bucket, key)
                if attempt or latest.write_id == record.write_id:
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
        finally:
            if reader.rebuilt_pieces:
                self.services.metrics.rebuilt_reads.inc()

    async def write_and_flush(self, chunk: bytes) -> None:
        self.write(chunk)
        await self.flush()

    async def delete_object(self, bucket: str, key: str):
        await self.services.objects.delete(bucket, key)
        self.set_status(204)
        self.finish()
