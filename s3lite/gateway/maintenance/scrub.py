"""Checking that every shard of every object is on its node, whole.

For each shard the scrubber asks the node for the shard's size and the SHA-256 the node
recorded when it stored it, and compares them with the object's record; a deep scrub also has
the node read the bytes and check them (each chunk's CRC-32, the whole SHA-256), which finds
damage inside the node's database without sending the bytes anywhere. What it finds comes
back as ``Finding`` records, for a person (``s3lite scrub`` prints a line each, under a
progress bar) or a script (``--json``), or for the maintenance work that acts on them; a
missing or damaged shard is also reported to the repairer, whose next round rebuilds it.
"""

import json
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import StrEnum

from s3lite.config import GatewayConfig
from s3lite.console import JobBar
from s3lite.errors import NodeUnavailable, NoSuchPart, PartCorrupted
from s3lite.gateway.cluster.registry import NodeRegistry
from s3lite.gateway.data.node_client import NodeClient
from s3lite.gateway.metadata.records import ObjectRecord, ShardRecord
from s3lite.gateway.metadata.store import Metadata
from s3lite.gateway.wiring import cluster_access
from s3lite.progress import Progress


class Problem(StrEnum):
    MISSING = "missing"  # the node says it does not have the shard
    UNREACHABLE = "unreachable"  # the node did not answer
    DAMAGED = "damaged"  # the node has other bytes than the record says


@dataclass(frozen=True)
class Finding:
    bucket: str
    key: str
    part_number: int
    shard: ShardRecord
    problem: Problem
    detail: str

    def describe(self) -> str:
        return (
            f"{self.bucket}/{self.key} part {self.part_number} shard {self.shard.index} "
            f"({self.shard.shard_id} on {self.shard.node_id}) {self.problem}: {self.detail}"
        )

    def to_document(self) -> dict:
        return {
            "bucket": self.bucket,
            "key": self.key,
            "part_number": self.part_number,
            "shard_index": self.shard.index,
            "shard_id": self.shard.shard_id,
            "node_id": self.shard.node_id,
            "problem": str(self.problem),
            "detail": self.detail,
        }


@dataclass
class Tally:
    objects: int = 0
    shards: int = 0
    problems: int = 0

    def describe(self) -> str:
        return f"scrubbed {self.objects} objects, {self.shards} shards: {self.problems} problems"


class Scrubber:
    def __init__(self, registry: NodeRegistry, nodes: NodeClient, deep: bool):
        self.registry = registry
        self.nodes = nodes
        self.deep = deep

    async def problem_with(self, shard: ShardRecord) -> tuple[Problem, str] | None:
        """What is wrong with one shard, or None."""
        try:
            url = await self.registry.url_of(shard.node_id)
            info = await self.nodes.stat(shard.node_id, url, shard.shard_id)
            if (info.size, info.sha256) != (shard.size, shard.sha256):
                return Problem.DAMAGED, f"the node has {info.size} bytes with SHA-256 {info.sha256}"
            if self.deep and (
                problem := await self.nodes.check(shard.node_id, url, shard.shard_id)
            ):
                return Problem.DAMAGED, problem
        except NoSuchPart:
            return Problem.MISSING, "the node does not have it"
        except NodeUnavailable as error:
            return Problem.UNREACHABLE, str(error)
        except PartCorrupted as error:
            return Problem.DAMAGED, str(error)
        return None

    async def check(self, record: ObjectRecord, tally: Tally) -> AsyncIterator[Finding]:
        tally.objects += 1
        for part in record.parts:
            for shard in part.shards:
                tally.shards += 1
                problem = await self.problem_with(shard)
                if problem:
                    tally.problems += 1
                    yield Finding(record.bucket, record.key, part.number, shard, *problem)


async def planned(metadata: Metadata) -> Progress:
    """A scrub's Progress, its totals from the buckets' running totals (no pass over the
    objects just to count them)."""
    buckets = await metadata.buckets_with_usage()
    progress = Progress("scrub")
    progress.start(
        items_total=sum(bucket["objects"] for bucket in buckets),
        bytes_total=sum(bucket["bytes"] for bucket in buckets),
    )
    return progress


async def run(
    config: GatewayConfig, deep: bool = False, as_json: bool = False, out=sys.stdout
) -> int:
    async with cluster_access(config) as access:
        metadata = access.metadata
        scrubber = Scrubber(access.registry, access.nodes, deep)
        tally = Tally()
        findings = []
        progress = await planned(metadata)
        with JobBar("deep scrub" if deep else "scrub") as bar:
            async for record in metadata.all_objects():
                async for finding in scrubber.check(record, tally):
                    findings.append(finding)
                    if finding.problem is not Problem.UNREACHABLE:  # for the repairer
                        await metadata.report_suspect(
                            record.bucket, record.key, finding.shard, finding.detail
                        )
                    if not as_json:
                        bar.print_line(finding.describe(), out)
                progress.advance(items=1, nbytes=record.size)
                progress.problems = tally.problems
                bar.show(progress)
        progress.finish()
        if as_json:
            document = {
                "objects": tally.objects,
                "shards": tally.shards,
                "problems": tally.problems,
                "findings": [finding.to_document() for finding in findings],
                "progress": progress.to_document(),
            }
            print(json.dumps(document, indent=2), file=out)
        else:
            print(tally.describe(), file=out)
        return 1 if tally.problems else 0
