"""Buckets, objects and upload intents in the gateway's MongoDB database.

Every change an object goes through is one single-document write, so no transaction is needed
(FerretDB has none, and they would not scale anyway): an upload records its intent before any
part is written, the object appears in one replace of its document, and a delete removes that
document before its parts are deleted from the nodes.

Each bucket's object count and bytes are kept as running totals in ``bucket_usage`` (one
document per bucket, changed by ``$inc`` right after each commit and deletion), so the
dashboard and ``s3lite status`` read one small document per bucket instead of every object
record (a full scan on FerretDB). The second write is not atomic with the first: a gateway that
dies between the two leaves a bucket's totals off by that one object.
"""

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from s3lite.clock import now
from s3lite.errors import (
    BucketAlreadyOwnedByYou,
    BucketNotEmpty,
    NoSuchBucket,
    NoSuchKey,
    NoSuchUpload,
)
from s3lite.gateway.metadata.records import (
    PRIVATE,
    BucketRecord,
    BucketState,
    DeferredDeletion,
    Intent,
    IntentFate,
    IntentKind,
    IntentState,
    MultipartState,
    MultipartUpload,
    ObjectRecord,
    ShardRecord,
    UploadedPart,
    multipart_upload_id,
    new_upload_id,
    uploaded_part_id,
)
from s3lite.s3.cors import CORSRule
from s3lite.s3.listing import ListEntry, ListPage, PageBuilder

LISTING_BATCH = 1000
DEFERRAL_BATCH = 600  # deferred deletions recorded by one insert: a DeleteObjects's 100 keys
DUPLICATE_KEY = 11000
# Present once the records of earlier versions have been rewritten (``upgrade_records``).
# Version 3: bucket_usage holds every bucket's totals.
RECORD_FORMAT = {"_id": "records", "version": 3}
LISTING_FIELDS = {"key": 1, "size": 1, "etag": 1, "last_modified": 1}


def id_prefix_range(prefix: str) -> dict:
    """The ``_id`` span of every id that starts with ``prefix/`` ("0" follows "/")."""
    return {"$gte": f"{prefix}/", "$lt": f"{prefix}0"}


def object_id(bucket: str, key: str) -> str:
    """An object's ``_id``: bucket names hold no "/", so this is unique, and sorting by it sorts
    a bucket's keys in binary order, which is the order listings need."""
    return f"{bucket}/{key}"


class Metadata:
    def __init__(self, database: AsyncDatabase):
        self.buckets = database["buckets"]
        self.objects = database["objects"]
        self.intents = database["upload_intents"]
        self.deferred_deletions = database["deferred_part_deletions"]
        self.multipart_uploads = database["multipart_uploads"]
        self.uploaded_parts = database["multipart_parts"]
        self.record_format = database["record_format"]
        self.suspect_shards = database["suspect_shards"]
        self.bucket_usage = database["bucket_usage"]

    async def ensure_indexes(self) -> None:
        await self.intents.create_index("touched")
        await self.deferred_deletions.create_index("node_id")

    async def upgrade_records(self) -> None:
        """Rewrite the intents and deferred deletions of earlier versions in today's form, so
        that no write they describe is forgotten. Earlier intents named their shards ``parts``
        with a ``part_id`` and had no kind; earlier deferred deletions were keyed by shard id
        alone, and earlier multipart uploads by their UploadId alone. Each record is rewritten
        by single-document writes (a new one first, then the old one goes), so an interrupted
        upgrade is finished by the next start. Once it has finished, a marker says so, and later
        starts do not read the collections again (on FerretDB each such read is a full scan).
        Records older than version 3 had no bucket totals: they are counted once, here."""
        marker = await self.record_format.find_one({"_id": RECORD_FORMAT["_id"]})
        if marker is not None and marker["version"] >= RECORD_FORMAT["version"]:
            return
        async for document in self.intents.find({"kind": {"$exists": False}}):
            shards = [
                {**shard, "shard_id": shard["part_id"]} for shard in document.get("parts", [])
            ]
            kind = (
                IntentKind.MULTIPART_PART if document.get("multipart_part") else IntentKind.OBJECT
            )
            await self.intents.update_one(
                {"_id": document["_id"], "kind": {"$exists": False}},
                {"$set": {"kind": kind, "shards": shards}, "$unset": {"parts": ""}},
            )
        async for document in self.multipart_uploads.find({"upload_id": {"$exists": False}}):
            upgraded = {**document, "upload_id": document["_id"]}
            upgraded["_id"] = multipart_upload_id(
                document["bucket"], document["key"], document["_id"]
            )
            try:
                await self.multipart_uploads.insert_one(upgraded)
            except DuplicateKeyError:
                pass  # rewritten by a start that stopped before the old one went
            await self.multipart_uploads.delete_one({"_id": document["_id"]})
        async for document in self.deferred_deletions.find({"shard_id": {"$exists": False}}):
            deletion = DeferredDeletion(
                document["node_id"],
                document["_id"],
                document["size"],
                document["since"],
                document["not_before"],
            )
            try:
                await self.deferred_deletions.insert_one(deletion.to_document())
            except DuplicateKeyError:
                pass  # rewritten by a start that stopped before the old one went
            await self.deferred_deletions.delete_one({"_id": document["_id"]})
        await self.count_bucket_usage()
        await self.record_format.replace_one(
            {"_id": RECORD_FORMAT["_id"]}, RECORD_FORMAT, upsert=True
        )

    async def count_bucket_usage(self) -> None:
        """Every bucket's totals counted from its object records: one pass over them all."""
        totals: dict[str, dict[str, int]] = {}
        async for document in self.objects.find({}, {"bucket": 1, "size": 1}):
            usage = totals.setdefault(document["bucket"], {"objects": 0, "bytes": 0})
            usage["objects"] += 1
            usage["bytes"] += document["size"]
        for bucket, usage in totals.items():
            await self.bucket_usage.replace_one({"_id": bucket}, usage, upsert=True)

    # Buckets

    async def create_bucket(self, name: str, acl: str = PRIVATE) -> None:
        try:
            await self.buckets.insert_one(BucketRecord(name, now(), acl).to_document())
        except DuplicateKeyError:
            raise BucketAlreadyOwnedByYou(bucket=name) from None
        # A deletion that raced with the last DeleteBucket of this name may have added to totals
        # that bucket had already dropped: a new bucket starts from zero whatever it left.
        await self.bucket_usage.replace_one({"_id": name}, {"objects": 0, "bytes": 0}, upsert=True)

    async def require_bucket(self, name: str) -> None:
        if await self.buckets.find_one({"_id": name}, {"_id": 1}) is None:
            raise NoSuchBucket(bucket=name)

    async def get_bucket(self, name: str) -> BucketRecord:
        document = await self.buckets.find_one({"_id": name})
        if document is None:
            raise NoSuchBucket(bucket=name)
        return BucketRecord.from_document(document)

    async def set_bucket_acl(self, name: str, acl: str) -> None:
        """PutBucketAcl: one update of the bucket's record."""
        updated = await self.buckets.update_one({"_id": name}, {"$set": {"acl": acl}})
        if updated.matched_count == 0:
            raise NoSuchBucket(bucket=name)

    async def set_bucket_cors(self, name: str, rules: list[CORSRule] | None) -> None:
        """PutBucketCors (``rules``) and DeleteBucketCors (None): one update of the bucket."""
        if rules is None:
            change = {"$unset": {"cors": ""}}
        else:
            change = {"$set": {"cors": [rule.to_document() for rule in rules]}}
        updated = await self.buckets.update_one({"_id": name}, change)
        if updated.matched_count == 0:
            raise NoSuchBucket(bucket=name)

    async def list_buckets(self) -> list[tuple[str, datetime]]:
        return [(b["_id"], b["created"]) async for b in self.buckets.find().sort("_id", 1)]

    async def delete_bucket(self, name: str) -> None:
        """Delete an empty bucket. It is marked "deleting" before it is found empty, and every
        object write checks the mark after it lands (``commit_object``): a write that raced
        with the deletion is taken back out, never left in a bucket that is gone."""
        marked = await self.buckets.find_one_and_update(
            {"_id": name, "state": {"$ne": BucketState.DELETING}},
            {"$set": {"state": BucketState.DELETING}},
        )
        if marked is None:
            raise NoSuchBucket(bucket=name)  # absent, or another deletion is under way
        if await self.objects.find_one({"_id": id_prefix_range(name)}, {"_id": 1}) is not None:
            await self.buckets.update_one({"_id": name}, {"$unset": {"state": ""}})
            raise BucketNotEmpty(bucket=name)
        await self.buckets.delete_one({"_id": name})
        await self.bucket_usage.delete_one({"_id": name})

    async def add_bucket_usage(self, bucket: str, objects: int, nbytes: int) -> None:
        await self.bucket_usage.update_one(
            {"_id": bucket}, {"$inc": {"objects": objects, "bytes": nbytes}}, upsert=True
        )

    async def buckets_with_usage(self) -> list[dict]:
        """Every bucket with its object count and bytes: a pass over the buckets and one over
        their totals (a small document each), whatever the number of objects."""
        usage = {document["_id"]: document async for document in self.bucket_usage.find()}
        return [
            {
                "name": name,
                "created": created.isoformat(),
                "objects": usage.get(name, {}).get("objects", 0),
                "bytes": usage.get(name, {}).get("bytes", 0),
            }
            for name, created in await self.list_buckets()
        ]

    async def bucket_takes_objects(self, name: str) -> bool:
        bucket = await self.buckets.find_one({"_id": name})
        return bucket is not None and bucket.get("state") != BucketState.DELETING

    # Objects

    async def get_object(self, bucket: str, key: str) -> ObjectRecord:
        document = await self.objects.find_one({"_id": object_id(bucket, key)})
        if document is None:
            await self.require_bucket(bucket)
            raise NoSuchKey(bucket=bucket, key=key)
        return ObjectRecord.from_document(document)

    async def commit_object(self, record: ObjectRecord) -> ObjectRecord | None:
        """Make ``record`` the object at its key in one atomic write; answer the one it replaced."""
        document = {"_id": object_id(record.bucket, record.key), **record.to_document()}
        for attempt in range(2):
            try:
                previous = await self.objects.find_one_and_replace(
                    {"_id": document["_id"]},
                    document,
                    upsert=True,
                    return_document=ReturnDocument.BEFORE,
                )
                break
            except DuplicateKeyError:
                # Two first writes of one key raced to insert; the loser replaces the winner.
                if attempt:
                    raise
        if not await self.bucket_takes_objects(record.bucket):
            # A DeleteBucket may have found the bucket empty just before this write landed.
            await self.objects.delete_one({"_id": document["_id"], "write_id": record.write_id})
            raise NoSuchBucket(bucket=record.bucket)
        if previous is None:
            await self.add_bucket_usage(record.bucket, 1, record.size)
            return None
        await self.add_bucket_usage(record.bucket, 0, record.size - previous["size"])
        return ObjectRecord.from_document(previous)

    async def set_object_acl(self, bucket: str, key: str, write_id: str, acl: str) -> bool:
        """PutObjectAcl: set the ACL of the object the write ``write_id`` made, in one update
        of its record. False if that object was overwritten or deleted meanwhile: the newer
        write wins, and its ACL is the one it was stored with."""
        updated = await self.objects.update_one(
            {"_id": object_id(bucket, key), "write_id": write_id}, {"$set": {"acl": acl}}
        )
        return updated.matched_count == 1

    async def delete_object(
        self, bucket: str, key: str, check_bucket: bool = True, count_usage: bool = True
    ) -> ObjectRecord | None:
        """Delete the object at ``key``; answer it, or None if there was none (NoSuchBucket if
        the bucket is gone, unless ``check_bucket`` is False: a batch checked it once). A batch
        also subtracts its objects from the bucket's totals once (``count_usage`` False), not
        in a write per key to the one document every deletion of the bucket changes."""
        document = await self.objects.find_one_and_delete({"_id": object_id(bucket, key)})
        if document is None:
            if check_bucket:
                await self.require_bucket(bucket)
            return None
        if count_usage:
            await self.add_bucket_usage(bucket, -1, -document["size"])
        return ObjectRecord.from_document(document)

    async def all_objects(self) -> AsyncIterator[ObjectRecord]:
        """Every object of every bucket, for maintenance that walks the whole store."""
        async for document in self.objects.find():
            yield ObjectRecord.from_document(document)

    async def list_objects(self, bucket: str, builder: PageBuilder) -> ListPage:
        """Fill a listing page from the objects of a bucket, reading keys in order in batches
        and jumping over each common prefix instead of reading through it."""
        await self.require_bucket(bucket)
        while not builder.done:
            lower, inclusive = builder.lower_bound
            # One bound each way (the key's id is within the bucket's span): FerretDB answers
            # a range from its index only when each side has one bound.
            ids = {"$lt": id_prefix_range(bucket)["$lt"]}
            ids["$gte" if inclusive else "$gt"] = object_id(bucket, lower)
            if builder.upper_bound is not None:
                ids["$lt"] = object_id(bucket, builder.upper_bound)
            cursor = (
                self.objects.find({"_id": ids}, LISTING_FIELDS).sort("_id", 1).limit(LISTING_BATCH)
            )
            read = 0
            async for document in cursor:
                read += 1
                entry = ListEntry(
                    document["key"],
                    document["size"],
                    document["etag"],
                    document["last_modified"],
                )
                if builder.offer(entry) or builder.done:
                    break
            else:
                if read < LISTING_BATCH:
                    break  # no keys left
        return builder.page()

    # Intents of writes: recorded before the first shard goes out, so that an interrupted
    # write can be found. An intent is STREAMING while its write is alive (which keeps
    # ``touched`` fresh), then claimed by one conditional write: COMMITTING once it may become
    # an object, ABORTING, or COLLECTING once a collector took it over. Exactly one claim wins.

    async def record_intent(self, intent: Intent) -> None:
        await self.intents.insert_one(intent.to_document())

    async def touch_intent(self, write_id: str) -> None:
        await self.intents.update_one(
            {"_id": write_id, "state": IntentState.STREAMING}, {"$set": {"touched": now()}}
        )

    async def claim_intent(self, write_id: str, state: IntentState) -> bool:
        """Move a streaming intent to ``state``; False if another claim got there first."""
        claimed = await self.intents.find_one_and_update(
            {"_id": write_id, "state": IntentState.STREAMING},
            {"$set": {"state": state, "touched": now()}},
        )
        return claimed is not None

    async def intent_fate(self, intent: Intent) -> IntentFate:
        """What became of an abandoned intent's shards."""
        if intent.kind is IntentKind.OBJECT:
            published = intent.write_id == await self.object_write_id(intent.bucket, intent.key)
            return IntentFate.PUBLISHED if published else IntentFate.ORPHANED
        upload_id, number = intent.multipart_part
        upload = await self.multipart_uploads.find_one(
            {"_id": multipart_upload_id(intent.bucket, intent.key, upload_id)}, {"state": 1}
        )
        state = upload["state"] if upload else None
        if state == MultipartState.COMPLETING:
            return IntentFate.UNDECIDED
        if state == MultipartState.OPEN:
            stored = await self.uploaded_parts.find_one(
                {"_id": uploaded_part_id(upload_id, number, intent.write_id)}, {"_id": 1}
            )
            return IntentFate.PUBLISHED if stored is not None else IntentFate.ORPHANED
        # Completed, aborting or gone: the part counts only if the object holds its shards.
        held = await self.shards_held_by_object(intent.bucket, intent.key, upload_id)
        published = {shard.shard_id for shard in intent.shards} <= held
        return IntentFate.PUBLISHED if published else IntentFate.ORPHANED

    async def release_intent(self, write_id: str) -> None:
        """Give an intent a collector took back to the next round, untouched from now on."""
        await self.intents.update_one({"_id": write_id}, {"$set": {"touched": now()}})

    async def claim_abandoned_intent(self, idle_since: datetime) -> Intent | None:
        """Take over one intent untouched since ``idle_since``; answer it as it was before.

        Taking it over touches it, so other collectors leave it alone while this one works.
        """
        document = await self.intents.find_one_and_update(
            {"touched": {"$lt": idle_since}},
            {"$set": {"state": IntentState.COLLECTING, "touched": now()}},
            return_document=ReturnDocument.BEFORE,
        )
        return Intent.from_document(document) if document else None

    async def shards_held_by_object(self, bucket: str, key: str, write_id: str) -> set[str]:
        """The shard ids of the object at ``key`` if the write ``write_id`` made it."""
        document = await self.objects.find_one({"_id": object_id(bucket, key)})
        if document is None:
            return set()
        record = ObjectRecord.from_document(document)
        if record.write_id != write_id:
            return set()
        return {shard.shard_id for shard in record.shards}

    async def shard_places(self, bucket: str, key: str) -> set[tuple[str, str]]:
        """(node id, shard id) of every shard the object at ``key`` holds now, whatever wrote it."""
        document = await self.objects.find_one({"_id": object_id(bucket, key)})
        if document is None:
            return set()
        return {
            (shard.node_id, shard.shard_id) for shard in ObjectRecord.from_document(document).shards
        }

    async def switch_shard(
        self,
        record: ObjectRecord,
        part_number: int,
        old: ShardRecord,
        new: ShardRecord,
        keep_apart: bool = True,
    ) -> bool:
        """Point the object at ``new`` in place of ``old``, in one update of its record; False,
        and nothing changed, if the object was overwritten or deleted since ``record`` was read,
        if ``old`` is no longer in its place (another relocation took it), or if another shard
        of the part is on ``new``'s node by now (shards of a part stay on distinct nodes;
        ``keep_apart=False`` lets a repair on fewer nodes than shards double up).

        Positions, not a whole new list: two relocations of different shards of one object then
        both land, and neither undoes the other."""
        part_at = next(i for i, part in enumerate(record.parts) if part.number == part_number)
        shards = record.parts[part_at].shards
        shard_at = next(
            j
            for j, shard in enumerate(shards)
            if (shard.node_id, shard.shard_id) == (old.node_id, old.shard_id)
        )
        prefix = f"parts.{part_at}"
        guard = {
            "_id": object_id(record.bucket, record.key),
            "write_id": record.write_id,
            f"{prefix}.number": part_number,
            f"{prefix}.shards.{shard_at}.shard_id": old.shard_id,
            f"{prefix}.shards.{shard_at}.node_id": old.node_id,
        }
        for other in range(len(shards) if keep_apart else 0):
            if other != shard_at:
                guard[f"{prefix}.shards.{other}.node_id"] = {"$ne": new.node_id}
        updated = await self.objects.update_one(
            guard, {"$set": {f"{prefix}.shards.{shard_at}": new.to_document()}}
        )
        return updated.matched_count == 1

    async def object_write_id(self, bucket: str, key: str) -> str | None:
        document = await self.objects.find_one({"_id": object_id(bucket, key)})
        return ObjectRecord.from_document(document).write_id if document else None

    async def drop_intent(self, write_id: str) -> None:
        await self.intents.delete_one({"_id": write_id})

    # Multipart uploads: OPEN -> COMPLETING -> COMPLETED, or OPEN -> ABORTING, each step one
    # conditional write.

    async def create_multipart(
        self,
        bucket: str,
        key: str,
        content_type: str,
        user_metadata: list[tuple[str, str]],
        http_headers: list[tuple[str, str]],
        acl: str = PRIVATE,
    ) -> str:
        moment = now()
        upload = MultipartUpload(
            upload_id=new_upload_id(moment),
            bucket=bucket,
            key=key,
            state=MultipartState.OPEN,
            initiated=moment,
            content_type=content_type,
            user_metadata=user_metadata,
            http_headers=http_headers,
            acl=acl,
        )
        await self.multipart_uploads.insert_one(upload.to_document())
        return upload.upload_id

    async def get_multipart(self, bucket: str, key: str, upload_id: str) -> MultipartUpload:
        document = await self.multipart_uploads.find_one(
            {"_id": multipart_upload_id(bucket, key, upload_id)}
        )
        if document is None:
            raise NoSuchUpload(bucket=bucket, key=key, UploadId=upload_id)
        return MultipartUpload.from_document(document)

    async def add_uploaded_part(self, part: UploadedPart) -> None:
        await self.uploaded_parts.insert_one(part.to_document())

    async def multipart_is_open(self, bucket: str, key: str, upload_id: str) -> bool:
        upload = await self.multipart_uploads.find_one(
            {"_id": multipart_upload_id(bucket, key, upload_id)}, {"state": 1}
        )
        return upload is not None and upload["state"] == MultipartState.OPEN

    async def list_uploaded_parts(self, upload_id: str) -> list[UploadedPart]:
        """Every stored upload of every part, older uploads of a part number included."""
        cursor = self.uploaded_parts.find({"_id": id_prefix_range(upload_id)}).sort("_id", 1)
        return [UploadedPart.from_document(document) async for document in cursor]

    async def claim_multipart(
        self, upload: MultipartUpload, state: MultipartState, **fields: object
    ) -> bool:
        """Move an open upload to ``state``; False if it is no longer open."""
        upload_id = multipart_upload_id(upload.bucket, upload.key, upload.upload_id)
        claimed = await self.multipart_uploads.find_one_and_update(
            {"_id": upload_id, "state": MultipartState.OPEN},
            {"$set": {"state": state, **fields}},
        )
        return claimed is not None

    async def reopen_multipart(self, upload: MultipartUpload) -> None:
        """A completion that failed before its object was written gives the upload back."""
        upload_id = multipart_upload_id(upload.bucket, upload.key, upload.upload_id)
        await self.multipart_uploads.update_one(
            {"_id": upload_id, "state": MultipartState.COMPLETING},
            {"$set": {"state": MultipartState.OPEN}},
        )

    async def finish_multipart(self, upload: MultipartUpload, etag: str) -> None:
        await self.multipart_uploads.update_one(
            {"_id": multipart_upload_id(upload.bucket, upload.key, upload.upload_id)},
            {"$set": {"state": MultipartState.COMPLETED, "etag": etag}},
        )
        await self.uploaded_parts.delete_many({"_id": id_prefix_range(upload.upload_id)})

    async def drop_multipart(self, upload: MultipartUpload) -> list[ShardRecord]:
        """Forget an upload and its parts; answer the shards now owned by nobody."""
        parts = await self.list_uploaded_parts(upload.upload_id)
        await self.multipart_uploads.delete_one(
            {"_id": multipart_upload_id(upload.bucket, upload.key, upload.upload_id)}
        )
        await self.uploaded_parts.delete_many({"_id": id_prefix_range(upload.upload_id)})
        return [shard for part in parts for shard in part.shards]

    async def multipart_uploads_before(self, moment: datetime, limit: int) -> list[MultipartUpload]:
        cursor = self.multipart_uploads.find({"initiated": {"$lt": moment}}).limit(limit)
        return [MultipartUpload.from_document(document) async for document in cursor]

    async def open_multipart_uploads(self, bucket: str, limit: int = 1000) -> list[MultipartUpload]:
        """The bucket's open uploads by key, then by when they began: read in ``_id`` order in
        batches, passing over uploads completed or being aborted."""
        uploads: list[MultipartUpload] = []
        lower = {"$gte": f"{bucket}/"}
        while len(uploads) < limit:
            cursor = self.multipart_uploads.find({"_id": {**lower, "$lt": f"{bucket}0"}})
            batch = [document async for document in cursor.sort("_id", 1).limit(LISTING_BATCH)]
            uploads += [
                MultipartUpload.from_document(document)
                for document in batch
                if document["state"] == MultipartState.OPEN
            ]
            if len(batch) < LISTING_BATCH:
                break
            lower = {"$gt": batch[-1]["_id"]}
        return uploads[:limit]

    # Shard deletions a node could not take when asked, or that wait on purpose

    async def defer_deletions(self, shards: list[ShardRecord], delay_seconds: float = 0.0) -> None:
        """Record deletions to make once ``delay_seconds`` have passed and each node is up, in
        a few inserts of many documents instead of one write each (a batch delete retires
        thousands). A shard deferred already keeps one record, with the later time: deferring
        twice never fails, and never brings a deletion forward under a reader."""
        moment = now()
        due = moment + timedelta(seconds=delay_seconds)
        deletions = [
            DeferredDeletion(shard.node_id, shard.shard_id, shard.size, moment, due)
            for shard in shards
        ]
        for start in range(0, len(deletions), DEFERRAL_BATCH):
            batch = deletions[start : start + DEFERRAL_BATCH]
            try:
                await self.deferred_deletions.insert_many(
                    [deletion.to_document() for deletion in batch], ordered=False
                )
            except BulkWriteError as error:
                failed = error.details.get("writeErrors", [])
                if any(failure.get("code") != DUPLICATE_KEY for failure in failed):
                    raise
                for failure in failed:
                    deletion = batch[failure["index"]]
                    await self.deferred_deletions.replace_one(
                        {"_id": deletion.record_id, "not_before": {"$lt": deletion.not_before}},
                        deletion.to_document(),
                    )

    async def deferred_deletions_on(self, node_ids: set[str], limit: int) -> list[DeferredDeletion]:
        """Deletions that are due on the given nodes."""
        cursor = self.deferred_deletions.find(
            {"node_id": {"$in": sorted(node_ids)}, "not_before": {"$lte": now()}}
        ).limit(limit)
        return [DeferredDeletion.from_document(document) async for document in cursor]

    async def forget_deletion(self, deletion: DeferredDeletion) -> None:
        await self.deferred_deletions.delete_one(
            {"_id": deletion.record_id, "not_before": deletion.not_before}
        )

    # What the repairer works from

    async def add_parity(
        self, record: ObjectRecord, part_number: int, parity: list[ShardRecord]
    ) -> bool:
        """Add parity shards to a part that has none, in one update of the object's record;
        False, and nothing changed, if the object was overwritten or deleted since ``record``
        was read, or the part has parity by now."""
        at = next(n for n, part in enumerate(record.parts) if part.number == part_number)
        updated = await self.objects.update_one(
            {
                "_id": object_id(record.bucket, record.key),
                "write_id": record.write_id,
                f"parts.{at}.number": part_number,
                f"parts.{at}.shards.{len(record.parts[at].shards)}": {"$exists": False},
            },
            {"$push": {f"parts.{at}.shards": {"$each": [s.to_document() for s in parity]}}},
        )
        return updated.matched_count == 1

    async def report_suspect(self, bucket: str, key: str, shard: ShardRecord, reason: str) -> None:
        """A read or a scrub could not read a shard of the object at ``key``: the repairer
        checks it, and only it, on its next round."""
        await self.suspect_shards.replace_one(
            {"_id": f"{shard.node_id}/{shard.shard_id}"},
            {
                "node_id": shard.node_id,
                "shard_id": shard.shard_id,
                "bucket": bucket,
                "key": key,
                "reason": reason,
                "reported": now(),
            },
            upsert=True,
        )

    async def suspects(self) -> dict[tuple[str, str], tuple[str, str]]:
        """(node id, shard id) of every shard reported, to the (bucket, key) it was read for."""
        return {
            (d["node_id"], d["shard_id"]): (d["bucket"], d["key"])
            async for d in self.suspect_shards.find()
        }

    async def forget_suspect(self, node_id: str, shard_id: str) -> None:
        await self.suspect_shards.delete_one({"_id": f"{node_id}/{shard_id}"})

    async def referenced_shards(self) -> set[tuple[str, str]]:
        """(node id, shard id) of every shard that a record may still need: objects, uploaded
        multipart parts, writes and relocations under way, and deletions waiting for readers.
        A shard on a node that none of these names is a stray. One pass over each collection:
        for the repairer's round, which walks every object anyway."""
        places: set[tuple[str, str]] = set()

        def add(shards: list[dict]) -> None:
            places.update((shard["node_id"], shard["shard_id"]) for shard in shards)

        async for document in self.objects.find({}, {"parts.shards": 1}):
            for part in document.get("parts", []):
                add(part.get("shards", []))
        async for document in self.uploaded_parts.find({}, {"shards": 1}):
            add(document.get("shards", []))
        async for document in self.intents.find({}, {"shards": 1, "replaced": 1}):
            add(document.get("shards", []) + document.get("replaced", []))
        async for document in self.deferred_deletions.find({}, {"node_id": 1, "shard_id": 1}):
            places.add((document["node_id"], document["shard_id"]))
        return places
