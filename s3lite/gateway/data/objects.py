"""The object operations the API layer asks for: a new write, a reader, a copy, a deletion."""

from s3lite.gateway.cluster.registry import NodeRegistry
from s3lite.gateway.data.download import ObjectReader
from s3lite.gateway.data.erasure import ParityCode
from s3lite.gateway.data.node_client import NodeClient
from s3lite.gateway.data.removal import ShardRemover
from s3lite.gateway.data.upload import ObjectInfo, ObjectUpload
from s3lite.gateway.metadata.records import ObjectRecord, UploadedPart
from s3lite.gateway.metadata.store import Metadata


class Objects:
    def __init__(
        self,
        metadata: Metadata,
        registry: NodeRegistry,
        nodes: NodeClient,
        remover: ShardRemover,
        code: ParityCode,
        touch_seconds: float,
    ):
        self.code = code
        self.metadata = metadata
        self.registry = registry
        self.nodes = nodes
        self.remover = remover
        self.touch_seconds = touch_seconds

    def new_upload(self, info: ObjectInfo) -> ObjectUpload:
        return ObjectUpload(
            info,
            self.metadata,
            self.registry,
            self.nodes,
            self.remover,
            self.code,
            self.touch_seconds,
        )

    def reader(self, record: ObjectRecord, start: int, end: int) -> ObjectReader:
        return ObjectReader(
            record, start, end, self.registry, self.nodes, self.metadata.report_suspect
        )

    async def copy(
        self, source: ObjectRecord, target: ObjectInfo, span: tuple[int, int] | None = None
    ) -> ObjectRecord | UploadedPart:
        """Stream an object's bytes (or the ``span`` of them) from its nodes into a new write,
        stored as an object or, for ``target.multipart_part``, as that part: a copy has shards
        of its own, so deleting either never touches the other."""
        start, end = span or (0, source.size)
        reader = self.reader(source, start, end)
        await reader.check_available()
        upload = self.new_upload(target)
        try:
            await upload.begin(end - start)
            await reader.stream(upload.write)
            if target.multipart_part is not None:
                return await upload.commit_as_part(*target.multipart_part)
            return await upload.commit()
        finally:
            await upload.abort()  # does nothing once committed

    async def delete(self, bucket: str, key: str) -> None:
        removed = await self.metadata.delete_object(bucket, key)
        if removed is not None:
            await self.remover.retire(removed.shards)
