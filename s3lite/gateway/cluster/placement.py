"""Choosing the nodes for a new object's parts so that the nodes fill evenly.

Every part of an object is nearly the same size, so giving them to the least-filled nodes that
can take them keeps the spread between the fullest and the emptiest node within about one part,
whatever order nodes joined in: a new, empty node takes a part of every object until it has
caught up. Fill is a fraction of capacity where a node states one, else bytes.
"""

from dataclasses import dataclass

from s3lite.errors import InsufficientNodes


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


def choose_nodes(candidates: list[NodeLoad], count: int, part_size: int) -> list[str]:
    """The ``count`` distinct nodes that stay least filled after taking one part each."""
    able = [node for node in candidates if node.can_take(part_size)]
    if len(able) < count:
        raise InsufficientNodes(
            f"an object needs {count} storage nodes with room for a part of {part_size} bytes; "
            f"{len(able)} of {len(candidates)} nodes that are up can take it"
        )
    # Stated capacities rank by fraction used, the rest by bytes; never mix the two scales.
    if any(node.capacity_bytes for node in able) and not all(node.capacity_bytes for node in able):
        ranked = sorted(able, key=lambda node: (node.bytes_assigned + part_size, node.node_id))
    else:
        ranked = sorted(able, key=lambda node: (node.fill_after(part_size), node.node_id))
    return [node.node_id for node in ranked[:count]]
