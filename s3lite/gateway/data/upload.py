"""The one lifecycle of a write: place, record intent, stream shards, check, commit.

``begin`` chooses a node for each of the six data shards and the parity shards, and records the
write's intent before any byte goes out, so that shards of a write that never finishes can
always be found. ``write`` cuts the body at the shard boundaries and streams each data shard to
its node as its bytes arrive; parity streams out beside the last data shard (``parity``).
``commit`` checks every shard, data and parity, against what was sent, and only then makes the
object visible in one atomic metadata write, so that what is acknowledged is protected; then it
retires what it replaced. ``abort`` drops everything the write sent; it runs on any failure.
"""

import asyncio
import hashlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum

from s3lite.errors import (
    BadDigest,
    ContentSha256Mismatch,
    IncompleteBody,
    InvalidRequest,
    NoSuchUpload,
    RequestTimeout,
)
from s3lite.gateway.cluster.registry import NodeRegistry
from s3lite.gateway.data.erasure import ParityCode
from s3lite.gateway.data.node_client import NodeClient, PartSender
from s3lite.gateway.data.parity import ParityWriter
from s3lite.gateway.data.removal import ShardRemover
from s3lite.gateway.data.splitting import DATA_SHARDS, Span, shard_boundaries
from s3lite.gateway.metadata.records import (
    PRIVATE,
    Intent,
    IntentKind,
    IntentState,
    ObjectPart,
    ObjectRecord,
    PlannedShard,
    ShardRecord,
    ShardRole,
    UploadedPart,
)
from s3lite.gateway.metadata.store import Metadata
from s3lite.s3.checksums import HEADER_PREFIX, StreamChecksum

log = logging.getLogger(__name__)

ABORT_WAIT_SECONDS = 5.0


@dataclass(frozen=True)
class ObjectInfo:
    """What the client said about the object, kept with it."""

    bucket: str
    key: str
    content_type: str
    user_metadata: list[tuple[str, str]]
    http_headers: list[tuple[str, str]] = field(default_factory=list)
    content_md5: bytes | None = None
    content_sha256: str | None = None  # the body's SHA-256 as signed, to check at the end
    # (algorithm, base64 value) of x-amz-checksum-*; the value is None until a trailer brings it
    checksum: tuple[str, str | None] | None = None
    multipart_part: tuple[str, int] | None = None  # (UploadId, part number) of an UploadPart
    acl: str = PRIVATE  # the canned ACL the object is stored with


class WriteState(Enum):
    NEW = "new"
    STREAMING = "streaming"
    COMMITTED = "committed"
    ABORTED = "aborted"


@dataclass
class OutgoingShard:
    """A shard of this write: the bytes it covers, where it goes, and its sender once open."""

    span: Span  # for a parity shard: its index, offset 0, its size
    node_id: str
    shard_id: str
    sender: PartSender | None = None

    def planned(self) -> PlannedShard:
        return PlannedShard(self.span.index, self.node_id, self.shard_id, self.span.size, self.role)

    @property
    def role(self) -> ShardRole:
        return ShardRole.DATA if self.span.index < DATA_SHARDS else ShardRole.PARITY


class ObjectUpload:
    def __init__(
        self,
        info: ObjectInfo,
        metadata: Metadata,
        registry: NodeRegistry,
        nodes: NodeClient,
        remover: ShardRemover,
        code: ParityCode,
        touch_seconds: float,
    ):
        self.info = info
        self.code = code
        self.metadata = metadata
        self.registry = registry
        self.nodes = nodes
        self.remover = remover
        self.write_id = secrets.token_hex(12)
        self.size = 0
        self.received = 0
        self.md5 = hashlib.md5()
        self.sha256 = hashlib.sha256() if info.content_sha256 else None
        self.checksum = StreamChecksum(*info.checksum) if info.checksum else None
        self.shards: list[OutgoingShard] = []  # the data shards, in body order
        self.parity_shards: list[OutgoingShard] = []
        self.parity: ParityWriter | None = None
        self.current = 0
        self.state = WriteState.NEW
        self.intent_recorded = False
        self.touch_seconds = touch_seconds
        self.touched = time.monotonic()

    async def begin(self, size: int) -> None:
        self.size = size
        spans = shard_boundaries(size)
        # Every parity shard is as long as the last, longest data shard.
        spans += [Span(index, 0, spans[-1].size) for index in self.code.parity_indexes]
        node_ids = await self.registry.place([span.size for span in spans])
        outgoing = [
            OutgoingShard(span, node_id, f"{self.write_id}.{span.index}")
            for span, node_id in zip(spans, node_ids, strict=True)
        ]
        self.shards, self.parity_shards = outgoing[:DATA_SHARDS], outgoing[DATA_SHARDS:]
        if self.parity_shards:
            self.parity = ParityWriter(self.code, spans[:DATA_SHARDS])
        self.state = WriteState.STREAMING
        await self.metadata.record_intent(
            Intent(
                write_id=self.write_id,
                kind=IntentKind.MULTIPART_PART if self.info.multipart_part else IntentKind.OBJECT,
                bucket=self.info.bucket,
                key=self.info.key,
                shards=[shard.planned() for shard in self.every_shard],
                multipart_part=self.info.multipart_part,
            )
        )
        self.intent_recorded = True
        await self.open_shards()

    @property
    def every_shard(self) -> list[OutgoingShard]:
        return self.shards + self.parity_shards

    async def open_sender(self, shard: OutgoingShard) -> None:
        node_url = await self.registry.url_of(shard.node_id)
        shard.sender = self.nodes.sender(shard.node_id, node_url, shard.shard_id, shard.span.size)

    async def open_shards(self) -> None:
        """Start the current shard if it has not started (the parity shards with the last data
        shard, whose bytes complete them); close shards with nothing left."""
        while self.current < len(self.shards):
            shard = self.shards[self.current]
            last = self.current == DATA_SHARDS - 1
            if shard.sender is None:
                for starting in [shard] + (self.parity_shards if last else []):
                    await self.open_sender(starting)
            if shard.sender.sent < shard.span.size:
                return
            for complete in [shard] + (self.parity_shards if last else []):
                await complete.sender.close()
            self.current += 1

    async def write(self, data: bytes) -> None:
        self.received += len(data)
        if self.received > self.size:
            raise IncompleteBody(f"the body is longer than the {self.size} bytes announced")
        self.md5.update(data)
        if self.sha256 is not None:
            self.sha256.update(data)
        if self.checksum is not None:
            self.checksum.update(data)
        if time.monotonic() - self.touched > self.touch_seconds:
            # Tell collectors this write is alive, however long it takes.
            self.touched = time.monotonic()
            await self.metadata.touch_intent(self.write_id)
        view = memoryview(data)
        while view:
            shard = self.shards[self.current]
            room = shard.span.size - shard.sender.sent
            piece = view[:room]
            chunk = data if len(piece) == len(data) else bytes(piece)
            offset = shard.sender.sent
            await shard.sender.write(chunk)
            if self.parity is not None:
                senders = [parity.sender for parity in self.parity_shards]
                await self.parity.take(shard.span.index, offset, chunk, senders)
            view = view[len(piece) :]
            await self.open_shards()

    def take_trailers(self, trailers: dict[str, str]) -> None:
        """The checksum an aws-chunked body announced in ``x-amz-trailer`` comes at its end."""
        if self.checksum is None or self.checksum.expected is not None:
            return
        name = HEADER_PREFIX + self.checksum.algorithm
        if name not in trailers:
            raise InvalidRequest(f"the body ended without the {name} trailer it announced")
        self.checksum.expected = trailers[name]

    async def seal(self) -> tuple[str, list[ShardRecord]]:
        """Check the body against what the client promised and every shard against what its
        node stored; answer the body's MD5 (hex) and where its shards now are."""
        if self.received != self.size:
            raise IncompleteBody(f"{self.received} of {self.size} bytes arrived")
        md5 = self.md5.digest()
        if self.info.content_md5 is not None and md5 != self.info.content_md5:
            raise BadDigest(bucket=self.info.bucket, key=self.info.key)
        if self.sha256 is not None and self.sha256.hexdigest() != self.info.content_sha256:
            raise ContentSha256Mismatch(bucket=self.info.bucket, key=self.info.key)
        if self.checksum is not None and not self.checksum.matches():
            raise BadDigest(
                f"The {self.checksum.algorithm.upper()} you specified did not match the "
                "calculated checksum.",
                bucket=self.info.bucket,
                key=self.info.key,
            )
        stored = [await shard.sender.finish() for shard in self.every_shard]
        self.release_parity()
        return md5.hex(), [
            ShardRecord(
                index=shard.span.index,
                node_id=shard.node_id,
                shard_id=shard.shard_id,
                offset=shard.span.offset,
                size=info.size,
                sha256=info.sha256,
                role=shard.role,
            )
            for shard, info in zip(self.every_shard, stored, strict=True)
        ]

    def release_parity(self) -> None:
        if self.parity is not None:
            self.parity.close()

    async def publish(self, write: Callable[[], Awaitable[list[ShardRecord]]]) -> None:
        """Make the write's result visible with ``write`` (one atomic metadata write that
        answers the shards it replaced), unless a collector took the write over first."""
        if not await self.metadata.claim_intent(self.write_id, IntentState.COMMITTING):
            raise RequestTimeout(f"upload {self.write_id} was idle too long and was collected")
        replaced = await write()
        self.state = WriteState.COMMITTED
        await self.metadata.drop_intent(self.write_id)
        if replaced:
            await self.remover.retire(replaced)

    async def commit(self) -> ObjectRecord:
        """Store the body as the object at its key."""
        etag, shards = await self.seal()
        record = ObjectRecord(
            bucket=self.info.bucket,
            key=self.info.key,
            size=self.size,
            etag=etag,
            write_id=self.write_id,
            content_type=self.info.content_type,
            user_metadata=self.info.user_metadata,
            http_headers=self.info.http_headers,
            acl=self.info.acl,
            parts=[ObjectPart(1, 0, self.size, shards)],
            checksum=[self.checksum.algorithm, self.checksum.expected] if self.checksum else None,
        )

        async def write() -> list[ShardRecord]:
            # No bucket lookup first: the request began with one, and ``commit_object`` checks
            # the bucket again after its write, which also catches a deletion in between.
            replaced = await self.metadata.commit_object(record)
            return replaced.shards if replaced else []

        await self.publish(write)
        return record

    async def commit_as_part(self, upload_id: str, part_number: int) -> UploadedPart:
        """Store the body as one part of a multipart upload."""
        etag, shards = await self.seal()
        part = UploadedPart(upload_id, part_number, self.size, etag, shards, self.write_id)

        async def write() -> list[ShardRecord]:
            await self.metadata.add_uploaded_part(part)
            if not await self.metadata.multipart_is_open(
                self.info.bucket, self.info.key, upload_id
            ):
                # A completion or an abort began meanwhile and may not have seen this part:
                # the intent stays, and the collector keeps the shards only if the object
                # took them.
                raise NoSuchUpload(bucket=self.info.bucket, key=self.info.key, UploadId=upload_id)
            return []

        await self.publish(write)
        return part

    async def abort(self) -> None:
        """Undo a write that will not commit; safe to call in any state, and twice.

        The intent is claimed first, by the same kind of conditional write that commit and the
        collector use: a write whose commit already began (the client may vanish while the
        nodes confirm) is left to finish, and is never undone under it.
        """
        if self.state is not WriteState.STREAMING:
            return
        self.state = WriteState.ABORTED
        self.release_parity()
        if self.intent_recorded and not await self.metadata.claim_intent(
            self.write_id, IntentState.ABORTING
        ):
            return
        for shard in self.every_shard:
            if shard.sender is not None:
                shard.sender.abort()
        # Let every node finish with its shard first: a deletion must not overtake a store.
        # (bounded: a sender cut off mid-body may never hear back from its node)
        responses = [s.sender.response for s in self.every_shard if s.sender is not None]
        if responses:
            await asyncio.wait(responses, timeout=ABORT_WAIT_SECONDS)
        # A shard may have reached its node whatever the sender saw, so every planned shard is
        # deleted; deleting one that never arrived is harmless.
        await self.remover.remove([shard.planned().as_record() for shard in self.every_shard])
        await self.metadata.drop_intent(self.write_id)
