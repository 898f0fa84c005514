"""The benchmark's trace suite is fixed: the same traces on every run, seed sets apart."""

from __future__ import annotations

import numpy as np

from benchmarks.quality.traces import (
    GROUPS,
    HELD_OUT_SEEDS,
    QUICK,
    SIZES,
    TUNING_SEEDS,
    TraceSpec,
    build,
    suite,
)


def test_seed_sets_are_apart_and_every_class_builds() -> None:
    assert not set(TUNING_SEEDS) & set(HELD_OUT_SEEDS)
    specs = suite(GROUPS, TUNING_SEEDS[:1], QUICK)
    assert len(specs) == len(GROUPS) * len(QUICK.sizes)
    for spec in specs:
        built = build(spec, QUICK.days)
        size = SIZES[spec.size]
        assert built.trace.cpu.shape == (size.replicas, len(size.containers), 5 * 1440)
        assert np.nanmin(built.trace.cpu) > 0 and np.nanmin(built.trace.memory) > 0
        assert built.trace.group == spec.group


def test_traces_are_reproducible_and_replicas_differ() -> None:
    spec = TraceSpec("jvm_heap", "large", 1)
    first, again = build(spec, 3.0), build(spec, 3.0)
    np.testing.assert_array_equal(first.trace.cpu, again.trace.cpu)
    np.testing.assert_array_equal(first.trace.memory, again.trace.memory)
    other = build(TraceSpec("jvm_heap", "large", 2), 3.0)
    assert not np.array_equal(first.trace.cpu, other.trace.cpu, equal_nan=True)
    levels = np.nanmean(first.trace.cpu[:, 0], axis=-1)
    assert levels.max() / levels.min() > 1.3
    assert np.isnan(first.trace.cpu).any()  # large traces have scrape gaps
