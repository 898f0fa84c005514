"""The horizontal scaler's pure core: metric readings in, replica counts out.

``algorithm`` reproduces the Kubernetes HPA's replica calculation (tolerance, missing and
unready pods, several metrics, stabilisation windows, scaling policies, bounds) and KEDA's
activation to and from zero, with the scaler's memory passed in and returned instead of kept
in a process. ``forecast`` is the seasonal forecaster behind predictive mode, which also tells
when its forecast is no better than reacting. Nothing here does I/O.
"""

from trimtab.horizontal.algorithm import (
    SCALE_DOWN_POLICIES,
    SCALE_DOWN_WINDOW,
    SCALE_UP_POLICIES,
    SCALE_UP_WINDOW,
    TOLERANCE,
    Decision,
    DirectionRules,
    FailedReading,
    MetricProposal,
    PodState,
    PodUsage,
    PrometheusReading,
    Reading,
    RecommendationSample,
    ResourceReading,
    ScaleEvent,
    ScalerMemory,
    Source,
    decide_replicas,
    direction_rules,
    metric_name,
    propose,
    rate_limited,
    scale_down_limit,
    scale_up_limit,
    stabilized_recommendation,
    with_fallback,
)
from trimtab.horizontal.forecast import Forecast, seasonal_forecast

__all__ = [
    "SCALE_DOWN_POLICIES",
    "SCALE_DOWN_WINDOW",
    "SCALE_UP_POLICIES",
    "SCALE_UP_WINDOW",
    "TOLERANCE",
    "Decision",
    "DirectionRules",
    "FailedReading",
    "Forecast",
    "MetricProposal",
    "PodState",
    "PodUsage",
    "PrometheusReading",
    "Reading",
    "RecommendationSample",
    "ResourceReading",
    "ScaleEvent",
    "ScalerMemory",
    "Source",
    "decide_replicas",
    "direction_rules",
    "metric_name",
    "propose",
    "rate_limited",
    "scale_down_limit",
    "scale_up_limit",
    "seasonal_forecast",
    "stabilized_recommendation",
    "with_fallback",
]
