"""The one lifecycle of an object upload: place, record intent, stream parts, check, commit.

``begin`` chooses six nodes and records the upload's intent before any byte goes out, so that
parts of an upload that never finishes can always be found. ``write`` cuts the body at the part
boundaries and streams each part to its node as its bytes arrive. ``commit`` checks every part
against what was sent and makes the object visible in one atomic metadata write, then deletes
what it replaced. ``abort`` drops everything the upload wrote; it runs on any failure.
"""

import asyncio
import base64
import hashlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from s3lite.errors import (
    BadDigest,
    ContentSha256Mismatch,
    IncompleteBody,
    InvalidDigest,
    InvalidRequest,
    NoSuchUpload,
    RequestTimeout,
)
from s3lite.gateway.cluster.registry import NodeRegistry
from s3lite.gateway.data.node_client import NodeClient, PartSender
from s3lite.gateway.data.removal import PartRemover
from s3lite.gateway.data.splitting import PARTS_PER_OBJECT, Span, part_boundaries
from s3lite.gateway.metadata.store import Metadata, ObjectRecord, PartRecord, UploadedPart
from s3lite.s3.checksums import HEADER_PREFIX, StreamChecksum

log = logging.getLogger(__name__)

ABORT_WAIT_SECONDS = 5.0


def parse_content_md5(header: str | None) -> bytes | None:
    if header is None:
        return None
    try:
        digest = base64.b64decode(header, validate=True)
    except ValueError:
        digest = b""
    if len(digest) != 16:
        raise InvalidDigest(f"Content-MD5 {header!r} is not a base64 MD5 digest")
    return digest


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
    multipart_part: tuple[str, int] | None = None  # (multipart upload id, part number)


@dataclass
class PlannedPart:
    span: Span
    node_id: str
    part_id: str
    sender: PartSender | None = None


class ObjectUpload:
    def __init__(
        self,
        info: ObjectInfo,
        metadata: Metadata,
        registry: NodeRegistry,
        nodes: NodeClient,
        remover: PartRemover,
        touch_seconds: float,
    ):
        self.info = info
        self.metadata = metadata
        self.registry = registry
        self.nodes = nodes
        self.remover = remover
        self.upload_id = secrets.token_hex(12)
        self.size = 0
        self.received = 0
        self.md5 = hashlib.md5()
        self.sha256 = hashlib.sha256() if info.content_sha256 else None
        self.checksum = StreamChecksum(*info.checksum) if info.checksum else None
        self.parts: list[PlannedPart] = []
        self.current = 0
        self.state = "new"  # new -> streaming -> committed | aborted
        self.intent_recorded = False
        self.touch_seconds = touch_seconds
        self.touched = time.monotonic()

    async def begin(self, size: int) -> None:
        self.size = size
        spans = part_boundaries(size)
        node_ids = await self.registry.place(PARTS_PER_OBJECT, [span.size for span in spans])
        self.parts = [
            PlannedPart(span, node_id, f"{self.upload_id}.{span.index}")
            for span, node_id in zip(spans, node_ids, strict=True)
        ]
        self.state = "streaming"
        await self.metadata.record_intent(
            self.upload_id,
            self.info.bucket,
            self.info.key,
            self.info.multipart_part,
            [
                {
                    "index": p.span.index,
                    "node_id": p.node_id,
                    "part_id": p.part_id,
                    "size": p.span.size,
                }
                for p in self.parts
            ],
        )
        self.intent_recorded = True
        await self.open_parts()

    async def open_parts(self) -> None:
        """Start the current part if it has not started; close parts with nothing to receive."""
        while self.current < len(self.parts):
            part = self.parts[self.current]
            if part.sender is None:
                node_url = await self.registry.url_of(part.node_id)
                part.sender = self.nodes.sender(
                    part.node_id, node_url, part.part_id, part.span.size
                )
            if part.sender.sent < part.span.size:
                return
            await part.sender.close()
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
            # Tell collectors this upload is alive, however long it takes.
            self.touched = time.monotonic()
            await self.metadata.touch_intent(self.upload_id)
        view = memoryview(data)
        while view:
            part = self.parts[self.current]
            room = part.span.size - part.sender.sent
            piece = view[:room]
            await part.sender.write(data if len(piece) == len(data) else bytes(piece))
            view = view[len(piece) :]
            await self.open_parts()

    def take_trailers(self, trailers: dict[str, str]) -> None:
        """The checksum an aws-chunked body announced in ``x-amz-trailer`` comes at its end."""
        if self.checksum is None or self.checksum.expected is not None:
            return
        name = HEADER_PREFIX + self.checksum.algorithm
        if name not in trailers:
            raise InvalidRequest(f"the body ended without the {name} trailer it announced")
        self.checksum.expected = trailers[name]

    async def seal(self) -> tuple[str, list[PartRecord]]:
        """Check the body against what the client promised and every part against what its
        node stored; answer the body's MD5 (hex) and where its parts now are."""
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
        stored = [await part.sender.finish() for part in self.parts]
        return md5.hex(), [
            PartRecord(
                index=part.span.index,
                node_id=part.node_id,
                part_id=part.part_id,
                offset=part.span.offset,
                size=info.size,
                sha256=info.sha256,
            )
            for part, info in zip(self.parts, stored, strict=True)
        ]

    async def publish(self, write: Callable[[], Awaitable[list[PartRecord]]]) -> None:
        """Make the upload's result visible with ``write`` (one atomic metadata write that
        answers the parts it replaced), unless a collector took the upload over first."""
        if not await self.metadata.claim_for_commit(self.upload_id):
            raise RequestTimeout(f"upload {self.upload_id} was idle too long and was collected")
        replaced = await write()
        self.state = "committed"
        await self.metadata.drop_intent(self.upload_id)
        if replaced:
            await self.remover.retire(replaced)

    async def commit(self) -> ObjectRecord:
        """Store the body as the object at its key."""
        etag, parts = await self.seal()
        record = ObjectRecord(
            bucket=self.info.bucket,
            key=self.info.key,
            size=self.size,
            etag=etag,
            upload_id=self.upload_id,
            content_type=self.info.content_type,
            user_metadata=self.info.user_metadata,
            http_headers=self.info.http_headers,
            parts=parts,
            checksum=[self.checksum.algorithm, self.checksum.expected] if self.checksum else None,
        )

        async def write() -> list[PartRecord]:
            # No bucket lookup first: the request began with one, and ``commit_object`` checks
            # the bucket again after its write, which also catches a deletion in between.
            replaced = await self.metadata.commit_object(record)
            return replaced.parts if replaced else []

        await self.publish(write)
        return record

    async def commit_as_part(self, multipart_id: str, part_number: int) -> UploadedPart:
        """Store the body as one part of a multipart upload."""
        etag, pieces = await self.seal()
        part = UploadedPart(multipart_id, part_number, self.size, etag, pieces, self.upload_id)

        async def write() -> list[PartRecord]:
            await self.metadata.add_uploaded_part(part)
            if not await self.metadata.multipart_is_open(multipart_id):
                # A completion or an abort began meanwhile and may not have seen this part:
                # the intent stays, and the collector keeps the pieces only if the object
                # took them.
                raise NoSuchUpload(
                    bucket=self.info.bucket, key=self.info.key, UploadId=multipart_id
                )
            return []

        await self.publish(write)
        return part

    async def abort(self) -> None:
        """Undo an upload that will not commit; safe to call in any state, and twice.

        The intent is claimed first, by the same kind of conditional write that commit and the
        collector use: an upload whose commit already began (the client may vanish while the
        nodes confirm) is left to finish, and is never undone under it.
        """
        if self.state != "streaming":
            return
        self.state = "aborted"
        if self.intent_recorded and not await self.metadata.claim_abort(self.upload_id):
            return
        for part in self.parts:
            if part.sender is not None:
                part.sender.abort()
        # Let every node finish with its part first: a deletion must not overtake a store.
        # (bounded: a sender cut off mid-body may never hear back from its node)
        responses = [p.sender.response for p in self.parts if p.sender is not None]
        if responses:
            await asyncio.wait(responses, timeout=ABORT_WAIT_SECONDS)
        # A part may have reached its node whatever the sender saw, so every planned part is
        # deleted; deleting one that never arrived is harmless.
        await self.remover.remove(
            [
                PartRecord(p.span.index, p.node_id, p.part_id, p.span.offset, p.span.size, "")
                for p in self.parts
            ]
        )
        await self.metadata.drop_intent(self.upload_id)
