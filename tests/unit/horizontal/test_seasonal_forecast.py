"""The seasonal forecaster: accurate on seasonal load, honest about when reacting is better."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from trimtab.horizontal import Forecast, seasonal_forecast
from trimtab.horizontal.forecast import DAY

START = 1_700_000_000.0
MINUTE = 60.0


def minutes(days: float, step: float = MINUTE) -> np.ndarray:
    return START + np.arange(0.0, days * DAY, step)


def daily_load(times: np.ndarray) -> np.ndarray:
    """Requests per second: 100 on average, 50 up at the daily peak, 50 down at night."""
    return 100.0 + 50.0 * np.sin(2 * np.pi * (times - START) / DAY)


def weekly_load(times: np.ndarray) -> np.ndarray:
    """A busy week and a quiet weekend of a different shape: days 5 and 6 of each week from
    the start are weekend days."""
    phase = 2 * np.pi * (times - START) / DAY
    weekend = ((times - START) // DAY).astype(int) % 7 >= 5
    return np.where(weekend, 40.0 + 5.0 * np.sin(phase), 100.0 + 60.0 * np.sin(phase))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240601)


@pytest.mark.parametrize("lead", [300.0, 600.0, 1800.0])
def test_daily_sine_with_noise_is_forecast_within_a_few_percent(
    rng: np.random.Generator, lead: float
) -> None:
    times = minutes(14)
    forecast = seasonal_forecast(times, daily_load(times) + rng.normal(0, 3, times.size), lead)
    assert forecast.usable, forecast.reason
    assert forecast.at == times[-1] + lead
    truth = float(daily_load(np.array([forecast.at]))[0])
    assert forecast.value == pytest.approx(truth, rel=0.03)
    assert forecast.model_error < forecast.reactive_error
    # The noise alone costs E|N(0, 3)| = 2.39 on average: the model is close to that.
    assert forecast.model_error < 3.0
    assert forecast.backtest_samples == 1440


@pytest.mark.parametrize("days", [0.5, 1.0, 1.99])
def test_less_than_two_days_is_not_usable(rng: np.random.Generator, days: float) -> None:
    times = minutes(days)
    forecast = seasonal_forecast(times, daily_load(times) + rng.normal(0, 3, times.size), 600.0)
    assert not forecast.usable
    assert "needs 2" in forecast.reason
    assert math.isnan(forecast.value)


def test_two_days_are_enough(rng: np.random.Generator) -> None:
    times = minutes(2)
    forecast = seasonal_forecast(times, daily_load(times) + rng.normal(0, 3, times.size), 600.0)
    assert forecast.usable, forecast.reason


def test_a_random_walk_is_better_served_by_reacting(rng: np.random.Generator) -> None:
    times = minutes(14)
    walk = 1000.0 + np.cumsum(rng.normal(0, 1, times.size))
    forecast = seasonal_forecast(times, walk, 600.0)
    assert not forecast.usable
    assert "reacting" in forecast.reason
    assert forecast.model_error >= forecast.reactive_error


def test_white_noise_is_forecast_as_its_mean(rng: np.random.Generator) -> None:
    # Around a constant level, the average beats the last value: usable, and harmless.
    times = minutes(14)
    forecast = seasonal_forecast(times, 100.0 + rng.normal(0, 5, times.size), 600.0)
    assert forecast.usable
    assert forecast.value == pytest.approx(100.0, abs=2.0)


def test_the_weekly_pattern_is_captured(rng: np.random.Generator) -> None:
    # The history ends on the first weekend day (day 12) at about 14:00.
    times = minutes(12.6)
    values = weekly_load(times) + rng.normal(0, 3, times.size)
    weekly = seasonal_forecast(times, values, 600.0)
    daily_only = seasonal_forecast(times, values, 600.0, weekly=False)
    truth = float(weekly_load(np.array([weekly.at]))[0])
    assert weekly.usable, weekly.reason
    assert weekly.value == pytest.approx(truth, rel=0.05)
    # Without the weekly term the weekday profile leads the weekend forecast astray.
    assert weekly.model_error < 0.6 * daily_only.model_error
    assert not daily_only.usable


def test_gaps_and_missing_samples_are_tolerated(rng: np.random.Generator) -> None:
    times = minutes(14)
    values = daily_load(times) + rng.normal(0, 3, times.size)
    values[rng.random(times.size) < 0.1] = np.nan  # 10 % of samples lost
    keep = np.ones(times.size, dtype=bool)
    keep[-600:-420] = False  # a three-hour outage of the scraper on the last day
    forecast = seasonal_forecast(times[keep], values[keep], 600.0, step=MINUTE)
    assert forecast.usable, forecast.reason
    truth = float(daily_load(np.array([forecast.at]))[0])
    assert forecast.value == pytest.approx(truth, rel=0.03)
    assert forecast.backtest_samples < 1440 * 0.9


def test_the_step_is_inferred_from_the_timestamps(rng: np.random.Generator) -> None:
    times = minutes(7, step=300.0)
    values = daily_load(times) + rng.normal(0, 3, times.size)
    inferred = seasonal_forecast(times, values, 600.0)
    given = seasonal_forecast(times, values, 600.0, step=300.0)
    assert inferred == given
    assert inferred.backtest_samples == 288


def test_the_backtest_uses_only_data_from_before_each_forecast(
    rng: np.random.Generator,
) -> None:
    # Forecasting each sample of the last day again, from the history cut at lead before it,
    # must give exactly the backtest's error: nothing from later leaked into it.
    step, lead = 600.0, 1200.0
    times = START + np.arange(0.0, 4 * DAY, step)
    values = daily_load(times) + rng.normal(0, 3, times.size) + np.linspace(0, 20, times.size)
    full = seasonal_forecast(times, values, lead, step=step)
    day = round(DAY / step)
    ahead = round(lead / step)
    errors = []
    for target in range(times.size - day, times.size):
        cut = seasonal_forecast(times[: target - ahead + 1], values[: target - ahead + 1], lead)
        assert cut.at == pytest.approx(times[target])
        errors.append(abs(values[target] - cut.value))
    assert full.model_error == pytest.approx(float(np.mean(errors)), rel=1e-9)


def test_negative_forecasts_are_clipped_for_non_negative_metrics() -> None:
    times = minutes(14)
    # Traffic that falls to zero every night, sharply.
    values = np.maximum(0.0, 100.0 * np.sin(2 * np.pi * (times - START) / DAY))
    night = seasonal_forecast(times[: int(13.8 * 1440)], values[: int(13.8 * 1440)], 600.0)
    assert night.value >= 0.0


def test_fourteen_days_at_one_minute_take_well_under_100_ms(
    rng: np.random.Generator,
) -> None:
    times = minutes(14)
    values = daily_load(times) + rng.normal(0, 3, times.size)
    best = math.inf
    for _ in range(3):
        started = time.perf_counter()
        seasonal_forecast(times, values, 600.0)
        best = min(best, time.perf_counter() - started)
    assert best < 0.1


@pytest.mark.parametrize(
    ("times", "values", "lead", "error"),
    [
        pytest.param([1.0, 2.0], [1.0], 600.0, "timestamps", id="lengths differ"),
        pytest.param(minutes(3), np.ones(4320), 23.9 * 3600, "too long", id="lead near a day"),
        pytest.param(
            [START * 1000, START * 1000 + 14 * DAY * 1000],
            [1.0, 1.0],
            600.0,
            "seconds",
            id="timestamps in ms for a step in seconds",
        ),
    ],
)
def test_bad_input_is_refused(times: object, values: object, lead: float, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        seasonal_forecast(times, values, lead, step=1.0 if error == "seconds" else None)  # type: ignore[arg-type]


def test_an_empty_history_is_not_usable() -> None:
    forecast = seasonal_forecast([], [], 600.0)
    assert isinstance(forecast, Forecast)
    assert not forecast.usable
    assert "no samples" in forecast.reason
