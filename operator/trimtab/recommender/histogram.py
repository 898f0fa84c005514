"""Decaying histograms for many containers at once, as the VPA recommender keeps them.

A sample taken at time ``t`` enters its bucket with weight

    weight * 2 ** ((t - reference) / half_life)

so a sample one half-life newer counts twice as much: recent usage dominates and old usage
fades without ever being dropped explicitly. Weights grow with time, so before any exponent
passes ``MAX_DECAY_EXPONENT`` half-lives the row is renormalised: its reference moves forward
to the sample time rounded to a whole half-life and its weights are scaled by the matching
power of two, which is exact in floating point and leaves every percentile unchanged. A new
row takes its first sample's time, rounded the same way, as its reference (VPA starts from the
zero time and renormalises on the first sample, which comes to the same thing). Rounding is
to the nearest multiple of the half-life since the Unix epoch, halves up; VPA rounds since Go's
zero time, which is the same for half-lives that divide a day.

The batch keeps one row per container: the weights (rows x buckets), and per row the total
weight, the reference time, the first and last sample times and the sample count (the last
three feed the confidence of the recommendation). Folding is vectorised: bucket indices and
decayed weights are computed for cache-sized blocks of samples and summed per (row, bucket)
with ``np.bincount`` on flattened indices; no Python loop runs per sample or per container.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from trimtab.recommender import codec
from trimtab.recommender.arrays import (
    BoolArray,
    FloatArray,
    IntArray,
    as_floats,
    as_indices,
    same_length,
    usable,
)
from trimtab.recommender.buckets import BucketLayout, bucket_end_percentiles
from trimtab.recommender.grid import fold_grid
from trimtab.recommender.grouping import group_max, group_min, run_starts

EPSILON = 1e-4
"""Lightest bucket that counts as non-empty: VPA's 0.001 x its minimum sample weight of 0.1."""
MIN_SAMPLE_WEIGHT = 0.1
"""VPA weighs a CPU sample by the container's CPU request in cores, but never below this."""
MAX_DECAY_EXPONENT = 100
"""Half-lives a sample may be ahead of the reference before the row is renormalised."""
_BLOCK = 1 << 15
"""Samples per block: small enough that temporaries stay in the CPU cache."""
_KIND = "decaying-histogram"


def round_to_half_life(times: FloatArray, half_life: float) -> FloatArray:
    """``times`` rounded to the nearest multiple of ``half_life``, halves up (as Go's Round)."""
    rounded: FloatArray = np.floor(times / half_life + 0.5) * half_life
    return rounded


@dataclass(eq=False)
class HistogramBatch:
    """Decaying histograms of many containers sharing one bucket layout and half-life.

    Folding methods change the batch in place: it is owned by one caller and copying the
    weights (14 MB for 10,000 containers) per fold would cost more than the fold.
    """

    layout: BucketLayout
    half_life: float
    weights: FloatArray
    total_weight: FloatArray
    reference: FloatArray
    first_sample: FloatArray
    last_sample: FloatArray
    sample_count: IntArray
    epsilon: float = EPSILON

    def __post_init__(self) -> None:
        # Folding writes through a flat view of the weights, which needs contiguous memory.
        self.weights = np.ascontiguousarray(self.weights, dtype=np.float64)

    @classmethod
    def empty(
        cls, rows: int, layout: BucketLayout, half_life: float, epsilon: float = EPSILON
    ) -> HistogramBatch:
        """``rows`` empty histograms; times are NaN until a row sees its first sample."""
        if not half_life > 0 or math.isinf(half_life):
            raise ValueError("half_life must be a positive number of seconds")
        nan = np.full(rows, np.nan)
        return cls(
            layout=layout,
            half_life=float(half_life),
            weights=np.zeros((rows, layout.num_buckets)),
            total_weight=np.zeros(rows),
            reference=nan.copy(),
            first_sample=nan.copy(),
            last_sample=nan,
            sample_count=np.zeros(rows, dtype=np.int64),
            epsilon=epsilon,
        )

    @property
    def rows(self) -> int:
        """How many containers the batch holds."""
        return int(self.weights.shape[0])

    def add_samples(
        self,
        containers: npt.ArrayLike,
        values: npt.ArrayLike,
        weights: npt.ArrayLike | None,
        timestamps: npt.ArrayLike,
    ) -> int:
        """Fold samples given as parallel arrays; returns how many were usable and folded.

        Each sample adds ``weight * 2 ** ((t - reference[row]) / half_life)`` to
        ``weights[row, bucket(value)]`` and to ``total_weight[row]``. ``weights`` None means 1.
        Samples with NaN, infinite or negative values, non-finite times, or negative or
        non-finite weights are dropped (the caller counts them as ``len - returned``).
        Samples sorted by container fold fastest; any order gives the same result.
        """
        rows = as_indices(containers, self.rows, "containers")
        vals = as_floats(values, "values")
        times = as_floats(timestamps, "timestamps")
        sample_weights = None if weights is None else as_floats(weights, "weights")
        same_length("add_samples", rows, vals, times)
        if sample_weights is not None:
            same_length("add_samples", vals, sample_weights)
        keep = usable(vals, times)
        if sample_weights is not None:
            keep &= (sample_weights >= 0) & (sample_weights < np.inf)
        # Bad samples stay in place with zero weight: cheaper than compacting every array.
        bad = None if keep.all() else ~keep
        stamps = times if bad is None else np.where(keep, times, np.nan)
        starts = run_starts(rows)
        first = group_min(rows, stamps, self.rows, starts)
        last = group_max(rows, stamps, self.rows, starts)
        counts = np.bincount(rows[keep] if bad is not None else rows, minlength=self.rows)
        self.settle_rows(np.flatnonzero(counts), first, last, counts)
        self._fold_blocks(rows, vals, times, sample_weights, bad)
        return int(counts.sum())

    def _fold_blocks(
        self,
        rows: IntArray,
        vals: FloatArray,
        times: FloatArray,
        weights: FloatArray | None,
        bad: BoolArray | None,
    ) -> None:
        """Add decayed weights a block of samples at a time, so temporaries stay in cache.

        A block whose rows span a narrow range (samples sorted by container, as Prometheus
        returns them) is summed with ``bincount`` over just that range; a scattered block
        falls back to ``np.add.at``, slower per sample but without a dense temporary.
        """
        buckets = self.layout.num_buckets
        cells = self.weights.reshape(-1)
        for start in range(0, rows.size, _BLOCK):
            part = slice(start, start + _BLOCK)
            block_rows = rows[part]
            decayed = times[part] - self.reference[block_rows]
            decayed /= self.half_life
            np.exp2(decayed, out=decayed)
            if weights is not None:
                decayed *= weights[part]
            if bad is not None:
                np.putmask(decayed, bad[part], 0.0)
            index = self.layout.bucket_of(vals[part])  # any float gets a valid bucket
            low, high = int(block_rows.min()), int(block_rows.max()) + 1
            if (high - low) * buckets <= 4 * block_rows.size:
                index += (block_rows - low) * buckets
                sums = np.bincount(index, decayed, minlength=(high - low) * buckets)
                sums = sums.reshape(-1, buckets)
                self.weights[low:high] += sums
                self.total_weight[low:high] += sums.sum(axis=1)
            else:
                index += block_rows * buckets
                np.add.at(cells, index, decayed)
                np.add.at(self.total_weight, block_rows, decayed)

    def add_grid(
        self,
        containers: npt.ArrayLike,
        timestamps: npt.ArrayLike,
        values: npt.ArrayLike,
        weights: npt.ArrayLike | None = None,
    ) -> int:
        """Fold a matrix of samples: ``values[i, j]`` is container ``containers[i]`` at
        ``timestamps[j]``; NaN marks a missing sample. Returns how many were folded.

        This is the shape of a Prometheus range query (series x steps), and the fast path:
        the decay factor is computed per time step and per row, not per sample (see ``grid``).
        ``timestamps`` must increase strictly. ``weights`` (shape of ``values``) default to 1.
        """
        span = MAX_DECAY_EXPONENT * self.half_life  # parts short enough not to overflow
        return fold_grid(self, containers, timestamps, values, weights, span)

    def subtract_samples(
        self,
        containers: npt.ArrayLike,
        values: npt.ArrayLike,
        weights: npt.ArrayLike | None,
        timestamps: npt.ArrayLike,
    ) -> None:
        """Take samples back out, as VPA does when a memory peak is replaced by a higher one.

        The decayed weight is subtracted from the bucket and the total; a bucket or total that
        falls below ``epsilon`` becomes exactly 0 (VPA's safe subtraction), so rounding never
        leaves ghost weight behind. Rows that never had a sample are left alone.
        """
        rows = as_indices(containers, self.rows, "containers")
        vals = as_floats(values, "values")
        times = as_floats(timestamps, "timestamps")
        sample_weights = np.ones(len(vals)) if weights is None else as_floats(weights, "weights")
        same_length("subtract_samples", rows, vals, times, sample_weights)
        keep = usable(vals, times) & ~np.isnan(self.reference[rows])
        rows, vals, times, sample_weights = (
            rows[keep],
            vals[keep],
            times[keep],
            sample_weights[keep],
        )
        decayed = sample_weights * np.exp2((times - self.reference[rows]) / self.half_life)
        flat = rows * self.layout.num_buckets + self.layout.bucket_of(vals)
        cells = self.weights.reshape(-1)
        np.subtract.at(cells, flat, decayed)
        np.subtract.at(self.total_weight, rows, decayed)
        cells[flat[cells[flat] < self.epsilon]] = 0.0
        self.total_weight[rows[self.total_weight[rows] < self.epsilon]] = 0.0

    def settle_rows(
        self, touched: IntArray, first: FloatArray, last: FloatArray, counts: IntArray
    ) -> None:
        """Before folding: give touched rows a reference, renormalise rows whose new samples
        run more than MAX_DECAY_EXPONENT half-lives ahead of it, and update the statistics.

        ``first``, ``last`` and ``counts`` cover all rows (NaN / 0 where untouched).
        """
        hl = self.half_life
        reference = self.reference[touched]
        fresh = np.isnan(reference)
        reference[fresh] = round_to_half_life(first[touched][fresh], hl)
        ahead = last[touched] > reference + MAX_DECAY_EXPONENT * hl
        if ahead.any():
            moved = round_to_half_life(last[touched][ahead], hl)
            shift = np.floor((reference[ahead] - moved) / hl + 0.5).astype(np.int64)
            factor = np.ldexp(1.0, shift)  # exact powers of two
            self.weights[touched[ahead]] *= factor[:, None]
            self.total_weight[touched[ahead]] *= factor
            reference[ahead] = moved
        self.reference[touched] = reference
        self.first_sample = np.fmin(self.first_sample, first)
        self.last_sample = np.fmax(self.last_sample, last)
        self.sample_count += counts

    def percentiles(self, percentiles: Sequence[float]) -> FloatArray:
        """Bucket-end percentiles of every row, shape (len(percentiles), rows); 0 when empty."""
        return bucket_end_percentiles(
            self.weights, self.total_weight, self.layout, percentiles, self.epsilon
        )

    def is_empty(self) -> BoolArray:
        """Rows with no bucket at or above ``epsilon`` (VPA's notion of an empty histogram)."""
        empty: BoolArray = np.logical_not((self.weights >= self.epsilon).any(axis=1))
        return empty

    def history_span(self) -> FloatArray:
        """Seconds between the first and the last sample of each row (0 before any sample)."""
        span: FloatArray = np.nan_to_num(self.last_sample - self.first_sample, nan=0.0)
        return span

    def _check_compatible(self, other: HistogramBatch) -> None:
        if (self.layout, self.half_life, self.epsilon) != (
            other.layout,
            other.half_life,
            other.epsilon,
        ):
            raise ValueError("histograms differ in layout, half-life or epsilon")

    def merged(self, other: HistogramBatch) -> HistogramBatch:
        """Row-by-row union of two batches of the same shape, as VPA merges histograms.

        Each row's older reference moves to the younger one, scaling that side's weights by
        ``2 ** round((old - new) / half_life)``; then weights, totals and counts add, and the
        first and last sample times take the earlier and the later.
        """
        self._check_compatible(other)
        if self.rows != other.rows:
            raise ValueError("merged batches must have the same number of rows")
        reference = np.fmax(self.reference, other.reference)
        mine = self._scale_to(reference)
        theirs = other._scale_to(reference)
        return HistogramBatch(
            layout=self.layout,
            half_life=self.half_life,
            weights=self.weights * mine[:, None] + other.weights * theirs[:, None],
            total_weight=self.total_weight * mine + other.total_weight * theirs,
            reference=reference,
            first_sample=np.fmin(self.first_sample, other.first_sample),
            last_sample=np.fmax(self.last_sample, other.last_sample),
            sample_count=self.sample_count + other.sample_count,
            epsilon=self.epsilon,
        )

    def _scale_to(self, reference: FloatArray) -> FloatArray:
        """Powers of two that move each row's weights from its reference to ``reference``."""
        gap = np.nan_to_num((self.reference - reference) / self.half_life, nan=0.0)
        scale: FloatArray = np.ldexp(1.0, np.floor(gap + 0.5).astype(np.int64))
        return scale

    def take(self, rows: npt.ArrayLike) -> HistogramBatch:
        """A new batch holding copies of ``rows`` (e.g. one container for its checkpoint)."""
        index = as_indices(rows, self.rows, "rows")
        return HistogramBatch(
            layout=self.layout,
            half_life=self.half_life,
            weights=self.weights[index],
            total_weight=self.total_weight[index],
            reference=self.reference[index],
            first_sample=self.first_sample[index],
            last_sample=self.last_sample[index],
            sample_count=self.sample_count[index],
            epsilon=self.epsilon,
        )

    @classmethod
    def concatenate(cls, batches: Sequence[HistogramBatch]) -> HistogramBatch:
        """One batch holding the rows of ``batches`` in order (e.g. restored checkpoints)."""
        head = batches[0]
        for batch in batches[1:]:
            head._check_compatible(batch)
        return cls(
            layout=head.layout,
            half_life=head.half_life,
            weights=np.concatenate([b.weights for b in batches]),
            total_weight=np.concatenate([b.total_weight for b in batches]),
            reference=np.concatenate([b.reference for b in batches]),
            first_sample=np.concatenate([b.first_sample for b in batches]),
            last_sample=np.concatenate([b.last_sample for b in batches]),
            sample_count=np.concatenate([b.sample_count for b in batches]),
            epsilon=head.epsilon,
        )

    def equals(self, other: HistogramBatch) -> bool:
        """Exact equality of configuration and every array (NaN equal to NaN)."""
        same = (self.layout, self.half_life, self.epsilon) == (
            other.layout,
            other.half_life,
            other.epsilon,
        )
        return same and all(
            np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
            for a, b in zip(self._arrays().values(), other._arrays().values(), strict=True)
        )

    def _arrays(self) -> dict[str, npt.NDArray[Any]]:
        return {
            "weights": self.weights,
            "total_weight": self.total_weight,
            "reference": self.reference,
            "first_sample": self.first_sample,
            "last_sample": self.last_sample,
            "sample_count": self.sample_count,
        }

    def to_bytes(self) -> bytes:
        """The batch in the checkpoint format of ``codec``, weights stored sparsely."""
        arrays = self._arrays()
        arrays.update(codec.sparse_rows(arrays.pop("weights")))
        layout = self.layout
        meta = {
            "layout": [layout.first_bucket_size, layout.ratio, layout.max_value],
            "halfLife": self.half_life,
            "epsilon": self.epsilon,
            "rows": self.rows,
        }
        return codec.pack(_KIND, meta, arrays)

    @classmethod
    def from_bytes(cls, data: bytes) -> HistogramBatch:
        """Restore what ``to_bytes`` wrote, bit for bit."""
        meta, arrays = codec.unpack(data, _KIND)
        layout = BucketLayout(*meta["layout"])
        shape = (int(meta["rows"]), layout.num_buckets)
        return cls(
            layout=layout,
            half_life=float(meta["halfLife"]),
            weights=codec.dense_rows(arrays, shape),
            total_weight=arrays["total_weight"],
            reference=arrays["reference"],
            first_sample=arrays["first_sample"],
            last_sample=arrays["last_sample"],
            sample_count=arrays["sample_count"],
            epsilon=float(meta["epsilon"]),
        )
