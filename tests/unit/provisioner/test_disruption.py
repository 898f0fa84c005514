"""Empty nodes are given back after consolidateAfter, within the pool's budget."""

from __future__ import annotations

import pytest

from trimtab.provisioner.disruption import (
    NodeUse,
    PoolDisruption,
    allowed_disruptions,
    empty_nodes_to_remove,
)

NOW = 1_000.0
POOLS = {"general": PoolDisruption(consolidate_after=30.0)}


def node(name: str, empty_for: float | None, **flags: bool) -> NodeUse:
    return NodeUse(name, "general", None if empty_for is None else NOW - empty_for, **flags)


@pytest.mark.parametrize(
    ("budgets", "nodes", "allowed"),
    [
        (("10%",), 10, 1),
        (("10%",), 3, 1),
        (("10%",), 0, 0),
        (("50%",), 5, 3),
        (("2",), 10, 2),
        (("10%", "0"), 10, 0),
        ((), 4, 4),
    ],
)
def test_allowed_disruptions(budgets: tuple[str, ...], nodes: int, allowed: int) -> None:
    assert allowed_disruptions(budgets, nodes) == allowed


def test_only_nodes_empty_for_long_enough_go() -> None:
    chosen = empty_nodes_to_remove(
        [node("busy", None), node("fresh", 10.0), node("idle", 45.0)], POOLS, NOW
    )
    assert [(n.name, why) for n, why in chosen] == [
        ("idle", "empty for 45 s (consolidateAfter 30 s)")
    ]


def test_do_not_disrupt_is_never_removed() -> None:
    assert empty_nodes_to_remove([node("kept", 100.0, do_not_disrupt=True)], POOLS, NOW) == []


def test_the_budget_caps_removals_and_counts_nodes_already_going() -> None:
    nodes = [node(f"n{i}", 100.0 + i) for i in range(10)]
    first = empty_nodes_to_remove(nodes, POOLS, NOW)
    assert [n.name for n, _ in first] == ["n9"], "10 % of 10 nodes, the longest empty first"
    going = [node("n9", 109.0, disrupting=True), *nodes[:9]]
    assert empty_nodes_to_remove(going, POOLS, NOW) == []


def test_each_pool_has_its_own_settings() -> None:
    pools = {**POOLS, "batch": PoolDisruption(consolidate_after=300.0, budgets=("100%",))}
    nodes = [
        NodeUse("b1", "batch", NOW - 200.0),
        NodeUse("b2", "batch", NOW - 400.0),
        node("g1", 60.0),
    ]
    assert [n.name for n, _ in empty_nodes_to_remove(nodes, pools, NOW)] == ["b2", "g1"]
