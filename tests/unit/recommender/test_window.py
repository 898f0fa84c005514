"""Sliding-window histograms for the percentile strategy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trimtab.recommender import window as window_module
from trimtab.recommender.buckets import MEMORY_LAYOUT, BucketLayout, bucket_end_percentiles
from trimtab.recommender.window import FINE_CPU_LAYOUT, WindowedHistogram

DAY = 86400.0


def window(rows: int = 1) -> WindowedHistogram:
    return WindowedHistogram.empty(rows, FINE_CPU_LAYOUT, 8 * DAY)


def test_fine_layout_overstates_by_at_most_one_percent_plus_a_millicore() -> None:
    # ceil(log(1000 * 0.01 / 0.001 + 1) / log(1.01)) + 1 = ceil(925.6) + 1
    assert FINE_CPU_LAYOUT.num_buckets == 927
    starts = FINE_CPU_LAYOUT.starts
    assert (starts[101] - starts[100]) / (starts[100] - starts[99]) == pytest.approx(1.01)
    values = np.geomspace(0.001, 999.0, 5000)
    ends = FINE_CPU_LAYOUT.ends[FINE_CPU_LAYOUT.bucket_of(values)]
    assert (ends > values).all()
    assert (ends <= values * 1.01 + 0.001 + 1e-12).all()


def test_old_slices_leave_the_window() -> None:
    histogram = window()
    histogram.add_samples([0, 0], [5.0, 0.1], [0.0, 8.5 * DAY])
    # The window (0.5d, 8.5d] still overlaps day 0's slice: up to one extra slice counts.
    assert histogram.window_max()[0] == 5.0
    # (1.5d, 9.5d] does not.
    assert histogram.window_max(now=9.5 * DAY)[0] == 0.1
    assert histogram.percentiles([1.0], now=9.5 * DAY)[0, 0] == pytest.approx(0.1, abs=0.002)
    # A sample on day 9 reuses day 0's slot in the ring of nine slices.
    histogram.add_samples([0], [0.2], [9.1 * DAY])
    assert histogram.window_max(now=8.5 * DAY)[0] == 0.1


def test_samples_older_than_the_ring_are_dropped() -> None:
    histogram = window()
    histogram.add_samples([0], [0.5], [20 * DAY])
    assert histogram.add_samples([0, 0], [0.5, 0.7], [DAY, 19 * DAY]) == 1


def test_percentile_counts_every_sample_once() -> None:
    histogram = window(2)
    values = np.arange(1, 101) * 0.01
    histogram.add_samples(np.zeros(100, dtype=int), values, np.arange(100) * 60.0)
    result = histogram.percentiles([0.5, 0.9])
    assert result[:, 0] == pytest.approx([0.50, 0.90], abs=0.01)
    assert result[:, 1].tolist() == [0.0, 0.0]
    assert histogram.sample_count.tolist() == [100, 0]


@given(
    st.lists(
        st.tuples(
            st.integers(0, 1),
            st.floats(min_value=0, max_value=1e12),
            st.floats(min_value=0, max_value=30 * DAY),
        ),
        max_size=40,
    )
)
def test_checkpoint_round_trip_is_exact(samples: list[tuple[int, float, float]]) -> None:
    histogram = WindowedHistogram.empty(2, MEMORY_LAYOUT, 8 * DAY)
    if samples:
        rows, values, times = (list(c) for c in zip(*samples, strict=True))
        histogram.add_samples(rows, values, times)
    assert WindowedHistogram.from_bytes(histogram.to_bytes()).equals(histogram)


LAYOUT = BucketLayout(first_bucket_size=0.01, ratio=1.5, max_value=100.0)
VALUES = st.one_of(
    st.floats(min_value=0, max_value=1e3),
    st.sampled_from([np.nan, np.inf, -1.0, 0.0, 100.0]),
)
TIMES = st.one_of(
    st.floats(min_value=-DAY, max_value=12 * DAY),
    st.sampled_from([np.nan, np.inf, 4 * DAY, 5 * DAY - 1]),
)


class ReferenceWindow:
    """The window of ``WindowedHistogram``, kept one sample at a time in plain Python."""

    def __init__(self, rows: int, slices: int) -> None:
        self.ring = slices + 1
        self.counts = np.zeros((self.ring, rows, LAYOUT.num_buckets))
        self.slice_ids = [-1] * self.ring
        self.maxima = np.full((self.ring, rows), np.nan)
        self.first = np.full(rows, np.nan)
        self.last = np.full(rows, np.nan)
        self.sample_count = np.zeros(rows, dtype=np.int64)

    def add(self, samples: list[tuple[int, float, float]]) -> int:
        kept = [(r, v, t) for r, v, t in samples if 0 <= v < np.inf and np.isfinite(t)]
        if kept:
            newest = max(int(np.floor(t / DAY)) for _, _, t in kept)
            for slice_id in range(max(newest - self.ring + 1, max(self.slice_ids) + 1), newest + 1):
                self.counts[slice_id % self.ring] = 0
                self.maxima[slice_id % self.ring] = np.nan
                self.slice_ids[slice_id % self.ring] = slice_id
        folded = 0
        for row, value, time in kept:
            slice_id = int(np.floor(time / DAY))
            pos = slice_id % self.ring
            if self.slice_ids[pos] != slice_id:
                continue
            self.counts[pos, row, LAYOUT.bucket_of(np.array([value]))[0]] += 1
            self.maxima[pos, row] = np.fmax(self.maxima[pos, row], value)
            self.first[row] = np.fmin(self.first[row], time)
            self.last[row] = np.fmax(self.last[row], time)
            self.sample_count[row] += 1
            folded += 1
        return folded


@st.composite
def grids(draw: st.DrawFn, rows: int) -> tuple[list[int], list[float], list[list[float]]]:
    containers = draw(st.lists(st.integers(0, rows - 1), min_size=0, max_size=5))
    times = draw(st.lists(TIMES, min_size=0, max_size=6))
    values = [draw(st.lists(VALUES, min_size=len(times), max_size=len(times))) for _ in containers]
    return containers, times, values


@settings(max_examples=200, deadline=None)
@given(st.data(), st.integers(1, 4), st.integers(1, 3), st.sampled_from([1, 3, 8, 1 << 15]))
def test_folding_matches_a_per_sample_reference(
    data: st.DataObject, rows: int, slices: int, block: int
) -> None:
    histogram = WindowedHistogram.empty(rows, LAYOUT, slices * DAY, slices)
    reference = ReferenceWindow(rows, slices)
    saved = window_module._BLOCK
    window_module._BLOCK = block  # small blocks exercise the block boundaries
    try:
        for _ in range(data.draw(st.integers(1, 4))):
            if data.draw(st.booleans()):
                containers, times, values = data.draw(grids(rows))
                folded = histogram.add_grid(
                    containers,
                    times,
                    np.array(values, dtype=float).reshape(len(containers), len(times)),
                )
                samples = [
                    (row, value, time)
                    for row, line in zip(containers, values, strict=True)
                    for value, time in zip(line, times, strict=True)
                ]
            else:
                samples = data.draw(
                    st.lists(st.tuples(st.integers(0, rows - 1), VALUES, TIMES), max_size=12)
                )
                columns = list(zip(*samples, strict=True)) or [[], [], []]
                folded = histogram.add_samples(*columns)
            assert folded == reference.add(samples)
    finally:
        window_module._BLOCK = saved
    assert histogram.counts.tolist() == reference.counts.tolist()
    assert histogram.slice_ids.tolist() == reference.slice_ids
    np.testing.assert_array_equal(histogram.maxima, reference.maxima)
    np.testing.assert_array_equal(histogram.first_sample, reference.first)
    np.testing.assert_array_equal(histogram.last_sample, reference.last)
    assert histogram.sample_count.tolist() == reference.sample_count.tolist()
    now = data.draw(st.one_of(st.none(), st.floats(min_value=-DAY, max_value=14 * DAY)))
    counts = reference.counts[histogram._in_window(now)].sum(axis=0)
    expected = bucket_end_percentiles(counts, counts.sum(axis=1), LAYOUT, [0.5, 0.95, 1.0], 0.5)
    np.testing.assert_array_equal(histogram.percentiles([0.5, 0.95, 1.0], now), expected)
