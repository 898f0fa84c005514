"""Non-decaying histograms over a sliding window, for the KRR-like ``percentile`` strategy.

KRR answers "what is the p95 of the last 14 days" from raw samples. Keeping raw samples in the
operator would cost, for 10,000 containers x 8 days of 1-minute samples, 11,520 x 4 bytes x
10,000 = 461 MB per resource as float32 (twice that as float64, more with timestamps), and it
grows with the window and the sample rate. Instead the window is cut into ``slices`` equal time
slices (8 by default: one day each for an 8-day window) kept in a ring of ``slices + 1``; each
slice holds per-container sample counts in fine buckets and the highest sample. A slice whose
time has left the window is reset and reused, so old samples leave the window a slice at a
time, and the window actually covered is between ``slices`` and ``slices + 1`` slices long.

Cost: rows x (slices + 1) x buckets x 4 bytes (float32 counts, exact up to 16.7 million samples
per bucket and slice). With fine CPU buckets (927, see ``FINE_CPU_LAYOUT``) and VPA's memory
buckets (176) that is 9 x 1103 x 4 = 39.7 KB per container, 397 MB for 10,000 containers,
whatever the sample rate and for any window length: less than half of keeping the raw float32
samples of an 8-day window (922 MB for CPU and memory), and a 14-day window costs the same.

Folding is vectorised as in ``histogram``: bucket indices are computed for cache-sized blocks
of samples (or of matrix rows, for a Prometheus range query) and counted per (slice, row,
bucket) with ``np.bincount`` on flattened indices; no Python loop runs per sample or per
container and no temporary is larger than a block. Counts of one cell added block by block
equal the counts added at once while they stay exact (below 2 ** 24).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from trimtab.recommender import codec
from trimtab.recommender.arrays import (
    FloatArray,
    IntArray,
    as_floats,
    as_indices,
    same_length,
    usable,
)
from trimtab.recommender.buckets import BucketLayout, bucket_end_percentiles
from trimtab.recommender.grouping import group_max, group_min

FINE_CPU_LAYOUT = BucketLayout(first_bucket_size=0.001, ratio=1.01, max_value=1000.0)
"""1 millicore first, 1 % growth, up to 1000 cores (927 buckets).

A bucket starting at ``s`` is ``(ratio - 1) * s + first`` wide, so a bucket-end percentile is
at most 1 % + 1 millicore above the exact one (VPA's CPU layout: 5 % + 10 millicores)."""
_KIND = "windowed-histogram"
_BLOCK = 1 << 15
"""Samples per block: small enough that temporaries stay in the CPU cache."""
_PERCENTILE_CELLS = 1 << 16
"""Cells (rows x buckets) summed per block when reading percentiles."""


def _any_usable(matrix: FloatArray, columns: IntArray, block: int) -> bool:
    """Whether ``matrix[:, columns]`` holds a usable value, a block of rows at a time."""
    every = columns.size == matrix.shape[1]
    for start in range(0, matrix.shape[0], block):
        chunk = matrix[start : start + block]
        if not every:
            chunk = chunk[:, columns]
        if ((chunk >= 0) & (chunk < np.inf)).any():
            return True
    return False


@dataclass(eq=False)
class WindowedHistogram:
    """Sample counts per (time slice, container, bucket) and the highest sample per slice."""

    layout: BucketLayout
    slice_length: float
    counts: npt.NDArray[np.float32]
    slice_ids: IntArray
    maxima: FloatArray
    first_sample: FloatArray
    last_sample: FloatArray
    sample_count: IntArray

    def __post_init__(self) -> None:
        # Folding writes through a flat view of the counts, which needs contiguous memory.
        self.counts = np.ascontiguousarray(self.counts, dtype=np.float32)

    @classmethod
    def empty(
        cls, rows: int, layout: BucketLayout, window: float, slices: int = 8
    ) -> WindowedHistogram:
        """A window of ``window`` seconds cut into ``slices`` slices, for ``rows`` containers."""
        if not window > 0 or not np.isfinite(window) or slices < 1:
            raise ValueError("window must be a positive number of seconds and slices >= 1")
        ring = slices + 1
        nan = np.full(rows, np.nan)
        return cls(
            layout=layout,
            slice_length=window / slices,
            counts=np.zeros((ring, rows, layout.num_buckets), dtype=np.float32),
            slice_ids=np.full(ring, -1, dtype=np.int64),
            maxima=np.full((ring, rows), np.nan),
            first_sample=nan.copy(),
            last_sample=nan,
            sample_count=np.zeros(rows, dtype=np.int64),
        )

    @property
    def rows(self) -> int:
        """How many containers the window holds."""
        return int(self.counts.shape[1])

    @property
    def window(self) -> float:
        """The nominal window in seconds (slices x slice length)."""
        return (self.slice_ids.size - 1) * self.slice_length

    def add_samples(
        self, containers: npt.ArrayLike, values: npt.ArrayLike, timestamps: npt.ArrayLike
    ) -> int:
        """Count samples in their slices; returns how many were folded.

        Invalid samples and samples older than the ring are dropped. Every sample counts once:
        weights have no meaning for a plain percentile.
        """
        rows = as_indices(containers, self.rows, "containers")
        vals = as_floats(values, "values")
        times = as_floats(timestamps, "timestamps")
        same_length("add_samples", rows, vals, times)
        keep = usable(vals, times)
        slot = np.zeros(rows.size, dtype=np.int64)
        slot[keep] = np.floor(times[keep] / self.slice_length).astype(np.int64)
        if keep.any():
            self._advance(int(slot[keep].max()))
        ring = self.slice_ids.size
        keep &= self.slice_ids[slot % ring] == slot
        rows, vals, times, position = rows[keep], vals[keep], times[keep], slot[keep] % ring
        if rows.size == 0:
            return 0
        key = position * self.rows + rows
        self._count_cells(key, vals)
        self.maxima = np.fmax(self.maxima, group_max(key, vals, self.maxima.size).reshape(ring, -1))
        self.first_sample = np.fmin(self.first_sample, group_min(rows, times, self.rows))
        self.last_sample = np.fmax(self.last_sample, group_max(rows, times, self.rows))
        self.sample_count += np.bincount(rows, minlength=self.rows)
        return int(rows.size)

    def _count_cells(self, keys: IntArray, vals: FloatArray) -> None:
        """Add one to ``counts[slot, row, bucket(value)]`` per sample (``keys``: slot x rows + row).

        A block of samples whose keys span a narrow range (samples sorted by container) is
        summed with ``bincount`` over just that range; a scattered block falls back to
        ``np.add.at``. Either way no temporary is larger than a block.
        """
        buckets = self.layout.num_buckets
        cells = self.counts.reshape(-1, buckets)
        flat = cells.reshape(-1)
        for start in range(0, keys.size, _BLOCK):
            block_keys = keys[start : start + _BLOCK]
            index = self.layout.bucket_of(vals[start : start + _BLOCK])
            low, high = int(block_keys.min()), int(block_keys.max()) + 1
            if (high - low) * buckets <= 4 * block_keys.size:
                index += (block_keys - low) * buckets
                sums = np.bincount(index, minlength=(high - low) * buckets)
                cells[low:high] += sums.reshape(-1, buckets).astype(np.float32)
            else:
                index += block_keys * buckets
                np.add.at(flat, index, np.float32(1.0))

    def add_grid(
        self, containers: npt.ArrayLike, timestamps: npt.ArrayLike, values: npt.ArrayLike
    ) -> int:
        """Count a matrix of samples: ``values[i, j]`` is container ``containers[i]`` at
        ``timestamps[j]``. Returns how many were folded.

        The same as ``add_samples`` on the flattened matrix, without flattening it: the slice
        of each column is found once, and the matrix is folded a block of rows at a time with
        one ``bincount`` per block over (slice, row in block, bucket).
        """
        rows = np.asarray(containers, dtype=np.int64)
        times = as_floats(timestamps, "timestamps")
        matrix = np.asarray(values, dtype=np.float64)
        if matrix.shape != (rows.size, times.size):
            raise ValueError(f"values must have shape {(rows.size, times.size)}")
        rows = as_indices(rows, self.rows, "containers")
        timed = np.isfinite(times)
        slot = np.zeros(times.size, dtype=np.int64)
        slot[timed] = np.floor(times[timed] / self.slice_length).astype(np.int64)
        block = max(1, _BLOCK // max(1, times.size))
        # Advance to the newest slice holding a usable sample; older slices cannot advance.
        ahead = timed & (slot > int(self.slice_ids.max()))
        for newest in np.unique(slot[ahead])[::-1].tolist():
            if _any_usable(matrix, np.flatnonzero(ahead & (slot == newest)), block):
                self._advance(newest)
                break
        ring = self.slice_ids.size
        columns = np.flatnonzero(timed & (self.slice_ids[slot % ring] == slot))
        if columns.size == 0 or rows.size == 0:
            return 0
        positions, column_part = np.unique(slot[columns] % ring, return_inverse=True)
        every_column = columns.size == times.size
        stamps = times[columns]
        height = min(block, rows.size)
        # Flat (slice part, row in block, bucket) offset of each entry of a full block.
        offsets = (column_part * height)[None, :] + np.arange(height)[:, None]
        offsets *= self.layout.num_buckets
        folded = 0
        for start in range(0, rows.size, block):
            block_rows = rows[start : start + block]
            chunk = matrix[start : start + block]
            if not every_column:
                chunk = chunk[:, columns]
            if block_rows.size < height:  # the last block: its rows are fewer, so renumber
                height = block_rows.size
                offsets = (column_part * height)[None, :] + np.arange(height)[:, None]
                offsets *= self.layout.num_buckets
            folded += self._fold_grid_block(block_rows, chunk, stamps, positions, offsets)
        return folded

    def _fold_grid_block(
        self,
        block_rows: IntArray,
        chunk: FloatArray,
        stamps: FloatArray,
        positions: IntArray,
        offsets: IntArray,
    ) -> int:
        """Fold the rows ``chunk`` (block rows x columns) of ``add_grid``; columns are in the
        ring slots ``positions``, and ``offsets`` place each entry in the block's counts."""
        buckets = self.layout.num_buckets
        height = block_rows.size
        ok = chunk >= 0  # False for NaN
        ok &= chunk < np.inf
        index = self.layout.bucket_of(chunk)
        index += offsets
        all_ok = bool(ok.all())
        sums = np.bincount(
            index.ravel() if all_ok else index[ok], minlength=positions.size * height * buckets
        )
        local = sums.reshape(positions.size, height, buckets).astype(np.float32)
        masked = chunk if all_ok else np.where(ok, chunk, np.nan)
        contiguous = int(block_rows[-1]) - int(block_rows[0]) == height - 1 and bool(
            (np.diff(block_rows) == 1).all()
        )
        span = slice(int(block_rows[0]), int(block_rows[-1]) + 1)
        for part, pos in enumerate(positions.tolist()):
            columns = offsets[0] // (height * buckets) == part
            highest = np.fmax.reduce(masked if positions.size == 1 else masked[:, columns], axis=1)
            if contiguous:
                self.counts[pos, span] += local[part]
                np.fmax(self.maxima[pos, span], highest, out=self.maxima[pos, span])
            else:
                np.add.at(self.counts[pos], block_rows, local[part])
                np.fmax.at(self.maxima[pos], block_rows, highest)
        if all_ok:  # every row saw every column
            seen = np.full(height, stamps.size, dtype=np.int64)
            first = np.full(height, stamps.min())
            last = np.full(height, stamps.max())
        else:
            seen = np.count_nonzero(ok, axis=1)
            timed = np.where(ok, stamps[None, :], np.nan)
            first = np.fmin.reduce(timed, axis=1)
            last = np.fmax.reduce(timed, axis=1)
        if contiguous:
            np.fmin(self.first_sample[span], first, out=self.first_sample[span])
            np.fmax(self.last_sample[span], last, out=self.last_sample[span])
            self.sample_count[span] += seen
        else:
            np.fmin.at(self.first_sample, block_rows, first)
            np.fmax.at(self.last_sample, block_rows, last)
            np.add.at(self.sample_count, block_rows, seen)
        return int(seen.sum())

    def _advance(self, newest: int) -> None:
        """Make the ring hold slices ``newest - slices .. newest``, resetting reused slots."""
        ring = self.slice_ids.size
        for slice_id in range(max(newest - ring + 1, int(self.slice_ids.max()) + 1), newest + 1):
            pos = slice_id % ring
            self.counts[pos] = 0.0
            self.maxima[pos] = np.nan
            self.slice_ids[pos] = slice_id

    def _in_window(self, now: float | None) -> npt.NDArray[np.bool_]:
        """Ring slots whose slice overlaps ``(now - window, now]`` (default: the newest sample)."""
        end = float(np.nanmax(self.last_sample, initial=-np.inf)) if now is None else now
        if not np.isfinite(end):
            return np.zeros(self.slice_ids.size, dtype=bool)
        newest = np.floor(end / self.slice_length)
        oldest = np.floor((end - self.window) / self.slice_length)
        inside: npt.NDArray[np.bool_] = (self.slice_ids >= oldest) & (self.slice_ids <= newest)
        return inside

    def percentiles(self, percentiles: Sequence[float], now: float | None = None) -> FloatArray:
        """Bucket-end percentiles over the window ending at ``now``, shape (len, rows)."""
        inside = np.flatnonzero(self._in_window(now)).tolist()
        buckets = self.layout.num_buckets
        result = np.zeros((len(percentiles), self.rows))
        step = max(1, _PERCENTILE_CELLS // buckets)
        for start in range(0, self.rows, step):  # a block of rows at a time: no dense copy
            part = slice(start, start + step)
            counts = np.zeros((min(step, self.rows - start), buckets))
            for pos in inside:
                counts += self.counts[pos, part]
            totals = counts.sum(axis=1)
            result[:, part] = bucket_end_percentiles(counts, totals, self.layout, percentiles, 0.5)
        return result

    def window_max(self, now: float | None = None) -> FloatArray:
        """The highest sample of each row over the window ending at ``now`` (0 if none)."""
        highest = np.fmax.reduce(self.maxima[self._in_window(now)], axis=0, initial=np.nan)
        return np.nan_to_num(np.asarray(highest, dtype=np.float64), nan=0.0)

    def history_span(self) -> FloatArray:
        """Seconds between the first and the last sample of each row (0 before any sample)."""
        span: FloatArray = np.nan_to_num(self.last_sample - self.first_sample, nan=0.0)
        return span

    def _arrays(self) -> dict[str, npt.NDArray[Any]]:
        return {
            "counts": self.counts,
            "slice_ids": self.slice_ids,
            "maxima": self.maxima,
            "first_sample": self.first_sample,
            "last_sample": self.last_sample,
            "sample_count": self.sample_count,
        }

    def equals(self, other: WindowedHistogram) -> bool:
        """Exact equality of the configuration and every array (NaN equal to NaN)."""
        same = (self.layout, self.slice_length) == (other.layout, other.slice_length)
        return same and all(
            np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
            for a, b in zip(self._arrays().values(), other._arrays().values(), strict=True)
        )

    def to_bytes(self) -> bytes:
        """The window in the checkpoint format of ``codec``, counts stored sparsely."""
        arrays = self._arrays()
        counts = arrays.pop("counts")
        arrays.update(codec.sparse_rows(counts.reshape(-1, counts.shape[2])))
        layout = self.layout
        meta = {
            "layout": [layout.first_bucket_size, layout.ratio, layout.max_value],
            "sliceLength": self.slice_length,
            "shape": list(counts.shape),
        }
        return codec.pack(_KIND, meta, arrays)

    @classmethod
    def from_bytes(cls, data: bytes) -> WindowedHistogram:
        """Restore what ``to_bytes`` wrote, bit for bit."""
        meta, arrays = codec.unpack(data, _KIND)
        ring, rows, buckets = (int(n) for n in meta["shape"])
        counts = codec.dense_rows(arrays, (ring * rows, buckets)).reshape(ring, rows, buckets)
        for name in ("nonzero", "column", "value"):
            del arrays[name]
        return cls(
            layout=BucketLayout(*meta["layout"]),
            slice_length=float(meta["sliceLength"]),
            counts=counts,
            **arrays,
        )
