"""Buckets, objects and upload intents in the gateway's MongoDB database.

Every change an object goes through is one single-document write, so no transaction is needed
(FerretDB has none, and they would not scale anyway): an upload records its intent before any
part is written, the object appears in one replace of its document, and a delete removes that
document before its parts are deleted from the nodes.
"""

import secrets
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from s3lite.errors import (
    BucketAlreadyOwnedByYou,
    BucketNotEmpty,
    NoSuchBucket,
    NoSuchKey,
    NoSuchUpload,
)
from s3lite.s3.listing import ListEntry, ListPage, PageBuilder

LISTING_BATCH = 1000
LISTING_FIELDS = {"key": 1, "size": 1, "etag": 1, "last_modified": 1}


def now() -> datetime:
    # Milliseconds are all BSON keeps; trimming here makes a fresh record equal a stored one.
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


@dataclass(frozen=True)
class PartRecord:
    """Where one part of an object lives. ``role`` leaves room for parity parts."""

    index: int
    node_id: str
    part_id: str
    offset: int
    size: int
    sha256: str
    role: str = "data"


@dataclass(frozen=True)
class ObjectRecord:
    bucket: str
    key: str
    size: int
    etag: str
    upload_id: str
    parts: list[PartRecord]
    content_type: str = "binary/octet-stream"
    user_metadata: list[tuple[str, str]] = field(default_factory=list)
    last_modified: datetime = field(default_factory=now)
    checksum: list[str] | None = None  # [algorithm, base64 value], as the client sent it
    # Cache-Control, Content-Disposition and the like, as given on upload, sent back on reads
    http_headers: list[tuple[str, str]] = field(default_factory=list)

    def to_document(self) -> dict:
        document = asdict(self)
        document["user_metadata"] = pairs_to_documents(self.user_metadata)
        document["http_headers"] = pairs_to_documents(self.http_headers)
        return document

    @classmethod
    def from_document(cls, document: dict) -> "ObjectRecord":
        fields = {name: document[name] for name in cls.__dataclass_fields__ if name in document}
        fields["parts"] = [PartRecord(**part) for part in document["parts"]]
        fields["user_metadata"] = documents_to_pairs(document["user_metadata"])
        fields["http_headers"] = documents_to_pairs(document.get("http_headers", []))
        return cls(**fields)


def pairs_to_documents(pairs: list[tuple[str, str]]) -> list[dict]:
    """Name-value pairs as documents: not a mapping (names may hold dots) and not nested arrays
    (FerretDB has none)."""
    return [{"name": name, "value": value} for name, value in pairs]


def documents_to_pairs(documents: list[dict]) -> list[tuple[str, str]]:
    return [(document["name"], document["value"]) for document in documents]


@dataclass(frozen=True)
class UploadedPart:
    """One upload of one part of a multipart upload, itself cut into pieces on six nodes
    (``pieces``, with offsets within the uploaded part).

    Every upload of a part number is kept as its own record (``attempt``, the id of the upload
    that stored it) and the newest one counts: storing a part never deletes anything, so it
    cannot delete pieces that a completion running at the same time has just chosen.
    """

    upload_id: str
    part_number: int
    size: int
    etag: str
    pieces: list[PartRecord]
    attempt: str
    last_modified: datetime = field(default_factory=now)

    def to_document(self) -> dict:
        return {
            "_id": uploaded_part_id(self.upload_id, self.part_number, self.attempt),
            **asdict(self),
        }

    @classmethod
    def from_document(cls, document: dict) -> "UploadedPart":
        fields = {name: document[name] for name in cls.__dataclass_fields__}
        fields["pieces"] = [PartRecord(**piece) for piece in document["pieces"]]
        return cls(**fields)


def uploaded_part_id(upload_id: str, part_number: int, attempt: str) -> str:
    return f"{upload_id}/{part_number:05d}/{attempt}"  # sorts by part number


def newest_attempts(parts: list[UploadedPart]) -> list[UploadedPart]:
    """The part that counts for each part number (the last stored), by part number."""
    newest: dict[int, UploadedPart] = {}
    for part in parts:
        known = newest.get(part.part_number)
        if known is None or (part.last_modified, part.attempt) > (
            known.last_modified,
            known.attempt,
        ):
            newest[part.part_number] = part
    return [newest[number] for number in sorted(newest)]


def id_prefix_range(prefix: str) -> dict:
    """The ``_id`` span of every id that starts with ``prefix/`` ("0" follows "/")."""
    return {"$gte": f"{prefix}/", "$lt": f"{prefix}0"}


def object_id(bucket: str, key: str) -> str:
    """An object's ``_id``: bucket names hold no "/", so this is unique, and sorting by it sorts
    a bucket's keys in binary order. Lookups by ``_id`` are the ones FerretDB's SQLite backend
    answers from an index; on MongoDB the ``_id`` index serves listings too."""
    return f"{bucket}/{key}"


class Metadata:
    def __init__(self, database: AsyncDatabase):
        self.buckets = database["buckets"]
        self.objects = database["objects"]
        self.intents = database["upload_intents"]
        self.deferred_deletions = database["deferred_part_deletions"]
        self.multipart_uploads = database["multipart_uploads"]
        self.uploaded_parts = database["multipart_parts"]

    async def ensure_indexes(self) -> None:
        await self.intents.create_index("touched")
        await self.deferred_deletions.create_index("node_id")

    # Buckets

    async def create_bucket(self, name: str) -> None:
        try:
            await self.buckets.insert_one({"_id": name, "created": now()})
        except DuplicateKeyError:
            raise BucketAlreadyOwnedByYou(bucket=name) from None

    async def require_bucket(self, name: str) -> None:
        if await self.buckets.find_one({"_id": name}, {"_id": 1}) is None:
            raise NoSuchBucket(bucket=name)

    async def list_buckets(self) -> list[tuple[str, datetime]]:
        return [(b["_id"], b["created"]) async for b in self.buckets.find().sort("_id", 1)]

    async def delete_bucket(self, name: str) -> None:
        """Delete an empty bucket. It is marked "deleting" before it is found empty, and every
        object write checks the mark after it lands (``commit_object``): a write that raced
        with the deletion is taken back out, never left in a bucket that is gone."""
        marked = await self.buckets.find_one_and_update(
            {"_id": name, "state": {"$ne": "deleting"}}, {"$set": {"state": "deleting"}}
        )
        if marked is None:
            raise NoSuchBucket(bucket=name)  # absent, or another deletion is under way
        if await self.objects.find_one({"_id": id_prefix_range(name)}, {"_id": 1}) is not None:
            await self.buckets.update_one({"_id": name}, {"$unset": {"state": ""}})
            raise BucketNotEmpty(bucket=name)
        await self.buckets.delete_one({"_id": name})

    async def bucket_takes_objects(self, name: str) -> bool:
        bucket = await self.buckets.find_one({"_id": name})
        return bucket is not None and bucket.get("state") != "deleting"

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
            await self.objects.delete_one({"_id": document["_id"], "upload_id": record.upload_id})
            raise NoSuchBucket(bucket=record.bucket)
        return ObjectRecord.from_document(previous) if previous else None

    async def delete_object(self, bucket: str, key: str) -> ObjectRecord | None:
        document = await self.objects.find_one_and_delete({"_id": object_id(bucket, key)})
        if document is None:
            await self.require_bucket(bucket)
            return None
        return ObjectRecord.from_document(document)

    async def list_objects(self, bucket: str, builder: PageBuilder) -> ListPage:
        """Fill a listing page from the objects of a bucket, reading keys in order in batches
        and jumping over each common prefix instead of reading through it."""
        await self.require_bucket(bucket)
        while not builder.done:
            lower, inclusive = builder.lower_bound
            ids = id_prefix_range(bucket)
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

    # Upload intents: written before the first part, so an interrupted upload can be found.
    # An intent is "streaming" while its upload is alive (which keeps ``touched`` fresh), then
    # "committing" once it may become an object, or "collecting" once a collector took it over;
    # each step is one conditional write, so an upload and a collector can never both win.

    async def record_intent(
        self,
        upload_id: str,
        bucket: str,
        key: str,
        multipart_part: tuple[str, int] | None,
        parts: list[dict],
    ) -> None:
        moment = now()
        await self.intents.insert_one(
            {
                "_id": upload_id,
                "bucket": bucket,
                "key": key,
                "multipart_part": list(multipart_part) if multipart_part else None,
                "parts": parts,
                "state": "streaming",
                "started": moment,
                "touched": moment,
            }
        )

    async def touch_intent(self, upload_id: str) -> None:
        await self.intents.update_one(
            {"_id": upload_id, "state": "streaming"}, {"$set": {"touched": now()}}
        )

    async def claim_for_commit(self, upload_id: str) -> bool:
        """Answer False if a collector has taken the upload over: it must not commit."""
        claimed = await self.intents.find_one_and_update(
            {"_id": upload_id, "state": "streaming"},
            {"$set": {"state": "committing", "touched": now()}},
        )
        return claimed is not None

    async def claim_abort(self, upload_id: str) -> bool:
        """Answer False if the upload's commit (or a collector) got there first."""
        claimed = await self.intents.find_one_and_update(
            {"_id": upload_id, "state": "streaming"}, {"$set": {"state": "aborting"}}
        )
        return claimed is not None

    async def intent_fate(self, intent: dict) -> str:
        """What became of an abandoned intent's parts: "published" (an object or a stored
        multipart part owns them), "orphaned" (nothing does: delete them), or "undecided" (a
        multipart completion is under way and may still take them: look again later)."""
        if not intent.get("multipart_part"):
            published = intent["_id"] == await self.object_upload_id(
                intent["bucket"], intent["key"]
            )
            return "published" if published else "orphaned"
        multipart_id, number = intent["multipart_part"]
        upload = await self.multipart_uploads.find_one({"_id": multipart_id})
        state = upload["state"] if upload else None
        if state == "completing":
            return "undecided"
        if state == "open":
            stored = await self.uploaded_parts.find_one(
                {"_id": uploaded_part_id(multipart_id, number, intent["_id"])}
            )
            return "published" if stored is not None else "orphaned"
        # Completed, aborting or gone: the part counts only if the object holds its pieces.
        held = await self.pieces_held_by_object(intent["bucket"], intent["key"], multipart_id)
        return "published" if {p["part_id"] for p in intent["parts"]} <= held else "orphaned"

    async def release_intent(self, upload_id: str) -> None:
        """Give an intent a collector took back to the next round, untouched from now on."""
        await self.intents.update_one({"_id": upload_id}, {"$set": {"touched": now()}})

    async def claim_abandoned_intent(self, idle_since: datetime) -> dict | None:
        """Take over one intent untouched since ``idle_since``; answer it as it was before.

        Taking it over touches it, so other collectors leave it alone while this one works.
        """
        return await self.intents.find_one_and_update(
            {"touched": {"$lt": idle_since}},
            {"$set": {"state": "collecting", "touched": now()}},
            return_document=ReturnDocument.BEFORE,
        )

    async def pieces_held_by_object(self, bucket: str, key: str, upload_id: str) -> set[str]:
        """The part ids of the object at ``key`` if the upload ``upload_id`` made it."""
        document = await self.objects.find_one({"_id": object_id(bucket, key)})
        if document is None or document["upload_id"] != upload_id:
            return set()
        return {part["part_id"] for part in document["parts"]}

    async def object_upload_id(self, bucket: str, key: str) -> str | None:
        document = await self.objects.find_one({"_id": object_id(bucket, key)}, {"upload_id": 1})
        return document["upload_id"] if document else None

    async def drop_intent(self, upload_id: str) -> None:
        await self.intents.delete_one({"_id": upload_id})

    # Multipart uploads: open -> completing -> completed (kept, so that a repeated
    # completion answers as the first did), each step one conditional write.

    async def create_multipart(
        self,
        bucket: str,
        key: str,
        content_type: str,
        user_metadata: list[tuple[str, str]],
        http_headers: list[tuple[str, str]],
    ) -> str:
        upload_id = secrets.token_hex(16)
        await self.multipart_uploads.insert_one(
            {
                "_id": upload_id,
                "bucket": bucket,
                "key": key,
                "content_type": content_type,
                "user_metadata": pairs_to_documents(user_metadata),
                "http_headers": pairs_to_documents(http_headers),
                "state": "open",
                "initiated": now(),
            }
        )
        return upload_id

    async def get_multipart(self, bucket: str, key: str, upload_id: str) -> dict:
        upload = await self.multipart_uploads.find_one({"_id": upload_id})
        if upload is None or (upload["bucket"], upload["key"]) != (bucket, key):
            raise NoSuchUpload(bucket=bucket, key=key, UploadId=upload_id)
        upload["user_metadata"] = documents_to_pairs(upload["user_metadata"])
        upload["http_headers"] = documents_to_pairs(upload.get("http_headers", []))
        return upload

    async def add_uploaded_part(self, part: UploadedPart) -> None:
        await self.uploaded_parts.insert_one(part.to_document())

    async def multipart_is_open(self, upload_id: str) -> bool:
        upload = await self.multipart_uploads.find_one({"_id": upload_id})
        return upload is not None and upload["state"] == "open"

    async def list_uploaded_parts(self, upload_id: str) -> list[UploadedPart]:
        """Every stored upload of every part, older uploads of a part number included."""
        cursor = self.uploaded_parts.find({"_id": id_prefix_range(upload_id)}).sort("_id", 1)
        return [UploadedPart.from_document(document) async for document in cursor]

    async def claim_completion(self, upload_id: str) -> bool:
        claimed = await self.multipart_uploads.find_one_and_update(
            {"_id": upload_id, "state": "open"},
            {"$set": {"state": "completing", "claimed": now()}},
        )
        return claimed is not None

    async def reopen_multipart(self, upload_id: str) -> None:
        """A completion that failed before its object was written gives the upload back."""
        await self.multipart_uploads.update_one(
            {"_id": upload_id, "state": "completing"}, {"$set": {"state": "open"}}
        )

    async def finish_multipart(self, upload_id: str, etag: str) -> None:
        await self.multipart_uploads.update_one(
            {"_id": upload_id}, {"$set": {"state": "completed", "etag": etag}}
        )
        await self.uploaded_parts.delete_many({"_id": id_prefix_range(upload_id)})

    async def claim_multipart_abort(self, upload_id: str) -> bool:
        claimed = await self.multipart_uploads.find_one_and_update(
            {"_id": upload_id, "state": "open"}, {"$set": {"state": "aborting"}}
        )
        return claimed is not None

    async def drop_multipart(self, upload_id: str) -> list[PartRecord]:
        """Forget an upload and its parts; answer the pieces now owned by nobody."""
        pieces = [p for part in await self.list_uploaded_parts(upload_id) for p in part.pieces]
        await self.multipart_uploads.delete_one({"_id": upload_id})
        await self.uploaded_parts.delete_many({"_id": id_prefix_range(upload_id)})
        return pieces

    async def multipart_uploads_before(self, moment: datetime, limit: int) -> list[dict]:
        cursor = self.multipart_uploads.find({"initiated": {"$lt": moment}}).limit(limit)
        return [upload async for upload in cursor]

    async def open_multipart_uploads(self, bucket: str) -> list[dict]:
        cursor = self.multipart_uploads.find({"bucket": bucket, "state": "open"}).sort("key", 1)
        return [upload async for upload in cursor.limit(1000)]

    # Part deletions a node could not take when asked

    async def defer_deletion(
        self, node_id: str, part_id: str, size: int, delay_seconds: float = 0.0
    ) -> None:
        """Record a deletion to make once ``delay_seconds`` have passed and the node is up."""
        moment = now()
        await self.deferred_deletions.replace_one(
            {"_id": part_id},
            {
                "_id": part_id,
                "node_id": node_id,
                "size": size,
                "since": moment,
                "not_before": moment + timedelta(seconds=delay_seconds),
            },
            upsert=True,
        )

    async def deferred_deletions_on(self, node_ids: set[str], limit: int) -> list[dict]:
        """Deletions that are due on the given nodes."""
        cursor = self.deferred_deletions.find(
            {"node_id": {"$in": sorted(node_ids)}, "not_before": {"$lte": now()}}
        ).limit(limit)
        return [document async for document in cursor]

    async def forget_deletion(self, part_id: str) -> None:
        await self.deferred_deletions.delete_one({"_id": part_id})
