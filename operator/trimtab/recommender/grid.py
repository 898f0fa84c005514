"""The fast path for samples on a time grid (a Prometheus range query: series x steps).

On a grid every sample of a column shares its time, so the decay factor splits into a factor
per column and a factor per row,

    2 ** ((t_j - reference_i) / h) = 2 ** ((t_j - t_last) / h) * 2 ** ((t_last - reference_i) / h),

and no per-sample exponential is needed. ``grid_sums`` computes the bucket sums weighted by
the column factors only; ``fold_grid`` applies the row factors once the histogram has settled
each row's reference (which depends on the rows' first and last samples). A grid longer than
MAX_DECAY_EXPONENT half-lives is folded in parts, so neither factor can overflow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from trimtab.recommender.arrays import FloatArray, IntArray, as_floats, as_indices
from trimtab.recommender.buckets import BucketLayout

if TYPE_CHECKING:
    from trimtab.recommender.histogram import HistogramBatch

_BLOCK = 1 << 15
"""Samples per block of rows: small enough that temporaries stay in the CPU cache."""


@dataclass(frozen=True)
class GridSums:
    """Per matrix row: bucket sums relative to the last column, and what was seen."""

    sums: FloatArray
    """(rows, buckets): sum of weight * 2 ** ((t_j - t_last) / h) per bucket."""
    count: IntArray
    """Usable samples per row."""
    first: FloatArray
    """Time of each row's first usable sample (meaningless where count is 0)."""
    last: FloatArray
    """Time of each row's last usable sample (meaningless where count is 0)."""


def grid_sums(
    layout: BucketLayout,
    half_life: float,
    times: FloatArray,
    values: FloatArray,
    weights: FloatArray | None,
) -> GridSums:
    """Bucket sums of a (rows x times) matrix; NaN, infinite or negative entries are skipped.

    ``times`` must increase. One pass over the samples, a block of rows at a time, with each
    block's bucket index local to the block so its ``bincount`` stays small.
    """
    buckets = layout.num_buckets
    rows = values.shape[0]
    sums = np.empty((rows, buckets))
    count = np.empty(rows, dtype=np.int64)
    first_column = np.empty(rows, dtype=np.int64)
    last_column = np.empty(rows, dtype=np.int64)
    column_decay = np.exp2((times - times[-1]) / half_life)
    block = max(1, _BLOCK // times.size)
    offsets = (np.arange(min(block, rows)) * buckets)[:, None]
    full_decay = np.broadcast_to(column_decay, (offsets.shape[0], times.size)).ravel()
    for start in range(0, rows, block):
        part = slice(start, start + block)
        chunk = values[part]
        height = chunk.shape[0]
        ok = chunk >= 0  # False for NaN
        ok &= chunk < np.inf
        if weights is not None:
            ok &= (weights[part] >= 0) & (weights[part] < np.inf)
        every = bool(ok.all())
        if weights is not None:
            decayed = (column_decay * np.where(ok, weights[part], 0.0)).ravel()
        elif every:
            decayed = full_decay[: height * times.size]
        else:
            decayed = (column_decay * ok).ravel()
        # Bad values get some valid bucket and add nothing: their weight is 0.
        index = layout.bucket_of(chunk)
        index += offsets[:height]
        local = np.bincount(index.ravel(), decayed, minlength=height * buckets)
        sums[part] = local.reshape(-1, buckets)
        if every:
            count[part] = times.size
            first_column[part] = 0
            last_column[part] = times.size - 1
        else:
            count[part] = np.count_nonzero(ok, axis=1)
            first_column[part] = ok.argmax(axis=1)
            last_column[part] = times.size - 1 - ok[:, ::-1].argmax(axis=1)
    return GridSums(sums, count, times[first_column], times[last_column])


def fold_grid(
    batch: HistogramBatch,
    containers: npt.ArrayLike,
    timestamps: npt.ArrayLike,
    values: npt.ArrayLike,
    weights: npt.ArrayLike | None,
    span: float,
) -> int:
    """``HistogramBatch.add_grid``: check the matrix, then fold it in parts of at most ``span``
    seconds (views, not copies). Returns how many samples were folded."""
    rows = as_indices(containers, batch.rows, "containers")
    times = as_floats(timestamps, "timestamps")
    vals = np.asarray(values, dtype=np.float64)
    if vals.shape != (rows.size, times.size):
        raise ValueError(f"values must have shape {(rows.size, times.size)}, not {vals.shape}")
    if not (np.isfinite(times).all() and (np.diff(times) > 0).all()):
        raise ValueError("timestamps must be finite and strictly increasing")
    sample_weights = None if weights is None else np.asarray(weights, dtype=np.float64)
    if sample_weights is not None and sample_weights.shape != vals.shape:
        raise ValueError("weights must have the shape of values")
    if times.size == 0 or rows.size == 0:
        return 0
    cuts = np.searchsorted(times, np.arange(times[0] + span, times[-1], span)).tolist()
    folded = 0
    for start, stop in zip([0, *cuts], [*cuts, times.size], strict=True):
        columns = slice(start, stop)
        part_weights = None if sample_weights is None else sample_weights[:, columns]
        folded += _fold_part(batch, rows, times[columns], vals[:, columns], part_weights)
    return folded


def _fold_part(
    batch: HistogramBatch,
    rows: IntArray,
    times: FloatArray,
    vals: FloatArray,
    weights: FloatArray | None,
) -> int:
    """Sum, settle the touched rows' references, then add ``sums * 2 ** ((t_last - ref) / h)``."""
    part = grid_sums(batch.layout, batch.half_life, times, vals, weights)
    seen = part.count > 0
    rows, sums = rows[seen], part.sums[seen]
    first = np.full(batch.rows, np.nan)
    last = np.full(batch.rows, np.nan)
    np.fmin.at(first, rows, part.first[seen])
    np.fmax.at(last, rows, part.last[seen])
    counts = np.bincount(rows, weights=part.count[seen], minlength=batch.rows).astype(np.int64)
    batch.settle_rows(np.flatnonzero(counts), first, last, counts)
    sums *= np.exp2((times[-1] - batch.reference[rows]) / batch.half_life)[:, None]
    np.add.at(batch.weights, rows, sums)
    np.add.at(batch.total_weight, rows, sums.sum(axis=1))
    return int(counts.sum())
