"""Buckets: create, delete, head, list (ListObjects v1 and v2), location, uploads in progress,
and batch deletes."""

import asyncio

from tornado.web import RequestHandler

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
from s3lite.s3.router import Operation

BATCH_DELETE_CONCURRENCY = 16  # keys of one DeleteObjects deleted at once


class BucketHandler(S3Handler):
    def resource(self) -> tuple[str, None]:
        validate_bucket_name(self.path_args[0])
        return self.path_args[0], None

    def actions(self):
        return {
            Operation.CREATE_BUCKET: self.create_bucket,
            Operation.PUT_BUCKET_ACL: self.put_bucket_acl,
            Operation.HEAD_BUCKET: self.head_bucket,
            Operation.DELETE_BUCKET: self.delete_bucket,
            Operation.DELETE_OBJECTS: self.delete_objects,
            Operation.GET_BUCKET_LOCATION: self.get_bucket_location,
            Operation.GET_BUCKET_VERSIONING: self.get_bucket_versioning,
            Operation.GET_BUCKET_ACL: self.get_bucket_acl,
            Operation.LIST_MULTIPART_UPLOADS: self.list_multipart_uploads,
            Operation.LIST_OBJECTS: self.list_objects,
            Operation.LIST_OBJECTS_V2: self.list_objects,
            Operation.LIST_OBJECT_VERSIONS: self.list_objects,
        }

    async def create_bucket(self, bucket: str):
        self.document_checked()
        acl.check_acl_headers(self.request.headers)
        try:
            await self.services.metadata.create_bucket(bucket)
        except errors.BucketAlreadyOwnedByYou:
            pass  # us-east-1 answers a repeated create of your own bucket with 200
        self.set_header("Location", f"/{bucket}")
        self.finish()

    async def put_bucket_acl(self, bucket: str):
        body = self.document_checked()
        await self.services.metadata.require_bucket(bucket)
        self.put_acl(body)

    async def head_bucket(self, bucket: str):
        await self.services.metadata.require_bucket(bucket)
        self.finish()

    async def delete_bucket(self, bucket: str):
        await self.services.metadata.delete_bucket(bucket)
        self.set_status(204)
        self.finish()

    async def delete_objects(self, bucket: str):
        keys, quiet = request_xml.parse_delete_request(self.document_checked())
        await self.services.metadata.require_bucket(bucket)
        running = asyncio.Semaphore(BATCH_DELETE_CONCURRENCY)

        async def delete(key: str) -> errors.S3liteError | None:
            async with running:
                try:
                    validate_key(key)
                    await self.services.objects.delete(bucket, key)
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

    async def get_bucket_location(self, bucket: str):
        await self.services.metadata.require_bucket(bucket)
        self.write_xml(xml.location_xml())

    async def get_bucket_versioning(self, bucket: str):
        await self.services.metadata.require_bucket(bucket)
        self.write_xml(xml.versioning_xml())

    async def get_bucket_acl(self, bucket: str):
        await self.services.metadata.require_bucket(bucket)
        self.write_xml(acl.owner_policy_xml(*OWNER))

    async def list_multipart_uploads(self, bucket: str):
        await self.services.metadata.require_bucket(bucket)
        uploads = [
            multipart_xml.UploadListing(u.key, u.upload_id, u.initiated)
            for u in await self.services.metadata.open_multipart_uploads(bucket)
        ]
        self.write_xml(multipart_xml.list_uploads_xml(bucket, uploads, OWNER))

    async def list_objects(self, bucket: str):
        arguments = ListArguments(self, self.operation)
        page = await self.services.metadata.list_objects(bucket, arguments.page_builder())
        self.write_xml(arguments.render(bucket, page))


class ListArguments:
    """ListObjects' query parameters, checked: version 2 (``list-type=2``) or version 1."""

    def __init__(self, handler: RequestHandler, operation: Operation):
        argument = handler.get_query_argument
        self.versions = operation is Operation.LIST_OBJECT_VERSIONS
        self.version = 2 if operation is Operation.LIST_OBJECTS_V2 else 1
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
