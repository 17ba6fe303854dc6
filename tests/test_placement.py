"""Placement keeps the nodes evenly filled."""

import random

import pytest

from s3lite.errors import InsufficientNodes
from s3lite.gateway.cluster.placement import NodeLoad, choose_nodes


def loads(*assigned, capacity=0):
    return [NodeLoad(f"n{i}", used, capacity) for i, used in enumerate(assigned)]


def test_the_least_filled_nodes_take_the_parts():
    chosen = choose_nodes(loads(50, 10, 40, 0, 30, 20, 60, 70), [5] * 6)
    assert set(chosen) == {"n0", "n1", "n2", "n3", "n4", "n5"}


def test_equal_nodes_take_turns():
    """The nodes left out of one object are the first ones the next object picks."""
    first = choose_nodes(loads(*[0] * 9), [10] * 6)
    filled = [10 if f"n{i}" in first else 0 for i in range(9)]
    second = choose_nodes(loads(*filled), [10] * 6)
    assert {f"n{i}" for i in range(9)} - set(first) <= set(second)


def test_fewer_nodes_than_parts_is_refused_with_the_reason():
    with pytest.raises(InsufficientNodes, match="5 of 5"):
        choose_nodes(loads(0, 0, 0, 0, 0), [1] * 6)


def test_a_full_node_takes_no_part():
    nodes = loads(0, 0, 0, 0, 0, 0, capacity=100) + [NodeLoad("full", 99, 100)]
    assert "full" not in choose_nodes(nodes, [2] * 6)
    with pytest.raises(InsufficientNodes):
        choose_nodes(loads(0, 0, 0, 0, 0, 99, capacity=100), [2] * 6)


def test_with_capacities_the_emptiest_fraction_wins():
    nodes = [NodeLoad(f"big{i}", 500, 1000) for i in range(6)]
    nodes += [NodeLoad(f"small{i}", 60, 100) for i in range(6)]
    assert all(node.startswith("big") for node in choose_nodes(nodes, [1] * 6))


def test_greedy_placement_keeps_the_spread_within_one_part():
    """Late nodes take a part of every object until they catch up; after that, and before
    anyone joined, the fullest and emptiest node differ by at most the largest part."""
    rng = random.Random(7)
    assigned = {f"n{i}": 0 for i in range(6)}
    largest_part = 0
    # Two phases: objects onto six nodes, then three more join and three times as
    # many bytes follow (late nodes gain a part per object, the others half of one).
    for new_nodes, objects in ((0, 300), (3, 900)):
        assigned.update({f"late{i}": 0 for i in range(new_nodes)})
        for _ in range(objects):
            part = rng.randint(1024, 4 * 1024 * 1024) // 6
            largest_part = max(largest_part, part)
            candidates = [NodeLoad(node, used, 0) for node, used in assigned.items()]
            for node in choose_nodes(candidates, [part] * 6):
                assigned[node] += part
        assert max(assigned.values()) - min(assigned.values()) <= largest_part


def test_shards_go_to_distinct_nodes_while_there_are_enough():
    chosen = choose_nodes(loads(*[0] * 9), [10] * 8)
    assert len(set(chosen)) == 8


def test_with_fewer_nodes_than_shards_data_stays_apart_and_parity_doubles_up_evenly():
    for count in (6, 7):
        chosen = choose_nodes(loads(*[0] * count), [10] * 8)
        assert len(set(chosen[:6])) == 6
        held = [chosen.count(node) for node in set(chosen)]
        assert max(held) == 2 and len(set(chosen)) == count
