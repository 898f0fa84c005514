"""Scoring a model family over the intervals one fold closes, every row at once.

A fold may close one interval (a live feed) or hundreds (a bootstrap of a week of history).
Everything about a closed interval but two things can be computed for all of them together:
the models' values after each close, what each interval cost, and the decayed sums of those
costs. The two exceptions are scans, each a few array operations per interval: the requests a
model would hold (a request moves only when its model leaves the band, so it depends on the
request before) and the choice with hysteresis (which depends on the choice before). So a
bootstrap costs a handful of array passes plus two light loops, not a Python loop of hundreds
of operations per interval.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from trimtab.recommender.adaptive.settings import CHUNK_CELLS, CHUNK_INTERVALS, AdaptiveSettings
from trimtab.recommender.arrays import BoolArray, FloatArray, IntArray


def bucket_percentiles(weights: FloatArray, percentiles: npt.ArrayLike) -> IntArray:
    """For each row, the first bucket whose cumulative weight reaches ``p`` x the total: shape
    (rows, len(percentiles)); -1 for a row without weight.

    All rows are searched at once: each row's cumulative shares (0..1) are offset by twice the
    row number, so one ``searchsorted`` over the flattened matrix finds every answer. The last
    non-empty bucket's share is exactly 1 (adding zeros is exact), so p = 1 lands there.
    """
    rows, buckets = weights.shape
    cumulative = np.cumsum(weights, axis=1)
    total = cumulative[:, -1].copy()
    empty = ~(total > 0)
    total[empty] = 1.0
    cumulative /= total[:, None]
    offset = 2.0 * np.arange(rows, dtype=np.float64)
    cumulative += offset[:, None]
    wanted = offset[:, None] + np.asarray(percentiles, dtype=np.float64)[None, :]
    found = np.searchsorted(cumulative.ravel(), wanted.ravel()).reshape(wanted.shape)
    found -= (np.arange(rows, dtype=np.int64) * buckets)[:, None]
    np.clip(found, 0, buckets - 1, out=found)
    found[empty] = -1
    bucket: IntArray = found.astype(np.int64)
    return bucket


def period_chunks(periods: IntArray, rows: int, buckets: int) -> Iterator[tuple[int, int]]:
    """(start, stop) index ranges of the sorted distinct ``periods``, each small enough that
    intervals x rows x buckets stays under CHUNK_CELLS (and at most CHUNK_INTERVALS)."""
    size = max(1, min(CHUNK_INTERVALS, CHUNK_CELLS // max(1, rows * buckets)))
    for start in range(0, periods.size, size):
        yield start, min(start + size, periods.size)


def running_sum(values: FloatArray) -> FloatArray:
    """``np.cumsum(values, axis=0)``, in place: numpy's running sum along the first axis
    walks the memory with a stride, several times slower than adding whole slices."""
    if values.shape[0] > 1 and values[0].size < 4096:
        summed: FloatArray = np.cumsum(values, axis=0, out=values)
        return summed
    for m in range(1, values.shape[0]):
        values[m] += values[m - 1]
    return values


def every_row(rows: IntArray, size: int) -> bool:
    """Whether ``rows`` is 0..size-1 in order (then a view serves instead of a copy)."""
    return rows.size == size and (size == 0 or (int(rows[0]) == 0 and int(rows[-1]) == size - 1))


@dataclass(frozen=True)
class Closes:
    """The intervals a fold closes, oldest first."""

    periods: IntArray
    """(M,) interval numbers."""
    touched: BoolArray
    """(M, rows): rows with samples in the interval (others are not scored)."""
    kept: FloatArray
    """(M,) the share of the cost before each close that it keeps (the decay since the close
    before)."""

    @classmethod
    def of(
        cls, periods: IntArray, touched: BoolArray, closed_before: int, settings: AdaptiveSettings
    ) -> Closes:
        previous = np.concatenate(([closed_before], periods[:-1]))
        gaps = np.where(previous >= 0, periods - previous, 0)
        kept = np.exp2(-gaps * settings.interval / settings.scoring_half_life)
        return cls(periods, touched, kept)


MovedRule = Callable[[int, FloatArray, FloatArray], BoolArray]
"""(close index, the models' values after it, their requests) -> requests leaving the band."""
IntervalCost = Callable[[FloatArray], FloatArray]
"""The requests in force during each closed interval (M, rows, models) -> its cost."""


@dataclass(eq=False)
class Scores:
    """Per row and model: the latest value, the request it would hold, the decayed cost, and
    the row's choice."""

    values: FloatArray
    requests: FloatArray
    """What a request following the model would be: its value when it last left the band."""
    costs: FloatArray
    selected: IntArray
    """The chosen model (-1: the first, until the row has been scored)."""
    scored: IntArray
    """Intervals scored per row (a row may switch after ``warm_up``)."""
    first: int

    @classmethod
    def empty(cls, rows: int, models: int, first: int) -> Scores:
        return cls(
            values=np.full((rows, models), np.nan),
            requests=np.full((rows, models), np.nan),
            costs=np.zeros((rows, models)),
            selected=np.full(rows, -1, dtype=np.int64),
            scored=np.zeros(rows, dtype=np.int64),
            first=first,
        )

    def close(
        self,
        closes: Closes,
        values: FloatArray,
        moved: MovedRule,
        interval_cost: IntervalCost,
        settings: AdaptiveSettings,
    ) -> None:
        """Apply the closes: ``values`` (M, rows, models) are the models' values after each.

        Each close charges every touched row's models the cost of the interval under the
        requests they held during it, moves the requests that left their band (a change,
        charged ``changeWeight``), and lets the row switch model with hysteresis.
        """
        during, changes = self._request_scan(closes, values, moved)
        cost = interval_cost(during)
        cost += settings.change_weight * changes
        cost[~closes.touched] = 0.0
        # costs_m = kept_m * costs_(m-1) + cost_m, for every m at once.
        kept = np.cumprod(closes.kept)[:, None, None]
        cost /= kept
        cost[0] += self.costs
        history = running_sum(cost)
        history *= kept
        self._choice_scan(closes, history, settings)
        self.costs = history[-1]
        reached = closes.touched.any(axis=0)
        if reached.any():
            newest = closes.touched.shape[0] - 1 - np.argmax(closes.touched[::-1], axis=0)
            self.values[reached] = values[newest[reached], np.flatnonzero(reached)]

    def _request_scan(
        self, closes: Closes, values: FloatArray, moved: MovedRule
    ) -> tuple[FloatArray, BoolArray]:
        """The requests in force during each interval, and which close changed which."""
        during = np.empty_like(values)
        changes = np.zeros(values.shape, dtype=bool)
        requests = self.requests
        for m in range(values.shape[0]):
            during[m] = requests
            touched = closes.touched[m][:, None]
            fresh = np.isnan(requests)
            leaving = touched & moved(m, values[m], requests)
            changes[m] = leaving & ~fresh
            requests = np.where(touched & (leaving | fresh), values[m], requests)
        self.requests = requests
        return during, changes

    def _choice_scan(self, closes: Closes, history: FloatArray, settings: AdaptiveSettings) -> None:
        """Each touched row keeps its model unless another is cheaper by the switch margin
        (and the row has a day of scored intervals)."""
        selected, scored = self.selected.copy(), self.scored.copy()
        here = np.arange(selected.size)
        for m in range(history.shape[0]):
            touched = closes.touched[m]
            scored += touched
            cost = history[m]
            chosen = np.where(selected < 0, self.first, selected)
            best = np.argmin(cost, axis=1)
            cheaper = cost[here, best] < cost[here, chosen] * (1.0 - settings.switch_margin)
            picked = np.where(cheaper & (scored >= settings.warm_up), best, chosen)
            selected = np.where(touched, picked, selected)
        self.selected, self.scored = selected, scored

    def chosen(self) -> IntArray:
        picked: IntArray = np.where(self.selected < 0, self.first, self.selected)
        return picked

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        return {
            "values": self.values,
            "requests": self.requests,
            "costs": self.costs,
            "selected": self.selected,
            "scored": self.scored,
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, npt.NDArray[Any]], first: int) -> Scores:
        return cls(
            values=arrays["values"],
            requests=arrays["requests"],
            costs=arrays["costs"],
            selected=arrays["selected"],
            scored=arrays["scored"],
            first=first,
        )
