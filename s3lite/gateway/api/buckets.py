"""Buckets: create, delete, head, list (ListObjects v1 and v2, versions), location, ACLs,
CORS rules and their preflights, uploads in progress, and batch deletes."""

import asyncio

from s3lite import errors
from s3lite.gateway.api.s3_base import OWNER, S3Handler
from s3lite.s3 import acl, cors, request_xml, xml
from s3lite.s3 import multipart as multipart_xml
from s3lite.s3.errors import NoSuchCORSConfiguration, s3_status_and_code
from s3lite.s3.listing import ListArguments
from s3lite.s3.names import validate_bucket_name, validate_key
from s3lite.s3.router import Operation

# Keys of one DeleteObjects deleted at once: few, so that a batch of 1,000 keys takes its turn
# at the database beside other callers' requests instead of crowding them out.
BATCH_DELETE_CONCURRENCY = 4


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
            Operation.PUT_BUCKET_CORS: self.put_bucket_cors,
            Operation.GET_BUCKET_CORS: self.get_bucket_cors,
            Operation.DELETE_BUCKET_CORS: self.delete_bucket_cors,
            Operation.PREFLIGHT_BUCKET: self.preflight,
            Operation.LIST_MULTIPART_UPLOADS: self.list_multipart_uploads,
            Operation.LIST_OBJECTS: self.list_objects,
            Operation.LIST_OBJECTS_V2: self.list_objects,
            Operation.LIST_OBJECT_VERSIONS: self.list_objects,
        }

    async def create_bucket(self, bucket: str):
        self.document_checked()
        canned = acl.acl_from_headers(self.request.headers, OWNER[0]) or acl.PRIVATE
        try:
            await self.services.metadata.create_bucket(bucket, canned)
        except errors.BucketAlreadyOwnedByYou:
            pass  # us-east-1 answers a repeated create of your own bucket with 200
        self.set_header("Location", f"/{bucket}")
        self.finish()

    async def put_bucket_acl(self, bucket: str):
        body = self.document_checked()
        await self.services.metadata.require_bucket(bucket)
        canned = acl.acl_for_put_acl(self.request.headers, body, OWNER[0])
        await self.services.metadata.set_bucket_acl(bucket, canned)
        self.finish()

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
        record = await self.bucket(bucket)
        self.write_xml(acl.policy_xml(record.acl, *OWNER))

    async def put_bucket_cors(self, bucket: str):
        rules = cors.parse_configuration(self.document_checked())
        await self.services.metadata.set_bucket_cors(bucket, rules)
        self.finish()

    async def get_bucket_cors(self, bucket: str):
        rules = (await self.bucket(bucket)).cors
        if rules is None:
            raise NoSuchCORSConfiguration(bucket=bucket)
        self.write_xml(cors.configuration_xml(rules))

    async def delete_bucket_cors(self, bucket: str):
        self.document_checked()
        await self.services.metadata.set_bucket_cors(bucket, None)
        self.set_status(204)
        self.finish()

    async def preflight(self, bucket: str):
        await self.answer_preflight(bucket, is_object=False)

    async def list_multipart_uploads(self, bucket: str):
        await self.services.metadata.require_bucket(bucket)
        uploads = [
            multipart_xml.UploadListing(u.key, u.upload_id, u.initiated)
            for u in await self.services.metadata.open_multipart_uploads(bucket)
        ]
        self.write_xml(multipart_xml.list_uploads_xml(bucket, uploads, OWNER))

    async def list_objects(self, bucket: str):
        arguments = ListArguments.from_query(self.request.query_arguments)
        page = await self.services.metadata.list_objects(bucket, arguments.page_builder())
        self.write_xml(xml.listing_xml(arguments, bucket, page, OWNER))
