"""The gateway's records, typed: objects with their parts and shards, multipart uploads, the
intents of writes under way, and deletions deferred until a node can take them.

The words, used the same way everywhere:
- an **object** is what S3 stores at a key; it is made of one or more **parts**: the one body
  of a PUT, or each uploaded part of a multipart upload, in object order;
- each part is cut into six contiguous **data shards**, each kept on one node (parity shards,
  computed from them, take the indexes after the data);
- a **write** is one attempt to store a part's bytes; its ``write_id`` names its intent and
  its shards. S3's UploadId names a multipart upload, a different thing.

Each record turns into one MongoDB document and back; every change to one is a single-document
write (see ``store``).
"""

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from s3lite.clock import now
from s3lite.s3.cors import CORSRule

DEFAULT_CONTENT_TYPE = "binary/octet-stream"
PRIVATE = "private"  # the canned ACL of what was stored without one (``s3.acl``)


class ShardRole(StrEnum):
    DATA = "data"
    PARITY = "parity"


class IntentKind(StrEnum):
    """What a write under way is for, so a collector knows what could own its shards."""

    OBJECT = "object"  # a PUT or a copy: the object at the key owns the shards once committed
    MULTIPART_PART = "multipart-part"  # an UploadPart: the upload's part record owns them
    # A copy of one stored shard on another node (a move or a rebuild): the object owns the
    # copy once its record points at it, and then the shard it replaced is retired.
    RELOCATION = "relocation"


class IntentState(StrEnum):
    """A write's intent: streaming while it is alive, then claimed by exactly one of its
    commit, its abort, or a collector."""

    STREAMING = "streaming"
    COMMITTING = "committing"
    ABORTING = "aborting"
    COLLECTING = "collecting"


class IntentFate(StrEnum):
    """What became of an abandoned write's shards."""

    PUBLISHED = "published"  # an object or a stored multipart part owns them
    ORPHANED = "orphaned"  # nothing does: delete them
    UNDECIDED = "undecided"  # a multipart completion is under way and may still take them


class MultipartState(StrEnum):
    OPEN = "open"
    COMPLETING = "completing"
    COMPLETED = "completed"  # kept, so that a repeated completion answers as the first did
    ABORTING = "aborting"


class BucketState(StrEnum):
    DELETING = "deleting"


@dataclass(frozen=True)
class BucketRecord:
    """A bucket: its canned ACL, and its CORS rules (None: it has no CORS configuration)."""

    name: str
    created: datetime
    acl: str = PRIVATE
    cors: list[CORSRule] | None = None
    state: BucketState | None = None

    def to_document(self) -> dict:
        document = {"_id": self.name, "created": self.created, "acl": self.acl}
        if self.cors is not None:
            document["cors"] = [rule.to_document() for rule in self.cors]
        if self.state is not None:
            document["state"] = str(self.state)
        return document

    @classmethod
    def from_document(cls, document: dict) -> "BucketRecord":
        cors = document.get("cors")
        state = document.get("state")
        return cls(
            name=document["_id"],
            created=document["created"],
            acl=document.get("acl", PRIVATE),
            cors=[CORSRule.from_document(rule) for rule in cors] if cors is not None else None,
            state=BucketState(state) if state else None,
        )


@dataclass(frozen=True)
class ShardRecord:
    """One shard of a part: where it lives and what it must hash to. ``offset`` is within
    its part."""

    index: int
    node_id: str
    shard_id: str
    offset: int
    size: int
    sha256: str
    role: ShardRole = ShardRole.DATA

    def to_document(self) -> dict:
        return {
            "index": self.index,
            "role": str(self.role),
            "node_id": self.node_id,
            "shard_id": self.shard_id,
            "offset": self.offset,
            "size": self.size,
            "sha256": self.sha256,
        }

    @classmethod
    def from_document(cls, document: dict) -> "ShardRecord":
        return cls(
            index=document["index"],
            node_id=document["node_id"],
            shard_id=document["shard_id"],
            offset=document["offset"],
            size=document["size"],
            sha256=document["sha256"],
            role=ShardRole(document.get("role", ShardRole.DATA)),
        )


@dataclass(frozen=True)
class ObjectPart:
    """One part of an object: ``number`` as S3 numbered it (1 for a PUT), at ``offset``
    within the object."""

    number: int
    offset: int
    size: int
    shards: list[ShardRecord]

    @property
    def data_shards(self) -> list[ShardRecord]:
        return sorted(
            (shard for shard in self.shards if shard.role is ShardRole.DATA),
            key=lambda shard: shard.index,
        )

    @property
    def parity_shards(self) -> list[ShardRecord]:
        """Reed-Solomon parity of the data shards, indexes 6.., each as long as data shard 0
        (shorter data shards count as padded with zeros); ``offset`` is 0."""
        return sorted(
            (shard for shard in self.shards if shard.role is ShardRole.PARITY),
            key=lambda shard: shard.index,
        )

    def to_document(self) -> dict:
        return {
            "number": self.number,
            "offset": self.offset,
            "size": self.size,
            "shards": [shard.to_document() for shard in self.shards],
        }

    @classmethod
    def from_document(cls, document: dict) -> "ObjectPart":
        return cls(
            document["number"],
            document["offset"],
            document["size"],
            [ShardRecord.from_document(shard) for shard in document["shards"]],
        )


@dataclass(frozen=True)
class ObjectRecord:
    bucket: str
    key: str
    size: int
    etag: str
    write_id: str  # the write that made it, or the multipart upload's UploadId
    parts: list[ObjectPart]
    content_type: str = DEFAULT_CONTENT_TYPE
    user_metadata: list[tuple[str, str]] = field(default_factory=list)
    last_modified: datetime = field(default_factory=now)
    checksum: list[str] | None = None  # [algorithm, base64 value], as the client sent it
    # Cache-Control, Content-Disposition and the like, as given on upload, sent back on reads
    http_headers: list[tuple[str, str]] = field(default_factory=list)
    acl: str = PRIVATE  # a canned ACL's name (``s3.acl``)

    @property
    def shards(self) -> list[ShardRecord]:
        """Every shard of every part."""
        return [shard for part in self.parts for shard in part.shards]

    def to_document(self) -> dict:
        return {
            "bucket": self.bucket,
            "key": self.key,
            "size": self.size,
            "etag": self.etag,
            "write_id": self.write_id,
            "parts": [part.to_document() for part in self.parts],
            "content_type": self.content_type,
            "user_metadata": pairs_to_documents(self.user_metadata),
            "last_modified": self.last_modified,
            "checksum": self.checksum,
            "http_headers": pairs_to_documents(self.http_headers),
            "acl": self.acl,
        }

    @classmethod
    def from_document(cls, document: dict) -> "ObjectRecord":
        if "write_id" not in document:
            document = upgraded_object_document(document)
        return cls(
            bucket=document["bucket"],
            key=document["key"],
            size=document["size"],
            etag=document["etag"],
            write_id=document["write_id"],
            parts=[ObjectPart.from_document(part) for part in document["parts"]],
            content_type=document["content_type"],
            user_metadata=documents_to_pairs(document["user_metadata"]),
            last_modified=document["last_modified"],
            checksum=document.get("checksum"),
            http_headers=documents_to_pairs(document.get("http_headers", [])),
            acl=document.get("acl", PRIVATE),
        )


def upgraded_object_document(document: dict) -> dict:
    """An object written before objects kept their parts: one flat list of data shards with
    offsets within the object, read as one part at offset 0."""
    shards = [
        {**{k: v for k, v in shard.items() if k != "part_id"}, "shard_id": shard["part_id"]}
        for shard in document["parts"]
    ]
    part = {"number": 1, "offset": 0, "size": document["size"], "shards": shards}
    return {**document, "write_id": document["upload_id"], "parts": [part]}


def pairs_to_documents(pairs: list[tuple[str, str]]) -> list[dict]:
    """Name-value pairs as documents: not a mapping (names may hold dots) and not nested arrays
    (FerretDB has none)."""
    return [{"name": name, "value": value} for name, value in pairs]


def documents_to_pairs(documents: list[dict]) -> list[tuple[str, str]]:
    return [(document["name"], document["value"]) for document in documents]


@dataclass(frozen=True)
class UploadedPart:
    """One upload of one part of a multipart upload, with its shards (offsets within the part).

    Every upload of a part number is kept as its own record (``write_id``, the write that
    stored it) and the newest one counts: storing a part never deletes anything, so it cannot
    delete shards that a completion running at the same time has just chosen.
    """

    upload_id: str
    part_number: int
    size: int
    etag: str
    shards: list[ShardRecord]
    write_id: str
    last_modified: datetime = field(default_factory=now)

    def to_document(self) -> dict:
        return {
            "_id": uploaded_part_id(self.upload_id, self.part_number, self.write_id),
            "upload_id": self.upload_id,
            "part_number": self.part_number,
            "size": self.size,
            "etag": self.etag,
            "shards": [shard.to_document() for shard in self.shards],
            "write_id": self.write_id,
            "last_modified": self.last_modified,
        }

    @classmethod
    def from_document(cls, document: dict) -> "UploadedPart":
        return cls(
            upload_id=document["upload_id"],
            part_number=document["part_number"],
            size=document["size"],
            etag=document["etag"],
            shards=[ShardRecord.from_document(shard) for shard in document["shards"]],
            write_id=document["write_id"],
            last_modified=document["last_modified"],
        )

    def as_object_part(self, offset: int) -> ObjectPart:
        return ObjectPart(self.part_number, offset, self.size, self.shards)


def uploaded_part_id(upload_id: str, part_number: int, write_id: str) -> str:
    return f"{upload_id}/{part_number:05d}/{write_id}"  # sorts by part number


def newest_attempts(parts: list[UploadedPart]) -> list[UploadedPart]:
    """The part that counts for each part number (the last stored), by part number."""
    newest: dict[int, UploadedPart] = {}
    for part in parts:
        known = newest.get(part.part_number)
        if known is None or (part.last_modified, part.write_id) > (
            known.last_modified,
            known.write_id,
        ):
            newest[part.part_number] = part
    return [newest[number] for number in sorted(newest)]


@dataclass(frozen=True)
class MultipartUpload:
    upload_id: str
    bucket: str
    key: str
    state: MultipartState
    initiated: datetime
    content_type: str = DEFAULT_CONTENT_TYPE
    user_metadata: list[tuple[str, str]] = field(default_factory=list)
    http_headers: list[tuple[str, str]] = field(default_factory=list)
    acl: str = PRIVATE  # the object's, once completed
    etag: str | None = None  # once completed
    claimed: datetime | None = None  # when a completion claimed it

    def to_document(self) -> dict:
        return {
            "_id": multipart_upload_id(self.bucket, self.key, self.upload_id),
            "upload_id": self.upload_id,
            "bucket": self.bucket,
            "key": self.key,
            "state": str(self.state),
            "initiated": self.initiated,
            "content_type": self.content_type,
            "user_metadata": pairs_to_documents(self.user_metadata),
            "http_headers": pairs_to_documents(self.http_headers),
            "acl": self.acl,
        }

    @classmethod
    def from_document(cls, document: dict) -> "MultipartUpload":
        return cls(
            upload_id=document["upload_id"],
            bucket=document["bucket"],
            key=document["key"],
            state=MultipartState(document["state"]),
            initiated=document["initiated"],
            content_type=document["content_type"],
            user_metadata=documents_to_pairs(document["user_metadata"]),
            http_headers=documents_to_pairs(document.get("http_headers", [])),
            acl=document.get("acl", PRIVATE),
            etag=document.get("etag"),
            claimed=document.get("claimed"),
        )


def multipart_upload_id(bucket: str, key: str, upload_id: str) -> str:
    """A multipart upload's ``_id``: a bucket's uploads sort by key, then (upload ids begin with
    the time they were made) by when they began, which is the order ListMultipartUploads
    answers in; every request about an upload names its bucket and key, so none needs more
    than this ``_id``."""
    return f"{bucket}/{key}\x00{upload_id}"


def new_upload_id(moment: datetime) -> str:
    """An S3 UploadId: the milliseconds of ``moment`` in hex, then 80 random bits."""
    return f"{int(moment.timestamp() * 1000):012x}{secrets.token_hex(10)}"


@dataclass(frozen=True)
class PlannedShard:
    """A shard a write is about to send: where, under which id, how many bytes."""

    index: int
    node_id: str
    shard_id: str
    size: int
    role: ShardRole = ShardRole.DATA

    def to_document(self) -> dict:
        return {
            "index": self.index,
            "role": str(self.role),
            "node_id": self.node_id,
            "shard_id": self.shard_id,
            "size": self.size,
        }

    @classmethod
    def from_document(cls, document: dict) -> "PlannedShard":
        return cls(
            document["index"],
            document["node_id"],
            document["shard_id"],
            document["size"],
            ShardRole(document.get("role", ShardRole.DATA)),
        )

    def as_record(self) -> ShardRecord:
        """The shard as something to delete: its place is all a deletion needs."""
        return ShardRecord(self.index, self.node_id, self.shard_id, 0, self.size, "", self.role)


@dataclass(frozen=True)
class Intent:
    """A write under way, recorded before its first byte goes out, so that whatever it left on
    the nodes can always be found again."""

    write_id: str
    kind: IntentKind
    bucket: str
    key: str
    shards: list[PlannedShard]
    state: IntentState = IntentState.STREAMING
    multipart_part: tuple[str, int] | None = None  # (UploadId, part number) of an UploadPart
    started: datetime = field(default_factory=now)
    touched: datetime | None = None
    replaced: list[PlannedShard] = field(default_factory=list)  # what a relocation's copy replaces

    def to_document(self) -> dict:
        return {
            "_id": self.write_id,
            "kind": str(self.kind),
            "bucket": self.bucket,
            "key": self.key,
            "shards": [shard.to_document() for shard in self.shards],
            "state": str(self.state),
            "multipart_part": list(self.multipart_part) if self.multipart_part else None,
            "started": self.started,
            "touched": self.touched or self.started,
            "replaced": [shard.to_document() for shard in self.replaced],
        }

    @classmethod
    def from_document(cls, document: dict) -> "Intent":
        multipart_part = document.get("multipart_part")
        return cls(
            write_id=document["_id"],
            kind=IntentKind(document["kind"]),
            bucket=document["bucket"],
            key=document["key"],
            shards=[PlannedShard.from_document(shard) for shard in document["shards"]],
            state=IntentState(document["state"]),
            multipart_part=(multipart_part[0], multipart_part[1]) if multipart_part else None,
            started=document["started"],
            touched=document["touched"],
            replaced=[PlannedShard.from_document(shard) for shard in document.get("replaced", [])],
        )


@dataclass(frozen=True)
class DeferredDeletion:
    """A shard to delete from a node once ``not_before`` has passed and the node is up.

    Keyed by node and shard: the same shard id may exist on two nodes (a copy being moved or
    rebuilt), and each copy's deletion is its own.
    """

    node_id: str
    shard_id: str
    size: int
    since: datetime
    not_before: datetime

    @property
    def record_id(self) -> str:
        return deferred_deletion_id(self.node_id, self.shard_id)

    def to_document(self) -> dict:
        return {
            "_id": self.record_id,
            "node_id": self.node_id,
            "shard_id": self.shard_id,
            "size": self.size,
            "since": self.since,
            "not_before": self.not_before,
        }

    @classmethod
    def from_document(cls, document: dict) -> "DeferredDeletion":
        return cls(
            document["node_id"],
            document["shard_id"],
            document["size"],
            document["since"],
            document["not_before"],
        )


def deferred_deletion_id(node_id: str, shard_id: str) -> str:
    return f"{node_id}/{shard_id}"
