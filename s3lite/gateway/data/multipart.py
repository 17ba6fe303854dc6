"""Multipart uploads: parts arrive one by one (each cut into six data shards on six nodes,
like any object), and completing the upload makes the chosen parts one object in one atomic
write. The object keeps its parts as they were uploaded, each with its own shards."""

import hashlib

from s3lite.clock import now
from s3lite.errors import EntityTooSmall, InvalidPart, InvalidPartOrder, NoSuchUpload
from s3lite.gateway.data.removal import ShardRemover
from s3lite.gateway.metadata.records import (
    MultipartState,
    MultipartUpload,
    ObjectPart,
    ObjectRecord,
    UploadedPart,
    newest_attempts,
)
from s3lite.gateway.metadata.store import Metadata

MIN_PART_SIZE = 5 * 1024 * 1024  # all parts but the last, as S3 requires


def multipart_etag(parts: list[UploadedPart]) -> str:
    """S3's ETag of a multipart object: the MD5 of the parts' binary MD5s, then -N."""
    digests = b"".join(bytes.fromhex(part.etag) for part in parts)
    return f"{hashlib.md5(digests).hexdigest()}-{len(parts)}"


def choose_parts(
    requested: list[tuple[int, str]], available: list[UploadedPart]
) -> list[UploadedPart]:
    """The uploaded parts a completion names, checked as S3 checks them."""
    numbers = [number for number, _ in requested]
    if any(a >= b for a, b in zip(numbers, numbers[1:], strict=False)):
        raise InvalidPartOrder()
    by_number = {part.part_number: part for part in available}
    chosen = []
    for number, etag in requested:
        part = by_number.get(number)
        if part is None or part.etag != etag:
            raise InvalidPart(f"part {number} with ETag {etag} was not uploaded", PartNumber=number)
        chosen.append(part)
    for part in chosen[:-1]:
        if part.size < MIN_PART_SIZE:
            raise EntityTooSmall(
                f"part {part.part_number} has {part.size} bytes; all but the last need "
                f"at least {MIN_PART_SIZE}"
            )
    return chosen


def object_parts(chosen: list[UploadedPart]) -> list[ObjectPart]:
    """The chosen parts laid end to end: each at the offset the parts before it reach."""
    parts, offset = [], 0
    for part in chosen:
        parts.append(part.as_object_part(offset))
        offset += part.size
    return parts


class MultipartUploads:
    def __init__(self, metadata: Metadata, remover: ShardRemover):
        self.metadata = metadata
        self.remover = remover

    async def require_open(self, bucket: str, key: str, upload_id: str) -> MultipartUpload:
        upload = await self.metadata.get_multipart(bucket, key, upload_id)
        if upload.state is not MultipartState.OPEN:
            raise NoSuchUpload(bucket=bucket, key=key, UploadId=upload_id)
        return upload

    async def complete(
        self, bucket: str, key: str, upload_id: str, requested: list[tuple[int, str]]
    ) -> str:
        """Make the named parts the object at ``key``; answer its ETag."""
        upload = await self.metadata.get_multipart(bucket, key, upload_id)
        if upload.state is MultipartState.COMPLETED:
            return upload.etag  # a client retrying a completion that did happen
        if not await self.metadata.claim_multipart(
            upload, MultipartState.COMPLETING, claimed=now()
        ):
            raise NoSuchUpload(bucket=bucket, key=key, UploadId=upload_id)
        try:
            # Listed after the claim: a part stored from now on sees the upload is no longer
            # open, and its shards are left to the collector to judge.
            stored = await self.metadata.list_uploaded_parts(upload_id)
            chosen = choose_parts(requested, newest_attempts(stored))
            etag = multipart_etag(chosen)
            record = ObjectRecord(
                bucket=bucket,
                key=key,
                size=sum(part.size for part in chosen),
                etag=etag,
                write_id=upload_id,
                content_type=upload.content_type,
                user_metadata=upload.user_metadata,
                http_headers=upload.http_headers,
                acl=upload.acl,
                parts=object_parts(chosen),
            )
            await self.metadata.require_bucket(bucket)
            replaced = await self.metadata.commit_object(record)
        except Exception:
            await self.metadata.reopen_multipart(upload)
            raise
        await self.metadata.finish_multipart(upload, etag)
        await self.remover.remove([s for part in stored if part not in chosen for s in part.shards])
        if replaced:
            await self.remover.retire(replaced.shards)
        return etag

    async def abort(self, bucket: str, key: str, upload_id: str) -> None:
        upload = await self.require_open(bucket, key, upload_id)
        if not await self.metadata.claim_multipart(upload, MultipartState.ABORTING):
            raise NoSuchUpload(bucket=bucket, key=key, UploadId=upload_id)  # completed meanwhile
        await self.remover.remove(await self.metadata.drop_multipart(upload))
