"""Per-group minimum and maximum without sorting.

numpy has ``bincount`` for per-group sums but nothing as fast for per-group extremes:
``np.maximum.at`` costs tens of nanoseconds per element. Samples from Prometheus arrive series
by series, so equal keys sit in runs; reducing each run with ``reduceat`` (about a nanosecond
per element) and only then scattering one value per run keeps the cost near a single pass. The
result is the same for any order; shuffled input is merely slower.
"""

from __future__ import annotations

import numpy as np

from trimtab.recommender.arrays import FloatArray, IntArray


def run_starts(keys: IntArray) -> IntArray:
    """Indices where a new run of equal keys begins (always including 0 for non-empty input)."""
    if keys.size == 0:
        return np.zeros(0, dtype=np.int64)
    changes = np.flatnonzero(keys[1:] != keys[:-1]) + 1
    return np.concatenate((np.zeros(1, dtype=np.int64), changes.astype(np.int64)))


def group_max(
    keys: IntArray, values: FloatArray, size: int, starts: IntArray | None = None
) -> FloatArray:
    """``out[k] = max(values[keys == k])``, NaN where a key has none (NaN values are ignored)."""
    return _group_reduce(np.fmax, keys, values, size, starts)


def group_min(
    keys: IntArray, values: FloatArray, size: int, starts: IntArray | None = None
) -> FloatArray:
    """``out[k] = min(values[keys == k])``, NaN where a key has none (NaN values are ignored)."""
    return _group_reduce(np.fmin, keys, values, size, starts)


def _group_reduce(
    reduce: np.ufunc, keys: IntArray, values: FloatArray, size: int, starts: IntArray | None
) -> FloatArray:
    """Reduce each run of equal keys, then fold the runs of one key together."""
    out = np.full(size, np.nan)
    if keys.size:
        runs = run_starts(keys) if starts is None else starts
        reduce.at(out, keys[runs], reduce.reduceat(values, runs))
    return out
