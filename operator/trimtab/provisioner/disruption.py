"""Which empty nodes to give back now, within each NodePool's disruption budget.

A node counts as empty when nothing but DaemonSet pods (and static pods) runs on it: those
would go with the node anyway. It is removed once it has been empty for the pool's
``consolidateAfter``, never when the node or one of its pods is annotated
``trimtab.dev/do-not-disrupt: "true"``, and never more at once than the pool's budget
(the smallest of its budgets; a percentage of the pool's nodes is rounded up, as Karpenter does,
so a small pool can still give back one node at a time).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class NodeUse:
    """One node of a pool, as removal needs it."""

    name: str
    pool: str
    empty_since: float | None
    """When it last became empty; None while workload pods run on it."""
    do_not_disrupt: bool = False
    """The node or one of its pods is annotated trimtab.dev/do-not-disrupt."""
    disrupting: bool = False
    """Already cordoned or being deleted (it uses up budget)."""


@dataclass(frozen=True)
class PoolDisruption:
    """A NodePool's disruption settings."""

    consolidate_after: float
    budgets: tuple[str, ...] = ("10%",)
    """Counts ("3") or percentages ("10%") of the pool's nodes; the smallest applies."""


def allowed_disruptions(budgets: Sequence[str], nodes: int) -> int:
    """How many of a pool's ``nodes`` may be disrupted at once under its budgets."""
    counts = [_budget_count(budget, nodes) for budget in budgets] or [nodes]
    return max(0, min(counts))


def empty_nodes_to_remove(
    nodes: Sequence[NodeUse], pools: Mapping[str, PoolDisruption], now: float
) -> list[tuple[NodeUse, str]]:
    """The empty nodes to remove now, each with why, oldest empty first, within budgets."""
    chosen: list[tuple[NodeUse, str]] = []
    for pool, settings in sorted(pools.items()):
        members = [node for node in nodes if node.pool == pool]
        room = allowed_disruptions(settings.budgets, len(members))
        room -= sum(node.disrupting for node in members)
        idle = [
            (now - node.empty_since, node.name, node)
            for node in members
            if node.empty_since is not None and not (node.disrupting or node.do_not_disrupt)
        ]
        ready = [entry for entry in idle if entry[0] >= settings.consolidate_after]
        for empty_for, _, node in sorted(ready, key=lambda e: (-e[0], e[1]))[: max(0, room)]:
            after = settings.consolidate_after
            chosen.append((node, f"empty for {empty_for:.0f} s (consolidateAfter {after:.0f} s)"))
    return chosen


def _budget_count(budget: str, nodes: int) -> int:
    if budget.endswith("%"):
        return math.ceil(nodes * float(budget[:-1]) / 100)
    return int(budget)
