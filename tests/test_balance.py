"""The rebalancer's plan, as arithmetic: which shard goes where, and when it stops."""

import random

from s3lite.gateway.maintenance.balance import BalancePlan, Move, NodeShare


def simulate(plan: BalancePlan, parts: list[list[tuple[str, int]]]) -> int:
    """Walk the parts as the rebalancer does, until a walk moves nothing; answer the moves."""
    moves = 0
    while not plan.balanced():
        moved = 0
        for part in parts:
            for at, (node, size) in enumerate(part):
                target = plan.target_for(node, size, {n for n, _ in part})
                if target is not None:
                    plan.record(Move(node, target, size))
                    part[at] = (target, size)
                    moved += 1
        if not moved and plan.relaxed:
            break
        plan.relaxed = not moved
        moves += moved
    return moves


def cluster_of(
    nodes: int, objects: int, seed: int
) -> tuple[list[str], list[list[tuple[str, int]]]]:
    rng = random.Random(seed)
    names = [f"n{i}" for i in range(nodes)]
    parts = []
    for _ in range(objects):
        size = rng.randint(1, 400_000)
        chosen = rng.sample(names, 8)  # six data shards and two parity
        parts.append([(node, size // 6 + 1) for node in chosen])
    return names, parts


def shares_of(names, parts, capacities=None) -> list[NodeShare]:
    held = dict.fromkeys(names, 0)
    for part in parts:
        for node, size in part:
            held[node] += size
    return [NodeShare(name, held[name], (capacities or {}).get(name, 0)) for name in names]


def test_three_empty_nodes_take_their_share_and_parts_stay_on_distinct_nodes():
    names, parts = cluster_of(nodes=8, objects=300, seed=1)
    names += ["new1", "new2", "new3"]
    plan = BalancePlan(shares_of(names, parts), 0.02)
    assert plan.spread() > 1 and plan.bytes_to_move() > 0
    assert simulate(plan, parts) > 0
    assert plan.spread() <= 0.02
    assert plan.bytes_to_move() == 0
    for part in parts:
        assert len({node for node, _ in part}) == len(part)
    # the plan's counts are what the parts say
    assert {s.node_id: s.bytes_stored for s in shares_of(names, parts)} == {
        s.node_id: s.bytes_stored for s in plan.shares.values()
    }


def test_capacities_balance_by_fraction():
    names, parts = cluster_of(nodes=16, objects=600, seed=2)
    capacities = {name: 10**9 for name in names}
    capacities["n0"] = 2 * 10**9  # twice as large: should hold twice as much
    plan = BalancePlan(shares_of(names, parts, capacities), 0.02)
    simulate(plan, parts)
    assert plan.spread() <= 0.02
    assert plan.shares["n0"].bytes_stored > 1.9 * plan.shares["n1"].bytes_stored


def test_a_balanced_cluster_moves_nothing_and_shards_too_big_stay():
    plan = BalancePlan([NodeShare("a", 1000), NodeShare("b", 1005)], 0.02)
    assert plan.balanced() and plan.target_for("b", 1, set()) is None
    lopsided = BalancePlan([NodeShare("a", 0), NodeShare("b", 1000)], 0.02)
    assert lopsided.target_for("b", 1000, {"b"}) is None  # would only swap the two
    assert lopsided.target_for("b", 500, {"b"}) == "a"
    assert lopsided.target_for("b", 500, {"a", "b"}) is None  # a holds a shard of the part


def test_an_excluded_node_takes_nothing():
    plan = BalancePlan([NodeShare("a", 0), NodeShare("b", 0), NodeShare("c", 1000)], 0.02)
    plan.exclude("a")
    assert plan.target_for("c", 100, {"c"}) == "b"
