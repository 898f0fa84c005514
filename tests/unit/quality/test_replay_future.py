"""The replay never lets a strategy see the future: poisoning everything from an update point
on leaves every decision up to that point as it was, and shows one point later."""

from __future__ import annotations

import numpy as np
import pytest

from trimtab.api.profile import RecommenderProfileSpec
from trimtab.api.profile import Strategy as StrategyName
from trimtab.history.generator import WorkloadClass, WorkloadSpec, generate
from trimtab.quality import ReplayConfig, ReplayResult, Trace, replay_trace
from trimtab.recommender.strategies import strategy_for

DAY = 86_400.0
START = 1_735_689_600.0
CONFIG = ReplayConfig(warmup_s=DAY, update_every_s=3 * 3600.0)
HUGE_CPU = 500.0
HUGE_MEMORY = 5e11
BASELINES = ("vpa", "percentile")
"""Strategies whose reaction to the poison is known: it must show at the next point."""


def diurnal_trace() -> Trace:
    spec = WorkloadSpec(
        name="shop",
        workload_class=WorkloadClass.DIURNAL,
        replicas=2,
        containers=("app", "proxy"),
        cpu_base_cores=(0.4, 0.05),
        memory_base_bytes=(512 * 2.0**20, 64 * 2.0**20),
        seed=7,
    )
    history = generate(spec, START, 4 * DAY)
    return Trace("shop", history.timestamps, history.cpu_cores, history.memory_bytes,
                 history.containers)  # fmt: skip


def poisoned(trace: Trace, at: float, only_then: bool) -> Trace:
    """Huge usage at ``at`` (and, unless ``only_then``, at every later sample)."""
    hit = trace.timestamps == at if only_then else trace.timestamps >= at
    assert hit.any()
    cpu, memory = trace.cpu.copy(), trace.memory.copy()
    cpu[..., hit] = HUGE_CPU
    memory[..., hit] = HUGE_MEMORY
    return trace.with_usage(cpu, memory)


def decisions(result: ReplayResult, point: int) -> list[np.ndarray]:
    """Everything decided at update point ``point``."""
    return [
        part[point]
        for resources in (result.target, result.lower_bound, result.upper_bound, result.request)
        for part in (resources.cpu, resources.memory)
    ] + [result.changed[point]]


def same(first: list[np.ndarray], second: list[np.ndarray]) -> bool:
    return all(np.array_equal(a, b, equal_nan=True) for a, b in zip(first, second, strict=True))


@pytest.mark.parametrize("name", [s.value for s in StrategyName])
@pytest.mark.parametrize("only_then", [False, True], ids=["from-then-on", "that-minute"])
@pytest.mark.parametrize("point", [2, 9])
def test_a_poisoned_future_changes_nothing_before_it(
    name: str, only_then: bool, point: int
) -> None:
    strategy = strategy_for(RecommenderProfileSpec(strategy=name))
    trace = diurnal_trace()
    clean = replay_trace(trace, strategy, CONFIG)
    at = float(clean.update_times[point])
    dirty = replay_trace(poisoned(trace, at, only_then), strategy, CONFIG)

    for earlier in range(point + 1):
        assert same(decisions(clean, earlier), decisions(dirty, earlier)), earlier
    before = clean.ooms.times < at
    assert np.array_equal(dirty.ooms.times[dirty.ooms.times < at], clean.ooms.times[before])
    # The poison is real: the sample at the point itself is above any limit, so it kills ...
    assert at in dirty.ooms.times.tolist()
    if name in BASELINES:
        # ... and that kill (and the usage) reach the strategy at the next point, not before.
        assert not same(decisions(clean, point + 1)[:6], decisions(dirty, point + 1)[:6])


@pytest.mark.parametrize("name", BASELINES)
def test_real_strategies_replay_through_gaps(name: str) -> None:
    trace = diurnal_trace()
    cpu, memory = trace.cpu.copy(), trace.memory.copy()
    cpu[0, :, 1500:1800] = np.nan  # one pod unscraped for five hours, part in the warm-up
    memory[0, :, 1500:1800] = np.nan
    cpu[:, 1, 3000:3010] = np.nan  # the sidecar of both pods for ten minutes
    memory[:, 1, 3000:3010] = np.nan
    gappy = trace.with_usage(cpu, memory)
    result = replay_trace(gappy, strategy_for(RecommenderProfileSpec(strategy=name)), CONFIG)
    assert np.isfinite(result.target.cpu).all() and np.isfinite(result.target.memory).all()
    scored = gappy.timestamps >= result.update_times[0]
    assert result.scores.cpu_minutes == np.isfinite(cpu[..., scored]).sum()
    assert result.scores.memory_minutes == np.isfinite(memory[..., scored]).sum()
    clean = replay_trace(trace, strategy_for(RecommenderProfileSpec(strategy=name)), CONFIG)
    assert result.scores.cpu_minutes < clean.scores.cpu_minutes
