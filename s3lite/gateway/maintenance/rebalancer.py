"""Moving stored shards from the fullest nodes to the emptiest, so that nodes which join take
their share of what is already stored, not only of what comes next.

A round holds the database lease (one gateway at a time), counts the bytes each node that is
up holds from the object records, plans with ``BalancePlan``, then walks the objects and moves
the shards the plan picks, ``MOVES_AT_ONCE`` at a time, with ``ShardRelocator`` (safe at every
step) and the bytes read from the shard's node, paced by ``Pace``. It walks again until the
spread is within the target, or until a walk by the plan's strict rule and one by its relaxed
rule both moved nothing. Rounds start soon after a node registers with this gateway, and on a
timer; between rounds only the nodes' own counts are read, and the records only once those say
the cluster is out of balance and have changed since the last round.
"""

import asyncio
import contextlib
import logging
import time
from collections import defaultdict

from s3lite.config import GatewayConfig
from s3lite.gateway.cluster.registry import NodeRegistry
from s3lite.gateway.data.node_client import NodeClient
from s3lite.gateway.maintenance.balance import BalancePlan, Move, NodeShare
from s3lite.gateway.maintenance.lease import Lease, new_holder_name
from s3lite.gateway.maintenance.pacing import Pace
from s3lite.gateway.maintenance.relocation import ShardRelocator, relocator_for
from s3lite.gateway.metadata.records import ObjectPart, ObjectRecord, ShardRecord
from s3lite.gateway.metadata.store import Metadata
from s3lite.gateway.wiring import ClusterAccess
from s3lite.progress import JobState, Progress

log = logging.getLogger(__name__)

JOIN_SETTLE_SECONDS = 2.0  # nodes joining together make one round, not one each
CHECK_SECONDS = 1.0  # how often the loop looks for a join
MOVES_AT_ONCE = 4  # small shards take longer to switch than to copy
LEASE_SECONDS = 10.0  # a holder that dies delays the next rebalance this long at most


class SourceFailed(Exception):
    """Reading the shard from its node failed, as opposed to writing its copy."""


class Rebalancer:
    def __init__(
        self,
        metadata: Metadata,
        registry: NodeRegistry,
        nodes: NodeClient,
        relocator: ShardRelocator,
        lease: Lease,
        pace: Pace,
        target_spread: float,
    ):
        self.metadata = metadata
        self.registry = registry
        self.nodes = nodes
        self.relocator = relocator
        self.lease = lease
        self.pace = pace
        self.target_spread = target_spread
        self.progress = Progress(job="rebalance")
        self.lease_lost = False
        # The nodes' counts after the last round: until they change (a write, a deletion, a
        # join), another round would only read every record again to find the same.
        self.futile_counts: list[NodeShare] | None = None

    # What it would do

    async def node_shares(self, from_records: bool) -> list[NodeShare]:
        """The nodes that are up, with the bytes each holds: counted from the object records
        (what the store refers to, a pass over them all) or as the nodes last reported (cheap,
        and ahead by whatever waits for a deferred deletion)."""
        up = await self.registry.up_node_ids()
        described = {node["node_id"]: node for node in await self.registry.describe_all()}
        if from_records:
            held: dict[str, int] = defaultdict(int)
            async for record in self.metadata.all_objects():
                for shard in record.shards:
                    held[shard.node_id] += shard.size
        else:
            held = {node_id: node["bytes_stored"] for node_id, node in described.items()}
        return [
            NodeShare(node_id, held.get(node_id, 0), described[node_id]["capacity_bytes"])
            for node_id in sorted(up)
        ]

    async def plan(self) -> BalancePlan:
        return BalancePlan(await self.node_shares(from_records=True), self.target_spread)

    async def spread(self) -> float:
        return BalancePlan(await self.node_shares(from_records=False), self.target_spread).spread()

    async def status(self) -> dict:
        progress = self.progress
        return {
            "running": progress.state is JobState.RUNNING,
            "bytes_to_move": progress.bytes_total,
            "bytes_moved": progress.bytes_done,
            "bytes_per_second": round(progress.bytes_per_second, 1),
            "spread": round(await self.spread(), 6),
            "lease_holder": await self.lease.current_holder(),  # whoever rebalances now
            "this_gateway": self.lease.holder,
            "progress": progress.to_document(),
        }

    # Doing it

    async def run_forever(self, interval_seconds: float) -> None:
        """A round every ``interval_seconds``, and one soon after a node registers here."""
        last_round = time.monotonic()
        seen_change = self.registry.nodes_changed_at
        while True:
            await asyncio.sleep(CHECK_SECONDS)
            changed = self.registry.nodes_changed_at
            joined = changed > seen_change and time.monotonic() - changed > JOIN_SETTLE_SECONDS
            if not joined and time.monotonic() - last_round < interval_seconds:
                continue
            seen_change, last_round = changed, time.monotonic()
            try:
                await self.run_round()
            except Exception:
                log.exception("rebalance round failed; the next one tries again")

    async def run_round(self, when_counts_say: bool = True) -> bool:
        """One round, if this process gets the lease and (``when_counts_say``) the nodes'
        counts say it is needed; answer whether it ran."""
        if when_counts_say:
            counts = await self.node_shares(from_records=False)
            if counts == self.futile_counts:
                return False  # the last round could do no better with these very counts
            if BalancePlan(counts, self.target_spread).balanced():
                return False
        if not await self.lease.take():
            return False
        self.lease_lost = False
        keeper = asyncio.ensure_future(self.keep_lease())
        try:
            plan = await self.plan()
            self.progress.start(bytes_total=plan.bytes_to_move())
            self.progress.detail = {"spread_before": round(plan.spread(), 6)}
            log.info(
                "rebalance: spread %.4f over %d nodes, %d bytes to move",
                plan.spread(),
                len(plan.shares),
                self.progress.bytes_total,
            )
            while not plan.balanced():
                if await self.walk(plan):
                    plan = await self.plan()
                elif plan.relaxed:
                    break  # nothing more helps
                else:
                    plan.relaxed = True
            self.progress.detail["spread_after"] = round(plan.spread(), 6)
            self.futile_counts = await self.node_shares(from_records=False)
            log.info(
                "rebalance: moved %d shards, %d bytes; spread now %.4f",
                self.progress.items_done,
                self.progress.bytes_done,
                plan.spread(),
            )
        finally:
            keeper.cancel()
            self.progress.finish()
            await self.lease.release()
        return True

    async def walk(self, plan: BalancePlan) -> int:
        """One pass over the objects, moving what the plan picks, ``MOVES_AT_ONCE`` at a time
        (small shards take longer to switch than to copy); answer how many moved.

        The plan counts a move as soon as it is chosen, and takes it back if it fails, so
        moves under way are never chosen twice over."""
        slots = asyncio.Semaphore(MOVES_AT_ONCE)
        moving: set[asyncio.Task] = set()
        try:
            async with contextlib.aclosing(self.metadata.all_objects()) as records:
                async for record in records:
                    for part in record.parts:
                        taken = {shard.node_id for shard in part.shards}  # data and parity
                        for shard in part.shards:
                            target = plan.target_for(shard.node_id, shard.size, taken)
                            if target is None:
                                continue
                            plan.record(Move(shard.node_id, target, shard.size))
                            taken.add(target)
                            await slots.acquire()
                            move = self.move(plan, record, part, shard, target)
                            task = asyncio.ensure_future(move)
                            task.add_done_callback(lambda _: slots.release())
                            moving.add(task)
                    if plan.balanced() or self.lease_lost:
                        break
        except asyncio.CancelledError:
            for task in moving:
                task.cancel()  # the gateway stops: the collector settles their intents
            raise
        finally:
            results = await asyncio.gather(*moving, return_exceptions=True)
        return sum(result is True for result in results)

    async def move(
        self,
        plan: BalancePlan,
        record: ObjectRecord,
        part: ObjectPart,
        shard: ShardRecord,
        target: str,
    ) -> bool:
        """One move the plan counted already; it is taken back from the plan if it fails."""
        try:
            copy = await self.relocator.relocate(
                record, part.number, shard, target, self.paced_bytes(shard)
            )
        except SourceFailed as failure:
            log.warning(
                "rebalance: cannot read %s from %s: %s", shard.shard_id, shard.node_id, failure
            )
            plan.exclude(shard.node_id)
            copy = None
            self.progress.problems += 1
        except Exception as error:  # noqa: BLE001 - the target failed; the round goes on without it
            log.warning("rebalance: cannot copy %s to %s: %s", shard.shard_id, target, error)
            plan.exclude(target)
            copy = None
            self.progress.problems += 1
        if copy is None:  # failed, or the object changed meanwhile: the client's write won
            plan.record(Move(target, shard.node_id, shard.size))
            return False
        self.progress.advance(items=1, nbytes=shard.size)
        return True

    async def paced_bytes(self, shard: ShardRecord):
        try:
            url = await self.registry.url_of(shard.node_id)
            source = self.nodes.chunks(shard.node_id, url, shard.shard_id, shard.size)
            async with contextlib.aclosing(self.pace.paced(source)) as chunks:
                async for chunk in chunks:
                    yield chunk
        except Exception as error:
            raise SourceFailed(str(error)) from error

    async def keep_lease(self) -> None:
        """Renew the lease three times per its length while the round runs, however long one
        move takes; a lost lease stops the walk after the moves under way."""
        while True:
            await asyncio.sleep(self.lease.seconds / 3)
            try:
                renewed = await self.lease.take()
            except Exception:  # noqa: BLE001 - unsure it is still ours: stop as if it were lost
                log.exception("rebalance: cannot renew the lease")
                renewed = False
            if not renewed:
                self.lease_lost = True
                log.warning("rebalance: lost the lease to %s", await self.lease.current_holder())
                return


def make_rebalancer(config: GatewayConfig, access: ClusterAccess) -> Rebalancer:
    """The rebalancer of a gateway, or of ``s3lite rebalance``, which shares its settings."""
    relocator = relocator_for(config, access)
    lease = Lease(access.database["leases"], "rebalance", LEASE_SECONDS, new_holder_name())
    return Rebalancer(
        access.metadata,
        access.registry,
        access.nodes,
        relocator,
        lease,
        Pace(config.rebalance_bytes_per_second),
        config.rebalance_target_spread,
    )
