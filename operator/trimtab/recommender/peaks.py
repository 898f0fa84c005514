"""Memory peaks per aggregation interval, folded into a decaying histogram as VPA does.

Memory is not sampled like CPU: what matters is how high a container's memory climbs, so VPA
adds one sample per container per aggregation interval (24 h by default), that interval's peak.
While an interval is open, a new higher peak replaces the old one: the old peak is subtracted
from the histogram and the new one added. Each peak is timestamped at its interval's END, so
its decay weight is fixed when the interval opens and the subtraction removes exactly what was
added.

Intervals are anchored per series at its first sample: the first interval is
``[t0, t0 + interval)``, and the interval holding ``t`` ends at the first ``t0 + k * interval``
after ``t``. A series is one container of one pod (VPA tracks peaks per pod container and pools
the peaks of all replicas into the workload's histogram row), so several series may feed a row.

The tracker keeps, per series, the open interval's end, the peak now in the histogram and the
highest non-OOM usage (the base of the next OOM bump), so an interval can continue across
calls: a later call that brings a higher sample of the same interval replaces the peak.

Batch semantics: a call's samples are a set, not a sequence. Usage samples older than the
newest sample of an EARLIER call are dropped (VPA drops samples older than the last one seen);
within a call, order does not matter. Two deliberate differences from VPA, both in corners:
a peak of exactly 0 bytes is replaced by a higher one (VPA keeps the 0 because it reads 0 as
"no peak"), and the usage peak is the highest usage sample of the interval even when an OOM
sample was higher (VPA stops tracking usage below an OOM peak).
"""

from __future__ import annotations

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
from trimtab.recommender.grouping import group_max, group_min, run_starts
from trimtab.recommender.histogram import HistogramBatch

_KIND = "memory-peaks"
_MAX_SERIES = 1 << 40


def _range_peaks(vals: FloatArray, seen: BoolArray, starts: IntArray) -> FloatArray:
    """``fmax.reduceat`` over the flattened matrix of ``seen`` values (NaN elsewhere) at the
    flat positions of ``starts``; the caller discards the value of an empty range.

    Each range reduces up to the next start, so callers put a start at every row's end (the
    next row's first column) to keep ranges inside their row; starts past the whole matrix are
    left out of ``reduceat`` (the range before them runs to the end anyway).
    When every value is seen, the matrix is reduced in place of a NaN-masked copy.
    """
    rows, columns = vals.shape
    if seen.all():
        data = vals.ravel()
    else:
        data = np.full(vals.shape, np.nan)
        np.copyto(data, vals, where=seen)
        data = data.ravel()
    flat_starts = (starts + (np.arange(rows) * columns)[:, None]).ravel()
    inside = int(np.searchsorted(flat_starts, data.size))  # starts are non-decreasing
    peak = np.full(flat_starts.size, np.nan)
    if inside:
        peak[:inside] = np.fmax.reduceat(data, flat_starts[:inside])
    return peak


@dataclass(frozen=True)
class _Runs:
    """Runs of equal series ids: per-series work is done once per run, not per sample."""

    keys: IntArray
    starts: IntArray
    ids: IntArray
    lengths: IntArray

    @classmethod
    def of(cls, keys: IntArray) -> _Runs:
        starts = run_starts(keys)
        lengths = np.diff(np.append(starts, keys.size))
        return cls(keys, starts, keys[starts], lengths)

    def spread(self, per_run: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """A per-run value repeated for every sample of its run."""
        return np.repeat(per_run, self.lengths)


@dataclass(frozen=True)
class _Groups:
    """Peaks of one call grouped by (series, interval); ``step`` 0 is the open interval."""

    series: IntArray
    step: IntArray
    peak: FloatArray
    usage: FloatArray


@dataclass(eq=False)
class PeakTracker:
    """Per series: the open interval and its peak (NaN end or peak: nothing seen yet)."""

    interval: float
    row: IntArray
    window_end: FloatArray
    peak: FloatArray
    usage_peak: FloatArray
    last_sample: FloatArray

    @classmethod
    def empty(cls, interval: float, series: int = 0) -> PeakTracker:
        """A tracker for ``series`` series (it grows when higher series ids show up)."""
        if not interval > 0 or not np.isfinite(interval):
            raise ValueError("interval must be a positive number of seconds")
        nan = np.full(series, np.nan)
        return cls(
            interval=float(interval),
            row=np.full(series, -1, dtype=np.int64),
            window_end=nan.copy(),
            peak=nan.copy(),
            usage_peak=np.zeros(series),
            last_sample=nan,
        )

    @property
    def series(self) -> int:
        """How many series the tracker knows."""
        return int(self.row.size)

    def _grow(self, size: int) -> None:
        extra = size - self.series
        if extra > 0:
            nan = np.full(extra, np.nan)
            self.row = np.concatenate((self.row, np.full(extra, -1, dtype=np.int64)))
            self.window_end = np.concatenate((self.window_end, nan))
            self.peak = np.concatenate((self.peak, nan))
            self.usage_peak = np.concatenate((self.usage_peak, np.zeros(extra)))
            self.last_sample = np.concatenate((self.last_sample, nan))

    def fold(
        self,
        histogram: HistogramBatch,
        containers: npt.ArrayLike,
        values: npt.ArrayLike,
        timestamps: npt.ArrayLike,
        series: npt.ArrayLike | None = None,
        oom: npt.ArrayLike | None = None,
    ) -> int:
        """Fold memory samples (bytes) into ``histogram`` as per-interval peaks.

        ``containers`` are histogram rows; ``series`` (default: the row) identifies the pod
        container each sample comes from; ``oom`` marks OOM-bump samples, which are never
        dropped as out of order and do not count as usage. Returns how many samples were used.
        Samples sorted by series fold fastest (per-series work is done once per run).
        """
        rows = as_indices(containers, histogram.rows, "containers")
        ids = rows if series is None else as_indices(series, _MAX_SERIES, "series")
        vals = as_floats(values, "values")
        times = as_floats(timestamps, "timestamps")
        flags = None if oom is None else np.asarray(oom, dtype=bool)
        same_length("fold", rows, ids, vals, times, vals if flags is None else flags)
        if ids.size == 0:
            return 0
        runs = _Runs.of(ids)
        self._bind(rows, runs)
        keep = self._usable(vals, times, flags, runs)
        if not keep.all():
            ids, vals, times = ids[keep], vals[keep], times[keep]
            flags = None if flags is None else flags[keep]
            if ids.size == 0:
                return 0
            runs = _Runs.of(ids)
        self.last_sample = np.fmax(
            self.last_sample, group_max(ids, times, self.series, runs.starts)
        )
        self._apply(histogram, self._group(vals, times, flags, runs))
        return int(ids.size)

    def fold_grid(
        self,
        histogram: HistogramBatch,
        containers: npt.ArrayLike,
        timestamps: npt.ArrayLike,
        values: npt.ArrayLike,
        series: npt.ArrayLike | None = None,
    ) -> int:
        """Fold a (series x timestamps) matrix of memory usage, NaN where missing.

        Same rules as ``fold`` (usage samples only), but the interval boundaries of each matrix
        row are located once with ``searchsorted`` and the peaks taken with one ``reduceat``
        over contiguous column ranges: no per-sample index arithmetic. Each matrix row must be
        a different series; ``timestamps`` must increase strictly.
        """
        rows = as_indices(containers, histogram.rows, "containers")
        ids = rows if series is None else as_indices(series, _MAX_SERIES, "series")
        times = as_floats(timestamps, "timestamps")
        vals = np.asarray(values, dtype=np.float64)
        if vals.shape != (rows.size, times.size) or ids.size != rows.size:
            raise ValueError(f"values must have shape {(rows.size, times.size)}")
        if not (np.isfinite(times).all() and (np.diff(times) > 0).all()):
            raise ValueError("timestamps must be finite and strictly increasing")
        if np.unique(ids).size != ids.size:
            raise ValueError("each matrix row must be a different series")
        if ids.size == 0 or times.size == 0:
            return 0
        self._bind(rows, _Runs.of(ids))
        seen = (vals >= 0) & (vals < np.inf)
        fresh = np.isnan(self.window_end[ids]) & seen.any(axis=1)
        self.window_end[ids[fresh]] = times[seen[fresh].argmax(axis=1)]
        if np.isnan(self.window_end[ids]).all():
            return 0  # nothing usable and no open window: nothing to do
        # Columns before the newest earlier sample (usage only: never in a closed interval,
        # since the newest sample is in the open one) are skipped; equal times are kept.
        last = self.last_sample[ids]
        oldest = np.where(np.isnan(last), self._open_since(ids), last)
        first_column = np.searchsorted(times, np.nan_to_num(oldest, nan=-np.inf))
        used = seen & (np.arange(times.size)[None, :] >= first_column[:, None])
        last_column = times.size - 1 - used[:, ::-1].argmax(axis=1)
        newest = np.where(used.any(axis=1), times[last_column], np.nan)
        self.last_sample[ids] = np.fmax(self.last_sample[ids], newest)
        self._apply(histogram, self._grid_groups(ids, times, vals, seen, first_column))
        return int(used.sum())

    def _grid_groups(
        self,
        ids: IntArray,
        times: FloatArray,
        vals: FloatArray,
        seen: BoolArray,
        first_column: IntArray,
    ) -> _Groups:
        """Peaks per (series, step) of a matrix: step ``m`` of row ``i`` is the column range
        from ``end_i + (m - 1) * interval`` to ``end_i + m * interval`` (step 0 from
        ``first_column``), and one ``fmax.reduceat`` takes every range's maximum."""
        end = self.window_end[ids]
        steps = max(int(np.ceil((times[-1] - np.nanmin(end)) / self.interval)) + 1, 1)
        edges = end[:, None] + self.interval * np.arange(steps)[None, :]
        cuts = np.searchsorted(times, edges.ravel()).reshape(edges.shape)
        starts = np.column_stack((first_column, np.maximum(cuts, first_column[:, None])))
        stops = np.column_stack((starts[:, 1:], np.full(ids.size, times.size)))
        # A start at each row's end keeps a row's last range out of the next row's columns
        # (which may be skipped columns, older than that row's newest sample).
        row_ends = np.full((ids.size, 1), times.size)
        bounded = _range_peaks(vals, seen, np.column_stack((starts, row_ends)))
        peak = bounded.reshape(ids.size, starts.shape[1] + 1)[:, :-1].ravel()
        peak[(stops <= starts).ravel()] = np.nan  # reduceat gives an element for empty ranges
        present = np.flatnonzero(~np.isnan(peak))
        width = steps + 1
        present = present[np.argsort(ids[present // width], kind="stable")]  # by series
        return _Groups(
            series=ids[present // width],
            step=present % width,
            peak=peak[present],
            usage=peak[present],
        )

    def _bind(self, rows: IntArray, runs: _Runs) -> None:
        """Remember which row each series feeds; a series may not switch rows."""
        self._grow(int(runs.ids.max()) + 1)
        run_rows = rows[runs.starts]
        known = self.row[runs.ids]
        self.row[runs.ids] = run_rows
        if (
            (runs.spread(run_rows) != rows).any()
            or ((known >= 0) & (known != run_rows)).any()
            or (self.row[runs.ids] != run_rows).any()
        ):
            raise ValueError("a series must always feed the same histogram row")

    def _usable(
        self, vals: FloatArray, times: FloatArray, oom: BoolArray | None, runs: _Runs
    ) -> BoolArray:
        """Valid samples that are neither out of order (usage only) nor in a closed interval.

        A series seen for the first time opens its window at its earliest sample here.
        """
        keep = usable(vals, times)
        in_order = ~(times < runs.spread(self.last_sample[runs.ids]))
        keep &= in_order if oom is None else in_order | oom
        first = group_min(runs.keys, np.where(keep, times, np.nan), self.series, runs.starts)
        fresh = np.isnan(self.window_end) & ~np.isnan(first)
        self.window_end[fresh] = first[fresh]
        keep &= ~(times < runs.spread(self._open_since(runs.ids)))
        return keep

    def _open_since(self, ids: IntArray) -> FloatArray:
        """The earliest time each series' open interval is known to hold.

        The open interval starts at ``window_end - interval``, but that difference is rounded
        and may land just above the sample that opened the window (``(t + d) - d > t`` for
        fractional ``t``). The newest sample seen is always in the open interval, so a sample
        at or after it (an equal time included, as VPA accepts) is never in a closed one.
        """
        since: FloatArray = np.fmin(self.window_end[ids] - self.interval, self.last_sample[ids])
        return since

    def _group(
        self, vals: FloatArray, times: FloatArray, oom: BoolArray | None, runs: _Runs
    ) -> _Groups:
        """Peak and usage peak per (series, interval step), in (series, step) order.

        Step 0 is the open interval; a sample at or after the window end is in step
        ``floor((t - end) / interval) + 1``.
        """
        position = times - runs.spread(self.window_end[runs.ids])
        position /= self.interval
        np.floor(position, out=position)
        position += 1.0
        np.maximum(position, 0.0, out=position)
        step = position.astype(np.int64)
        width = int(step.max()) + 1
        key = runs.keys * width + step
        size = self.series * width
        if size > max(1 << 20, 4 * key.size):  # long gaps: compact the keys by sorting
            unique, key = np.unique(key, return_inverse=True)
            size = unique.size
        else:
            unique = np.arange(size)
        starts = run_starts(key)
        peak = group_max(key, vals, size, starts)
        usage = peak if oom is None else group_max(key, np.where(oom, np.nan, vals), size, starts)
        present = np.flatnonzero(~np.isnan(peak))
        return _Groups(
            series=unique[present] // width,
            step=unique[present] % width,
            peak=peak[present],
            usage=np.nan_to_num(usage[present], nan=0.0),
        )

    def _apply(self, histogram: HistogramBatch, groups: _Groups) -> None:
        """Replace raised open peaks, add the peaks of new intervals, move the windows."""
        if groups.series.size == 0:
            return
        ends = self.window_end[groups.series] + groups.step * self.interval
        old = self.peak[groups.series]
        is_open = groups.step == 0
        raised = is_open & (groups.peak > old)
        replaced = raised & ~np.isnan(old)
        histogram.subtract_samples(
            self.row[groups.series[replaced]], old[replaced], None, ends[replaced]
        )
        added = raised | ~is_open | (is_open & np.isnan(old))
        histogram.add_samples(self.row[groups.series[added]], groups.peak[added], None, ends[added])
        # Groups come sorted by (series, step): each series' last group is its open interval.
        last = np.flatnonzero(np.append(groups.series[1:] != groups.series[:-1], True))
        ids, still_open = groups.series[last], is_open[last]
        self.window_end[ids] = ends[last]
        self.peak[ids] = np.where(
            still_open, np.fmax(old[last], groups.peak[last]), groups.peak[last]
        )
        self.usage_peak[ids] = np.where(
            still_open, np.fmax(self.usage_peak[ids], groups.usage[last]), groups.usage[last]
        )

    def usage_peaks(self, series: npt.ArrayLike) -> FloatArray:
        """Highest usage in each series' open interval (0 if none): the base of an OOM bump."""
        ids = as_indices(series, _MAX_SERIES, "series")
        self._grow(int(ids.max()) + 1 if ids.size else 0)
        return self.usage_peak[ids]

    def _arrays(self) -> dict[str, npt.NDArray[Any]]:
        return {
            "row": self.row,
            "window_end": self.window_end,
            "peak": self.peak,
            "usage_peak": self.usage_peak,
            "last_sample": self.last_sample,
        }

    def equals(self, other: PeakTracker) -> bool:
        """Exact equality of the interval and every array (NaN equal to NaN)."""
        return self.interval == other.interval and all(
            np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
            for a, b in zip(self._arrays().values(), other._arrays().values(), strict=True)
        )

    def to_bytes(self) -> bytes:
        """The tracker in the checkpoint format of ``codec``."""
        return codec.pack(_KIND, {"interval": self.interval}, self._arrays())

    @classmethod
    def from_bytes(cls, data: bytes) -> PeakTracker:
        """Restore what ``to_bytes`` wrote, bit for bit."""
        meta, arrays = codec.unpack(data, _KIND)
        return cls(interval=float(meta["interval"]), **arrays)
