"""A small revised simplex for the covering LPs of the packer: min c.x, A.x >= b, x >= 0.

Kept in numpy (the pure core has no scipy): the master problems are small (a few dozen rows,
a few hundred columns), so a dense simplex with Bland's rule is fast enough and exact enough.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

MAX_PIVOTS = 500


@dataclass(frozen=True)
class Cover:
    """An optimal solution of min cost @ x s.t. supply.T @ x >= demand, x >= 0."""

    amounts: dict[int, float]
    """Column -> its (fractional) amount, for the columns in use."""
    duals: FloatArray
    """Price per unit of each demand row at the optimum."""
    cost: float
    basis: tuple[int, ...]
    """For a warm start: columns, or -1-r for row r's surplus, or -1-m-r for its artificial."""


def _penalty(scaled: FloatArray, cost: FloatArray) -> float | None:
    """A cost for the artificial columns above any dual value (None: some row has no supply)."""
    bound = 0.0
    for row in scaled:
        useful = row > 0
        if not useful.any():
            return None
        bound += float(np.min(cost[useful] / row[useful]))
    return 10.0 * bound + 1.0


def _simplex(columns: FloatArray, cost: FloatArray, basis: IntArray) -> FloatArray:
    """Revised simplex on min cost @ x s.t. columns @ x = 1, x >= 0 from a feasible `basis`
    (changed in place); returns the inverse of the final basis. The inverse is updated by one
    pivot row per step and refactorised now and then to keep rounding errors small."""
    inverse = np.asarray(np.linalg.inv(columns[:, basis]), dtype=np.float64)
    tolerance = 1e-10 * max(float(np.abs(cost).max()), 1.0)
    for step in range(MAX_PIVOTS):
        reduced = cost - (cost[basis] @ inverse) @ columns
        reduced[basis] = 0.0
        improving = np.flatnonzero(reduced < -tolerance)
        if improving.size == 0:
            break
        # Dantzig's rule first; Bland's (lowest index) later so a degenerate cycle cannot last.
        entering = int(improving[0]) if step > MAX_PIVOTS // 2 else int(np.argmin(reduced))
        direction = inverse @ columns[:, entering]
        positive = direction > 1e-12
        if not positive.any():
            break  # unbounded: cannot happen with non-negative costs
        values = inverse.sum(axis=1)
        ratios = np.where(positive, values / np.where(positive, direction, 1.0), np.inf)
        leaving = int(np.argmin(ratios))
        row = inverse[leaving] / direction[leaving]
        inverse -= np.outer(direction, row)
        inverse[leaving] = row
        basis[leaving] = entering
        if step % 32 == 31:
            inverse = np.asarray(np.linalg.inv(columns[:, basis]), dtype=np.float64)
    return inverse


def solve_cover(
    supply: FloatArray, cost: FloatArray, demand: FloatArray, start: Sequence[int] | None = None
) -> Cover | None:
    """min cost @ x s.t. supply.T @ x >= demand, x >= 0, for demand > 0 in every row (revised
    simplex; rows scaled to a demand of 1; big-M artificials unless `start` gives a feasible
    basis). None when a row has no supply at all."""
    count, m = supply.shape
    scaled = (supply / demand).T
    penalty = _penalty(scaled, cost)
    if penalty is None:
        return None
    columns = np.hstack([scaled, -np.eye(m), np.eye(m)])
    extended = np.concatenate([cost, np.zeros(m), np.full(m, penalty)])
    first = range(count + m, count + 2 * m) if start is None else start
    basis = np.array([b if b >= 0 else count - 1 - b for b in first], dtype=np.int64)
    inverse = _simplex(columns, extended, basis)
    values = inverse.sum(axis=1)
    if np.any((basis >= count + m) & (values > 1e-9)):
        return None
    duals = np.maximum(extended[basis] @ inverse, 0.0) / demand
    amounts = {
        int(b): float(v) for b, v in zip(basis, values, strict=True) if b < count and v > 1e-12
    }
    return Cover(
        amounts,
        duals,
        float(sum(cost[j] * x for j, x in amounts.items())),
        tuple(int(b) if b < count else count - 1 - int(b) for b in basis),
    )


__all__ = ["Cover", "solve_cover"]
