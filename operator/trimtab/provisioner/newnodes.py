"""New nodes for the pods no existing node took: the demands waiting on one node class packed
into claims (`packing.pack`), each claim listed on every type that holds its pods, cheapest
first, and the pool's limits kept. A pool's limits are checked against the capacity of each
claim's cheapest type; what a full pool turns away is packed again on the types still under
its limits, and what is left comes back to be offered to the next pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from trimtab.provisioner.hostrules import HostRules
from trimtab.provisioner.model import ClaimPlan, NodePoolView
from trimtab.provisioner.nodeclasses import (
    FloatArray,
    IntArray,
    NodeClass,
    TypeTable,
    fitting_types,
)
from trimtab.provisioner.packing import PackingProblem, Pattern, pack
from trimtab.provisioner.podgroups import PodGroup
from trimtab.provisioner.poolchoice import describe_amount

LIMIT_ROUNDS = 8
"""Repacks of what a pool's limits turned away, each with only the types still under them."""


@dataclass
class Demand:
    """Pods of one group (in one zone, under zone spread) still looking for a new node."""

    group: PodGroup
    zone: str | None
    uids: list[str]
    reasons: list[str] = field(default_factory=list)
    """Why the pools tried so far did not take them."""


class NewNodes:
    """The claims of one batch, and the room each pool's limits leave as they are made."""

    def __init__(
        self,
        pools: Sequence[NodePoolView],
        catalog: TypeTable,
        axes: tuple[str, ...],
        rules: HostRules,
    ) -> None:
        self.pools = pools  # in the simulation's order (by weight): NodeClass.pool indexes it
        self.catalog = catalog
        self.axes = axes
        self.rules = rules
        self.headroom = [
            {r: v - p.in_use.get(r, 0.0) for r, v in p.limits.items()} for p in self.pools
        ]
        self.claims: list[ClaimPlan] = []

    def provision(self, found: NodeClass, demands: list[Demand]) -> list[Demand]:
        """Claims for the demands of one node class; returns what the pool's limits turned
        away. After each pass only types still under the limits are offered to the packer."""
        requests = np.array([d.group.requests for d in demands])
        counts = np.array([len(d.uids) for d in demands], dtype=np.int64)
        taken = np.zeros_like(counts)
        rules = self.rules.subset([d.group.index for d in demands])
        for _ in range(LIMIT_ROUNDS):
            usable = self._under_limits(found, np.arange(found.types.size))
            if usable.size == 0 or not (counts - taken).any():
                break
            problem = PackingProblem(
                requests, counts - taken, found.capacity[usable], found.price[usable], rules
            )
            before = int(taken.sum())
            for pattern in pack(problem)[0]:
                self._claim(found, usable, pattern, demands, taken)
            if int(taken.sum()) == before:
                break
        reason = self._limit_reason(found)
        return [
            Demand(d.group, d.zone, d.uids[used:], [*d.reasons, reason])
            for d, used in zip(demands, taken.tolist(), strict=True)
            if used < len(d.uids)
        ]

    def _under_limits(self, found: NodeClass, candidates: IntArray) -> IntArray:
        """Those of the class's `candidates` whose capacity fits under the pool's limits."""
        keep = np.ones(candidates.size, dtype=bool)
        for resource, room in self.headroom[found.pool].items():
            capacity = self.catalog.capacity_of(resource, found.types[candidates])
            keep &= capacity <= room + 1e-9 * max(abs(room), 1.0)
        kept: IntArray = candidates[keep]
        return kept

    def _claim(
        self,
        found: NodeClass,
        usable: IntArray,
        pattern: Pattern,
        demands: list[Demand],
        taken: IntArray,
    ) -> None:
        """ClaimPlans for the copies of a pattern the limits allow, each listing the types
        that hold its pods (and fit under the limits), cheapest first."""
        used = pattern.content.astype(np.float64) @ np.array([d.group.requests for d in demands])
        fitting = usable[fitting_types(used, found.capacity[usable], np.arange(usable.size))]
        rows = np.flatnonzero(pattern.content)
        plan: ClaimPlan | None = None
        for _ in range(pattern.copies):
            listed = self._under_limits(found, fitting) if self.headroom[found.pool] else fitting
            if listed.size == 0:
                return
            if plan is None or len(plan.instance_types) != listed.size:
                plan = self._plan(found, listed, used)
            pods: list[str] = []
            for row in rows:
                start, count = int(taken[row]), int(pattern.content[row])
                pods += demands[row].uids[start : start + count]
                taken[row] += count
            self._book(found, int(listed[0]))
            self.claims.append(replace(plan, pods=tuple(pods)))

    def _plan(self, found: NodeClass, listed: IntArray, used: FloatArray) -> ClaimPlan:
        """A claim on the listed types of a class (its pods are filled in by the caller)."""
        cheapest = int(listed[0])
        return ClaimPlan(
            pool=self.pools[found.pool].name,
            instance_types=tuple(self.catalog.types[t].name for t in found.types[listed]),
            requirements=found.requirements.as_label_requirements(),
            pods=(),
            requests=self._amounts(used + found.overhead[cheapest]),
            price=float(found.price[cheapest]),
        )

    def _book(self, found: NodeClass, chosen: int) -> None:
        """Count a new claim's cheapest type against its pool's limits."""
        headroom = self.headroom[found.pool]
        for resource in headroom:
            headroom[resource] -= self.catalog.types[found.types[chosen]].capacity.get(
                resource, 0.0
            )

    def _limit_reason(self, found: NodeClass) -> str:
        """Names the limit with the least room left, relative to its size."""
        pool = self.pools[found.pool]
        headroom = self.headroom[found.pool]
        if not headroom:
            return f"pool {pool.name}: no room left"
        resource = min(sorted(headroom), key=lambda r: headroom[r] / max(pool.limits[r], 1e-9))
        amount = describe_amount(resource, pool.limits[resource], unit=False)
        return f"pool {pool.name}: limit {resource} {amount} reached"

    def _amounts(self, vector: FloatArray) -> dict[str, float]:
        return {r: float(v) for r, v in zip(self.axes, vector, strict=True) if v > 0}


__all__ = ["LIMIT_ROUNDS", "Demand", "NewNodes"]
