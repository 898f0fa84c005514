"""Decaying histograms: VPA's bucket layout, bucket-end percentiles, decay, merge, checkpoints."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trimtab.recommender.buckets import CPU_LAYOUT, MEMORY_LAYOUT, BucketLayout
from trimtab.recommender.codec import CheckpointError
from trimtab.recommender.histogram import EPSILON, HistogramBatch, round_to_half_life

HL = 86400.0


def empty(rows: int = 1, layout: BucketLayout = CPU_LAYOUT) -> HistogramBatch:
    return HistogramBatch.empty(rows, layout, HL)


def single(values: list[float], times: list[float] | None = None) -> HistogramBatch:
    batch = empty()
    stamps = [0.0] * len(values) if times is None else times
    batch.add_samples(np.zeros(len(values), dtype=int), values, None, stamps)
    return batch


# --- layout ---------------------------------------------------------------------------------


def test_both_default_layouts_have_176_buckets() -> None:
    # ceil(log(1000 * 0.05 / 0.01 + 1) / log(1.05)) = ceil(174.57) = 175, plus the open bucket.
    assert math.log(5001) / math.log(1.05) == pytest.approx(174.57, abs=0.01)
    assert CPU_LAYOUT.num_buckets == 176
    assert MEMORY_LAYOUT.num_buckets == 176


def test_bucket_starts_grow_five_percent_per_bucket() -> None:
    assert CPU_LAYOUT.starts[:4] == pytest.approx([0.0, 0.01, 0.0205, 0.031525])
    assert MEMORY_LAYOUT.starts[:3] == pytest.approx([0.0, 1e7, 2.05e7])
    # The last start is the first at or past the maximum; the one before is below it.
    assert CPU_LAYOUT.starts[174] == pytest.approx(972.48, abs=0.01)
    assert CPU_LAYOUT.starts[175] == pytest.approx(1021.11, abs=0.01)
    assert MEMORY_LAYOUT.starts[175] == pytest.approx(1.02111e12, rel=1e-5)


def test_values_fall_in_their_buckets() -> None:
    values = np.array([0.0, 0.005, 0.015, 0.025, 0.5, 999.0, 5000.0])
    assert CPU_LAYOUT.bucket_of(values).tolist() == [0, 0, 1, 2, 25, 174, 175]
    assert MEMORY_LAYOUT.bucket_of(np.array([5e6, 1.5e7, 2.5e7])).tolist() == [0, 1, 2]


# --- percentiles ----------------------------------------------------------------------------


def test_percentile_is_the_end_of_the_bucket() -> None:
    # 0.015 lies in bucket 1 = [0.01, 0.0205): every percentile reports 0.0205.
    assert single([0.015]).percentiles([0.1, 0.5, 1.0])[:, 0] == pytest.approx([0.0205] * 3)


def test_percentile_walks_buckets_until_the_threshold() -> None:
    batch = single([0.015, 0.5])  # weights 1 and 1, total 2
    end_of_half = 0.01 * (1.05**26 - 1) / 0.05  # 0.5 is in bucket 25 = [0.4868, 0.5111)
    low, mid, high = batch.percentiles([0.5, 0.51, 1.0])[:, 0]
    assert low == pytest.approx(0.0205)  # cumulative 1 >= 0.5 * 2
    assert mid == pytest.approx(end_of_half)
    assert high == pytest.approx(end_of_half)


def test_the_open_last_bucket_reports_its_start() -> None:
    assert single([5000.0]).percentiles([0.9])[0, 0] == pytest.approx(CPU_LAYOUT.starts[175])


def test_empty_and_below_epsilon_histograms_report_zero() -> None:
    batch = empty(2)
    batch.add_samples([1], [0.5], [EPSILON / 2], [0.0])
    assert batch.percentiles([0.5, 1.0]).tolist() == [[0.0, 0.0], [0.0, 0.0]]
    assert batch.is_empty().tolist() == [True, True]


def test_light_buckets_below_the_first_heavy_one_are_skipped() -> None:
    batch = empty()
    batch.add_samples([0, 0], [0.015, 0.5], [EPSILON / 2, 1.0], [0.0, 0.0])
    # A threshold of 1e-5 would be met by the light bucket; VPA starts at the heavy one.
    assert batch.percentiles([1e-5])[0, 0] == pytest.approx(0.01 * (1.05**26 - 1) / 0.05)


# --- decay ----------------------------------------------------------------------------------


def test_a_sample_one_half_life_newer_weighs_twice_as_much() -> None:
    batch = single([0.015, 0.5], [0.0, HL])
    assert batch.reference[0] == 0.0
    assert batch.weights[0, 1] == 1.0
    assert batch.weights[0, 25] == 2.0
    assert batch.total_weight[0] == 3.0
    # Threshold 0.34 * 3 = 1.02 is just past the older sample's weight.
    assert batch.percentiles([0.33, 0.34])[:, 0] == pytest.approx([0.0205, 0.51113], abs=1e-5)


def test_reference_is_the_first_sample_rounded_to_a_half_life() -> None:
    times = np.array([0.49, 0.5, 1.7]) * HL
    assert round_to_half_life(times, HL).tolist() == [0.0, HL, 2 * HL]
    assert single([0.1], [0.6 * HL]).reference[0] == HL


def test_far_future_samples_renormalise_exactly() -> None:
    batch = single([0.015])
    batch.add_samples([0], [0.5], None, [101 * HL])
    assert batch.reference[0] == 101 * HL
    assert batch.weights[0, 25] == 1.0
    assert batch.weights[0, 1] == 2.0**-101  # scaled by an exact power of two
    assert batch.total_weight[0] == 1.0 + 2.0**-101


def test_invalid_samples_are_dropped_and_counted() -> None:
    batch = empty()
    values = [0.1, float("nan"), -1.0, float("inf"), 0.2]
    times = [0.0, 0.0, 0.0, 0.0, float("nan")]
    assert batch.add_samples([0] * 5, values, None, times) == 1
    assert batch.sample_count[0] == 1


def test_subtracting_what_was_added_leaves_nothing() -> None:
    batch = single([0.3], [HL / 3])
    batch.subtract_samples([0], [0.3], None, [HL / 3])
    assert not batch.weights.any()
    assert batch.total_weight[0] == 0.0


def test_statistics_track_first_last_and_count() -> None:
    batch = empty(2)
    batch.add_samples([1, 1, 1], [0.1, 0.2, 0.3], None, [300.0, 100.0, 200.0])
    assert np.isnan(batch.first_sample[0])
    assert (batch.first_sample[1], batch.last_sample[1]) == (100.0, 300.0)
    assert batch.history_span().tolist() == [0.0, 200.0]
    assert batch.sample_count.tolist() == [0, 3]


def test_grid_fold_equals_sample_fold() -> None:
    rng = np.random.default_rng(7)
    values = rng.gamma(2.0, 0.3, (4, 500))
    values[rng.random(values.shape) < 0.2] = np.nan
    times = 1.7e9 + 60.0 * np.arange(500)
    rows = np.array([3, 0, 3, 1])  # a row may appear twice
    grid, flat = empty(5), empty(5)
    assert grid.add_grid(rows, times, values) == np.isfinite(values).sum()
    flat.add_samples(np.repeat(rows, 500), values.ravel(), None, np.tile(times, 4))
    np.testing.assert_allclose(grid.weights, flat.weights, rtol=1e-12)
    np.testing.assert_allclose(grid.total_weight, flat.total_weight, rtol=1e-12)
    for name in ("reference", "first_sample", "last_sample", "sample_count"):
        np.testing.assert_array_equal(getattr(grid, name), getattr(flat, name))


def test_a_grid_with_every_sample_usable_equals_sample_fold() -> None:
    values = np.random.default_rng(8).gamma(2.0, 0.3, (70, 1000))  # several blocks of rows
    times = 1.7e9 + 60.0 * np.arange(1000)
    rows = np.arange(70)
    grid, flat = empty(70), empty(70)
    assert grid.add_grid(rows, times, values) == values.size
    flat.add_samples(np.repeat(rows, 1000), values.ravel(), None, np.tile(times, 70))
    np.testing.assert_allclose(grid.weights, flat.weights, rtol=1e-12)
    for name in ("reference", "first_sample", "last_sample", "sample_count"):
        np.testing.assert_array_equal(getattr(grid, name), getattr(flat, name))


def test_grid_longer_than_the_renormalisation_span_still_matches() -> None:
    times = np.arange(0.0, 250 * HL, HL / 2)
    values = np.full((1, times.size), 0.3)
    grid, flat = empty(), empty()
    grid.add_grid([0], times, values)
    flat.add_samples(np.zeros(times.size, dtype=int), values[0], None, times)
    # The references may differ by whole half-lives; the weights relative to time 0 may not.
    np.testing.assert_allclose(absolute(grid), absolute(flat), rtol=1e-12)
    assert grid.percentiles([0.5]).tolist() == flat.percentiles([0.5]).tolist()


def test_grid_rejects_unsorted_times() -> None:
    with pytest.raises(ValueError, match="increasing"):
        empty().add_grid([0], [2.0, 1.0], [[0.1, 0.2]])


# --- merge, take, checkpoints ---------------------------------------------------------------


def test_merge_aligns_the_older_reference_to_the_younger() -> None:
    older, younger = single([0.015], [0.0]), single([0.5], [3 * HL])
    merged = older.merged(younger)
    assert merged.reference[0] == 3 * HL
    assert merged.weights[0, 1] == 2.0**-3
    assert merged.weights[0, 25] == 1.0
    assert (merged.first_sample[0], merged.last_sample[0], merged.sample_count[0]) == (
        0.0,
        3 * HL,
        2,
    )


def test_take_and_concatenate_keep_rows() -> None:
    batch = empty(3)
    batch.add_samples([0, 1, 2], [0.1, 0.2, 0.3], None, [0.0, 0.0, 0.0])
    parts = [batch.take([2]), batch.take([0, 1])]
    again = HistogramBatch.concatenate(parts)
    assert again.take([1, 2, 0]).equals(batch)


def test_checkpoint_round_trip_is_exact_and_small() -> None:
    batch = empty(2)
    batch.add_samples([0, 0, 1], [0.1, 0.7, 3.0], [1.0, 0.3, 2.5], [10.0, 5000.0, 77.7])
    data = batch.to_bytes()
    assert HistogramBatch.from_bytes(data).equals(batch)
    assert len(data) < 700  # three non-zero buckets, not 2 x 176 dense weights


def test_corrupt_checkpoints_are_refused() -> None:
    data = bytearray(single([0.1]).to_bytes())
    data[20] ^= 0xFF
    with pytest.raises(CheckpointError, match="corrupt"):
        HistogramBatch.from_bytes(bytes(data))
    with pytest.raises(CheckpointError):
        HistogramBatch.from_bytes(b"TTRC")


# --- properties -----------------------------------------------------------------------------

values_st = st.floats(min_value=0.0, max_value=2000.0, allow_nan=False)
times_st = st.floats(min_value=0.0, max_value=40 * HL, allow_nan=False)
weights_st = st.floats(min_value=0.0, max_value=10.0, allow_nan=False)
sample_st = st.tuples(st.integers(0, 2), values_st, weights_st, times_st)
samples_st = st.lists(sample_st, min_size=1, max_size=60)


def fold(samples: list[tuple[int, float, float, float]], rows: int = 3) -> HistogramBatch:
    batch = empty(rows)
    if samples:
        index, values, weights, times = (list(column) for column in zip(*samples, strict=True))
        batch.add_samples(index, values, weights, times)
    return batch


class ReferenceHistogram:
    """VPA's decaying histogram, one sample at a time, written plainly for comparison."""

    def __init__(self, layout: BucketLayout) -> None:
        self.layout = layout
        self.weights = [0.0] * layout.num_buckets
        self.total = 0.0
        self.reference: float | None = None

    def add(self, value: float, weight: float, time: float) -> None:
        if self.reference is None or time > self.reference + 100 * HL:
            moved = math.floor(time / HL + 0.5) * HL
            if self.reference is not None:
                factor = 2.0 ** round((self.reference - moved) / HL)
                self.weights = [w * factor for w in self.weights]
                self.total *= factor
            self.reference = moved
        decayed = weight * 2.0 ** ((time - self.reference) / HL)
        bucket = int(self.layout.bucket_of(np.array([value]))[0])
        self.weights[bucket] += decayed
        self.total += decayed


def reference_percentile(weights: list[float], total: float, p: float) -> float:
    """VPA's loop: from the first to the last heavy bucket, stop when the sum reaches p."""
    heavy = [i for i, w in enumerate(weights) if w >= EPSILON]
    if not heavy:
        return 0.0
    partial, bucket = 0.0, heavy[0]
    while bucket < heavy[-1]:
        partial += weights[bucket]
        if partial >= p * total:
            break
        bucket += 1
    return float(CPU_LAYOUT.ends[bucket])


@given(samples_st)
def test_vectorised_fold_equals_the_per_sample_reference(
    samples: list[tuple[int, float, float, float]],
) -> None:
    ordered = sorted(samples, key=lambda s: s[3])
    batch = fold(ordered)
    for row in range(3):
        reference = ReferenceHistogram(CPU_LAYOUT)
        for index, value, weight, time in ordered:
            if index == row:
                reference.add(value, weight, time)
        np.testing.assert_allclose(batch.weights[row], reference.weights, rtol=1e-9, atol=1e-300)
        assert batch.total_weight[row] == pytest.approx(reference.total, rel=1e-9, abs=1e-300)


@given(samples_st, st.lists(st.floats(min_value=0.001, max_value=1.0), min_size=1, max_size=5))
def test_vectorised_percentiles_equal_the_reference_loop(
    samples: list[tuple[int, float, float, float]], ps: list[float]
) -> None:
    batch = fold(samples)
    got = batch.percentiles(ps)
    for row in range(3):
        for i, p in enumerate(ps):
            expected = reference_percentile(list(batch.weights[row]), batch.total_weight[row], p)
            assert got[i, row] == expected


@given(samples_st, st.lists(st.floats(min_value=0.001, max_value=1.0), min_size=2, max_size=8))
def test_percentiles_are_monotone_in_p(
    samples: list[tuple[int, float, float, float]], ps: list[float]
) -> None:
    result = fold(samples).percentiles(sorted(ps))
    assert (np.diff(result, axis=0) >= 0).all()


@given(samples_st, values_st, st.floats(min_value=0.1, max_value=10.0))
def test_adding_a_sample_above_the_target_never_lowers_it(
    samples: list[tuple[int, float, float, float]], extra: float, weight: float
) -> None:
    batch = fold(samples)
    target = batch.percentiles([0.9])[0, 0]
    value = target + extra + 1e-6
    batch.add_samples([0], [value], [weight], [float(np.nanmax(batch.last_sample))])
    assert batch.percentiles([0.9])[0, 0] >= target


@given(times_st, st.floats(min_value=60.0, max_value=7 * HL))
def test_decay_halves_weight_per_half_life(time: float, half_life: float) -> None:
    batch = HistogramBatch.empty(1, CPU_LAYOUT, half_life)
    batch.add_samples([0, 0], [0.015, 0.5], None, [time, time + half_life])
    assert batch.weights[0, 25] / batch.weights[0, 1] == pytest.approx(2.0, rel=1e-12)


def absolute(batch: HistogramBatch) -> np.ndarray:
    """Weights relative to time 0, so batches with different references compare."""
    scale = np.exp2(np.nan_to_num(batch.reference, nan=0.0) / HL)
    return batch.weights * scale[:, None]


@given(samples_st, samples_st)
@settings(max_examples=60)
def test_merge_equals_folding_both_sample_sets_together(
    a: list[tuple[int, float, float, float]], b: list[tuple[int, float, float, float]]
) -> None:
    merged = fold(a).merged(fold(b))
    together = fold(a + b)
    np.testing.assert_allclose(absolute(merged), absolute(together), rtol=1e-9, atol=1e-300)
    np.testing.assert_array_equal(merged.sample_count, together.sample_count)
    np.testing.assert_array_equal(merged.first_sample, together.first_sample)
    np.testing.assert_array_equal(merged.last_sample, together.last_sample)


@given(samples_st)
def test_checkpoint_round_trip_is_exact(samples: list[tuple[int, float, float, float]]) -> None:
    batch = fold(samples)
    assert HistogramBatch.from_bytes(batch.to_bytes()).equals(batch)
