"""The repairer: every part keeps all of its shards, data and parity, on nodes that have them.

A round (one gateway at a time, by a lease in the database) looks at objects. A shard is
rebuilt from six others of its part onto a node that holds none of the part when it is:
- missing from its node, or damaged (a deep round has the node check the bytes; reads and
  scrubs report what they could not read, and the next round checks those bytes in any case);
- on a node down longer than ``--repair-after-seconds``. The old copy is retired: once that
  node is back, the deferred deletion removes it, and the node serves and takes shards again.

A rebuilt shard must hash to the SHA-256 its record already has, and takes the old one's place
in one guarded write (``ShardRelocator``): an overwrite or deletion meanwhile wins.
``--add-parity`` gives parity to parts written without it. Last, ``s3lite repair`` deletes stray
shards, on a node but in no record, intent, or waiting deletion, once older than the grace
period (or lists them, with ``--dry-run``).

The gateway's own rounds (every ``--repair-interval-seconds``) look only at the objects of
shards that reads and scrubs reported and, once a node has been down for long, walk every
object: while all is well they cost one read of the ``suspect_shards`` collection.
"""

import asyncio
import contextlib
import logging
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from s3lite.clock import now
from s3lite.config import GatewayConfig
from s3lite.errors import NodeUnavailable, NoSuchBucket, NoSuchKey, NoSuchPart, PartCorrupted
from s3lite.gateway.cluster.placement import NodeLoad, choose_nodes
from s3lite.gateway.data.erasure import ParityCode
from s3lite.gateway.data.rebuild import WINDOW_BYTES, ShardReads, ShardRebuilder
from s3lite.gateway.maintenance.lease import Lease, new_holder_name
from s3lite.gateway.maintenance.relocation import ShardRelocator, planned, relocator_for
from s3lite.gateway.maintenance.scrub import Problem, Scrubber
from s3lite.gateway.metadata.records import (
    Intent,
    IntentKind,
    IntentState,
    ObjectPart,
    ObjectRecord,
    ShardRecord,
    ShardRole,
)
from s3lite.gateway.wiring import ClusterAccess
from s3lite.progress import Progress

log = logging.getLogger(__name__)

LEASE_SECONDS = 10.0  # a holder that dies delays the next round this long at most


@dataclass
class RoundOptions:
    """What a round looks at. The gateway's own rounds look only at what reads and scrubs
    reported and at nodes down for long, so that they cost nothing while all is well;
    ``s3lite repair`` asks every node about every shard and looks for strays."""

    check_all: bool = False  # ask every shard's node whether it holds the shard as recorded
    deep: bool = False  # ... and have it read and check the bytes
    add_parity: bool = False  # protect parts written without parity
    strays: bool = False  # look for shards that nothing refers to
    dry_run: bool = False  # list stray shards instead of deleting them


@dataclass
class ClusterView:
    """What a round knows of the nodes: those up (with their load), those down for long."""

    loads: dict[str, NodeLoad]
    long_down: set[str]
    taken: dict[str, int] = field(default_factory=dict)  # bytes placed by this round


class Repairer:
    def __init__(
        self, config: GatewayConfig, access: ClusterAccess, relocator: ShardRelocator, lease: Lease
    ):
        self.config = config
        self.metadata = access.metadata
        self.registry = access.registry
        self.nodes = access.nodes
        self.remover = access.remover
        self.relocator = relocator
        self.lease = lease
        self.progress = Progress(job="repair")

    async def run_forever(self, interval_seconds: float) -> None:
        while True:
            await asyncio.sleep(interval_seconds)
            try:
                await self.run_round(RoundOptions())
            except Exception:
                log.exception("repair round failed; the next one tries again")

    async def run_round(self, options: RoundOptions) -> bool:
        """One round, if this process gets the lease; answer whether it ran."""
        if not await self.lease.take():
            return False
        renewing = asyncio.ensure_future(self.renew_lease())
        counts = {
            "rebuilt": 0,
            "waiting": 0,
            "unrecoverable": 0,
            "no_node": 0,
            "parity_added": 0,
            "strays": 0,
            "strays_deleted": 0,
        }
        try:
            view = await self.cluster_view()
            suspects = await self.metadata.suspects()
            walk = options.check_all or options.add_parity or bool(view.long_down)
            if walk:
                total = await self.metadata.objects.estimated_document_count()
            else:
                total = len(set(suspects.values()))
            self.progress.start(items_total=total)
            self.progress.detail = counts
            records = self.metadata.all_objects() if walk else self.suspected(suspects)
            async with contextlib.aclosing(records) as walked:
                async for record in walked:
                    for part in record.parts:
                        await self.repair_part(record, part, view, suspects, options)
                    self.progress.advance(items=1)
            for node_id, shard_id in suspects:
                await self.metadata.forget_suspect(node_id, shard_id)
            if options.strays:
                await self.collect_strays(view, options.dry_run)
            log.info("repair round done: %s", counts)
        finally:
            renewing.cancel()
            await asyncio.gather(renewing, return_exceptions=True)
            self.progress.finish()
            await self.lease.release()
        return True

    async def renew_lease(self) -> None:
        """Keep the lease while the round runs, however long one object takes."""
        while True:
            await asyncio.sleep(self.lease.seconds / 3)
            if not await self.lease.take():
                log.warning("repair: lost the lease to %s", await self.lease.current_holder())

    async def suspected(
        self, suspects: dict[tuple[str, str], tuple[str, str]]
    ) -> AsyncIterator[ObjectRecord]:
        """The objects that reported shards belong to, as they are now."""
        for bucket, key in sorted(set(suspects.values())):
            try:
                yield await self.metadata.get_object(bucket, key)
            except (NoSuchKey, NoSuchBucket):
                continue  # deleted since: nothing to repair

    async def cluster_view(self) -> ClusterView:
        up = await self.registry.up_node_ids()
        loads, long_down = {}, set()
        moment, repair_after = now(), timedelta(seconds=self.config.repair_after_seconds)
        for node in await self.registry.describe_all():
            node_id = node["node_id"]
            if node_id in up:
                loads[node_id] = NodeLoad(node_id, node["bytes_assigned"], node["capacity_bytes"])
            elif moment - datetime.fromisoformat(node["last_seen"]) > repair_after:
                long_down.add(node_id)
        return ClusterView(loads, long_down)

    # Lost and damaged shards

    async def problems(
        self,
        part: ObjectPart,
        view: ClusterView,
        suspects: dict[tuple[str, str], tuple[str, str]],
        options: RoundOptions,
        reads: ShardReads,
    ) -> list[ShardRecord]:
        """The part's shards to rebuild; every shard that cannot be read is marked in
        ``reads``, so that none of them serves as a source. A reported shard is always
        checked deep; the others only when the round checks all."""
        shallow = Scrubber(self.registry, self.nodes, options.deep)
        deep = Scrubber(self.registry, self.nodes, deep=True)
        lost = []
        for shard in part.shards:
            if shard.node_id in view.long_down:
                reads.mark_bad(shard, NodeUnavailable(f"node {shard.node_id} is down for long"))
                lost.append(shard)
                continue
            if shard.node_id not in view.loads:
                reads.mark_bad(shard, NodeUnavailable(f"node {shard.node_id} is down"))
                self.progress.detail["waiting"] += 1
                continue
            if (shard.node_id, shard.shard_id) in suspects:
                found = await deep.problem_with(shard)
            elif options.check_all:
                found = await shallow.problem_with(shard)
            else:
                continue

            if found is None:
                continue
            problem, detail = found
            reads.mark_bad(shard, PartCorrupted(detail))
            if problem is Problem.UNREACHABLE:
                self.progress.detail["waiting"] += 1
            else:
                self.progress.problems += 1
                lost.append(shard)
        return lost

    async def repair_part(
        self,
        record: ObjectRecord,
        part: ObjectPart,
        view: ClusterView,
        suspects: dict[tuple[str, str], tuple[str, str]],
        options: RoundOptions,
    ) -> None:
        reads = ShardReads(self.registry, self.nodes, f"{record.bucket}/{record.key}")
        lost = await self.problems(part, view, suspects, options, reads)
        if not part.parity_shards:
            if options.add_parity and not lost and self.config.parity_shards:
                await self.add_parity(record, part, view, reads)
            elif lost:
                self.progress.detail["unrecoverable"] += len(lost)
            return
        rebuilder = ShardRebuilder(reads, part)
        held = Counter(shard.node_id for shard in part.shards if shard not in lost)
        for shard in lost:
            target = self.choose_target(view, held, shard.size, len(part.parity_shards))
            if target is None:
                self.progress.detail["no_node"] += 1
                continue
            try:
                rebuilder.sources(shard)
                source = rebuilder.windows(shard, 0, shard.size)
                async with contextlib.aclosing(source) as rebuilt:
                    copy = await self.relocator.relocate(
                        record, part.number, shard, target, rebuilt, keep_apart=held[target] == 0
                    )
            except (NodeUnavailable, NoSuchPart, PartCorrupted) as error:
                log.warning("repair: cannot rebuild %s: %s", shard.shard_id, error)
                self.progress.detail["unrecoverable"] += 1
                continue
            if copy is None:
                continue  # the object changed meanwhile; the client's write won
            held[target] += 1
            self.progress.detail["rebuilt"] += 1
            self.progress.advance(nbytes=shard.size)
            log.info(
                "repair: rebuilt shard %d of %s/%s part %d on node %s",
                shard.index,
                record.bucket,
                record.key,
                part.number,
                target,
            )

    def choose_target(self, view: ClusterView, held: Counter, size: int, parity: int) -> str | None:
        """A node that is up for a shard of a part whose nodes hold ``held`` of its other
        shards: one holding none if any can take it, else one holding the fewest (on fewer
        nodes than shards, as placement does), the least filled first; never one that would
        then hold more shards of the part than its ``parity`` makes up for."""
        candidates = [
            NodeLoad(node_id, load.bytes_assigned + view.taken.get(node_id, 0), load.capacity_bytes)
            for node_id, load in view.loads.items()
            if load.can_take(size + view.taken.get(node_id, 0)) and held[node_id] < parity
        ]
        if not candidates:
            return None
        fewest = min(held[node.node_id] for node in candidates)
        candidates = [node for node in candidates if held[node.node_id] == fewest]
        (target,) = choose_nodes(candidates, [size], data_shards=1)
        view.taken[target] = view.taken.get(target, 0) + size
        return target

    # Parity for parts written without it

    async def add_parity(
        self, record: ObjectRecord, part: ObjectPart, view: ClusterView, reads: ShardReads
    ) -> None:
        code = ParityCode.of(self.config.parity_shards)
        length = max(shard.size for shard in part.data_shards)
        held = Counter(shard.node_id for shard in part.shards)
        targets = []
        for _ in code.parity_indexes:
            target = self.choose_target(view, held, length, code.parity)
            if target is None:
                self.progress.detail["no_node"] += 1
                return
            held[target] += 1
            targets.append(target)
        write_id = secrets.token_hex(12)
        parity = [
            ShardRecord(index, node_id, f"{write_id}.{index}", 0, length, "", ShardRole.PARITY)
            for index, node_id in zip(code.parity_indexes, targets, strict=True)
        ]
        await self.metadata.record_intent(
            Intent(
                write_id=write_id,
                kind=IntentKind.RELOCATION,
                bucket=record.bucket,
                key=record.key,
                shards=[planned(shard) for shard in parity],
            )
        )
        try:
            stored = await self.write_parity(part, parity, code, reads)
        except Exception:
            if await self.metadata.claim_intent(write_id, IntentState.ABORTING):
                await self.remover.remove(parity)
                await self.metadata.drop_intent(write_id)
            raise
        added = await self.metadata.claim_intent(
            write_id, IntentState.COMMITTING
        ) and await self.metadata.add_parity(record, part.number, stored)
        if not added:
            await self.remover.remove(parity)
        await self.metadata.drop_intent(write_id)
        if added:
            self.progress.detail["parity_added"] += 1
            self.progress.advance(nbytes=length * len(parity))

    async def write_parity(
        self, part: ObjectPart, parity: list[ShardRecord], code: ParityCode, reads: ShardReads
    ) -> list[ShardRecord]:
        """Encode the part's data shards window by window and stream the parity to its nodes;
        answer the parity shards' records, with the SHA-256 the nodes confirmed."""
        senders = []
        for shard in parity:
            url = await self.registry.url_of(shard.node_id)
            senders.append(self.nodes.sender(shard.node_id, url, shard.shard_id, shard.size))
        try:
            data_shards = part.data_shards
            loop = asyncio.get_running_loop()
            for start in range(0, parity[0].size, WINDOW_BYTES):
                end = min(start + WINDOW_BYTES, parity[0].size)
                data = await asyncio.gather(*(reads.fetch(s, start, end) for s in data_shards))
                blocks = await loop.run_in_executor(None, code.encode, data)
                await asyncio.gather(*(s.write(b) for s, b in zip(senders, blocks, strict=True)))
            stored = [await sender.finish() for sender in senders]
        except BaseException:
            for sender in senders:
                sender.abort()
            raise
        return [
            ShardRecord(s.index, s.node_id, s.shard_id, 0, info.size, info.sha256, ShardRole.PARITY)
            for s, info in zip(parity, stored, strict=True)
        ]

    # Stray shards

    async def listing(self, node_id: str) -> list[tuple[str, dict]]:
        url = await self.registry.url_of(node_id)
        listed, after = [], None
        while True:
            page, after = await self.nodes.list_shards(node_id, url, after)
            listed += [(node_id, entry) for entry in page]
            if after is None:
                return listed

    async def collect_strays(self, view: ClusterView, dry_run: bool) -> list[ShardRecord]:
        """Shards on nodes that are up which nothing refers to, stored longer ago than the
        grace period. The nodes are listed first and the references read after: a shard
        stored before the listing, and older than the grace, was recorded by then, or its
        write was abandoned."""
        listed: list[tuple[str, dict]] = []
        for node_id in sorted(view.loads):
            try:
                listed += await self.listing(node_id)
            except NodeUnavailable as error:  # its strays wait for the next round
                log.warning("repair: cannot list the shards of node %s: %s", node_id, error)
        cutoff = time.time() - self.config.gc_grace_seconds
        old = [(n, e) for n, e in listed if e.get("stored") and e["stored"] < cutoff]
        referenced = await self.metadata.referenced_shards()
        strays = [
            ShardRecord(0, node_id, entry["part_id"], 0, entry["size"], entry["sha256"])
            for node_id, entry in old
            if (node_id, entry["part_id"]) not in referenced
        ]
        self.progress.detail["strays"] = len(strays)
        for stray in strays:
            log.info(
                "repair: stray shard %s on node %s (%d bytes)%s",
                stray.shard_id,
                stray.node_id,
                stray.size,
                "" if not dry_run else ", left in place (dry run)",
            )
        self.progress.detail["stray_shards"] = [
            {"node_id": s.node_id, "shard_id": s.shard_id, "size": s.size} for s in strays
        ]
        if strays and not dry_run:
            await self.remover.remove(strays)
            self.progress.detail["strays_deleted"] = len(strays)
        return strays


def make_repairer(config: GatewayConfig, access: ClusterAccess) -> Repairer:
    """The repairer of a gateway, or of ``s3lite repair``, which shares its settings."""
    lease = Lease(access.database["leases"], "repair", LEASE_SECONDS, new_holder_name())
    return Repairer(config, access, relocator_for(config, access), lease)
