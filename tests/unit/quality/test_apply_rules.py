"""When a replay applies a recommendation: the VPA updater's three conditions, per container."""

from __future__ import annotations

import numpy as np

from trimtab.quality.rules import (
    ApplyRule,
    UpdaterSettings,
    outside_bounds,
    relative_difference,
    updates,
)
from trimtab.recommender.estimators import Recommendation, Resources

HOUR = 3600.0


def resources(*pairs: tuple[float, float]) -> Resources:
    return Resources(np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs]))


def recommendation(target: Resources, lower: Resources, upper: Resources) -> Recommendation:
    rows = target.cpu.size
    return Recommendation(target, lower, upper, target, np.zeros(rows), np.zeros(rows, np.int64))


# Four containers, one target and the same bounds for all: [0.5, 2] cores, [100, 400] bytes.
TARGET = resources(*[(1.0, 200.0)] * 4)
LOWER = resources(*[(0.5, 100.0)] * 4)
UPPER = resources(*[(2.0, 400.0)] * 4)
REQUESTS = resources(
    (3.0, 200.0),  # CPU above the upper bound
    (1.0, 50.0),  # memory below the lower bound
    (1.05, 210.0),  # inside, 5 % + 5 % = 0.1 from the target
    (1.0, 200.0),  # the target itself
)
RECOMMENDATION = recommendation(TARGET, LOWER, UPPER)


def test_outside_bounds_and_relative_difference() -> None:
    assert outside_bounds(REQUESTS, RECOMMENDATION).tolist() == [True, True, False, False]
    difference = relative_difference(REQUESTS, TARGET)
    np.testing.assert_allclose(difference, [2.0 / 3.0, 3.0, 0.05 / 1.05 + 10 / 210, 0.0])


def test_vpa_updater_waits_twelve_hours_for_small_differences() -> None:
    settings = UpdaterSettings()
    no_oom = np.zeros(4, dtype=bool)
    young = np.full(4, 11 * HOUR)
    old = np.full(4, 12 * HOUR)
    assert updates(settings, REQUESTS, RECOMMENDATION, young, no_oom).tolist() == [
        True,
        True,
        False,
        False,
    ]
    # Old pods: container 2 differs by 0.0476 + 0.0476 < 0.1; a tighter request does more.
    assert updates(settings, REQUESTS, RECOMMENDATION, old, no_oom).tolist() == [
        True,
        True,
        False,
        False,
    ]
    further = resources((3.0, 200.0), (1.0, 50.0), (1.1, 220.0), (1.0, 200.0))
    assert updates(settings, further, RECOMMENDATION, old, no_oom).tolist() == [
        True,
        True,
        True,
        False,
    ]
    assert updates(settings, further, RECOMMENDATION, young, no_oom)[2] == np.False_


def test_quick_oom_updates_at_once_but_never_to_the_same_request() -> None:
    quick = np.ones(4, dtype=bool)
    young = np.zeros(4)
    changed = updates(UpdaterSettings(), REQUESTS, RECOMMENDATION, young, quick)
    assert changed.tolist() == [True, True, True, False]


def test_other_rules() -> None:
    young, no_oom = np.zeros(4), np.zeros(4, dtype=bool)
    bounds = UpdaterSettings(rule=ApplyRule.OUTSIDE_BOUNDS)
    always = UpdaterSettings(rule=ApplyRule.ALWAYS)
    assert updates(bounds, REQUESTS, RECOMMENDATION, np.full(4, 1e9), ~no_oom).tolist() == [
        True,
        True,
        False,
        False,
    ]
    assert updates(always, REQUESTS, RECOMMENDATION, young, no_oom).tolist() == [
        True,
        True,
        True,
        False,
    ]
