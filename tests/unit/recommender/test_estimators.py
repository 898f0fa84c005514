"""Each step of the estimator chain, with values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from trimtab.recommender.estimators import (
    LOWER_CONFIDENCE,
    MAX_CPU_CORES,
    MAX_MEMORY_BYTES,
    UPPER_CONFIDENCE,
    Caps,
    Finishing,
    Resources,
    capped,
    confidence,
    oom_bump,
    pod_floors,
    rounded_up,
    with_confidence,
    with_floor,
    with_margin,
)

HOUR, DAY = 3600.0, 86400.0
MI = 2.0**20


def res(cpu: list[float], memory: list[float]) -> Resources:
    return Resources(np.array(cpu), np.array(memory))


def test_margin_multiplies_by_one_plus_margin() -> None:
    result = with_margin(res([1.0, 0.2], [100.0, 0.0]), 0.15, 0.5)
    assert result.cpu == pytest.approx([1.15, 0.23])
    assert result.memory == pytest.approx([150.0, 0.0])


def test_confidence_is_the_smaller_of_days_and_sample_days() -> None:
    spans = np.array([12 * HOUR, DAY, 7 * DAY, 7 * DAY])
    counts = np.array([720, 1440, 10080, 1440])
    assert confidence(spans, counts) == pytest.approx([0.5, 1.0, 7.0, 1.0])


def test_upper_bound_multipliers_at_12h_1d_1w() -> None:
    days = np.array([0.5, 1.0, 7.0])
    upper = with_confidence(res([1.0] * 3, [1.0] * 3), days, *UPPER_CONFIDENCE)
    assert upper.cpu == pytest.approx([3.0, 2.0, 8 / 7])  # 8/7 = 1.142857...
    assert upper.memory == pytest.approx([3.0, 2.0, 8 / 7])


def test_lower_bound_multipliers() -> None:
    days = np.array([5 / 1440, 1.0])  # 5 minutes, 1 day
    lower = with_confidence(res([1.0, 1.0], [1.0, 1.0]), days, *LOWER_CONFIDENCE)
    assert lower.cpu == pytest.approx([(1 + 0.288) ** -2, 1.001**-2])
    assert lower.cpu[0] == pytest.approx(0.6028, abs=1e-4)


def test_no_history_saturates_like_vpa() -> None:
    days = np.array([0.0, 0.0])
    upper = with_confidence(res([0.5, 0.0], [1e9, 0.0]), days, *UPPER_CONFIDENCE)
    assert upper.cpu.tolist() == [MAX_CPU_CORES, 0.0]
    assert upper.memory.tolist() == [MAX_MEMORY_BYTES, 0.0]
    lower = with_confidence(res([0.5], [1e9]), days[:1], *LOWER_CONFIDENCE)
    assert lower.cpu.tolist() == [0.0]


def test_pod_floors_are_split_among_containers() -> None:
    floors = pod_floors([1, 2, 4], 0.025, 250 * MI)
    assert floors.cpu == pytest.approx([0.025, 0.0125, 0.00625])
    assert floors.memory == pytest.approx([250 * MI, 125 * MI, 62.5 * MI])
    raised = with_floor(res([0.001, 0.5, 0.0], [0.0, 0.0, 1e12]), floors)
    assert raised.cpu == pytest.approx([0.025, 0.5, 0.00625])
    assert raised.memory == pytest.approx([250 * MI, 125 * MI, 1e12])


def test_oom_bump_adds_the_larger_of_minimum_and_ratio() -> None:
    bumped = oom_bump([1024 * MI, 200 * MI], [500 * MI, 300 * MI], 100 * MI, 0.2)
    # 1Gi request: 1Gi + 20 % (204.8Mi); 300Mi peak: 300Mi + 100Mi (20 % would be 60Mi).
    assert bumped == pytest.approx([1024 * MI + 204.8 * MI, 400 * MI])


def test_rounding_goes_up_to_the_step_without_overshooting_multiples() -> None:
    result = rounded_up(res([0.0125, 0.013, 0.0], [100.5 * MI, 64 * MI, 1.0]), 0.001, MI)
    assert result.cpu == pytest.approx([0.013, 0.013, 0.0])
    assert result.memory == pytest.approx([101 * MI, 64 * MI, MI])


def test_caps_clip_and_nan_means_no_cap() -> None:
    nan = np.nan
    caps = Caps(
        min_cpu=np.array([nan, 0.5, nan]),
        max_cpu=np.array([1.0, nan, nan]),
        min_memory=np.array([nan, nan, 1e9]),
        max_memory=np.array([nan, nan, nan]),
    )
    result = capped(res([2.0, 0.1, 0.3], [5e8, 5e8, 5e8]), caps)
    assert result.cpu.tolist() == [1.0, 0.5, 0.3]
    assert result.memory.tolist() == [5e8, 5e8, 1e9]


def test_finishing_floors_rounds_then_caps_and_keeps_uncapped_target() -> None:
    caps = Caps(np.array([np.nan]), np.array([1.0005]), np.array([np.nan]), np.array([np.nan]))
    finishing = Finishing(pod_floors([2], 0.025, 250 * MI), 0.001, MI, caps)
    target = res([1.2001], [10 * MI])
    rec = finishing.finish(
        target, res([0.001], [0.0]), res([3.0], [20 * MI]), np.array([DAY]), np.array([1440])
    )
    assert rec.uncapped_target.cpu == pytest.approx([1.201])  # rounded up, not capped
    assert rec.target.cpu == pytest.approx([1.0005])  # the cap wins over rounding
    assert rec.lower_bound.cpu == pytest.approx([0.013])  # floor 12.5m, rounded up to 13m
    assert rec.target.memory == pytest.approx([125 * MI])  # floor 250Mi / 2 containers
    assert rec.upper_bound.cpu == pytest.approx([1.0005])
    assert rec.history_span.tolist() == [DAY]
    assert rec.sample_count.tolist() == [1440]
