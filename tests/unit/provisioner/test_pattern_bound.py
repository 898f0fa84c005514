"""The provisioner benchmark's pattern bound is a lower bound, and a tight one."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import Bounds, LinearConstraint, milp

from benchmarks.bounds.patterns import Zone, pattern_bound, undominated


def test_whole_pods_count_where_divisible_capacity_would_not() -> None:
    # Two 3-CPU pods on 4-CPU nodes: capacity in aggregate says 1.5 nodes, whole pods say 2.
    capacity, price = np.array([[4.0, 16.0, 110.0]]), np.array([1.0])
    requests = np.array([[3.0, 1.0, 1.0]])
    assert pattern_bound([Zone(capacity, price, np.array([2]))], requests) == pytest.approx(2.0)


def test_odd_pods_go_to_the_cheapest_zones_one_each() -> None:
    capacity, requests = np.array([[4.0, 16.0, 110.0]]), np.array([[3.0, 1.0, 1.0]])
    cheap = Zone(capacity, np.array([1.0]), np.array([1]))
    dear = Zone(capacity, np.array([10.0]), np.array([1]))
    # One pod each, and one more that may go to either zone but not twice to the same one.
    assert pattern_bound([cheap, dear], requests, np.array([1])) == pytest.approx(12.0)
    assert pattern_bound([cheap, dear, cheap], requests, np.array([2])) == pytest.approx(14.0)


def test_a_workload_that_fits_nowhere_is_an_error() -> None:
    zone = Zone(np.array([[2.0, 4.0, 110.0]]), np.array([1.0]), np.array([1]))
    with pytest.raises(ValueError, match="fits none"):
        pattern_bound([zone], np.array([[3.0, 1.0, 1.0]]))


def test_beaten_types_are_left_out() -> None:
    capacity = np.array([[2.0, 4.0], [4.0, 8.0], [4.0, 8.0], [1.0, 16.0]])
    price = np.array([1.0, 1.0, 1.0, 0.5])
    assert undominated(capacity, price).tolist() == [1, 3]


@pytest.mark.parametrize("seed", range(12))
def test_never_above_the_best_packing_and_close_to_it(seed: int) -> None:
    rng = np.random.default_rng(seed)
    capacity = np.array(
        [
            [c, m, 8.0]
            for c, m in zip(rng.choice([2, 4, 8], 3), rng.choice([4, 8, 16], 3), strict=True)
        ],
        dtype=np.float64,
    )
    price = capacity[:, 0] * 0.04 + capacity[:, 1] * 0.005 + rng.uniform(0, 0.02, 3)
    requests = np.array(
        [
            [c, m, 1.0]
            for c, m in zip(rng.choice([0.5, 1, 1.5, 2], 3), rng.uniform(0.5, 4, 3), strict=True)
        ]
    )
    counts = rng.integers(1, 6, 3)
    found = pattern_bound([Zone(capacity, price, counts)], requests)
    best = _best_packing(capacity, price, requests, counts)
    assert found <= best + 1e-6
    assert found >= best - float(price.max()) - 1e-6  # within one node of the optimum


def _best_packing(
    capacity: np.ndarray, price: np.ndarray, requests: np.ndarray, counts: np.ndarray
) -> float:
    """The cheapest packing, exactly: every pattern of every type, whole node counts."""
    columns, costs = [], []
    for t, room in enumerate(capacity):
        for pattern in itertools.product(*(range(int(n) + 1) for n in counts)):
            if any(pattern) and np.all(np.array(pattern) @ requests <= room + 1e-9):
                columns.append(pattern)
                costs.append(price[t])
    supply = np.array(columns, dtype=np.float64).T
    result = milp(
        np.array(costs),
        constraints=LinearConstraint(supply, counts, np.inf),
        integrality=np.ones(len(costs)),
        bounds=Bounds(0, np.inf),
    )
    assert result.status == 0
    return float(result.fun)
