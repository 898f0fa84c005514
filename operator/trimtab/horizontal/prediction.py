"""Predictive mode's I/O: each metric's history from the metrics port, forecast and cached.

Reading two weeks of history is the expensive part (two range queries per metric at one point
a minute), the forecast itself takes milliseconds. So a forecast is kept per scaler and metric
and recomputed at most every ``interval`` seconds (five minutes by default), while the syncs
in between (every 15 s) reuse it: the forecast is for ``leadTime`` ahead (ten minutes by
default), so one made a few minutes ago still looks far enough ahead.

A Resource metric's history is the workload's total utilisation over every pod it has had
(the names of a Deployment's pods across all its ReplicaSets), not only today's pods; the
forecast is divided by the pods sharing the load at each sync (see ``lookahead``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from trimtab.api.common import TargetRef
from trimtab.api.horizontal import HorizontalScalerSpec, MetricSpec
from trimtab.durations import parse_duration
from trimtab.horizontal.algorithm import Reading
from trimtab.horizontal.algorithm import metric_name as name_of
from trimtab.horizontal.forecast import seasonal_forecast
from trimtab.horizontal.lookahead import per_pod_forecast, raised
from trimtab.horizontal.status import ConditionUpdate
from trimtab.metrics.client import FloatArray
from trimtab.metrics.errors import MetricsError
from trimtab.metrics.scaling import TargetPod, pod_regex


class HistorySource(Protocol):
    """What predictive mode needs from the metrics port (``ScalingMetricsReader.history``)."""

    def history(
        self,
        namespace: str,
        pods: Sequence[TargetPod],
        metric: MetricSpec,
        end: float,
        *,
        history_s: float = ...,
        step_s: float = ...,
        pods_regex: str | None = None,
        total: bool = False,
    ) -> tuple[FloatArray, FloatArray]: ...


@dataclass(frozen=True)
class CachedForecast:
    """One metric's last forecast."""

    computed_at: float
    value: float | None
    """The usable forecast (a Resource metric's total utilisation), or None."""
    note: str
    """Why it is usable or not, for the PredictiveActive condition."""


def forecast_metrics(
    source: HistorySource,
    cache: dict[str, CachedForecast],
    namespace: str,
    spec: HorizontalScalerSpec,
    pods: Sequence[TargetPod],
    now: float,
    *,
    interval: float,
    step: float,
) -> tuple[dict[str, float], ConditionUpdate]:
    """Usable forecasts per metric name, in the unit the status shows (per pod for Resource
    metrics), and the PredictiveActive condition that says why each metric has one or not.
    ``cache`` is the scaler's, updated in place."""
    sharing = sum(pod.state != "Pending" for pod in pods)
    usable: dict[str, float] = {}
    notes = []
    for metric in spec.metrics:
        name = name_of(metric)
        cached = cache.get(name)
        if cached is None or now - cached.computed_at >= interval:
            cached = cache[name] = _forecast(source, namespace, spec, metric, pods, now, step)
        notes.append(f"{name}: {cached.note}")
        if cached.value is not None:
            per_pod = metric.resource is not None
            usable[name] = per_pod_forecast(cached.value, sharing) if per_pod else cached.value
    if usable:
        return usable, ("PredictiveActive", "True", "ForecastUsed", "; ".join(notes))
    return usable, ("PredictiveActive", "False", "ReactiveOnly", "; ".join(notes))


def readings_ahead(
    spec: HorizontalScalerSpec, readings: Sequence[Reading], forecasts: dict[str, float]
) -> list[Reading]:
    """Each reading raised to its metric's forecast where that is higher."""
    ahead = []
    for metric, reading in zip(spec.metrics, readings, strict=True):
        forecast = forecasts.get(name_of(metric))
        if forecast is not None:
            empty_is_zero = metric.prometheus is not None and metric.prometheus.treat_empty_as_zero
            is_cpu = metric.resource is not None and metric.resource.name == "cpu"
            reading = raised(reading, forecast, is_cpu=is_cpu, empty_is_zero=empty_is_zero)
        ahead.append(reading)
    return ahead


def _forecast(
    source: HistorySource,
    namespace: str,
    spec: HorizontalScalerSpec,
    metric: MetricSpec,
    pods: Sequence[TargetPod],
    now: float,
    step: float,
) -> CachedForecast:
    is_resource = metric.resource is not None
    try:
        timestamps, values = source.history(
            namespace,
            pods,
            metric,
            now,
            history_s=parse_duration(spec.predictive.history),
            step_s=step,
            pods_regex=workload_pods(spec.scale_target_ref) if is_resource else None,
            total=is_resource,
        )
        lead = parse_duration(spec.predictive.lead_time)
        forecast = seasonal_forecast(timestamps, values, lead, step=step)
    except MetricsError as error:
        return CachedForecast(now, None, f"no history: {error}")
    except ValueError as error:
        return CachedForecast(now, None, f"no forecast: {error}")
    return CachedForecast(now, forecast.value if forecast.usable else None, forecast.reason)


def workload_pods(target: TargetRef) -> str | None:
    """A regex of every pod the target has had, not only today's: Deployment pods are
    ``<name>-<template hash>-<suffix>``, StatefulSet pods ``<name>-<ordinal>``, ReplicaSet
    pods ``<name>-<suffix>``. None for other kinds: the history then covers current pods."""
    if target.api_version != "apps/v1":
        return None
    name = pod_regex([target.name])
    return {
        "Deployment": f"{name}-[a-z0-9]+-[a-z0-9]+",
        "StatefulSet": f"{name}-[0-9]+",
        "ReplicaSet": f"{name}-[a-z0-9]+",
    }.get(target.kind)


__all__ = ["CachedForecast", "HistorySource", "forecast_metrics", "readings_ahead", "workload_pods"]
