"""The CPU models: decaying histograms (one per half-life) read at several percentiles and
margins, fed and scored one scoring interval at a time.

Samples of an interval are counted per (row, bucket). When later samples arrive, the intervals
before them close: their counts enter every histogram with the weight of the interval's end,
and each model's value after each close is a bucket-end percentile of a histogram snapshot
times (1 + margin). All closes of a fold are computed together: the snapshots are running sums
over the intervals, so the percentiles of every snapshot come from one search.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from trimtab.recommender import codec
from trimtab.recommender.adaptive.scoring import (
    Closes,
    Scores,
    bucket_percentiles,
    every_row,
    period_chunks,
    running_sum,
)
from trimtab.recommender.adaptive.settings import AdaptiveSettings
from trimtab.recommender.arrays import BoolArray, FloatArray, IntArray, usable
from trimtab.recommender.buckets import CPU_LAYOUT
from trimtab.recommender.histogram import HistogramBatch

BUCKETS = CPU_LAYOUT.num_buckets
TRACKING_ROWS = 256
"""From this many rows on, percentiles are walked from their last bucket at each close
instead of searched in every snapshot (see ``follow_percentiles``)."""
CPU_CENTRES = np.append((CPU_LAYOUT.starts[:-1] + CPU_LAYOUT.ends[:-1]) / 2, CPU_LAYOUT.starts[-1])
"""The value a bucket's samples count as when slack is summed (the open bucket: its start)."""


def cpu_interval_cost(
    counts: FloatArray,
    values: FloatArray,
    settings: AdaptiveSettings,
    cumulative: FloatArray | None = None,
) -> FloatArray:
    """Overrun and slack cost of one interval for every model: (rows, models).

    ``counts`` are the interval's sample weights per bucket (``cumulative`` their running sum
    along the buckets, when known), ``values`` the models' requests during the interval (NaN:
    none yet, no cost). A bucket's samples count as its centre.
    """
    valid = np.isfinite(values)
    value = np.where(valid, values, 0.0)
    bucket = CPU_LAYOUT.bucket_of(value)
    running = np.cumsum(counts, axis=1) if cumulative is None else cumulative
    flat = bucket + (np.arange(counts.shape[0]) * BUCKETS)[:, None]  # faster than along-axis
    below_counts = np.take(running.ravel(), flat)
    below_usage = np.take(np.cumsum(counts * CPU_CENTRES, axis=1).ravel(), flat)
    # The bucket the value falls in is above it when its centre is.
    inside = np.take(counts.ravel(), flat)
    above = CPU_CENTRES[bucket] > value
    below_counts -= np.where(above, inside, 0.0)
    below_usage -= np.where(above, inside * CPU_CENTRES[bucket], 0.0)
    overrun = running[:, -1:] - below_counts
    slack = np.maximum(value * below_counts - below_usage, 0.0)
    cost = settings.overrun_weight * overrun + settings.slack_weight * slack
    charged: FloatArray = np.where(valid, cost, 0.0)
    return charged


def follow_percentiles(
    weights: FloatArray,
    total: FloatArray,
    bucket: IntArray,
    below: FloatArray,
    percentiles: npt.ArrayLike,
) -> tuple[IntArray, FloatArray]:
    """Move tracked percentile buckets to where ``weights`` now put them.

    ``bucket[i, k]`` was row i's bucket of percentile k (-1: none yet) and ``below[i, k]`` the
    weight under it, already including what was added since. A percentile moves a bucket or
    two per interval, so walking from the old bucket costs a few gathers where a search costs
    a running sum over every bucket of every row; rows without a bucket are searched. The
    threshold is shaved by 1e-12 so that rounding cannot walk p = 1 past the last sample.
    """
    wanted = np.asarray(percentiles, dtype=np.float64)[None, :]
    bucket, below = bucket.copy(), below.copy()
    fresh = np.flatnonzero((bucket < 0).any(axis=1) & (total > 0))
    if fresh.size:
        found = bucket_percentiles(weights[fresh], wanted[0])
        running = np.cumsum(weights[fresh], axis=1)
        under = np.take_along_axis(running, np.maximum(found - 1, 0), axis=1)
        bucket[fresh] = found
        below[fresh] = np.where(found > 0, under, 0.0)
    threshold = wanted * total[:, None] * (1.0 - 1e-12)
    flat_rows = (np.arange(bucket.shape[0]) * weights.shape[1])[:, None]
    cells = weights.ravel()
    last = weights.shape[1] - 1
    known = bucket >= 0
    while True:  # up while the bucket's end is still short of the threshold
        here = np.take(cells, flat_rows + np.maximum(bucket, 0))
        up = known & (below + here < threshold) & (bucket < last)
        if not up.any():
            break
        below = np.where(up, below + here, below)
        bucket = np.where(up, bucket + 1, bucket)
    while True:  # down while the bucket before already reaches it
        down = known & (bucket > 0) & (below >= threshold)
        if not down.any():
            break
        before = np.take(cells, flat_rows + np.maximum(bucket - 1, 0))
        below = np.where(down, below - before, below)
        bucket = np.where(down, bucket - 1, bucket)
    below[bucket <= 0] = 0.0
    return bucket, below


@dataclass(frozen=True)
class _Chunk:
    """Samples of consecutive intervals, counted: ``counts[l, row, bucket]`` and
    ``samples[l, row]``; first and last sample per row of the closed ones and the last one."""

    periods: IntArray
    counts: FloatArray
    samples: IntArray
    closed_first: FloatArray
    closed_last: FloatArray
    open_first: FloatArray
    open_last: FloatArray


@dataclass(eq=False)
class CpuModels:
    """Decaying CPU histograms (one per half-life), the open interval, and the scores."""

    settings: AdaptiveSettings
    histograms: list[HistogramBatch]
    counts: FloatArray
    """(rows, buckets): sample weights of the open interval."""
    first: FloatArray
    last: FloatArray
    samples: IntArray
    tracked: IntArray
    """(rows, half-lives, percentiles): each percentile's bucket at the last close (-1: none;
    kept only for states of TRACKING_ROWS rows or more)."""
    below: FloatArray
    """(rows, half-lives, percentiles): the histogram's weight under that bucket."""
    scores: Scores
    open_period: int = -1
    closed_period: int = -1

    @classmethod
    def empty(cls, rows: int, settings: AdaptiveSettings) -> CpuModels:
        models = len(settings.half_lives) * len(settings.percentiles) * len(settings.margins)
        return cls(
            settings=settings,
            histograms=[HistogramBatch.empty(rows, CPU_LAYOUT, h) for h in settings.half_lives],
            counts=np.zeros((rows, BUCKETS)),
            first=np.full(rows, np.nan),
            last=np.full(rows, np.nan),
            samples=np.zeros(rows, dtype=np.int64),
            tracked=np.full(
                (rows, len(settings.half_lives), len(settings.percentiles)), -1, dtype=np.int64
            ),
            below=np.zeros((rows, len(settings.half_lives), len(settings.percentiles))),
            scores=Scores.empty(rows, models, settings.first_models()[0]),
        )

    @property
    def rows(self) -> int:
        return int(self.counts.shape[0])

    def _periods(self, times: FloatArray) -> IntArray:
        """Each sample's interval; samples older than the open interval count in it (they are
        rare, and a close cannot be undone)."""
        period = np.floor(times / self.settings.interval).astype(np.int64)
        return np.maximum(period, self.open_period) if self.open_period >= 0 else period

    def fold(
        self, rows: IntArray, values: FloatArray, times: FloatArray, weights: FloatArray | None
    ) -> int:
        """Count usable samples in their intervals, closing intervals as time moves on."""
        weight = np.ones(values.size) if weights is None else weights
        keep = usable(values, times) & (weight >= 0) & (weight < np.inf)
        rows, values, times, weight = rows[keep], values[keep], times[keep], weight[keep]
        period = self._periods(times)
        distinct = np.unique(period)
        for start, stop in period_chunks(distinct, self.rows, BUCKETS):
            periods = distinct[start:stop]
            mine = (period >= periods[0]) & (period <= periods[-1])
            local = np.searchsorted(periods, period[mine])
            key = local * self.rows + rows[mine]
            size = periods.size * self.rows
            flat = key * BUCKETS + CPU_LAYOUT.bucket_of(values[mine])
            counts = np.bincount(flat, weight[mine], minlength=size * BUCKETS).astype(
                np.float64, copy=False
            )
            samples = np.bincount(key, minlength=size).reshape(periods.size, self.rows)
            stamps, is_open = times[mine], local == periods.size - 1
            found = [np.full(self.rows, np.nan) for _ in range(4)]
            for low, high, part in ((0, 1, ~is_open), (2, 3, is_open)):
                np.fmin.at(found[low], rows[mine][part], stamps[part])
                np.fmax.at(found[high], rows[mine][part], stamps[part])
            chunk = _Chunk(periods, counts.reshape(-1, self.rows, BUCKETS), samples, *found)
            self._fold_chunk(chunk)
        return int(rows.size)

    def fold_grid(
        self, rows: IntArray, times: FloatArray, matrix: FloatArray, weights: FloatArray | None
    ) -> int:
        """Fold a (matrix rows x times) matrix: each matrix row feeds state row ``rows[i]``."""
        ok = matrix >= 0  # False for NaN
        ok &= matrix < np.inf
        if weights is not None:
            ok &= (weights >= 0) & (weights < np.inf)
        seen = ok.any(axis=0)  # columns without a usable sample do not move the clock
        period = self._periods(times)
        distinct = np.unique(period[seen])
        folded = 0
        for start, stop in period_chunks(distinct, self.rows, BUCKETS):
            periods = distinct[start:stop]
            columns = np.flatnonzero(seen & (period >= periods[0]) & (period <= periods[-1]))
            part = slice(int(columns[0]), int(columns[-1]) + 1)
            local = np.searchsorted(periods, period[part])
            chunk_weights = None if weights is None else weights[:, part]
            chunk = self._count_grid(
                rows, times[part], matrix[:, part], ok[:, part], chunk_weights, periods, local
            )
            folded += int(chunk.samples.sum())
            self._fold_chunk(chunk)
        return folded

    def _count_grid(
        self,
        rows: IntArray,
        times: FloatArray,
        matrix: FloatArray,
        ok: BoolArray,
        weights: FloatArray | None,
        periods: IntArray,
        local: IntArray,
    ) -> _Chunk:
        """Counts of a chunk of a matrix: one bucket index per sample, one ``bincount``."""
        size = periods.size * self.rows
        key = local[None, :] * self.rows + rows[:, None]
        index = CPU_LAYOUT.bucket_of(matrix)
        index += key * BUCKETS
        every = bool(ok.all())
        if weights is not None:
            weight: FloatArray | None = np.where(ok, weights, 0.0).ravel()
        else:
            weight = None if every else ok.ravel().astype(np.float64)
        counts = np.bincount(index.ravel(), weight, minlength=size * BUCKETS).astype(
            np.float64, copy=False
        )
        is_open = local == periods.size - 1
        if every and weights is None:  # no sample missing: no masks to reduce
            return self._full_chunk(rows, times, periods, local, counts)
        samples = np.bincount(key.ravel(), ok.ravel(), minlength=size).astype(np.int64)
        found = []
        for columns in (~is_open, is_open):
            mask = ok & columns[None, :]
            has = mask.any(axis=1)
            first = np.where(has, times[mask.argmax(axis=1)], np.nan)
            last = np.where(has, times[times.size - 1 - mask[:, ::-1].argmax(axis=1)], np.nan)
            for value, reduce in ((first, np.fmin), (last, np.fmax)):
                out = np.full(self.rows, np.nan)
                reduce.at(out, rows, value)
                found.append(out)
        return _Chunk(
            periods,
            counts.reshape(-1, self.rows, BUCKETS),
            samples.reshape(periods.size, self.rows),
            *found,
        )

    def _full_chunk(
        self,
        rows: IntArray,
        times: FloatArray,
        periods: IntArray,
        local: IntArray,
        counts: FloatArray,
    ) -> _Chunk:
        """The chunk of a matrix without a missing sample: every matrix row has a sample in
        every column."""
        per_period = np.bincount(local, minlength=periods.size)
        fed = np.bincount(rows, minlength=self.rows)
        is_open = local == periods.size - 1
        stamps = []
        for part in (~is_open, is_open):
            has = bool(part.any()) & (fed > 0)
            stamps.append(np.where(has, times[part].min() if part.any() else np.nan, np.nan))
            stamps.append(np.where(has, times[part].max() if part.any() else np.nan, np.nan))
        return _Chunk(
            periods,
            counts.reshape(-1, self.rows, BUCKETS),
            per_period[:, None] * fed[None, :],
            *stamps,
        )

    def _fold_chunk(self, chunk: _Chunk) -> None:
        """Close every interval of ``chunk`` but its last (with the open one before them),
        and keep the last open."""
        periods, counts, samples = chunk.periods, chunk.counts, chunk.samples
        closed_first, closed_last = chunk.closed_first, chunk.closed_last
        open_first, open_last = chunk.open_first, chunk.open_last
        if self.open_period >= 0:
            if periods[0] == self.open_period:
                counts[0] += self.counts
                samples[0] += self.samples
                if periods.size == 1:
                    open_first = np.fmin(open_first, self.first)
                    open_last = np.fmax(open_last, self.last)
            else:
                periods = np.concatenate(([self.open_period], periods))
                counts = np.concatenate((self.counts[None], counts))
                samples = np.concatenate((self.samples[None], samples))
            if periods.size > 1:
                closed_first = np.fmin(closed_first, self.first)
                closed_last = np.fmax(closed_last, self.last)
        if periods.size > 1:
            self._close(periods[:-1], counts[:-1], samples[:-1], closed_first, closed_last)
        self.open_period = int(periods[-1])
        self.counts, self.samples = counts[-1].copy(), samples[-1].copy()
        self.first, self.last = open_first, open_last

    def _close(
        self,
        periods: IntArray,
        counts: FloatArray,
        samples: IntArray,
        first: FloatArray,
        last: FloatArray,
    ) -> None:
        """Close intervals (oldest first): fold them into the histograms, read the models
        after each, and score them."""
        settings = self.settings
        closes = Closes.of(periods, samples > 0, self.closed_period, settings)
        cumulative = np.cumsum(counts.reshape(-1, BUCKETS), axis=1).reshape(counts.shape)
        weight = cumulative[..., -1]
        ends = (periods + 1.0) * settings.interval
        total = samples.sum(axis=0)
        touched = np.flatnonzero(total > 0)
        margins = 1.0 + np.asarray(settings.margins)
        values = []
        for h, histogram in enumerate(self.histograms):
            before = histogram.reference.copy()
            histogram.settle_rows(touched, first, last, total)
            exponent = (ends[:, None] - histogram.reference[None, :]) / histogram.half_life
            factor = np.exp2(np.nan_to_num(exponent, nan=0.0))  # rows never fed add zeros
            if self.rows >= TRACKING_ROWS:
                rescale = np.exp2((before - histogram.reference) / histogram.half_life)
                found = self._walk(h, counts, cumulative, factor, np.nan_to_num(rescale, nan=1.0))
            else:
                found = self._search(histogram, counts, weight, factor)
            value = np.where(found >= 0, CPU_LAYOUT.ends[np.maximum(found, 0)], np.nan)
            values.append(value[..., None] * margins)
        modelled = np.stack(values, axis=2).reshape(periods.size, self.rows, -1)

        def moved(_: int, value: FloatArray, request: FloatArray) -> BoolArray:
            with np.errstate(invalid="ignore"):
                leaving: BoolArray = (value > request * (1.0 + settings.increase_band)) | (
                    value < request / (1.0 + settings.decrease_band)
                )
            return leaving

        def interval_cost(during: FloatArray) -> FloatArray:
            shape = during.shape
            flat = cpu_interval_cost(
                counts.reshape(-1, BUCKETS),
                during.reshape(-1, shape[-1]),
                settings,
                cumulative.reshape(-1, BUCKETS),
            )
            return flat.reshape(shape)

        self.scores.close(closes, modelled, moved, interval_cost, settings)
        self.closed_period = int(periods[-1])

    def _search(
        self, histogram: HistogramBatch, counts: FloatArray, weight: FloatArray, factor: FloatArray
    ) -> IntArray:
        """Add the closed intervals to ``histogram`` and search the percentile buckets of the
        snapshot after each: (closes, rows, percentiles)."""
        added = counts * factor[..., None]
        added[0] += histogram.weights
        snapshots = running_sum(added)
        totals = np.cumsum(weight * factor, axis=0) + histogram.total_weight
        histogram.weights = snapshots[-1].copy()
        histogram.total_weight = totals[-1].copy()
        found = bucket_percentiles(snapshots.reshape(-1, BUCKETS), self.settings.percentiles)
        return found.reshape(counts.shape[0], self.rows, -1)

    def _walk(
        self,
        h: int,
        counts: FloatArray,
        cumulative: FloatArray,
        factor: FloatArray,
        rescale: FloatArray,
    ) -> IntArray:
        """Add the closed intervals to histogram ``h`` one at a time, walking its tracked
        percentile buckets after each: (closes, rows, percentiles)."""
        histogram = self.histograms[h]
        bucket, below = self.tracked[:, h], self.below[:, h] * rescale[:, None]
        found = np.empty((counts.shape[0], self.rows, bucket.shape[1]), dtype=np.int64)
        flat_rows = (np.arange(self.rows) * BUCKETS)[:, None]
        for m in range(counts.shape[0]):
            index = flat_rows + np.maximum(bucket, 0)
            under = np.take(cumulative[m].ravel(), index) - np.take(counts[m].ravel(), index)
            below = below + under * factor[m][:, None]
            histogram.weights += counts[m] * factor[m][:, None]
            histogram.total_weight += cumulative[m, :, -1] * factor[m]
            bucket, below = follow_percentiles(
                histogram.weights, histogram.total_weight, bucket, below, self.settings.percentiles
            )
            found[m] = bucket
        self.tracked[:, h], self.below[:, h] = bucket, below
        return found

    def percentiles(
        self, rows: IntArray, percentiles: npt.ArrayLike, with_open: bool = False
    ) -> FloatArray:
        """Bucket-end percentiles per half-life: (rows, half-lives, percentiles); NaN for a
        row without samples. ``with_open`` adds the open interval's samples."""
        wanted = np.atleast_1d(np.asarray(percentiles, dtype=np.float64))
        found = np.full((rows.size, len(self.histograms), wanted.size), np.nan)
        end = (self.open_period + 1) * self.settings.interval
        every = every_row(rows, self.rows)
        for h, histogram in enumerate(self.histograms):
            weights = histogram.weights if every else histogram.weights[rows]
            if with_open and self.open_period >= 0:
                reference = np.nan_to_num(histogram.reference[rows], nan=end)
                factor = np.exp2((end - reference) / histogram.half_life)
                weights = weights + self.counts[rows] * factor[:, None]
            bucket = bucket_percentiles(weights, wanted)
            found[:, h] = np.where(bucket >= 0, CPU_LAYOUT.ends[np.maximum(bucket, 0)], np.nan)
        return found

    def history(self) -> tuple[FloatArray, IntArray]:
        """Seconds between the first and the last sample, and the sample count, per row."""
        histogram = self.histograms[0]
        first = np.fmin(histogram.first_sample, self.first)
        last = np.fmax(histogram.last_sample, self.last)
        span: FloatArray = np.nan_to_num(last - first, nan=0.0)
        count: IntArray = histogram.sample_count + self.samples
        return span, count

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        found: dict[str, npt.NDArray[Any]] = {
            "first": self.first,
            "last": self.last,
            "samples": self.samples,
            "tracked": self.tracked,
            "below": self.below,
        }
        found.update({f"counts.{k}": v for k, v in codec.sparse_rows(self.counts).items()})
        found.update(self.scores.arrays())
        for h, histogram in enumerate(self.histograms):
            found[f"histogram{h}"] = np.frombuffer(histogram.to_bytes(), dtype=np.uint8)
        return found

    @classmethod
    def from_arrays(
        cls, settings: AdaptiveSettings, arrays: dict[str, npt.NDArray[Any]], clock: list[int]
    ) -> CpuModels:
        rows = int(arrays["samples"].size)
        counts = {k.removeprefix("counts."): v for k, v in arrays.items() if k.startswith("co")}
        return cls(
            settings=settings,
            histograms=[
                HistogramBatch.from_bytes(arrays[f"histogram{h}"].tobytes())
                for h in range(len(settings.half_lives))
            ],
            counts=codec.dense_rows(counts, (rows, BUCKETS)),
            first=arrays["first"],
            last=arrays["last"],
            samples=arrays["samples"],
            tracked=arrays["tracked"],
            below=arrays["below"],
            scores=Scores.from_arrays(arrays, settings.first_models()[0]),
            open_period=clock[0],
            closed_period=clock[1],
        )
