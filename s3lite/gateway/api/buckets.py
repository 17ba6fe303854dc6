"""Buckets: create, delete, head, list (ListObjects v1 and v2, versions), location, ACLs,
CORS rules and their preflights, uploads in progress, and batch deletes."""

import asyncio
import logging

from pymongo.errors import ConnectionFailure

from s3lite import errors
from s3lite.gateway.api.s3_base import OWNER, S3Handler
from s3lite.gateway.metadata.records import ShardRecord
from s3lite.s3 import acl, cors, request_xml, xml
from s3lite.s3 import multipart as multipart_xml
from s3lite.s3.errors import NoSuchCORSConfiguration, s3_status_and_code
from s3lite.s3.listing import ListArguments
from s3lite.s3.names import validate_bucket_name, validate_key
from s3lite.s3.router import Operation

# Keys of one DeleteObjects deleted at once: few, so that a batch of 1,000 keys takes its turn
# at the database beside other callers' requests instead of crowding them out.
BATCH_DELETE_CONCURRENCY = 4
log = logging.getLogger(__name__)
RETIRE_CHUNK = 24  # shards deleted from the nodes at once: four objects' worth


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
        """Each key deleted, a few at a time, and reported on its own: a key that fails is an
        Error of the answer, never a failure of the whole batch. The deleted objects' shards
        are retired together at the end (``retire``)."""
        keys, quiet = request_xml.parse_delete_request(self.document_checked())
        await self.services.metadata.require_bucket(bucket)
        running = asyncio.Semaphore(BATCH_DELETE_CONCURRENCY)
        retired: list[ShardRecord] = []

        async def delete(key: str) -> tuple[str, str] | None:
            """None once the key is gone (or was never there), else (code, message)."""
            async with running:
                try:
                    validate_key(key)
                    removed = await self.services.metadata.delete_object(
                        bucket, key, check_bucket=False, count_usage=False
                    )
                except errors.S3liteError as error:
                    return s3_status_and_code(error)[1], error.message
                except ConnectionFailure:
                    return "ServiceUnavailable", "the metadata database cannot be reached"
                except Exception:  # noqa: BLE001 - reported for this key, as S3 does
                    log.exception("DeleteObjects /%s: deleting %r failed", bucket, key)
                    return "InternalError", "We encountered an internal error. Please try again."
            if removed is not None:
                retired.extend(removed.shards)
                gone.append(removed.size)
            return None

        gone: list[int] = []  # sizes of the objects deleted
        outcomes = await asyncio.gather(*(delete(key) for key in keys))
        await self.subtract_usage(bucket, gone)
        await self.retire(retired)
        deleted = [key for key, failure in zip(keys, outcomes, strict=True) if failure is None]
        failed = [(key, *failure) for key, failure in zip(keys, outcomes, strict=True) if failure]
        self.write_xml(xml.delete_result_xml([] if quiet else deleted, failed))

    async def subtract_usage(self, bucket: str, sizes: list[int]) -> None:
        """The batch's deletions off the bucket's totals, in one write."""
        if not sizes:
            return
        try:
            await self.services.metadata.add_bucket_usage(bucket, -len(sizes), -sum(sizes))
        except Exception:  # noqa: BLE001 - the keys are deleted, and answered as such
            log.exception(
                "DeleteObjects /%s: the bucket's totals missed %d deletions", bucket, len(sizes)
            )

    async def retire(self, shards: list[ShardRecord]) -> None:
        """Retire the shards of a batch's deleted objects as ``ShardRemover.retire`` does, but
        for the whole batch: with ``--delete-delay-seconds`` their deletions are recorded in a
        few bulk writes rather than one write per shard (the rounds of deferred deletions make
        them); without, they are deleted now, a few objects' worth at a time, so that a batch
        of 1,000 keys never crowds out other requests."""
        delay = self.services.config.delete_delay_seconds
        if shards and delay > 0:
            try:
                await self.services.metadata.defer_deletions(shards, delay)
                return
            except Exception:  # noqa: BLE001 - the objects are gone; their shards still go
                log.exception("DeleteObjects: recording %d shard deletions failed", len(shards))
        for start in range(0, len(shards), RETIRE_CHUNK):
            try:
                await self.services.remover.retire(shards[start : start + RETIRE_CHUNK])
            except Exception:  # noqa: BLE001 - the keys are deleted, and answered as such
                log.exception("DeleteObjects: retiring shards failed; they stay on their nodes")

    async def get_bucket_location(self, bucket: str):
        await self.services.metadata.require_bucket(bucket)
        self.write_xml(xml.location_xml())

    async def get_bucket_versioning(self, bucket: str):
        await self.services.metadata.require_bucket(bucket)
        self.write_xml(xml.versioning_xml())

    async def get_bucket_acl(self, bucket: str):
        record = await self.read_bucket(bucket)
        self.write_xml(acl.policy_xml(record.acl, *OWNER))

    async def put_bucket_cors(self, bucket: str):
        rules = cors.parse_configuration(self.document_checked())
        await self.services.metadata.set_bucket_cors(bucket, rules)
        self.finish()

    async def get_bucket_cors(self, bucket: str):
        rules = (await self.read_bucket(bucket)).cors
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
