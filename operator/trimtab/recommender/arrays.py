"""Array types shared by the recommender core, and the checks that guard its inputs.

Samples arrive from Prometheus in bulk; a malformed batch (mismatched lengths, an index out of
range) must fail loudly before it is folded, while bad values inside a well-formed batch (NaN,
infinities, negative usage) are dropped and counted by the caller from the folded count.
"""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import numpy.typing as npt

FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.int64]
BoolArray: TypeAlias = npt.NDArray[np.bool_]

SECONDS_PER_DAY = 86400.0


def as_floats(values: npt.ArrayLike, name: str) -> FloatArray:
    """``values`` as a contiguous float64 array (no copy when it already is one)."""
    array = np.ascontiguousarray(values, dtype=np.float64)
    if array.ndim == 0:
        raise ValueError(f"{name} must be an array, not a scalar")
    return array


def as_indices(values: npt.ArrayLike, size: int, name: str) -> IntArray:
    """``values`` as int64 indices, each in ``[0, size)``; anything else is a caller bug."""
    array = np.ascontiguousarray(values, dtype=np.int64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional")
    if array.size and (int(array.min()) < 0 or int(array.max()) >= size):
        raise IndexError(f"{name} must lie in [0, {size})")
    return array


def same_length(name: str, *arrays: npt.NDArray[np.generic]) -> int:
    """The common length of ``arrays``; a mismatch means the caller zipped the wrong columns."""
    lengths = {len(array) for array in arrays}
    if len(lengths) != 1:
        raise ValueError(f"{name}: arrays of different lengths {sorted(lengths)}")
    return lengths.pop()


def usable(values: FloatArray, timestamps: FloatArray) -> BoolArray:
    """Samples worth folding: finite, non-negative usage at a finite time.

    ``values >= 0`` is False for NaN, so NaN and negative usage are dropped in one comparison.
    """
    ok: BoolArray = (values >= 0) & (values < np.inf) & np.isfinite(timestamps)
    return ok
