"""Memory peaks per aggregation interval: one peak per series and interval, replaced when higher."""

from __future__ import annotations

import math
from random import Random

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from trimtab.recommender.buckets import MEMORY_LAYOUT
from trimtab.recommender.histogram import HistogramBatch
from trimtab.recommender.peaks import PeakTracker

DAY = 86400.0
MI = 2.0**20


def setup(rows: int = 1) -> tuple[HistogramBatch, PeakTracker]:
    return HistogramBatch.empty(rows, MEMORY_LAYOUT, DAY), PeakTracker.empty(DAY)


def bucket(value: float) -> int:
    return int(MEMORY_LAYOUT.bucket_of(np.array([value]))[0])


def test_an_interval_contributes_only_its_highest_sample() -> None:
    histogram, peaks = setup()
    peaks.fold(histogram, [0, 0, 0], [300 * MI, 500 * MI, 400 * MI], [0.0, 3600.0, 7200.0])
    # One peak, timestamped at the interval's end (day 1), which is also the reference.
    assert histogram.reference[0] == DAY
    assert np.flatnonzero(histogram.weights[0]).tolist() == [bucket(500 * MI)]
    assert histogram.total_weight[0] == 1.0
    assert (peaks.window_end[0], peaks.peak[0], peaks.usage_peak[0]) == (DAY, 500 * MI, 500 * MI)


def test_a_later_call_replaces_the_open_peak_only_when_higher() -> None:
    histogram, peaks = setup()
    peaks.fold(histogram, [0], [500 * MI], [0.0])
    peaks.fold(histogram, [0], [450 * MI], [60.0])
    assert np.flatnonzero(histogram.weights[0]).tolist() == [bucket(500 * MI)]
    peaks.fold(histogram, [0], [900 * MI], [120.0])
    assert np.flatnonzero(histogram.weights[0]).tolist() == [bucket(900 * MI)]
    assert histogram.total_weight[0] == 1.0


def test_each_interval_adds_a_peak_at_its_end() -> None:
    histogram, peaks = setup()
    # Intervals are anchored at the first sample (t = 1000 s).
    times = [1000.0, 1000.0 + DAY - 1, 1000.0 + DAY, 1000.0 + 3.5 * DAY]
    peaks.fold(histogram, [0] * 4, [100 * MI, 200 * MI, 300 * MI, 400 * MI], times)
    weights = histogram.weights[0]
    reference = histogram.reference[0]  # the first end, 1000 + DAY, rounded to a day
    assert reference == DAY
    expected = {
        bucket(200 * MI): 2.0 ** ((1000.0 + DAY - reference) / DAY),
        bucket(300 * MI): 2.0 ** ((1000.0 + 2 * DAY - reference) / DAY),
        bucket(400 * MI): 2.0 ** ((1000.0 + 4 * DAY - reference) / DAY),
    }
    assert {int(b): float(weights[b]) for b in np.flatnonzero(weights)} == pytest.approx(expected)
    assert peaks.window_end[0] == 1000.0 + 4 * DAY


def test_late_usage_and_closed_intervals_are_dropped_but_oom_is_not() -> None:
    histogram, peaks = setup()
    peaks.fold(histogram, [0, 0], [100 * MI, 50 * MI], [2 * DAY, 2 * DAY + 120])
    assert peaks.fold(histogram, [0], [999 * MI], [2 * DAY + 60]) == 0  # older than the last
    assert peaks.fold(histogram, [0], [999 * MI], [DAY], oom=[True]) == 0  # before the window
    assert peaks.fold(histogram, [0], [300 * MI], [2 * DAY + 60], oom=[True]) == 1
    assert peaks.peak[0] == 300 * MI
    assert peaks.usage_peak[0] == 100 * MI  # OOM samples are not usage


@pytest.mark.parametrize("time", [2.1653914146736808e-10, 0.3, 1000.3, 5 * DAY])
def test_a_later_call_at_the_same_time_still_replaces_the_peak(time: float) -> None:
    # (time + DAY) - DAY can round above time: the window's start must not be rebuilt from
    # its end, or the second sample would look as if it were in a closed interval.
    histogram, peaks = setup()
    assert peaks.fold(histogram, [0], [1.0], [time]) == 1
    assert peaks.fold(histogram, [0], [1e7], [time]) == 1
    assert peaks.peak[0] == 1e7
    assert np.flatnonzero(histogram.weights[0]).tolist() == [bucket(1e7)]
    alone, _ = setup()
    PeakTracker.empty(DAY).fold(alone, [0], [1e7], [time])
    np.testing.assert_allclose(histogram.weights, alone.weights, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("time", [2.1653914146736808e-10, 1000.3])
def test_a_later_grid_at_the_same_time_still_replaces_the_peak(time: float) -> None:
    histogram, peaks = setup()
    assert peaks.fold_grid(histogram, [0], [time], [[1.0]]) == 1
    assert peaks.fold_grid(histogram, [0], [time, time + 60], [[1e7, 5.0]]) == 2
    assert peaks.peak[0] == 1e7
    assert np.flatnonzero(histogram.weights[0]).tolist() == [bucket(1e7)]


def test_several_series_feed_one_row() -> None:
    histogram, peaks = setup()
    peaks.fold(histogram, [0, 0], [100 * MI, 700 * MI], [0.0, 0.0], series=[5, 9])
    assert peaks.series == 10
    assert histogram.total_weight[0] == 2.0
    assert peaks.row[[5, 9]].tolist() == [0, 0]
    with pytest.raises(ValueError, match="same histogram row"):
        peaks.fold(HistogramBatch.empty(2, MEMORY_LAYOUT, DAY), [1], [1.0], [1.0], series=[5])


def test_checkpoint_round_trip_is_exact() -> None:
    histogram, peaks = setup(2)
    peaks.fold(histogram, [0, 1, 1], [1e8, 2e8, 3e8], [0.0, 50.0, DAY + 50])
    assert PeakTracker.from_bytes(peaks.to_bytes()).equals(peaks)


class ReferencePeaks:
    """VPA's per-sample memory peak logic (usage samples only), written plainly."""

    def __init__(self) -> None:
        self.window_end: float | None = None
        self.peak = 0.0
        self.samples: list[tuple[float, float, float]] = []  # (value, weight, time)

    def add(self, value: float, time: float) -> None:
        if self.window_end is None:
            self.window_end = time
        if time < self.window_end:
            if value > self.peak:
                self.samples.append((self.peak, -1.0, self.window_end))
                self.samples.append((value, 1.0, self.window_end))
                self.peak = value
        else:
            shift = math.floor((time - self.window_end) / DAY) * DAY + DAY
            self.window_end += shift
            self.samples.append((value, 1.0, self.window_end))
            self.peak = value


sample_st = st.tuples(
    st.integers(0, 2),
    st.floats(min_value=1.0, max_value=5e11),
    st.floats(min_value=0.0, max_value=20 * DAY),
)


@given(st.lists(sample_st, min_size=1, max_size=50), st.integers(0, 50))
@example([(1, 1.0, 2.1653914146736808e-10), (1, 1e7, 2.1653914146736808e-10)], 1)
def test_batched_peaks_equal_the_per_sample_reference(
    samples: list[tuple[int, float, float]], split: int
) -> None:
    ordered = sorted(samples, key=lambda s: s[2])
    histogram, peaks = setup(3)
    for part in (ordered[:split], ordered[split:]):  # an interval may span both calls
        if part:
            rows, values, times = (list(c) for c in zip(*part, strict=True))
            peaks.fold(histogram, rows, values, times)
    for row in range(3):
        reference = ReferencePeaks()
        for index, value, time in ordered:
            if index == row:
                reference.add(value, time)
        expected = np.zeros(MEMORY_LAYOUT.num_buckets)
        for value, sign, time in reference.samples:
            decay = 2.0 ** ((time - histogram.reference[row]) / DAY)
            expected[bucket(value)] += sign * decay
        np.testing.assert_allclose(histogram.weights[row], expected, rtol=1e-9, atol=1e-9)


@given(
    st.integers(1, 4),
    st.lists(st.integers(0, 1440), min_size=1, max_size=40, unique=True),
    st.integers(0, 40),
    st.randoms(use_true_random=False),
)
def test_grid_fold_equals_sample_fold(
    rows: int, minutes: list[int], split: int, random: Random
) -> None:
    times = np.array(sorted(minutes)) * 600.0  # up to 10 days
    values = np.array(
        [
            [random.choice([np.nan, -1.0, random.uniform(1e7, 1e10)]) for _ in times]
            for _ in range(rows)
        ]
    )
    order = np.array(random.sample(range(rows), rows))
    grid, flat = setup(rows), setup(rows)
    for columns in (slice(0, split), slice(split, None)):
        part = times[columns]
        if part.size:
            a = grid[1].fold_grid(grid[0], order, part, values[:, columns])
            b = flat[1].fold(
                flat[0],
                np.repeat(order, part.size),
                values[:, columns].ravel(),
                np.tile(part, rows),
            )
            assert a == b
    np.testing.assert_allclose(grid[0].weights, flat[0].weights, rtol=1e-12, atol=1e-12)
    assert grid[1].equals(flat[1])


@pytest.mark.parametrize("split", [0, 3, 5, 7])
def test_a_fully_seen_grid_equals_sample_fold(split: int) -> None:
    # Every value usable, several rows, and intervals that end on the matrix's last column.
    rng = np.random.default_rng(split)
    times = np.arange(8) * DAY / 2
    values = rng.uniform(1e7, 1e10, (3, times.size))
    order = np.array([2, 0, 1])
    grid, flat = setup(3), setup(3)
    for columns in (slice(0, split), slice(split, None)):
        part = times[columns]
        if part.size:
            a = grid[1].fold_grid(grid[0], order, part, values[:, columns])
            b = flat[1].fold(
                flat[0], np.repeat(order, part.size), values[:, columns].ravel(), np.tile(part, 3)
            )
            assert a == b
    np.testing.assert_allclose(grid[0].weights, flat[0].weights, rtol=1e-12, atol=1e-12)
    assert grid[1].equals(flat[1])


def test_a_grid_row_never_takes_a_peak_from_the_next_row() -> None:
    """Row 1 skips its first column (older than its newest sample); row 0's last range must
    still end at its own row, not run into row 1's skipped 9e11."""
    day = 86_400.0
    grid_hist = HistogramBatch.empty(2, MEMORY_LAYOUT, day)
    grid = PeakTracker.empty(day)
    grid.fold_grid(grid_hist, [0, 1], [0.0, 60.0, 120.0], [[1e8, np.nan, np.nan], [1e8] * 3])
    grid.fold_grid(grid_hist, [0, 1], [60.0, 120.0, day], [[1e8] * 3, [9e11, 1e8, 1e8]])
    samples_hist = HistogramBatch.empty(2, MEMORY_LAYOUT, day)
    samples = PeakTracker.empty(day)
    samples.fold(samples_hist, [0, 1, 1, 1], [1e8] * 4, [0.0, 0.0, 60.0, 120.0])
    samples.fold(
        samples_hist,
        [0, 0, 0, 1, 1, 1],
        [1e8, 1e8, 1e8, 9e11, 1e8, 1e8],
        [60.0, 120.0, day, 60.0, 120.0, day],
    )
    np.testing.assert_array_equal(grid.peak, samples.peak)
    assert grid_hist.equals(samples_hist)
