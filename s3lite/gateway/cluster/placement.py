"""Choosing the nodes for a new part's shards so that the nodes fill evenly.

Every shard of a part is nearly the same size, so giving them to the least-filled nodes that
can take them keeps the spread between the fullest and the emptiest node within about one shard,
whatever order nodes joined in: a new, empty node takes a shard of every part until it has
caught up. Fill is a fraction of capacity where a node states one, else bytes.
"""

from dataclasses import dataclass

from s3lite.errors import InsufficientNodes
from s3lite.gateway.data.splitting import DATA_SHARDS


@dataclass(frozen=True)
class NodeLoad:
    node_id: str
    bytes_assigned: int
    capacity_bytes: int  # 0: no stated limit

    def fill_after(self, extra: int) -> float:
        used = self.bytes_assigned + extra
        return used / self.capacity_bytes if self.capacity_bytes else float(used)

    def can_take(self, extra: int) -> bool:
        return not self.capacity_bytes or self.bytes_assigned + extra <= self.capacity_bytes


def choose_nodes(
    candidates: list[NodeLoad], shard_sizes: list[int], data_shards: int = DATA_SHARDS
) -> list[str]:
    """A node for each shard of a part, so that the nodes stay least filled.

    Shards go to distinct nodes while there are enough; with fewer nodes than shards, the data
    shards still do, and parity doubles up on the nodes holding the fewest of the part's shards,
    so that losing any one node loses as few shards as the nodes allow.
    """
    largest = max(shard_sizes)
    able = [node for node in candidates if node.can_take(largest)]
    if len(able) < data_shards:
        raise InsufficientNodes(
            f"an object needs {data_shards} storage nodes with room for a shard of {largest} "
            f"bytes; {len(able)} of {len(candidates)} nodes that are up can take it"
        )
    # Stated capacities rank by fraction used, the rest by bytes; never mix the two scales.
    by_bytes = any(node.capacity_bytes for node in able) and not all(
        node.capacity_bytes for node in able
    )
    extra = {node.node_id: 0 for node in able}
    held = dict.fromkeys(extra, 0)

    def rank(node: NodeLoad, size: int) -> tuple:
        after = extra[node.node_id] + size
        fill = node.bytes_assigned + after if by_bytes else node.fill_after(after)
        return held[node.node_id], fill, node.node_id

    chosen = []
    for size in shard_sizes:
        node = min(able, key=lambda node: rank(node, size))
        extra[node.node_id] += size
        held[node.node_id] += 1
        chosen.append(node.node_id)
    return chosen
