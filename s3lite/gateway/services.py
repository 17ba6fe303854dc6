"""Everything the gateway's handlers need, built once per process and handed to each handler."""

from dataclasses import dataclass

from s3lite.config import GatewayConfig
from s3lite.gateway.cluster.registry import NodeRegistry
from s3lite.gateway.data.download import ObjectReader
from s3lite.gateway.data.multipart import MultipartUploads
from s3lite.gateway.data.node_client import NodeClient
from s3lite.gateway.data.removal import PartRemover
from s3lite.gateway.data.upload import ObjectInfo, ObjectUpload
from s3lite.gateway.metadata.store import Metadata, ObjectRecord, UploadedPart
from s3lite.tasks import BackgroundTasks


@dataclass
class GatewayServices:
    config: GatewayConfig
    metadata: Metadata
    registry: NodeRegistry
    nodes: NodeClient
    remover: PartRemover
    tasks: BackgroundTasks

    @property
    def multipart(self) -> MultipartUploads:
        return MultipartUploads(self.metadata, self.remover)

    @property
    def credentials(self) -> dict[str, str]:
        """Access key to secret key; empty when signatures are not checked."""
        if self.config.access_key is None:
            return {}
        return {self.config.access_key: self.config.secret_key}

    def new_upload(self, info: ObjectInfo) -> ObjectUpload:
        return ObjectUpload(
            info,
            self.metadata,
            self.registry,
            self.nodes,
            self.remover,
            touch_seconds=self.config.gc_grace_seconds / 4,
        )

    def reader(self, record: ObjectRecord, start: int, end: int) -> ObjectReader:
        return ObjectReader(record, start, end, self.registry, self.nodes)

    async def copy_object(
        self, source: ObjectRecord, target: ObjectInfo, span: tuple[int, int] | None = None
    ) -> ObjectRecord | UploadedPart:
        """Stream an object's bytes (or the ``span`` of them) from its nodes into a new upload,
        stored as an object or, for ``target.multipart_part``, as that part: a copy has parts
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

    async def delete_object(self, bucket: str, key: str) -> None:
        removed = await self.metadata.delete_object(bucket, key)
        if removed is not None:
            await self.remover.retire(removed.parts)
