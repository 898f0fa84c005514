"""Strategies end to end: the vpa and percentile chains on hand-checked histories."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trimtab.api.profile import RecommenderProfileSpec
from trimtab.recommender.buckets import CPU_LAYOUT, MEMORY_LAYOUT, BucketLayout
from trimtab.recommender.estimators import Caps
from trimtab.recommender.states import PercentileState, VpaState, request_weights
from trimtab.recommender.strategies import (
    ContainerContext,
    PercentileStrategy,
    VpaStrategy,
    recommend_once,
    strategy_for,
)
from trimtab.recommender.window import FINE_CPU_LAYOUT

DAY = 86400.0
MI = 2.0**20
MINUTES = np.arange(1440) * 60.0  # one day of one-minute samples


def end_of(value: float, layout: BucketLayout = CPU_LAYOUT) -> float:
    """Where the bucket holding ``value`` ends: what a percentile landing there reports."""
    return float(layout.ends[layout.bucket_of(np.array([value]))[0]])


def up(value: float, step: float) -> float:
    return math.ceil(value / step - 1e-6) * step


def test_default_profile_gives_the_vpa_strategy() -> None:
    strategy = strategy_for(RecommenderProfileSpec())
    assert isinstance(strategy, VpaStrategy)
    assert strategy.name == "vpa"
    assert strategy.cpu.as_tuple() == (0.5, 0.9, 0.95)
    assert (strategy.cpu_half_life, strategy.memory_interval) == (DAY, DAY)
    shared = strategy.shared
    assert (shared.pod_cpu, shared.pod_memory) == (0.025, 250 * MI)
    assert (shared.cpu_step, shared.memory_step) == (0.001, MI)
    assert (shared.oom_minimum, shared.oom_ratio, shared.window) == (100 * MI, 0.2, 8 * DAY)


def test_profile_overrides_reach_the_strategy() -> None:
    profile = RecommenderProfileSpec.model_validate(
        {
            "strategy": "percentile",
            "cpu": {"targetPercentile": 0.95, "upperPercentile": 0.99, "margin": 0},
            "historyWindow": "14d",
            "podMinimum": {"cpu": "10m", "memory": "100M"},
            "rounding": {"cpu": "5m", "memory": "4Mi"},
        }
    )
    strategy = strategy_for(profile)
    assert isinstance(strategy, PercentileStrategy)
    assert strategy.cpu.as_tuple() == (0.5, 0.95, 0.99)
    assert strategy.cpu.margin == 0.0
    assert strategy.shared.window == 14 * DAY
    assert (strategy.shared.pod_cpu, strategy.shared.pod_memory) == (0.01, 1e8)
    assert (strategy.shared.cpu_step, strategy.shared.memory_step) == (0.005, 4 * MI)


def test_vpa_one_day_of_steady_usage() -> None:
    strategy = strategy_for(RecommenderProfileSpec())
    state = strategy.new_state(1)
    state.add_cpu_grid([0], MINUTES, np.full((1, 1440), 0.5))
    state.add_memory(np.zeros(1440, dtype=int), np.full(1440, 300 * MI), MINUTES)
    rec = strategy.recommend(state)
    cpu = end_of(0.5) * 1.15  # bucket 25 ends at 0.51113; p50, p90 and p95 all land there
    memory = end_of(300 * MI, MEMORY_LAYOUT) * 1.15
    c = min(1439 / 1440, 1440 / 1440)  # the span is one minute short of a day
    assert rec.target.cpu[0] == pytest.approx(up(cpu, 0.001))
    assert rec.upper_bound.cpu[0] == pytest.approx(up(cpu * (1 + 1 / c), 0.001))
    assert rec.lower_bound.cpu[0] == pytest.approx(up(cpu * (1 + 0.001 / c) ** -2, 0.001))
    assert rec.target.memory[0] == pytest.approx(up(memory, MI))
    assert rec.upper_bound.memory[0] == pytest.approx(up(memory * (1 + 1 / c), MI))
    assert rec.uncapped_target.cpu[0] == rec.target.cpu[0]
    assert rec.history_span[0] == 1439 * 60.0
    assert rec.sample_count[0] == 1440


def test_vpa_floors_caps_and_context() -> None:
    strategy = strategy_for(RecommenderProfileSpec())
    state = strategy.new_state(2)
    state.add_cpu([0, 1], [0.001, 4.0], [0.0, 0.0])
    state.add_memory([0, 1], [1 * MI, 4e9], [0.0, 0.0])
    caps = Caps(
        np.array([np.nan, np.nan]), np.array([np.nan, 2.0]), np.full(2, np.nan), np.full(2, np.nan)
    )
    rec = strategy.recommend(state, ContainerContext(np.array([2, 2]), caps))
    assert rec.target.cpu[0] == pytest.approx(0.013)  # floor 25m / 2 = 12.5m, rounded up
    assert rec.target.memory[0] == pytest.approx(125 * MI)  # floor 250Mi / 2
    assert rec.target.cpu[1] == 2.0
    assert rec.uncapped_target.cpu[1] == pytest.approx(up(end_of(4.0) * 1.15, 0.001))


def test_vpa_oom_bump_raises_the_memory_peak() -> None:
    strategy = strategy_for(RecommenderProfileSpec())
    state = strategy.new_state(1)
    state.add_cpu_grid([0], MINUTES, np.full((1, 1440), 0.2))
    state.add_memory([0], [300 * MI], [0.0])
    state.add_oom([0], [3600.0], [256 * MI])
    # max(256Mi request, 300Mi peak) + max(100Mi, 20 %) = 400Mi replaces the 300Mi peak.
    assert isinstance(state, VpaState)
    assert state.peaks.peak[0] == 400 * MI
    rec = strategy.recommend(state)
    assert rec.target.memory[0] == pytest.approx(up(end_of(400 * MI, MEMORY_LAYOUT) * 1.15, MI))


def test_request_weights_follow_vpa() -> None:
    assert request_weights([0.0, 0.05, 2.0]).tolist() == [0.1, 0.1, 2.0]


def krr_profile() -> RecommenderProfileSpec:
    return RecommenderProfileSpec.model_validate(
        {"strategy": "percentile", "cpu": {"targetPercentile": 0.95, "margin": 0}}
    )


def test_percentile_strategy_is_the_window_percentile_and_max() -> None:
    strategy = strategy_for(krr_profile())
    state = strategy.new_state(1)
    values = np.arange(1, 101) * 0.01  # 10m .. 1000m, one sample each
    times = 9 * DAY + np.arange(100) * 60.0
    state.add_cpu(np.zeros(100, dtype=int), values, times)
    state.add_memory([0, 0, 0], [900 * MI, 200 * MI, 700 * MI], [0.0, 9 * DAY, 9 * DAY + 60])
    rec = strategy.recommend(state, now=9.5 * DAY)
    # The 95th of 100 sorted samples is 0.95; the 1 % bucket holding it ends just above.
    assert rec.target.cpu[0] == pytest.approx(up(end_of(0.95, FINE_CPU_LAYOUT), 0.001))
    assert end_of(0.95, FINE_CPU_LAYOUT) <= 0.95 * 1.01 + 0.001
    # The 900Mi sample of day 0 has left the 8-day window ending at day 9.5.
    assert rec.target.memory[0] == pytest.approx(700 * MI * 1.15)
    assert rec.upper_bound.memory[0] == rec.target.memory[0]


def test_percentile_oom_bumps_from_the_window_max() -> None:
    strategy = strategy_for(krr_profile())
    state = strategy.new_state(1)
    state.add_memory([0], [300 * MI], [0.0])
    state.add_oom([0], [60.0], [100 * MI])
    rec = strategy.recommend(state)
    assert rec.target.memory[0] == pytest.approx(400 * MI * 1.15)


def test_states_round_trip_through_the_strategy() -> None:
    for profile in (RecommenderProfileSpec(), krr_profile()):
        strategy = strategy_for(profile)
        state = strategy.new_state(2)
        state.add_cpu([0, 1, 1], [0.1, 0.2, 0.3], [0.0, 60.0, 120.0])
        state.add_memory([1], [5e8], [60.0])
        restored = strategy.restore_state(state.to_bytes())
        assert isinstance(restored, VpaState | PercentileState)
        assert isinstance(state, VpaState | PercentileState)
        assert type(restored) is type(state)
        assert restored.equals(state)  # type: ignore[arg-type]
        np.testing.assert_array_equal(
            strategy.recommend(restored).target.cpu, strategy.recommend(state).target.cpu
        )


def test_a_strategy_refuses_the_other_strategys_state() -> None:
    vpa, percentile = strategy_for(RecommenderProfileSpec()), strategy_for(krr_profile())
    with pytest.raises(TypeError):
        vpa.recommend(percentile.new_state(1))
    with pytest.raises(TypeError):
        percentile.recommend(vpa.new_state(1))
    assert isinstance(percentile.new_state(1), PercentileState)


def test_context_must_cover_every_container() -> None:
    strategy = strategy_for(RecommenderProfileSpec())
    with pytest.raises(ValueError, match="every container"):
        strategy.recommend(strategy.new_state(2), ContainerContext.single(3))


def test_recommend_once_folds_and_recommends() -> None:
    rec = recommend_once(
        RecommenderProfileSpec(), ([0], [0.5], [0.0]), ([0], [300 * MI], [0.0]), containers=1
    )
    assert rec.target.cpu[0] == pytest.approx(up(end_of(0.5) * 1.15, 0.001))
