"""What a HorizontalScaler's status says about a sync, computed without I/O.

Conditions follow the HPA's, so that people and tools that know ``kubectl describe hpa`` read
them the same way:

    AbleToScale     True: ReadyForNewScale, ScaleUpStabilized or ScaleDownStabilized;
                    False: the scale subresource could not be read or written
    ScalingActive   True when the metrics (or the activation to and from zero) decide;
                    False when they cannot: InvalidMetric, FailedGetMetrics, Fallback,
                    ScalingDisabled (the target was set to 0 by hand), ScaledToZero, or a
                    target that cannot be scaled (NoScaleSubresource, TargetNotFound, ...)
    ScalingLimited  True when minReplicas, maxReplicas or a policy cut the desired count

The scaler's memory (the algorithm's ``ScalerMemory``) is written into ``status.scalerMemory``
and read back after a restart. Only the newest recommendation of each replica count is kept:
an older equal one is inside every window the newer one is inside, so the windows' minimum and
maximum never need it, and a steady scaler stores one sample however long its windows are.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from trimtab.conditions import ConditionStatus
from trimtab.horizontal.algorithm import (
    Decision,
    MetricProposal,
    RecommendationSample,
    ScaleEvent,
    ScalerMemory,
)
from trimtab.quantity import Quantity

ConditionUpdate = tuple[str, ConditionStatus, str, str]
"""(type, status, reason, message), ready for ``make_condition``."""

_NANOS_PER_MILLI = 10**6
_STABILIZATION_MESSAGES = {
    "ReadyForNewScale": "the recommendation is not held back by a stabilisation window",
    "ScaleUpStabilized": "recent recommendations were lower: holding at the lowest of the "
    "scale-up window",
    "ScaleDownStabilized": "recent recommendations were higher: holding at the highest of the "
    "scale-down window",
}
_LIMIT_MESSAGES = {
    "TooManyReplicas": "the desired count is above maxReplicas",
    "TooFewReplicas": "the desired count is below minReplicas",
    "ScaleUpLimit": "the desired count grows faster than the scale-up policies allow",
    "ScaleDownLimit": "the desired count shrinks faster than the scale-down policies allow",
}


# -- memory ----------------------------------------------------------------------------------


def compact_memory(memory: ScalerMemory) -> ScalerMemory:
    """``memory`` with only the newest recommendation of each replica count (see module doc)."""
    newest: dict[int, RecommendationSample] = {}
    for sample in memory.recommendations:
        kept = newest.get(sample.replicas)
        if kept is None or sample.time >= kept.time:
            newest[sample.replicas] = sample
    samples = tuple(sorted(newest.values(), key=lambda sample: sample.time))
    return ScalerMemory(samples, memory.scale_events, memory.failures, memory.last_active)


def memory_to_status(memory: ScalerMemory) -> dict[str, Any]:
    """The ``status.scalerMemory`` object (camelCase) for ``memory``, compacted."""
    memory = compact_memory(memory)
    return {
        "recommendations": [
            {"time": _time(sample.time), "replicas": sample.replicas}
            for sample in memory.recommendations
        ],
        "scaleEvents": [
            {"time": _time(event.time), "change": event.change} for event in memory.scale_events
        ],
        "failures": [{"metric": name, "count": count} for name, count in memory.failures],
        "lastActive": None if memory.last_active is None else _time(memory.last_active),
    }


def memory_from_status(saved: Mapping[str, Any] | None) -> ScalerMemory:
    """The memory saved in ``status.scalerMemory``; an empty memory when there is none or it
    cannot be read (the algorithm then treats the scaler as new, which is the safe side)."""
    if not saved:
        return ScalerMemory()
    try:
        recommendations = tuple(
            RecommendationSample(float(item["time"]), int(item["replicas"]))
            for item in saved.get("recommendations") or ()
        )
        events = tuple(
            ScaleEvent(float(item["time"]), int(item["change"]))
            for item in saved.get("scaleEvents") or ()
        )
        failures = tuple(
            (str(item["metric"]), int(item["count"])) for item in saved.get("failures") or ()
        )
        active = saved.get("lastActive")
        last_active = None if active is None else float(active)
    except (KeyError, TypeError, ValueError):
        return ScalerMemory()
    return ScalerMemory(recommendations, events, failures, last_active)


def _time(seconds: float) -> float:
    return round(seconds, 3)


# -- metric values ---------------------------------------------------------------------------


def format_metric(value: float | None) -> str | None:
    """A metric value as a quantity, rounded to thousandths as the HPA reports them."""
    if value is None or not math.isfinite(value):
        return None
    return str(Quantity(round(value * 1000) * _NANOS_PER_MILLI))


def metric_values(
    proposals: Sequence[MetricProposal], forecasts: Mapping[str, float]
) -> list[dict[str, Any]]:
    """``status.currentMetrics``: each metric's value, target and (when used) forecast."""
    values = []
    for proposal in proposals:
        entry: dict[str, Any] = {"name": proposal.name}
        for key, number in (
            ("value", proposal.value),
            ("target", proposal.target),
            ("forecast", forecasts.get(proposal.name)),
        ):
            text = format_metric(number)
            if text is not None:
                entry[key] = text
        values.append(entry)
    return values


# -- conditions ------------------------------------------------------------------------------


def decision_conditions(decision: Decision) -> list[ConditionUpdate]:
    """AbleToScale, ScalingActive and ScalingLimited for a sync that reached a decision."""
    stabilized = decision.stabilization_reason
    limit = decision.limit_reason
    return [
        (
            "AbleToScale",
            "True",
            stabilized,
            _STABILIZATION_MESSAGES.get(stabilized, stabilized),
        ),
        _scaling_active(decision),
        (
            ("ScalingLimited", "True", limit, _LIMIT_MESSAGES.get(limit, limit))
            if decision.limited
            else (
                "ScalingLimited",
                "False",
                "DesiredWithinRange",
                "the desired count is within the acceptable range",
            )
        ),
    ]


def _scaling_active(decision: Decision) -> ConditionUpdate:
    source, message = decision.source, decision.reason
    if source == "metrics":
        return ("ScalingActive", "True", "ValidMetricFound", message)
    if source == "fallback":
        return ("ScalingActive", "False", "Fallback", message)
    if source == "hold":
        return ("ScalingActive", "False", "FailedGetMetrics", message)
    if source == "disabled":
        return ("ScalingActive", "False", "ScalingDisabled", message)
    if source == "activation":
        if decision.desired_replicas == 0:
            return ("ScalingActive", "False", "ScaledToZero", message)
        return ("ScalingActive", "True", "Activated", message)
    return ("ScalingActive", "True", "BoundsEnforced", message)


def blocked_conditions(
    reason: str, message: str, *, able_to_scale: bool = False
) -> list[ConditionUpdate]:
    """Conditions for a sync that could not decide: the target cannot be scaled (both
    conditions False) or a metric is invalid (only ScalingActive False)."""
    able: ConditionUpdate = (
        ("AbleToScale", "True", "ReadyForNewScale", "the scale subresource was read")
        if able_to_scale
        else ("AbleToScale", "False", reason, message)
    )
    return [able, ("ScalingActive", "False", reason, message)]


__all__ = [
    "ConditionUpdate",
    "blocked_conditions",
    "compact_memory",
    "decision_conditions",
    "format_metric",
    "memory_from_status",
    "memory_to_status",
    "metric_values",
]
