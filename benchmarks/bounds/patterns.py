"""The pattern bound: the tightest lower bound on a batch's price the benchmark can prove.

The LP and fit bounds of `provisioner.py` treat a node type's capacity as divisible among
pods; the pattern bound does not. A *pattern* is one node of one type in one zone with a whole
number of pods of each workload on it; the bound is the LP over all patterns (Gilmore and
Gomory): min sum(price_j x_j) s.t. each zone's patterns hold its pods, x >= 0. It is found by
column generation, each new pattern by an exact integer knapsack per zone and type (scipy
`milp`, HiGHS), and every round gives a valid bound (Farley's): the restricted LP's cost
divided by the best value per dollar any pattern reaches at its duals. At convergence that
ratio is 1 and the bound is the LP over all patterns, which no packing of these pods beats.

Under a zone spread with maxSkew 1, each zone holds floor(n / zones) or one more pod of a
workload of n; which zones take the odd pods is left to the LP (a variable per zone and
workload in [0, 1], summing to the odd pods), so the bound holds for every such split.

The packer in the package solves the same kind of LP but prices patterns greedily, so its LP
cost is not a bound; this one is, at the price of a MILP per zone, type and round (seconds:
an analysis for the benchmark, not something to run per batch).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

MAX_ROUNDS = 500
EXACT_PATTERNS = 10
"""An exact round stops after adding this many patterns: the LP is solved again first."""
GAP = 1e-6
"""Stop when no pattern is worth more than (1 + GAP) times its price at the duals."""


@dataclass(frozen=True)
class Zone:
    """Where nodes can be bought: its types' allocatable (rows: types, columns: resources) and
    prices, and how many pods of each workload must go there."""

    capacity: FloatArray
    price: FloatArray
    counts: IntArray


def pattern_bound(
    zones: Sequence[Zone], requests: FloatArray, odd: IntArray | None = None
) -> float:
    """A lower bound on the price of any packing of the zones' pods, where a pod of workload w
    asks for `requests[w]`, plus `odd[w]` more pods of w placed at most one per zone.
    Raises ValueError if some workload fits no type where it must go."""
    odd = np.zeros(len(requests), dtype=np.int64) if odd is None else odd
    zones = [_best_types(zone) for zone in zones]
    master = _Master(zones, requests, odd)
    fits = [np.all(requests[:, None, :] <= z.capacity[None] + 1e-9, axis=-1) for z in zones]
    for z, zone in enumerate(zones):
        needed = master.most[z] > 0
        if (needed & ~fits[z].any(axis=1)).any():
            raise ValueError(f"zone {z}: a workload fits none of its types")
        for w, t in np.argwhere(fits[z] & needed[:, None]):
            master.add(z, int(t), _alone(zone.capacity[t], requests, int(w), master.most[z]))
    with _quiet_stdout():
        for _ in range(MAX_ROUNDS):
            cost, duals = master.solve()
            if _add_greedy_patterns(master, requests, duals, fits):
                continue  # cheap rounds while they find patterns; only exact ones prove
            best_ratio = _add_exact_patterns(master, requests, duals, fits)
            if best_ratio is not None:
                return cost / best_ratio
    raise RuntimeError(f"the pattern LP did not converge in {MAX_ROUNDS} rounds")


class _Master:
    """The LP over the patterns found so far, with the odd pods' zones as variables."""

    def __init__(self, zones: Sequence[Zone], requests: FloatArray, odd: IntArray) -> None:
        self.zones, self.odd = zones, odd
        self.counts = np.array([zone.counts for zone in zones], dtype=np.int64)  # (Z, W)
        self.most = self.counts + np.minimum(odd, 1)[None, :]
        """Most pods of each workload a zone can hold: more on one node is never needed."""
        self.columns: list[tuple[int, int, IntArray]] = []
        self.free = [(z, int(w)) for z in range(len(zones)) for w in np.flatnonzero(odd)]

    def add(self, zone: int, kind: int, pattern: IntArray) -> None:
        self.columns.append((zone, kind, pattern))

    def solve(self) -> tuple[float, FloatArray]:
        """min price @ x s.t. patterns @ x - free >= counts per (zone, workload), sum of a
        workload's free over zones = its odd pods, 0 <= free <= 1. Returns the cost and the
        duals of the (zone, workload) rows."""
        n_zones, n_loads = self.counts.shape
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []
        for j, (z, _, pattern) in enumerate(self.columns):
            for w in np.flatnonzero(pattern).tolist():
                rows.append(z * n_loads + w)
                cols.append(j)
                vals.append(-float(pattern[w]))
        base = len(self.columns)
        for k, (z, w) in enumerate(self.free):
            rows.append(z * n_loads + w)
            cols.append(base + k)
            vals.append(1.0)
        width = base + len(self.free)
        a_ub = sparse.csr_matrix((vals, (rows, cols)), shape=(n_zones * n_loads, width))
        price = [self.zones[z].price[t] for z, t, _ in self.columns]
        bounds = [(0, None)] * base + [(0, 1)] * len(self.free)
        loads = sorted({w for _, w in self.free})
        a_eq = None
        if loads:
            a_eq = sparse.csr_matrix(
                (
                    np.ones(len(self.free)),
                    ([loads.index(w) for _, w in self.free], base + np.arange(len(self.free))),
                ),
                shape=(len(loads), width),
            )
        result = linprog(
            np.concatenate([price, np.zeros(len(self.free))]),
            A_ub=a_ub,
            b_ub=-self.counts.reshape(-1).astype(np.float64),
            A_eq=a_eq,
            b_eq=self.odd[loads].astype(np.float64) if loads else None,
            bounds=bounds,
            method="highs",
        )
        if result.status != 0:
            raise RuntimeError(f"pattern LP failed: {result.message}")
        duals = np.maximum(-result.ineqlin.marginals, 0.0).reshape(n_zones, n_loads)
        return float(result.fun), duals


def undominated(capacity: FloatArray, price: FloatArray) -> IntArray:
    """Types no other type beats (at least every resource for no more money). Leaving the
    beaten ones out does not change the bound: a pattern on one fits the type that beats it."""
    beats = (price[:, None] <= price[None, :]) & np.all(capacity[:, None] >= capacity[None], -1)
    strictly = (price[:, None] < price[None, :]) | np.any(capacity[:, None] > capacity[None], -1)
    earlier = np.arange(len(price))[:, None] < np.arange(len(price))[None, :]
    beaten = beats & (strictly | earlier)
    return np.flatnonzero(~beaten.any(axis=0))


def _best_types(zone: Zone) -> Zone:
    offered = np.isfinite(zone.price)
    capacity, price = zone.capacity[offered], zone.price[offered]
    keep = undominated(capacity, price)
    return Zone(capacity[keep], price[keep], zone.counts)


def _alone(capacity: FloatArray, requests: FloatArray, w: int, most: IntArray) -> IntArray:
    """A node of one type holding as many pods of workload w alone as fit (and are needed)."""
    needed = requests[w] > 0
    fit = int(np.floor(np.min(capacity[needed] / requests[w, needed]) + 1e-9))
    pattern = np.zeros(len(requests), dtype=np.int64)
    pattern[w] = min(fit, int(most[w]))
    return pattern


def _value_ceiling(
    capacity: FloatArray, requests: FloatArray, duals: FloatArray, upper: IntArray
) -> float:
    """At least any pattern's value on this type: for each resource alone, its capacity filled
    with the pods worth most per unit of it (the last one in part, none beyond `upper`).
    Types it puts at or below their price need no MILP."""
    worth = duals * upper
    ceiling = float(worth.sum())
    for r, amount in enumerate(capacity):
        uses = (upper > 0) & (requests[:, r] > 0)
        order = np.flatnonzero(uses)[np.argsort(-duals[uses] / requests[uses, r])]
        sizes = upper[order] * requests[order, r]
        before = np.concatenate([[0.0], np.cumsum(sizes)[:-1]])
        share = np.clip((amount - before) / sizes, 0.0, 1.0)
        unlimited = float(worth[~uses].sum())  # pods that take none of this resource
        ceiling = min(ceiling, float(share @ worth[order]) + unlimited)
    return ceiling


def _add_greedy_patterns(
    master: _Master, requests: FloatArray, duals: FloatArray, fits: Sequence[BoolArray]
) -> int:
    """Patterns worth more than their price found by filling every type greedily (pods in
    order of value per unit of one resource, or of all resources relative to the type's
    capacity); returns how many were added."""
    added = 0
    for z, zone in enumerate(master.zones):
        best_value = np.zeros(len(zone.price))
        best = np.zeros((len(zone.price), len(requests)), dtype=np.int64)
        with np.errstate(divide="ignore", invalid="ignore"):
            relative = requests[None, :, :] / zone.capacity[:, None, :]  # (T, W, R)
            sizes = [relative.sum(axis=2), *(relative[:, :, r] for r in range(requests.shape[1]))]
        for size in sizes:
            density = np.where(fits[z].T, duals[z][None, :] / np.maximum(size, 1e-12), -1.0)
            value, pattern = _fill(
                zone.capacity,
                requests,
                np.argsort(-density, axis=1),
                np.where(fits[z].T, master.most[z][None, :], 0),
                duals[z],
            )
            better = value > best_value
            best_value[better], best[better] = value[better], pattern[better]
        for t in np.flatnonzero(best_value > zone.price * (1 + GAP)):
            master.add(z, int(t), best[t])
            added += 1
    return added


def _fill(
    capacity: FloatArray, requests: FloatArray, order: IntArray, upper: IntArray, duals: FloatArray
) -> tuple[FloatArray, IntArray]:
    """Every type (row) filled with as many pods of each workload as still fit, in its order."""
    types = np.arange(len(capacity))
    left = capacity.copy()
    pattern = np.zeros(upper.shape, dtype=np.int64)
    for k in range(order.shape[1]):
        w = order[:, k]
        need = requests[w]  # (T, R)
        with np.errstate(divide="ignore", invalid="ignore"):
            room = np.where(need > 0, np.floor(left / np.where(need > 0, need, 1.0) + 1e-9), np.inf)
        take = np.minimum(room.min(axis=1), upper[types, w]).astype(np.int64)
        pattern[types, w] = take
        left -= take[:, None] * need
    return pattern @ duals, pattern


def _add_exact_patterns(
    master: _Master, requests: FloatArray, duals: FloatArray, fits: Sequence[BoolArray]
) -> float | None:
    """Price every type exactly, most promising first, adding what beats its price. When
    nothing does, returns the best value per dollar any pattern may reach (the Farley ratio);
    None once EXACT_PATTERNS were added (the LP must be solved again first)."""
    candidates = []
    for z, zone in enumerate(master.zones):
        for t, price in enumerate(zone.price):
            upper = np.where(fits[z][:, t], master.most[z], 0)
            ceiling = _value_ceiling(zone.capacity[t], requests, duals[z], upper)
            if ceiling > price * (1 + GAP):
                candidates.append((ceiling / price, z, t))
    best_ratio, found = 1.0 + GAP, 0  # what a type skipped by its ceiling may reach
    for _, z, t in sorted(candidates, reverse=True):
        zone = master.zones[z]
        upper = np.where(fits[z][:, t], master.most[z], 0)
        value, pattern = _knapsack(zone.capacity[t], requests, duals[z], upper)
        best_ratio = max(best_ratio, value / zone.price[t])
        if value > zone.price[t] * (1 + GAP):
            master.add(z, t, pattern)
            found += 1
            if found == EXACT_PATTERNS:
                return None
    return best_ratio if not found else None


def _knapsack(
    capacity: FloatArray, requests: FloatArray, duals: FloatArray, upper: IntArray
) -> tuple[float, IntArray]:
    """The most valuable whole-pod pattern on one node of this type, exactly."""
    result = milp(
        -duals,
        constraints=LinearConstraint(requests.T, -np.inf, capacity),
        integrality=np.ones(len(duals)),
        bounds=Bounds(np.zeros(len(duals)), upper.astype(np.float64)),
        options={"mip_rel_gap": 1e-9, "presolve": False},
    )
    if result.status != 0:
        raise RuntimeError(f"pattern knapsack failed: {result.message}")
    pattern = np.rint(result.x).astype(np.int64)
    return float(duals @ pattern), pattern


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Some HiGHS builds print a stray debug line from C++ for MIPs; keep the table clean."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as sink:
            os.dup2(sink.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
