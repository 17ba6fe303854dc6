"""Buckets: create, delete, head, list (ListObjects v1 and v2), location, uploads in progress,
and batch deletes."""

import asyncio

from tornado.web import RequestHandler, stream_request_body

from s3lite import errors
from s3lite.gateway.api.s3_base import OWNER, S3Handler
from s3lite.s3 import acl, request_xml, xml
from s3lite.s3 import multipart as multipart_xml
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

UNSUPPORTED_BUCKET_QUERIES = {
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
}


BATCH_DELETE_CONCURRENCY = 16  # keys of one DeleteObjects deleted at once


@stream_request_body
class BucketHandler(S3Handler):
    streams_body = True

    async def check_request(self):
        validate_bucket_name(self.path_args[0])
        self.refuse_unsupported(UNSUPPORTED_BUCKET_QUERIES)
        self.expect_small_body()

    async def data_received(self, chunk: bytes) -> None:
        if self._finished or self.refusal is not None:
            return
        try:
            self.take_small_body_chunk(chunk)
        except Exception:
            self.fail_now()

    async def put(self, bucket: str):
        body = self.small_body_checked()
        if "versioning" in self.request.query_arguments:
            raise errors.NotImplementedYet("versioning is not supported by s3lite yet")
        if "acl" in self.request.query_arguments:
            await self.services.metadata.require_bucket(bucket)
            self.put_acl(body)
            return
        acl.check_acl_headers(self.request.headers)
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
        keys, quiet = request_xml.parse_delete_request(self.small_body_checked())
        await self.services.metadata.require_bucket(bucket)
        running = asyncio.Semaphore(BATCH_DELETE_CONCURRENCY)

        async def delete(key: str) -> errors.S3liteError | None:
            async with running:
                try:
                    validate_key(key)
                    await self.services.delete_object(bucket, key)
                except errors.S3liteError as error:
                    return error
            return None

        outcomes = await asyncio.gather(*(delete(key) for key in keys))
        deleted = [key for key, error in zip(keys, outcomes, strict=True) if error is None]
        failed = [
            (key, s3_status_and_code(error)[1], error.message)
            for key, error in zip(keys, outcomes, strict=True)
            if error is not None
        ]
        self.write_xml(xml.delete_result_xml([] if quiet else deleted, failed))

    async def get(self, bucket: str):
        simple_answers = {
            "location": xml.location_xml,
            "versioning": xml.versioning_xml,
            "acl": lambda: acl.owner_policy_xml(*OWNER),
        }
        for query, answer in simple_answers.items():
            if query in self.request.query_arguments:
                await self.services.metadata.require_bucket(bucket)
                self.write_xml(answer())
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


class ListArguments:
    """ListObjects' query parameters, checked: version 2 (``list-type=2``) or version 1."""

    def __init__(self, handler: RequestHandler):
        argument = handler.get_query_argument
        self.versions = "versions" in handler.request.query_arguments  # ListObjectVersions
        self.version = 2 if argument("list-type", None) == "2" and not self.versions else 1
        self.prefix = argument("prefix", "")
        self.delimiter = argument("delimiter", None) or None
        self.max_keys = parse_max_keys(argument("max-keys", None))
        self.start_after = argument("start-after", None)
        self.continuation_token = argument("continuation-token", None)
        self.marker = argument("key-marker" if self.versions else "marker", "")
        self.encoding_type = argument("encoding-type", None)
        validate_encoding_type(self.encoding_type)

    def page_builder(self) -> PageBuilder:
        if self.version == 2:
            start = start_bound(self.start_after, self.continuation_token)
        else:
            start = start_bound(self.marker, None)
        return PageBuilder(self.prefix, self.delimiter, self.max_keys, start)

    def render(self, bucket: str, page: ListPage) -> bytes:
        common = {
            "bucket": bucket,
            "prefix": self.prefix,
            "delimiter": self.delimiter,
            "max_keys": self.max_keys,
            "encoding_type": self.encoding_type,
        }
        next_marker = decode_token(page.next_token)[0] if page.next_token else None
        if self.versions:
            return xml.list_versions_xml(
                page, **common, key_marker=self.marker, next_key_marker=next_marker, owner=OWNER
            )
        if self.version == 1:
            return xml.list_objects_v1_xml(
                page, **common, marker=self.marker, next_marker=next_marker
            )
        return xml.list_objects_v2_xml(
            page,
            **common,
            start_after=self.start_after,
            continuation_token=self.continuation_token,
        )
