"""A seasonal forecast of one metric, and an honest test of whether it beats reacting.

Predictive scaling only helps when the forecast ``lead`` seconds ahead is closer to the truth
than the value we would react to anyway. The model is additive, and every term of the forecast
made at time ``t`` for ``t + lead`` uses data from ``t`` or earlier only:

    smooth(i)      mean of the samples within +-15 min of i (gaps skipped)
    daily(j)       median over the previous 7 days of smooth at the same time of day
    weekly(j)      median over the previous weeks of (smooth - daily) at the same time of
                   week: how this weekday differs from a typical day (weekends, Monday peaks)
    level(t)       mean of (sample - daily - weekly) over the hour up to t: whatever the
                   profile misses right now (growth, an incident) is taken to persist
    forecast       daily(t + lead) + weekly(t + lead) + level(t)

Why this model rather than Holt-Winters, ARIMA or a Fourier regression: it has nothing to fit
iteratively, so it is a handful of array operations (14 days at one-minute steps take a few
milliseconds); medians shrug off one-off days such as an outage or a release; it keeps sharp
daily shapes (a 9:00 ramp) that a few harmonics would blur; and gaps are simply missing terms.
Smoothing before the medians trades a little sharpness for much less noise: the median of
7 raw samples keeps about half of the noise, of 7 half-hour means about a tenth.

The forecast is usable only when the history covers two days (twice the shortest period) and
a backtest over the last day, forecasting each sample from the data up to ``lead`` before it,
gives a smaller mean absolute error than the reactive forecast (the sample ``lead`` before).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

DAY = 86400.0
WEEK = 7 * DAY
MIN_HISTORY = 2 * DAY
"""Two periods of the daily profile: with less, ``daily`` would rest on a single day."""
SMOOTHING = 900.0
"""Half-width in seconds of the mean taken before the seasonal medians."""
LEVEL_WINDOW = 3600.0
"""Seconds of recent residuals averaged into the level correction."""
DAYS_IN_PROFILE = 7
"""Recent days whose median makes the daily profile (one of each weekday)."""
WEEKS_IN_PROFILE = 3
"""Recent weeks whose median makes the weekly correction, when that much history exists."""
MIN_BACKTEST_SHARE = 0.1
"""The last day must hold at least this share of its samples for the backtest to count."""
_MAX_GRID = 20_000_000
"""Samples on the regular grid beyond which the timestamps must be wrong (e.g. in ms)."""


@dataclass(frozen=True)
class Forecast:
    """The forecast and the evidence for (or against) using it."""

    value: float
    """The forecast for ``at``; NaN when it cannot be computed."""
    at: float
    """Unix seconds the forecast is for: the last sample's time plus the lead time."""
    model_error: float
    """Mean absolute error of the model over the last day's backtest."""
    reactive_error: float
    """Mean absolute error of using the value ``lead`` earlier, over the same samples."""
    usable: bool
    reason: str
    backtest_samples: int = 0
    """How many samples of the last day the two errors are measured on."""


@dataclass(frozen=True)
class _Grid:
    """The history on a regular grid: ``values[i]`` is at ``start + i * step``, NaN if absent."""

    values: FloatArray
    start: float
    step: float


def seasonal_forecast(
    timestamps: npt.ArrayLike,
    values: npt.ArrayLike,
    lead_time: float,
    *,
    step: float | None = None,
    weekly: bool = True,
) -> Forecast:
    """Forecast ``values`` ``lead_time`` seconds after the last sample, and say if it is usable.

    ``step`` is the sampling interval in seconds (the median spacing when omitted); it should
    divide a day. Missing samples and NaN values are gaps. ``weekly=False`` drops the weekly
    correction, for metrics known to have no weekly rhythm.
    """
    grid = _regular_grid(timestamps, values, step)
    if grid is None:
        return _unusable(math.nan, math.nan, "no samples in the history")
    n = len(grid.values)
    lead = max(1, round(lead_time / grid.step))
    at = grid.start + (n - 1 + lead) * grid.step
    if n * grid.step < MIN_HISTORY:
        days = n * grid.step / DAY
        return _unusable(math.nan, at, f"the history covers {days:.1f} days; the model needs 2")
    period = round(DAY / grid.step)
    half_width = round(SMOOTHING / grid.step)
    if lead + half_width >= period:
        raise ValueError(f"lead time {lead_time:g} s is too long for a daily profile")
    seasonal = _seasonal(grid.values, period, half_width, lead, weekly)
    level = _trailing_mean(grid.values - seasonal[:n], max(1, round(LEVEL_WINDOW / grid.step)))
    # forecasts[i] is made at grid index i for i + lead.
    forecasts = seasonal[lead:] + level
    if np.nanmin(grid.values) >= 0:
        forecasts = np.maximum(forecasts, 0.0)
    value = float(forecasts[n - 1])
    model_error, reactive_error, samples = _backtest(grid.values, forecasts, period, lead)
    errors = (value, model_error, reactive_error, samples)
    if samples < MIN_BACKTEST_SHARE * period:
        return _unusable(value, at, f"only {samples} samples of the last day to backtest", errors)
    if not math.isfinite(value):
        return _unusable(value, at, "no seasonal profile or recent level for that time", errors)
    if model_error >= reactive_error:
        why = f"reacting is as good: error {model_error:.4g} vs {reactive_error:.4g} reactive"
        return _unusable(value, at, why, errors)
    better = f"error {model_error:.4g} vs {reactive_error:.4g} reactive over the last day"
    return Forecast(value, at, model_error, reactive_error, True, better, samples)


def _unusable(
    value: float,
    at: float,
    reason: str,
    errors: tuple[float, float, float, int] | None = None,
) -> Forecast:
    if errors is None:
        return Forecast(value, at, math.nan, math.nan, False, reason)
    value, model_error, reactive_error, samples = errors
    return Forecast(value, at, model_error, reactive_error, False, reason, samples)


def _regular_grid(
    timestamps: npt.ArrayLike, values: npt.ArrayLike, step: float | None
) -> _Grid | None:
    """Samples placed on a regular grid by rounding their times; the last of duplicates wins."""
    times = np.asarray(timestamps, dtype=np.float64).ravel()
    samples = np.asarray(values, dtype=np.float64).ravel()
    if times.shape != samples.shape:
        raise ValueError(f"{times.size} timestamps for {samples.size} values")
    keep = np.isfinite(times) & np.isfinite(samples)
    times, samples = times[keep], samples[keep]
    if times.size == 0:
        return None
    if step is None:
        spacing = np.diff(np.unique(times))
        step = float(np.median(spacing)) if spacing.size else 60.0
    if not step > 0:
        raise ValueError("step must be positive")
    start = float(times.min())
    index = np.rint((times - start) / step).astype(np.int64)
    size = int(index.max()) + 1
    if size > _MAX_GRID:
        raise ValueError(f"{size} grid steps of {step:g} s: are the timestamps in seconds?")
    grid = np.full(size, np.nan)
    grid[index] = samples
    return _Grid(grid, start, step)


def _seasonal(
    values: FloatArray, period: int, half_width: int, lead: int, weekly: bool
) -> FloatArray:
    """``daily + weekly`` for every grid index and ``lead`` steps beyond the last."""
    n = len(values)
    targets = np.arange(n + lead, dtype=np.int64)
    smooth = _centered_mean(values, half_width)
    daily = _lagged_median(smooth, targets, period, DAYS_IN_PROFILE)
    if not weekly:
        return daily
    deviation = smooth - daily[:n]
    week = _lagged_median(deviation, targets, 7 * period, WEEKS_IN_PROFILE)
    seasonal: FloatArray = daily + np.nan_to_num(week, nan=0.0)
    return seasonal


def _lagged_median(series: FloatArray, targets: IntArray, lag: int, count: int) -> FloatArray:
    """For each target j, the median of ``series[j - k * lag]`` for k = 1..count, ignoring
    NaN and indices before the start; NaN where none is left."""
    lags = lag * np.arange(1, count + 1, dtype=np.int64)
    index = targets[:, None] - lags[None, :]
    inside = (index >= 0) & (index < len(series))
    rows = np.where(inside, series[np.clip(index, 0, len(series) - 1)], np.nan)
    return _row_nanmedian(rows)


def _row_nanmedian(rows: FloatArray) -> FloatArray:
    """Median of each row ignoring NaN (NaN for all-NaN rows), without numpy's warnings."""
    ordered = np.sort(rows, axis=1)  # NaN sorts last
    counts = np.sum(~np.isnan(ordered), axis=1)
    low = np.clip((counts - 1) // 2, 0, None)
    high = np.clip(counts // 2, 0, None)
    picked = np.arange(len(rows))
    median: FloatArray = 0.5 * (ordered[picked, low] + ordered[picked, high])
    median[counts == 0] = np.nan
    return median


def _window_sums(values: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Prefix sums of the finite values and of their count, with a leading zero."""
    finite = np.isfinite(values)
    sums = np.concatenate([[0.0], np.cumsum(np.where(finite, values, 0.0))])
    counts = np.concatenate([[0.0], np.cumsum(finite.astype(np.float64))])
    return sums, counts


def _centered_mean(values: FloatArray, half_width: int) -> FloatArray:
    """Mean of the finite values within ``half_width`` steps on either side; NaN if none."""
    sums, counts = _window_sums(values)
    n = len(values)
    low = np.clip(np.arange(n) - half_width, 0, n)
    high = np.clip(np.arange(n) + half_width + 1, 0, n)
    total, count = sums[high] - sums[low], counts[high] - counts[low]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean: FloatArray = np.where(count > 0, total / count, np.nan)
    return mean


def _trailing_mean(values: FloatArray, width: int) -> FloatArray:
    """Mean of the finite values among the last ``width`` steps up to each index."""
    sums, counts = _window_sums(values)
    n = len(values)
    high = np.arange(1, n + 1)
    low = np.clip(high - width, 0, n)
    total, count = sums[high] - sums[low], counts[high] - counts[low]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean: FloatArray = np.where(count > 0, total / count, np.nan)
    return mean


def _backtest(
    values: FloatArray, forecasts: FloatArray, period: int, lead: int
) -> tuple[float, float, int]:
    """(model error, reactive error, samples) over the last ``period`` grid steps.

    ``forecasts[i]`` is the forecast made at i for i + lead, so the sample at j is compared
    with ``forecasts[j - lead]`` and with ``values[j - lead]``, on the samples where all three
    exist.
    """
    n = len(values)
    targets = np.arange(max(lead, n - period), n)
    truth = values[targets]
    model = forecasts[targets - lead]
    reactive = values[targets - lead]
    both = np.isfinite(truth) & np.isfinite(model) & np.isfinite(reactive)
    samples = int(both.sum())
    if samples == 0:
        return math.nan, math.nan, 0
    model_error = float(np.mean(np.abs(truth[both] - model[both])))
    reactive_error = float(np.mean(np.abs(truth[both] - reactive[both])))
    return model_error, reactive_error, samples


__all__ = ["DAY", "MIN_HISTORY", "WEEK", "Forecast", "seasonal_forecast"]
