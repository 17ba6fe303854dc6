"""Which shard goes where so that nodes hold even shares: arithmetic only, no I/O.

A node's share is its fill: bytes stored, or the fraction of its capacity when every node
states one (placement's rule: never mix the two scales). The spread is (max - min) / mean of
the fills; the cluster is balanced once it is at most the target.

Each node aims at a band around its fair share: the mean bytes, or the overall fraction of its
capacity, plus or minus a bit under half the target spread. A shard moves from a node above
its share to one below it only if one of the two is outside its band and neither ends outside
it. Each such move lowers the sum of squared distances from the shares, so moves always
converge; with every node inside its band, the spread is within the target.

When shards are coarse next to the band, that can stop short: a node below its band may find
no shard small enough on a node that could spare it. A ``relaxed`` plan then also lets the
donor end below its band, as long as the move still lowers the sum of squares by a fair part
(the shard is at most ``RELAXED_SHARE`` of the distance between the two nodes' fills), which
trades a deep hole for shallower ones until the spread is within the target or nothing helps.
"""

from dataclasses import dataclass

BAND_OF_SPREAD = 0.45  # half the target, less a margin so a balanced plan is strictly inside
RELAXED_SHARE = 0.75  # a move of the whole distance would only swap the two nodes


@dataclass
class NodeShare:
    node_id: str
    bytes_stored: int
    capacity_bytes: int = 0  # 0: no stated limit


@dataclass(frozen=True)
class Move:
    source: str
    target: str
    size: int


class BalancePlan:
    def __init__(self, shares: list[NodeShare], target_spread: float):
        self.shares = {share.node_id: share for share in shares}
        self.target_spread = target_spread
        self.by_capacity = bool(shares) and all(share.capacity_bytes for share in shares)
        self.total = sum(share.bytes_stored for share in shares)  # moves keep it
        self.excluded: set[str] = set()
        self.relaxed = False

    def fill(self, share: NodeShare) -> float:
        if self.by_capacity:
            return share.bytes_stored / share.capacity_bytes
        return float(share.bytes_stored)

    def fair_bytes(self, share: NodeShare) -> float:
        if self.by_capacity:
            capacity = sum(other.capacity_bytes for other in self.shares.values())
            return self.total * share.capacity_bytes / capacity
        return self.total / len(self.shares)

    def spread(self) -> float:
        fills = [self.fill(share) for share in self.shares.values()]
        mean = sum(fills) / len(fills) if fills else 0.0
        return (max(fills) - min(fills)) / mean if mean > 0 else 0.0

    def balanced(self) -> bool:
        return self.spread() <= self.target_spread

    def bytes_to_move(self) -> int:
        """What must leave the nodes above their fair share for all to be at it."""
        if self.balanced():
            return 0
        return round(
            sum(
                max(0.0, share.bytes_stored - self.fair_bytes(share))
                for share in self.shares.values()
            )
        )

    def exclude(self, node_id: str) -> None:
        """Take a node out of this plan's moves (it failed one); its bytes still count."""
        self.excluded.add(node_id)

    def target_for(self, source: str, size: int, taken: set[str]) -> str | None:
        """The emptiest node that should take a shard of ``size`` bytes from ``source``, and
        holds no shard of the same part (``taken``: the part's nodes); None to leave it."""
        donor = self.shares.get(source)
        if donor is None or source in self.excluded or size <= 0 or self.balanced():
            return None
        over = donor.bytes_stored - self.fair_bytes(donor)
        if over <= 0:
            return None
        able = []
        for share in self.shares.values():
            if share.node_id in taken or share.node_id in self.excluded:
                continue
            if share.capacity_bytes and share.bytes_stored + size > share.capacity_bytes:
                continue
            under = share.bytes_stored - self.fair_bytes(share)
            if under >= 0 or not (over > self.band(donor) or under < -self.band(share)):
                continue
            if self.within_bands(donor, over, share, under, size):
                able.append(share)
        if not able:
            return None
        return min(able, key=lambda share: (self.fill(share), share.node_id)).node_id

    def within_bands(
        self, donor: NodeShare, over: float, receiver: NodeShare, under: float, size: int
    ) -> bool:
        if under + size > self.band(receiver):
            return False
        if self.relaxed:
            return size <= RELAXED_SHARE * (over - under)
        return over - size >= -self.band(donor)

    def band(self, share: NodeShare) -> float:
        return self.fair_bytes(share) * self.target_spread * BAND_OF_SPREAD

    def record(self, move: Move) -> None:
        self.shares[move.source].bytes_stored -= move.size
        self.shares[move.target].bytes_stored += move.size
