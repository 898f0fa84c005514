"""The memory models: the highest usage of a window times (1 + margin), for a few windows and
margins, never below the recent peak plus memoryMargin; and the OOM floor.

A ring keeps the highest usage of each scoring interval (the open one and enough closed ones
for the longest window), pooled over the row's pods as VPA pools their peaks; the open
interval's total and count give its mean for the slack. Window maxima are read band by band
from the shortest window to the longest, so every window costs one pass over the ring.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from trimtab.recommender.adaptive.scoring import Closes, Scores, every_row, period_chunks
from trimtab.recommender.adaptive.settings import AdaptiveSettings
from trimtab.recommender.arrays import BoolArray, FloatArray, IntArray, usable
from trimtab.recommender.estimators import oom_bump


def _runs(first: int, stop: int, slots: int) -> list[tuple[int, int]]:
    """The ring slots of intervals ``first`` .. ``stop - 1`` as at most two slices."""
    if stop <= first:
        return []
    low, high = first % slots, (stop - 1) % slots + 1
    return [(low, high)] if low < high else [(low, slots), (0, high)]


@dataclass(eq=False)
class MemoryModels:
    """A ring of per-interval memory maxima, the open interval's totals, OOMs, and scores."""

    settings: AdaptiveSettings
    ring: FloatArray
    """(slots, rows): highest usage of each interval kept (NaN: none)."""
    ring_periods: IntArray
    """The interval each slot holds (-1: none yet)."""
    total: FloatArray
    samples: IntArray
    oom_peak: FloatArray
    """Highest OOM bump of the open interval (NaN: none), scored like a usage peak."""
    oom_level: FloatArray
    """The bump the OOM floor holds (0: none)."""
    oom_time: FloatArray
    scores: Scores
    open_period: int = -1
    closed_period: int = -1

    @classmethod
    def empty(cls, rows: int, settings: AdaptiveSettings) -> MemoryModels:
        nan = np.full(rows, np.nan)
        models = len(settings.memory_windows) * len(settings.memory_margins)
        return cls(
            settings=settings,
            ring=np.full((settings.ring_slots, rows), np.nan),
            ring_periods=np.full(settings.ring_slots, -1, dtype=np.int64),
            total=np.zeros(rows),
            samples=np.zeros(rows, dtype=np.int64),
            oom_peak=nan.copy(),
            oom_level=np.zeros(rows),
            oom_time=nan,
            scores=Scores.empty(rows, models, settings.first_models()[1]),
        )

    @property
    def rows(self) -> int:
        return int(self.total.size)

    def fold(self, rows: IntArray, values: FloatArray, times: FloatArray) -> int:
        """Keep each interval's peak; total the intervals from the open one on for scoring."""
        keep = usable(values, times)
        rows, values = rows[keep], values[keep]
        period = np.floor(times[keep] / self.settings.interval).astype(np.int64)
        late = period < self.open_period
        for number in np.unique(period[late]).tolist():
            mine = period == number
            self._raise_slot(number, rows[mine], values[mine])
        rows, values, period = rows[~late], values[~late], period[~late]
        distinct = np.unique(period)
        for start, stop in period_chunks(distinct, self.rows, 1):
            periods = distinct[start:stop]
            mine = (period >= periods[0]) & (period <= periods[-1])
            key = np.searchsorted(periods, period[mine]) * self.rows + rows[mine]
            size = periods.size * self.rows
            peak = np.full(size, np.nan)
            np.fmax.at(peak, key, values[mine])
            total = np.bincount(key, values[mine], minlength=size).astype(np.float64, copy=False)
            count = np.bincount(key, minlength=size)
            shape = (periods.size, self.rows)
            self._fold_chunk(
                periods, peak.reshape(shape), total.reshape(shape), count.reshape(shape)
            )
        return int(keep.sum())

    def fold_grid(self, rows: IntArray, times: FloatArray, matrix: FloatArray) -> int:
        """Fold a (matrix rows x times) matrix: each matrix row feeds state row ``rows[i]``."""
        ok = matrix >= 0  # False for NaN
        ok &= matrix < np.inf
        every = bool(ok.all())
        masked = matrix if every else np.where(ok, matrix, np.nan)
        seen = np.ones(times.size, dtype=bool) if every else ok.any(axis=0)
        # (columns without a usable sample do not move the clock)
        period = np.floor(times / self.settings.interval).astype(np.int64)
        late = seen & (period < self.open_period)
        for number in np.unique(period[late]).tolist():
            peak = np.fmax.reduce(masked[:, late & (period == number)], axis=1)
            self._raise_slot(number, rows, peak)
        distinct = np.unique(period[seen & ~late])
        for start, stop in period_chunks(distinct, self.rows, 1):
            periods = distinct[start:stop]
            columns = np.flatnonzero(seen & (period >= periods[0]) & (period <= periods[-1]))
            part = slice(int(columns[0]), int(columns[-1]) + 1)
            starts = np.searchsorted(period[part], periods)
            # Unseen columns inside the range only hold NaN: whichever interval takes them.
            peak = np.fmax.reduceat(masked[:, part], starts, axis=1)
            if every:
                total = np.add.reduceat(matrix[:, part], starts, axis=1)
                widths = np.diff(np.append(starts, part.stop - part.start))
                count = np.broadcast_to(widths, peak.shape)
            else:
                used = np.where(ok[:, part], matrix[:, part], 0.0)
                total = np.add.reduceat(used, starts, axis=1)
                count = np.add.reduceat(ok[:, part], starts, axis=1).astype(np.int64)
            shape = (self.rows, periods.size)
            pooled = (np.full(shape, np.nan), np.zeros(shape), np.zeros(shape, dtype=np.int64))
            np.fmax.at(pooled[0], rows, peak)
            np.add.at(pooled[1], rows, total)
            np.add.at(pooled[2], rows, count)
            self._fold_chunk(periods, pooled[0].T, pooled[1].T, pooled[2].T)
        return int(ok.sum())

    def _raise_slot(self, period: int, rows: IntArray, values: FloatArray) -> None:
        """A late peak: raise its interval's slot if the ring still holds it (not scored)."""
        slot = period % self.ring_periods.size
        if self.ring_periods[slot] == period:
            np.fmax.at(self.ring[slot], rows, values)

    def _advance(self, period: int) -> None:
        """Give ``period`` a ring slot, clearing the slots of intervals it pushes out."""
        slots = self.ring_periods.size
        newest = int(self.ring_periods.max())
        for number in range(max(newest + 1, period - slots + 1), period + 1):
            self.ring[number % slots] = np.nan
            self.ring_periods[number % slots] = number

    def _fold_chunk(
        self, periods: IntArray, peak: FloatArray, total: FloatArray, count: IntArray
    ) -> None:
        """Close every interval of the chunk but its last (with the open one before them),
        keep the last open."""
        total, count = total.copy(), count.copy()
        closing_open = self.open_period >= 0
        if closing_open:
            if periods[0] == self.open_period:
                total[0] += self.total
                count[0] += self.samples
            else:  # the open interval's peak is in its slot already
                periods = np.concatenate(([self.open_period], periods))
                peak = np.concatenate((np.full((1, self.rows), np.nan), peak))
                total = np.concatenate((self.total[None], total))
                count = np.concatenate((self.samples[None], count))
        closes = periods.size - 1
        slots = self.ring_periods.size
        maxima = np.empty((closes, self.rows, len(self.settings.window_slots)))
        peaks = np.empty((closes, self.rows))
        everyone = np.arange(self.rows)
        for m, number in enumerate(periods.tolist()):
            self._advance(number)
            slot = number % slots
            np.fmax(self.ring[slot], peak[m], out=self.ring[slot])
            if m < closes:
                maxima[m] = self.window_maxima(everyone, number)
                peaks[m] = self.ring[slot]
        if closes:
            touched = count[:closes] > 0
            if closing_open:
                peaks[0] = np.fmax(peaks[0], self.oom_peak)
                touched[0] |= ~np.isnan(self.oom_peak)
                self.oom_peak = np.full(self.rows, np.nan)
            self._close(periods[:closes], touched, maxima, peaks, total[:closes], count[:closes])
        self.open_period = int(periods[-1])
        self.total, self.samples = total[-1], count[-1]

    def _close(
        self,
        periods: IntArray,
        touched: BoolArray,
        maxima: FloatArray,
        peaks: FloatArray,
        total: FloatArray,
        count: IntArray,
    ) -> None:
        """Score the closed intervals: the models' values after each come from the window
        maxima; a request is raised when the recent peak plus memoryMargin passes it."""
        settings = self.settings
        closes = Closes.of(periods, touched, self.closed_period, settings)
        values = self.model_values(maxima.reshape(-1, maxima.shape[-1]))
        values = values.reshape(periods.size, self.rows, -1)
        guard = maxima[..., -1] * (1.0 + settings.memory_margin)

        def moved(m: int, value: FloatArray, request: FloatArray) -> BoolArray:
            with np.errstate(invalid="ignore"):
                leaving: BoolArray = (guard[m][:, None] > request) | (
                    value < request / (1.0 + settings.decrease_band)
                )
            return leaving

        def interval_cost(during: FloatArray) -> FloatArray:
            with np.errstate(invalid="ignore"):
                over = peaks[..., None] > during
                slack = np.maximum(during * count[..., None] - total[..., None], 0.0)
            cost = settings.memory_overrun_weight * over + settings.memory_slack_weight * slack
            charged: FloatArray = np.where(np.isnan(during), 0.0, cost)
            return charged

        self.scores.close(closes, values, moved, interval_cost, settings)
        self.closed_period = int(periods[-1])

    def add_oom(self, rows: IntArray, times: FloatArray, requests: FloatArray) -> int:
        """Bump from ``max(request, recent peak)``; the floor holds for the recent-peak window."""
        keep = np.isfinite(times)
        rows, times, requests = rows[keep], times[keep], requests[keep]
        if rows.size == 0:
            return 0
        if self.open_period < 0:
            self.open_period = int(np.floor(times.min() / self.settings.interval))
            self._advance(self.open_period)
        recent = np.nan_to_num(self.window_maxima(rows)[:, -1], nan=0.0)
        bumps = oom_bump(
            np.nan_to_num(requests, nan=0.0),
            recent,
            self.settings.oom_minimum,
            self.settings.oom_ratio,
        )
        self.oom_level[~self.oom_active()] = 0.0
        np.fmax.at(self.oom_level, rows, bumps)
        np.fmax.at(self.oom_time, rows, times)
        np.fmax.at(self.oom_peak, rows, bumps)
        return int(rows.size)

    def oom_active(self) -> BoolArray:
        """Rows whose last OOM is within the recent-peak window of the open interval's end."""
        now = (self.open_period + 1) * self.settings.interval
        active: BoolArray = self.oom_time > now - self.settings.recent_peak
        return active

    def model_values(self, maxima: FloatArray) -> FloatArray:
        """Every model's value from window maxima (rows, windows + 1): (rows, windows x
        margins), never below the recent peak times (1 + memoryMargin); NaN without samples."""
        margins = 1.0 + np.asarray(self.settings.memory_margins)
        values = maxima[:, :-1, None] * margins
        floor = maxima[:, -1] * (1.0 + self.settings.memory_margin)
        floored: FloatArray = np.fmax(values, floor[:, None, None]).reshape(maxima.shape[0], -1)
        return floored

    def window_maxima(self, rows: IntArray, newest: int | None = None) -> FloatArray:
        """Highest usage of each memory window and of the recent-peak window, all ending with
        interval ``newest`` (default: the open one): (rows, windows + 1), NaN where a window
        saw nothing.

        Windows are read band by band, shortest first: the slots of ages [reached, length)
        are at most two runs of the ring, read as slices (no copy). A slot of an age in range
        holds that interval or NaN: advancing the ring clears the slots it reuses.
        """
        lengths = self.settings.window_slots
        last = self.open_period if newest is None else newest
        slots = self.ring_periods.size
        ring = self.ring if every_row(rows, self.rows) else self.ring[:, rows]
        found = np.full((rows.size, len(lengths)), np.nan)
        running = np.full(rows.size, np.nan)
        reached = 0
        for index in np.argsort(lengths, kind="stable").tolist():
            for start, stop in _runs(last - lengths[index] + 1, last - reached + 1, slots):
                running = np.fmax(running, np.fmax.reduce(ring[start:stop], axis=0))
            reached = max(reached, lengths[index])
            found[:, index] = running
        return found

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        found: dict[str, npt.NDArray[Any]] = {
            "ring": self.ring,
            "ring_periods": self.ring_periods,
            "total": self.total,
            "samples": self.samples,
            "oom_peak": self.oom_peak,
            "oom_level": self.oom_level,
            "oom_time": self.oom_time,
        }
        found.update(self.scores.arrays())
        return found

    @classmethod
    def from_arrays(
        cls, settings: AdaptiveSettings, arrays: dict[str, npt.NDArray[Any]], clock: list[int]
    ) -> MemoryModels:
        return cls(
            settings=settings,
            ring=arrays["ring"],
            ring_periods=arrays["ring_periods"],
            total=arrays["total"],
            samples=arrays["samples"],
            oom_peak=arrays["oom_peak"],
            oom_level=arrays["oom_level"],
            oom_time=arrays["oom_time"],
            scores=Scores.from_arrays(arrays, settings.first_models()[1]),
            open_period=clock[0],
            closed_period=clock[1],
        )
