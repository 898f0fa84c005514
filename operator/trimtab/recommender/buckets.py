"""VPA's exponential bucket layout and its bucket-end percentile rule.

Usage spans five orders of magnitude (10 millicores to 1000 cores, 10 MB to 1 TB), so buckets
grow geometrically: bucket ``i`` has size ``first * ratio**i`` and starts at the sum of the sizes
before it,

    start(i) = first * (ratio**i - 1) / (ratio - 1),

which gives every value the same relative resolution (5 % with VPA's ratio of 1.05). The number
of buckets is the smallest ``n`` whose start reaches the maximum value, plus one more bucket that
is open-ended:

    n = ceil(log(max * (ratio - 1) / first + 1) / log(ratio)) + 1.

For the defaults, ``max / first`` is 1e5 for both CPU (1000 / 0.01) and memory (1e12 / 1e7), so
``log(5001) / log(1.05) = 174.57``: 175 buckets reach the maximum and the open one makes 176.
For CPU, bucket 174 starts at 972.5 cores (below the maximum) and bucket 175, the open one, at
1021.1 cores; memory is the same scaled by 1e9 bytes per core.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from trimtab.recommender.arrays import FloatArray, IntArray


def formula_buckets(layout: BucketLayout, values: FloatArray) -> IntArray:
    """VPA's bucket formula evaluated literally: the definition ``bucket_of`` reproduces."""
    with np.errstate(invalid="ignore"):
        scaled = np.log(values * (layout.ratio - 1) / layout.first_bucket_size + 1)
    buckets = (scaled / math.log(layout.ratio)).astype(np.int64)
    buckets = np.minimum(buckets, layout.num_buckets - 1)
    buckets[values < layout.first_bucket_size] = 0
    return buckets


def _thresholds(layout: BucketLayout) -> FloatArray:
    """For each bucket ``i``, the smallest double the formula puts in bucket ``i`` or above.

    Positive doubles order like their bit patterns, so a bisection on the bit patterns finds
    each threshold exactly (64 rounds, all buckets at once). Index 0 is 0, and a final +inf
    sentinel stands for "no next bucket".
    """
    count = layout.num_buckets
    wanted = np.arange(1, count)
    low = np.zeros(count - 1, dtype=np.int64)  # bit pattern of 0.0: below every threshold
    high = np.full(count - 1, np.array([np.inf]).view(np.int64)[0])
    while (high - low > 1).any():
        middle = low + (high - low) // 2
        reached = formula_buckets(layout, middle.view(np.float64)) >= wanted
        high = np.where(reached, middle, high)
        low = np.where(reached, low, middle)
    return np.concatenate(([0.0], high.view(np.float64), [np.inf]))


@dataclass(frozen=True)
class BucketLayout:
    """Geometric buckets: the first ``first_bucket_size`` wide, each next ``ratio`` times wider.

    Finding a bucket is the hot loop of every fold, and a logarithm per sample costs more than
    everything else together. So the layout precomputes, per small range of the float's bit
    pattern (its exponent and top mantissa bits), the bucket where that range starts; a range
    is narrower than any bucket, so a sample is in that bucket or the next, and one comparison
    with the exact threshold decides. The result is identical to VPA's formula.
    """

    first_bucket_size: float
    ratio: float
    max_value: float
    starts: FloatArray = field(init=False, repr=False, compare=False)
    """Where each bucket starts; bucket 0 starts at zero."""
    ends: FloatArray = field(init=False, repr=False, compare=False)
    """Where each bucket ends; the last, open bucket reports its start, as VPA does."""
    thresholds: FloatArray = field(init=False, repr=False, compare=False)
    """The smallest value of each bucket by VPA's formula, then +inf."""
    _shift: int = field(init=False, repr=False, compare=False)
    _first_cell: int = field(init=False, repr=False, compare=False)
    _cell_bucket: IntArray = field(init=False, repr=False, compare=False)
    _cell_next: FloatArray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not (self.first_bucket_size > 0 and self.max_value > 0 and self.ratio > 1):
            raise ValueError("bucket layout needs first_bucket_size > 0, max_value > 0, ratio > 1")
        starts = np.array([self.start_of(i) for i in range(self.num_buckets)])
        object.__setattr__(self, "starts", starts)
        object.__setattr__(self, "ends", np.append(starts[1:], starts[-1]))
        thresholds = _thresholds(self)
        object.__setattr__(self, "thresholds", thresholds)
        self._build_cells(thresholds)

    def _build_cells(self, thresholds: FloatArray) -> None:
        """Cells of relative width at most 2 ** -k < ratio - 1: each holds at most one
        threshold, so a cell's values are in its first bucket or the next."""
        mantissa_bits = math.ceil(-math.log2(self.ratio - 1)) + 1
        shift = 52 - mantissa_bits
        bits = thresholds[1:-1].view(np.int64) >> shift
        first_cell, last_cell = int(bits[0]), int(bits[-1])
        cell_starts = (np.arange(first_cell, last_cell + 1, dtype=np.int64) << shift).view(
            np.float64
        )
        cell_bucket = np.searchsorted(thresholds, cell_starts, side="right") - 1
        cell_bucket = np.maximum(cell_bucket, 0)
        object.__setattr__(self, "_shift", shift)
        object.__setattr__(self, "_first_cell", first_cell)
        object.__setattr__(self, "_cell_bucket", cell_bucket.astype(np.int64))
        object.__setattr__(self, "_cell_next", thresholds[cell_bucket + 1])

    @property
    def num_buckets(self) -> int:
        """``ceil(log(max * (ratio - 1) / first + 1) / log(ratio)) + 1`` (see the module doc)."""
        growth = self.max_value * (self.ratio - 1) / self.first_bucket_size + 1
        return math.ceil(math.log(growth) / math.log(self.ratio)) + 1

    def start_of(self, bucket: int) -> float:
        """``first * (ratio**bucket - 1) / (ratio - 1)``; zero for bucket 0."""
        if bucket == 0:
            return 0.0
        return self.first_bucket_size * (self.ratio**bucket - 1) / (self.ratio - 1)

    def bucket_of(self, values: FloatArray) -> IntArray:
        """The bucket of each value: ``floor(log(v * (ratio - 1) / first + 1) / log(ratio))``,
        below ``first`` bucket 0, past the last start the last bucket, as VPA computes it.

        Any float gets a valid index (NaN and infinities the last bucket or the one before,
        negative values bucket 0), so callers may mask bad samples by weight instead.
        """
        flat = np.ascontiguousarray(values, dtype=np.float64)
        cell = flat.view(np.int64) >> self._shift
        cell -= self._first_cell
        np.clip(cell, 0, self._cell_bucket.size - 1, out=cell)
        buckets: IntArray = self._cell_bucket[cell]
        buckets += flat >= self._cell_next[cell]
        return buckets


CPU_LAYOUT = BucketLayout(first_bucket_size=0.01, ratio=1.05, max_value=1000.0)
"""VPA's CPU histogram: 10 millicores first, 5 % growth, up to 1000 cores (176 buckets)."""

MEMORY_LAYOUT = BucketLayout(first_bucket_size=1e7, ratio=1.05, max_value=1e12)
"""VPA's memory histogram: 10 MB first, 5 % growth, up to 1 TB (176 buckets)."""


def bucket_end_percentiles(
    weights: FloatArray,
    total_weight: FloatArray,
    layout: BucketLayout,
    percentiles: Sequence[float],
    epsilon: float,
) -> FloatArray:
    """Percentiles of many histograms at once, by VPA's rule; shape (percentiles, rows).

    Buckets lighter than ``epsilon`` at either end are treated as empty, so a histogram whose
    every bucket is below ``epsilon`` is empty and yields 0. Otherwise, walking up from the
    first heavy bucket ``lo`` and summing weights, the answer is the first bucket ``b`` with

        sum(weights[lo..b]) >= p * total_weight,

    or the last heavy bucket ``hi`` if none is reached before it; the value returned is the END
    of that bucket (``start(b + 1)``), so the estimate never undershoots by a bucket's width.
    The open last bucket has no end and reports its start.
    """
    heavy = weights >= epsilon
    nonempty = heavy.any(axis=1)
    count = weights.shape[1]
    lo = heavy.argmax(axis=1)[:, None]
    hi = (count - 1 - heavy[:, ::-1].argmax(axis=1))[:, None]
    columns = np.arange(count)[None, :]
    from_lo = columns >= lo
    # Sequential sums, as VPA's loop does: np.cumsum accumulates left to right.
    cumulative = np.cumsum(np.where(from_lo, weights, 0.0), axis=1)
    result = np.zeros((len(percentiles), weights.shape[0]), dtype=np.float64)
    for i, p in enumerate(percentiles):  # one pass per percentile asked (three at most)
        threshold = (p * total_weight)[:, None]
        reached = ((cumulative >= threshold) & from_lo) | (columns >= hi)
        bucket = reached.argmax(axis=1)
        result[i] = np.where(nonempty, layout.ends[bucket], 0.0)
    return result
