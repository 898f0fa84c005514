"""Sliding-window histograms for the percentile strategy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from trimtab.recommender.buckets import MEMORY_LAYOUT
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
