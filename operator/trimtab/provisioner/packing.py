"""Cost-aware bin packing of pod groups onto new nodes: numbers in, node patterns out.

Why not first-fit decreasing into the biggest node: that fills nodes along whichever resource
the big node has most of, then buys a machine shaped like the pile rather than like the
demand. The problem is a cutting-stock problem, and this module solves it the classic way
(Gilmore and Gomory's column generation):

* a *pattern* is one node type with a number of pods of each group on it; the master LP
  chooses how many nodes of each known pattern to buy, min sum(price_j * x_j) subject to
  sum(pods_jg * x_j) >= pods of group g, x >= 0 (`lp.solve_cover`, a small revised simplex);
* its dual gives every group a value per pod; for every node type a greedy knapsack fill
  (`greedy_fill`, all types at once in numpy) looks for a pattern worth more than its price,
  and such patterns join the master until none is found. The greedy order that matters most
  is value per pod over its requests priced at that type's own resource prices, the dual of
  the type's fractional knapsack (`_resource_prices`, every type's tiny LP pivoted at once);
* the LP's node counts are rounded down and bought; what is left (less than one node per
  pattern in use) goes node by node to the type whose greedy fill is worth most per dollar.

Compared with the LP over resources alone (capacity per dollar, which also bounds the result
from below), patterns know which pods fit which types, so a small type's CPU is not counted
when no pod can use it. Work grows with distinct pod shapes and node types, not with pods:
a pattern stands for many identical nodes. Types another type beats on every resource and on
price are dropped first (fits are monotone, so nothing is lost).

Per-node rules between pods (required anti-affinity and hostname spread) come in as
`HostRules`, which say how many more pods of each group a node may take. The numbers a pool's
narrowed requirements give the packer (allowed types, their cheapest allowed offering and what
DaemonSets take from each) come from `nodeclasses.py`; the LP solver is `lp.py`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from trimtab.provisioner.hostrules import HostRules
from trimtab.provisioner.lp import solve_cover
from trimtab.provisioner.nodeclasses import fits_within

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

PRICING_ROUNDS = 40
"""Column generation stops after this many rounds even if patterns still improve."""
NEW_PATTERNS = 24
"""Patterns added to the master per round (the most profitable ones)."""
GAP = 0.001
"""Column generation stops when no new pattern beats its price by more than this."""


def undominated(capacity: FloatArray, price: FloatArray) -> IntArray:
    """The types no other type beats: at least as much of every resource for no more money
    (of identical twins the first is kept). In order of price, then of more capacity, a type
    is beaten exactly when some type before it has at least its capacity everywhere."""
    order = np.lexsort((-capacity.sum(axis=1), price))
    ranked = capacity[order]
    covers = np.ones((len(order), len(order)), dtype=bool)
    for r in range(capacity.shape[1]):
        covers &= ranked[:, None, r] >= ranked[None, :, r]
    beaten = np.triu(covers, k=1).any(axis=0)
    kept: IntArray = np.sort(order[~beaten])
    return kept


def _resource_prices(
    requests: FloatArray, values: FloatArray, capacity: FloatArray, fits: BoolArray
) -> FloatArray:
    """(T, R): per node type, the resource prices at the optimum of its fractional knapsack,
    max values @ c s.t. requests.T @ c <= capacity_t, c >= 0 (only groups that fit the type).
    Every type's tableau is pivoted in lockstep (Dantzig's rule, then Bland's against cycling);
    the prices are the final objective row under the slack columns."""
    types, resources = capacity.shape
    groups = len(values)
    width = groups + resources + 1
    body = np.zeros((types, resources + 1, width))
    body[:, :resources, :groups] = requests.T
    body[:, :resources, groups : groups + resources] = np.eye(resources)
    body[:, :resources, -1] = capacity
    body[:, resources, :groups] = -np.where(fits.T, values, 0.0)
    rows = np.arange(types)
    tolerance = 1e-12 * max(float(values.max(initial=0.0)), 1e-12)
    limit = 4 * width
    for step in range(limit):
        objective = body[:, resources, :-1]
        if step < limit // 2:
            entering = np.argmin(objective, axis=1)
        else:
            entering = np.argmax(objective < -tolerance, axis=1)
        active = objective[rows, entering] < -tolerance
        if not active.any():
            break
        column = body[rows, :resources, entering]
        positive = column > 1e-12
        ratios = np.where(
            positive, body[:, :resources, -1] / np.where(positive, column, 1.0), np.inf
        )
        leaving = np.argmin(ratios, axis=1)
        active &= np.isfinite(ratios[rows, leaving])
        pivot_row = body[rows, leaving] / column[rows, leaving][:, None]
        pivoted = body - body[rows, :, entering][:, :, None] * pivot_row[:, None, :]
        pivoted[rows, leaving] = pivot_row
        body = np.where(active[:, None, None], pivoted, body)
    prices: FloatArray = np.maximum(body[:, resources, groups : groups + resources], 0.0)
    return prices


def _surrogate_weights(
    capacity: FloatArray, requests: FloatArray, values: FloatArray, fits: BoolArray
) -> FloatArray:
    """(V, T, R): ways to weigh the resources of each type into one size for the greedy fill:
    each type's knapsack resource prices (see `_resource_prices`; with them the greedy order is
    the fractional optimum's), all resources relative to the type's capacity, or one alone."""
    with np.errstate(divide="ignore"):
        inverse = np.where(capacity > 0, 1.0 / capacity, 0.0)
    alone = [inverse * (np.arange(capacity.shape[1]) == r) for r in range(capacity.shape[1])]
    prices = _resource_prices(requests, values, capacity, fits)
    return np.stack([prices, inverse, *alone])


def _room_for(rules: HostRules, content: IntArray, rows: IntArray, groups: IntArray) -> FloatArray:
    """How many more pods of groups[i] node rows[i] may take under the host rules."""
    room = np.full(rows.size, np.inf)
    if rules.active:
        for i in np.flatnonzero(rules.constrained[groups]):
            room[i] = rules.room(content[rows[i]])[groups[i]]
    return room


def greedy_fill(
    capacity: FloatArray,
    requests: FloatArray,
    counts: IntArray,
    values: FloatArray,
    fits: BoolArray,
    rules: HostRules,
) -> IntArray:
    """(V, T, G): for every node type at once and V ways of weighing resources (see
    `_surrogate_weights`), pods per group on one node, filled greedily by value per unit of
    weighted size, taking as many of each group as fit."""
    weights = _surrogate_weights(capacity, requests, values, fits)
    variants, types = weights.shape[:2]
    left = np.tile(capacity, (variants, 1))
    allowed = np.tile(fits.T & (values > 0) & (counts > 0), (variants, 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        density = np.where(
            allowed, values / (weights.reshape(-1, left.shape[1]) @ requests.T), -np.inf
        )
    order = np.argsort(-density, axis=1, kind="stable")
    rows = np.arange(left.shape[0])
    content = np.zeros((left.shape[0], len(counts)), dtype=np.int64)
    for step in range(len(counts)):
        group = order[:, step]
        ok = allowed[rows, group]
        if not ok.any():
            break
        wanted = requests[group]
        with np.errstate(divide="ignore", invalid="ignore"):
            most = np.floor(np.where(wanted > 0, left / wanted, np.inf).min(axis=1) + 1e-9)
        most = np.minimum(np.minimum(most, counts[group]), _room_for(rules, content, rows, group))
        most = np.where(ok & (most > 0), most, 0.0)
        content[rows, group] = most.astype(np.int64)
        left -= most[:, None] * wanted
    every: IntArray = content.reshape(variants, types, -1)
    return every


@dataclass(frozen=True)
class Pattern:
    """`copies` identical nodes of one type, each holding `content` pods per group."""

    type_index: int
    content: IntArray
    copies: int


@dataclass(frozen=True)
class PackingProblem:
    """Groups of identical pods and the node types they may use."""

    requests: FloatArray
    """(G, R): one pod's requests per group."""
    counts: IntArray
    """(G,): pods per group."""
    capacity: FloatArray
    """(T, R): what a node of each type offers pods (allocatable minus DaemonSets)."""
    price: FloatArray
    """(T,): its cheapest allowed offering."""
    rules: HostRules


def _single_group(
    problem: PackingProblem, fits: BoolArray, remaining: IntArray, types: IntArray
) -> list[tuple[int, IntArray]]:
    """For each group with pods left, its cheapest node per pod holding that group alone
    (these patterns alone cover the demand, so they start the master LP feasibly)."""
    room = problem.rules.room(np.zeros(len(remaining), dtype=np.int64))
    found: list[tuple[int, IntArray]] = []
    for g in np.flatnonzero(remaining > 0):
        need = problem.requests[g] > 0
        capacity = problem.capacity[types][:, need]
        most = np.floor((capacity / problem.requests[g, need]).min(axis=1) + 1e-9)
        most = np.where(fits[g, types], np.minimum(most, min(remaining[g], room[g])), 0.0)
        with np.errstate(divide="ignore"):
            best = int(np.argmin(np.where(most >= 1, problem.price[types] / most, np.inf)))
        content = np.zeros(len(remaining), dtype=np.int64)
        content[g] = int(most[best])
        found.append((int(types[best]), content))
    return found


def _generate(
    problem: PackingProblem, fits: BoolArray, remaining: IntArray, types: IntArray
) -> tuple[list[tuple[int, IntArray, float]], FloatArray]:
    """Column generation: the LP optimum as (type, content, amount), and each group's value
    per pod. Stops when no type has a fill worth GAP more than its price (the LP is then
    within that factor of its optimum, as far as the greedy fills can tell)."""
    live = np.flatnonzero(remaining > 0)
    patterns = _single_group(problem, fits, remaining, types)
    start: Sequence[int] | None = range(len(patterns))
    values = np.zeros(len(remaining))
    plan: list[tuple[int, IntArray, float]] = []
    for _ in range(PRICING_ROUNDS):
        supply = np.array([content[live] for _, content in patterns], dtype=np.float64)
        cost = problem.price[[t for t, _ in patterns]]
        cover = solve_cover(supply, cost, remaining[live].astype(np.float64), start)
        if cover is None:
            break
        plan = [(patterns[j][0], patterns[j][1], x) for j, x in cover.amounts.items()]
        values[live] = cover.duals
        contents = greedy_fill(
            problem.capacity[types],
            problem.requests,
            remaining,
            values,
            fits[:, types],
            problem.rules,
        )
        gain = (contents @ values / problem.price[types] - 1.0).ravel()
        better = [int(k) for k in np.argsort(-gain)[:NEW_PATTERNS] if gain[k] > GAP]
        if not better:
            break
        fresh = {
            (k % types.size, contents.reshape(-1, len(values))[k].tobytes()): k for k in better
        }
        patterns += [
            (int(types[t]), contents.reshape(-1, len(values))[k]) for (t, _), k in fresh.items()
        ]
        start = cover.basis
    return plan, values


def _take(plan: list[tuple[int, IntArray, float]], remaining: IntArray) -> list[Pattern]:
    """Buy the plan's nodes rounded down, largest amounts first, never more pods of a group
    than are left; updates `remaining`."""
    bought: list[Pattern] = []
    for t, content, amount in sorted(plan, key=lambda p: -p[2]):
        wanted = math.floor(amount + 1e-6)
        while wanted > 0:
            held = np.minimum(content, remaining)
            if not held.any():
                break
            inside = held > 0
            copies = min(wanted, int(np.min(remaining[inside] // held[inside])))
            bought.append(Pattern(t, held, copies))
            remaining -= copies * held
            wanted -= copies
    return bought


def _best_node(
    problem: PackingProblem,
    fits: BoolArray,
    remaining: IntArray,
    types: IntArray,
    values: FloatArray,
) -> tuple[int, IntArray]:
    """For what rounding down left: the node whose greedy fill is worth most per dollar."""
    live = remaining > 0
    floor = 1e-6 * max(float(values.max(initial=0.0)), 1e-9)
    worth = np.where(live, np.maximum(values, floor), 0.0)
    contents = greedy_fill(
        problem.capacity[types], problem.requests, remaining, worth, fits[:, types], problem.rules
    ).reshape(-1, len(remaining))
    with np.errstate(divide="ignore"):
        ratio = np.where(
            contents.any(axis=1),
            contents @ worth / np.tile(problem.price[types], len(contents) // types.size),
            -np.inf,
        )
    best = int(np.argmax(ratio))
    return int(types[best % types.size]), contents[best]


def pack(problem: PackingProblem) -> tuple[list[Pattern], IntArray]:
    """Nodes for every pod that fits some type, as patterns; and the pods per group left
    over (those that fit no type)."""
    fits = fits_within(problem.requests[:, None, :], problem.capacity[None, :, :])
    remaining = np.where(fits.any(axis=1), problem.counts, 0).astype(np.int64)
    types = undominated(problem.capacity, problem.price)
    types = types[fits[:, types].any(axis=0)]
    if not remaining.any():
        return [], problem.counts.copy()
    plan, values = _generate(problem, fits, remaining, types)
    bought = _take(plan, remaining)
    while remaining.any():
        t, content = _best_node(problem, fits, remaining, types, values)
        inside = content > 0
        if not inside.any():
            break  # only pods no fresh node may take (a zero maxSkew) are left
        copies = int(np.min(remaining[inside] // content[inside]))
        bought.append(Pattern(t, content, copies))
        remaining -= copies * content
    return bought, problem.counts - sum(
        (p.copies * p.content for p in bought), np.zeros_like(problem.counts)
    )


__all__ = ["PackingProblem", "Pattern", "greedy_fill", "pack", "undominated"]
