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
        buckets = self.layout.num_buckets
        cells = rows * buckets + self.layout.bucket_of(vals)
        for pos in np.flatnonzero(np.bincount(position, minlength=ring)):  # at most `ring` passes
            here = position == pos
            sums = np.bincount(cells[here], minlength=self.rows * buckets)
            self.counts[pos] += sums.reshape(self.rows, buckets).astype(np.float32)
        key = position * self.rows + rows
        self.maxima = np.fmax(self.maxima, group_max(key, vals, self.maxima.size).reshape(ring, -1))
        self.first_sample = np.fmin(self.first_sample, group_min(rows, times, self.rows))
        self.last_sample = np.fmax(self.last_sample, group_max(rows, times, self.rows))
        self.sample_count += np.bincount(rows, minlength=self.rows)
        return int(rows.size)

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
        counts = self.counts[self._in_window(now)].sum(axis=0, dtype=np.float64)
        return bucket_end_percentiles(counts, counts.sum(axis=1), self.layout, percentiles, 0.5)

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
