"""``s3lite scrub``: check that every part of every object is on its node, whole.

For each part it asks the node for the part's size and the SHA-256 the node recorded when it
stored it, and compares them with the object's record; ``--deep`` also reads the bytes and
hashes them, which finds damage inside the node's database. Each problem is one line on
stdout; the exit code is 1 when there was any.
"""

import hashlib
import sys
from dataclasses import dataclass

from s3lite import db
from s3lite.config import GatewayConfig
from s3lite.errors import NodeUnavailable, NoSuchPart, PartCorrupted
from s3lite.gateway.cluster.registry import NodeRegistry
from s3lite.gateway.data.node_client import NodeClient
from s3lite.gateway.data.node_http import NodeConnections
from s3lite.gateway.metadata.store import Metadata, ObjectRecord, PartRecord


@dataclass
class Tally:
    objects: int = 0
    parts: int = 0
    problems: int = 0


class Scrubber:
    def __init__(self, registry: NodeRegistry, nodes: NodeClient, deep: bool):
        self.registry = registry
        self.nodes = nodes
        self.deep = deep

    async def problem_with(self, part: PartRecord) -> str | None:
        """What is wrong with one part, or None."""
        try:
            url = await self.registry.url_of(part.node_id)
            info = await self.nodes.stat(part.node_id, url, part.part_id)
            if (info.size, info.sha256) != (part.size, part.sha256):
                return f"damaged: the node has {info.size} bytes with SHA-256 {info.sha256}"
            if self.deep:
                digest = hashlib.sha256()

                async def hash_chunk(chunk: bytes) -> None:
                    digest.update(chunk)

                await self.nodes.read(
                    part.node_id, url, part.part_id, part.size, 0, part.size, hash_chunk
                )
                if digest.hexdigest() != part.sha256:
                    return f"damaged: its bytes hash to {digest.hexdigest()}"
        except NoSuchPart:
            return "missing: the node does not have it"
        except NodeUnavailable as error:
            return f"unreachable: {error}"
        except PartCorrupted as error:
            return f"damaged: {error}"
        return None

    async def check(self, record: ObjectRecord, tally: Tally, out) -> None:
        tally.objects += 1
        for part in record.parts:
            tally.parts += 1
            problem = await self.problem_with(part)
            if problem:
                tally.problems += 1
                print(
                    f"{record.bucket}/{record.key} part {part.index} ({part.part_id} on "
                    f"{part.node_id}) {problem}",
                    file=out,
                )


async def run(config: GatewayConfig, deep: bool = False, out=sys.stdout) -> int:
    client = await db.connect(config.mongo_uri, config.db_connect_seconds)
    http = NodeConnections()
    try:
        database = client[config.db]
        metadata = Metadata(database)
        scrubber = Scrubber(
            NodeRegistry(database, config.down_after_missed_heartbeats),
            NodeClient(http, config.cluster_token),
            deep,
        )
        tally = Tally()
        async for document in metadata.objects.find():
            await scrubber.check(ObjectRecord.from_document(document), tally, out)
        print(
            f"scrubbed {tally.objects} objects, {tally.parts} parts: {tally.problems} problems",
            file=out,
        )
        return 1 if tally.problems else 0
    finally:
        http.close()
        await client.close()
