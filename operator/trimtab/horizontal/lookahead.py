"""Predictive mode's one rule: scale for the larger of the metric now and its forecast.

A forecast never lowers a reading, so predictive mode can only add replicas ahead of a rise;
a fall is left to the reactive path and its scale-down window.

The forecast is in the unit the status shows for the metric: the query's value for a
Prometheus metric, the average utilisation in percent of the request for a Resource metric.
Resource metrics are forecast as the total utilisation of the workload (the sum over its
pods, which does not move when the scaler changes the replica count) and divided by the pods
that share the load now.
"""

from __future__ import annotations

import math
from dataclasses import replace

from trimtab.horizontal.algorithm import (
    PodUsage,
    PrometheusReading,
    Reading,
    ResourceReading,
)


def per_pod_forecast(total: float, pods: int) -> float:
    """The average utilisation a total forecast means for ``pods`` pods sharing the load."""
    return total / max(pods, 1)


def raised(reading: Reading, forecast: float, *, is_cpu: bool, empty_is_zero: bool) -> Reading:
    """``reading`` with its value raised to ``forecast`` when that is higher.

    For a Resource reading, the usage of every measured pod grows by the same share of its
    request, so the average utilisation over any set of measured pods grows by exactly the
    difference (the HPA averages over ready pods, the pods it would count here). Failed
    readings and readings without a value to compare stay as they are.
    """
    if not math.isfinite(forecast):
        return reading
    if isinstance(reading, PrometheusReading):
        value = reading.value
        if value is None and empty_is_zero:
            value = 0.0
        if value is None or forecast <= value:
            return reading
        return PrometheusReading(forecast)
    if isinstance(reading, ResourceReading):
        current = utilization(reading, is_cpu=is_cpu)
        if current is None or forecast <= current:
            return reading
        extra = (forecast - current) / 100.0
        return ResourceReading(
            tuple(
                pod if pod.usage is None else replace(pod, usage=pod.usage + extra * pod.request)
                for pod in reading.pods
            )
        )
    return reading


def utilization(reading: ResourceReading, *, is_cpu: bool) -> float | None:
    """Average utilisation in percent over the pods the HPA would average (measured, not
    pending, and for CPU ready); None when there are none."""
    counted = [
        pod
        for pod in reading.pods
        if pod.usage is not None
        and pod.state != "Pending"
        and not (is_cpu and pod.state == "Unready")
        and pod.request > 0
    ]
    if not counted:
        return None
    return 100.0 * _usage(counted) / sum(pod.request for pod in counted)


def _usage(pods: list[PodUsage]) -> float:
    return sum(pod.usage or 0.0 for pod in pods)


__all__ = ["per_pod_forecast", "raised", "utilization"]
