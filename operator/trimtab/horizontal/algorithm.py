"""Replica counts as the Kubernetes HPA computes them, with KEDA's scaling to and from zero.

One call of ``decide_replicas`` is one sync of the HPA controller for one HorizontalScaler:

    proposal per metric   ratio = value / target; no change while |ratio - 1| <= 0.1,
                          else ceil(ratio * pods). Missing and unready pods are counted
                          against the move, and the move is dropped if that reverses it.
    combine               the largest proposal; a failed metric may only let the count grow
    stabilise             the lowest recommendation of the scale-up window and the highest of
                          the scale-down window (0 s and 300 s by default) bound the change
    rate limit            Pods / Percent policies per periodSeconds, counted from the replica
                          count at the start of the period; selectPolicy Max, Min or Disabled
    bounds                minReplicas .. maxReplicas
    zero                  with minReplicas 0: 0 -> 1 when a Prometheus metric is above its
                          activation threshold; back to 0 once none has been for the whole
                          scale-down window

The HPA keeps its memory (recent recommendations, scale events) inside the controller process
and loses it on restart. Here it is a value, ``ScalerMemory``, that the caller stores and
passes back, so a restart or a new leader does not forget the stabilisation window.

Where the HPA documentation and its float arithmetic disagree at an exact boundary (a ratio of
exactly 1.1, or 10 replicas plus 10 %), the documented result wins: ratios get a 1e-9 slack and
percent policies are computed in integers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from trimtab.api.horizontal import (
    Behavior,
    Fallback,
    HorizontalScalerSpec,
    MetricSpec,
    ScalingPolicy,
    ScalingRules,
)
from trimtab.quantity import parse_quantity

TOLERANCE = 0.1
"""HPA's default: no change while the ratio is within 10 % of 1."""
SCALE_UP_WINDOW = 0
"""Seconds of scale-up stabilisation when none is set: scale up at once."""
SCALE_DOWN_WINDOW = 300
"""Seconds of scale-down stabilisation when none is set (the controller's default flag)."""
SCALE_UP_POLICIES = (
    ScalingPolicy(type="Percent", value=100, period_seconds=15),
    ScalingPolicy(type="Pods", value=4, period_seconds=15),
)
"""HPA's default: double or add 4 pods every 15 s, whichever is more."""
SCALE_DOWN_POLICIES = (ScalingPolicy(type="Percent", value=100, period_seconds=15),)
"""HPA's default: any scale down, re-evaluated every 15 s."""
_SLACK = 1e-9
"""Absorbs float noise such as 0.3 / 0.1 = 2.9999999999999996 at integer boundaries."""

PodState = Literal["Ready", "Unready", "Pending"]
Source = Literal["metrics", "fallback", "activation", "bounds", "hold", "disabled"]


@dataclass(frozen=True)
class PodUsage:
    """One pod of the target as the HPA sees it for one resource.

    ``Unready`` means what the HPA means for CPU: not ready, or ready too recently for a full
    metric window (the caller applies the initialisation period). For memory an unready pod
    with a sample counts like a ready one. ``Pending`` pods are never counted.
    """

    usage: float | None
    """Usage summed over the pod's containers; None when the pod has no sample."""
    request: float
    """Request summed over the pod's containers, in the same unit."""
    state: PodState = "Ready"


@dataclass(frozen=True)
class ResourceReading:
    """The pods of the target with their usage of the metric's resource."""

    pods: tuple[PodUsage, ...]


@dataclass(frozen=True)
class PrometheusReading:
    """The single value a Prometheus query returned; None for an empty result."""

    value: float | None


@dataclass(frozen=True)
class FailedReading:
    """The metric could not be read at all."""

    error: str


Reading = ResourceReading | PrometheusReading | FailedReading


@dataclass(frozen=True)
class MetricProposal:
    """What one metric asks for, in the terms the status shows."""

    name: str
    """The resource name or the query."""
    value: float | None
    """Utilisation in percent for Resource metrics, the query's value for Prometheus."""
    target: float
    replicas: int | None
    """The proposed count; None when the metric failed."""
    error: str | None = None
    active: bool | None = None
    """Prometheus only: the value is above the activation threshold (0 when unset)."""
    fallback: bool = False
    """The proposal is the spec's fallback count because the metric kept failing."""


@dataclass(frozen=True)
class RecommendationSample:
    """A metric-based recommendation before stabilisation, kept for the windows."""

    time: float
    replicas: int


@dataclass(frozen=True)
class ScaleEvent:
    """A change of the replica count: positive up, negative down."""

    time: float
    change: int


@dataclass(frozen=True)
class ScalerMemory:
    """Everything one scaler must remember between syncs; store it and pass it back.

    An empty memory means a scaler seen for the first time: its current size then counts as a
    recommendation, as in the HPA, so nothing shrinks before a scale-down window has passed.
    """

    recommendations: tuple[RecommendationSample, ...] = ()
    scale_events: tuple[ScaleEvent, ...] = ()
    failures: tuple[tuple[str, int], ...] = ()
    """Consecutive failed reads per metric name, for the fallback."""
    last_active: float | None = None
    """Last time a Prometheus metric was above its activation threshold."""


@dataclass(frozen=True)
class DirectionRules:
    """Scaling rules of one direction with HPA's defaults filled in."""

    window_seconds: int
    select_policy: Literal["Max", "Min", "Disabled"]
    policies: tuple[ScalingPolicy, ...]


@dataclass(frozen=True)
class Decision:
    """The outcome of one sync, with what the status conditions need."""

    desired_replicas: int
    current_replicas: int
    proposals: tuple[MetricProposal, ...]
    decided_by: str | None
    """The metric whose proposal won, when metrics decided."""
    source: Source
    scaling_active: bool
    """False when no usable recommendation came from the metrics (HPA's ScalingActive)."""
    stabilization_reason: str
    """ScaleUpStabilized, ScaleDownStabilized or ReadyForNewScale (HPA's AbleToScale)."""
    limited: bool
    limit_reason: str
    """TooManyReplicas, TooFewReplicas, ScaleUpLimit, ScaleDownLimit or DesiredWithinRange."""
    reason: str
    memory: ScalerMemory
    """The memory to store; it counts ``desired_replicas`` as applied. If writing the scale
    fails, keep the previous memory instead."""


def metric_name(metric: MetricSpec) -> str:
    """The name a metric goes by in status: the resource name or the query."""
    if metric.resource is not None:
        return metric.resource.name
    assert metric.prometheus is not None
    return metric.prometheus.query


def propose(
    metric: MetricSpec,
    reading: Reading,
    current_replicas: int,
    ready_pods: int | None = None,
    tolerance: float = TOLERANCE,
) -> MetricProposal:
    """The replica count one metric asks for (HPA's replica calculator).

    ``ready_pods`` is the number of running and ready pods, which a Prometheus metric with a
    targetValue multiplies its ratio by; it defaults to ``current_replicas``.
    """
    name = metric_name(metric)
    if metric.resource is not None:
        target = float(metric.resource.target_average_utilization)
        if isinstance(reading, FailedReading):
            return MetricProposal(name, None, target, None, reading.error)
        if not isinstance(reading, ResourceReading):
            raise TypeError(f"metric {name} needs a ResourceReading")
        return _resource_proposal(
            name, target, reading.pods, current_replicas, name == "cpu", tolerance
        )
    prometheus = metric.prometheus
    assert prometheus is not None
    per_pod = prometheus.target_average_value is not None
    target = _number(prometheus.target_average_value or prometheus.target_value)
    threshold = _number(prometheus.activation_threshold or "0")
    if isinstance(reading, FailedReading):
        return MetricProposal(name, None, target, None, reading.error)
    if not isinstance(reading, PrometheusReading):
        raise TypeError(f"metric {name} needs a PrometheusReading")
    value = reading.value
    if value is None and prometheus.treat_empty_as_zero:
        value = 0.0
    if value is None or not math.isfinite(value):
        return MetricProposal(name, value, target, None, "the query returned no usable sample")
    if target <= 0:
        return MetricProposal(name, value, target, None, "the target must be above zero")
    pods = current_replicas if ready_pods is None else ready_pods
    replicas = (
        _average_value_replicas(value, target, current_replicas, tolerance)
        if per_pod
        else _value_replicas(value, target, current_replicas, pods, tolerance)
    )
    return MetricProposal(name, value, target, replicas, active=value > threshold)


def _number(quantity: str | None) -> float:
    assert quantity is not None
    return parse_quantity(quantity).as_float()


def _ceil(value: float) -> int:
    return math.ceil(value - _SLACK * max(1.0, abs(value)))


def _within(ratio: float, tolerance: float) -> bool:
    return abs(1.0 - ratio) <= tolerance + _SLACK


def _value_replicas(
    value: float, target: float, current: int, ready_pods: int, tolerance: float
) -> int:
    """targetValue: ``ceil(value / target * ready pods)``; from zero, ``ceil(value / target)``."""
    ratio = value / target
    if current == 0:
        return max(_ceil(ratio), 0)
    if _within(ratio, tolerance):
        return current
    return max(_ceil(ratio * ready_pods), 0)


def _average_value_replicas(value: float, target: float, current: int, tolerance: float) -> int:
    """targetAverageValue: ``ceil(value / target)``, unless the per-replica value is within
    tolerance of the target at the current count."""
    if current > 0 and _within(value / (target * current), tolerance):
        return current
    return max(_ceil(value / target), 0)


def _utilization(samples: Sequence[tuple[float, float]]) -> int:
    """Whole percent of usage over request, truncated as the HPA does."""
    usage = sum(sample[0] for sample in samples)
    request = sum(sample[1] for sample in samples)
    return math.floor(100.0 * usage / request + 1e-6)


def _pod_group(pod: PodUsage, is_cpu: bool) -> Literal["ready", "ignored", "missing"]:
    """HPA's order: pending pods are ignored, then pods without a sample are missing, then
    (for CPU only) unready pods are ignored."""
    if pod.state == "Pending":
        return "ignored"
    if pod.usage is None:
        return "missing"
    if is_cpu and pod.state == "Unready":
        return "ignored"
    return "ready"


def _resource_proposal(
    name: str,
    target: float,
    pods: Sequence[PodUsage],
    current: int,
    is_cpu: bool,
    tolerance: float,
) -> MetricProposal:
    """Average utilisation over ready pods, then the conservative second pass.

    On a scale up, pods without a sample and ignored pods (pending, or unready for CPU) count
    as 0 %; on a scale down, pods without a sample count as 100 % of their request and ignored
    pods stay out. If the recomputed ratio is within tolerance or points the other way, or
    the extra pods turn the count against the direction, nothing changes.
    """
    if not pods:
        return MetricProposal(name, None, target, None, "no pods match the target's selector")
    if any(pod.request <= 0 for pod in pods):
        return MetricProposal(name, None, target, None, f"some pods have no {name} request")
    groups: dict[str, list[PodUsage]] = {"ready": [], "ignored": [], "missing": []}
    for pod in pods:
        groups[_pod_group(pod, is_cpu)].append(pod)
    ignored, missing = groups["ignored"], groups["missing"]
    ready = [(p.usage or 0.0, p.request) for p in groups["ready"]]
    if not ready:
        return MetricProposal(name, None, target, None, "no metrics for any ready pod")
    utilization = _utilization(ready)
    ratio = utilization / target
    proposal = MetricProposal(name, float(utilization), target, current)
    rebalance_ignored = bool(ignored) and ratio > 1.0
    if not rebalance_ignored and not missing:
        if _within(ratio, tolerance):
            return proposal
        return replace(proposal, replicas=_ceil(ratio * len(ready)))
    counted = list(ready)
    if ratio < 1.0:
        counted += [(p.request, p.request) for p in missing]
    elif ratio > 1.0:
        counted += [(0.0, p.request) for p in missing]
    if rebalance_ignored:
        counted += [(0.0, p.request) for p in ignored]
    new_ratio = _utilization(counted) / target
    if _within(new_ratio, tolerance) or (ratio - 1.0) * (new_ratio - 1.0) < 0:
        return proposal
    replicas = _ceil(new_ratio * len(counted))
    if (new_ratio < 1.0 and replicas > current) or (new_ratio > 1.0 and replicas < current):
        return proposal
    return replace(proposal, replicas=replicas)


def direction_rules(behavior: Behavior) -> tuple[DirectionRules, DirectionRules]:
    """(scale up, scale down) with HPA's defaults for whatever is left out."""
    return (
        _fill(behavior.scale_up, SCALE_UP_WINDOW, SCALE_UP_POLICIES),
        _fill(behavior.scale_down, SCALE_DOWN_WINDOW, SCALE_DOWN_POLICIES),
    )


def _fill(
    rules: ScalingRules | None, window: int, policies: tuple[ScalingPolicy, ...]
) -> DirectionRules:
    if rules is None:
        return DirectionRules(window, "Max", policies)
    return DirectionRules(
        window
        if rules.stabilization_window_seconds is None
        else rules.stabilization_window_seconds,
        rules.select_policy,
        policies if rules.policies is None else tuple(rules.policies),
    )


def stabilized_recommendation(
    desired: int,
    current: int,
    history: Sequence[RecommendationSample],
    up: DirectionRules,
    down: DirectionRules,
    now: float,
) -> int:
    """``current`` moved toward ``desired`` no further than the windows allow.

    The scale-up window's lowest recommendation is the most the count may grow to, the
    scale-down window's highest the least it may shrink to; both include ``desired``.
    A sample counts while it is strictly younger than the window.
    """
    up_bound = min([desired, *(s.replicas for s in history if s.time > now - up.window_seconds)])
    down_bound = max(
        [desired, *(s.replicas for s in history if s.time > now - down.window_seconds)]
    )
    return min(max(current, up_bound), down_bound)


def _changes_in_period(events: Sequence[ScaleEvent], period: float, now: float) -> tuple[int, int]:
    """(replicas added, replicas removed) by events strictly younger than ``period``."""
    recent = [event.change for event in events if event.time > now - period]
    return sum(c for c in recent if c > 0), -sum(c for c in recent if c < 0)


def scale_up_limit(
    current: int, events: Sequence[ScaleEvent], rules: DirectionRules, now: float
) -> int:
    """The most replicas the scale-up policies allow now.

    Each policy counts from the replica count at the start of its period, so several small
    steps inside one period add up to at most one policy's worth. Max picks the policy that
    allows the most, Min the least; Disabled allows nothing. Never below ``current``.
    """
    if rules.select_policy == "Disabled" or not rules.policies:
        return current
    limits = []
    for policy in rules.policies:
        added, removed = _changes_in_period(events, policy.period_seconds, now)
        start = current - added + removed
        if policy.type == "Pods":
            limits.append(start + policy.value)
        else:
            limits.append(-(-start * (100 + policy.value) // 100))
    chosen = min(limits) if rules.select_policy == "Min" else max(limits)
    return max(chosen, current)


def scale_down_limit(
    current: int, events: Sequence[ScaleEvent], rules: DirectionRules, now: float
) -> int:
    """The fewest replicas the scale-down policies allow now (mirror of ``scale_up_limit``).

    A Percent policy keeps ``floor(start * (1 - percent / 100))``: removing 10 % of 72 leaves
    64. Max picks the policy that removes the most, Min the least. Never above ``current``.
    """
    if rules.select_policy == "Disabled" or not rules.policies:
        return current
    limits = []
    for policy in rules.policies:
        added, removed = _changes_in_period(events, policy.period_seconds, now)
        start = current - added + removed
        if policy.type == "Pods":
            limits.append(start - policy.value)
        else:
            limits.append(start * (100 - policy.value) // 100)
    chosen = max(limits) if rules.select_policy == "Min" else min(limits)
    return min(chosen, current)


def rate_limited(
    desired: int,
    current: int,
    minimum: int,
    maximum: int,
    events: Sequence[ScaleEvent],
    up: DirectionRules,
    down: DirectionRules,
    now: float,
) -> tuple[int, str]:
    """``desired`` within the policies and the bounds, and the HPA's reason for the limit."""
    if desired > current:
        limit = scale_up_limit(current, events, up, now)
        if desired > min(limit, maximum):
            return min(limit, maximum), "ScaleUpLimit" if maximum > limit else "TooManyReplicas"
    elif desired < current:
        limit = scale_down_limit(current, events, down, now)
        if desired < max(limit, minimum):
            return max(limit, minimum), "ScaleDownLimit" if minimum < limit else "TooFewReplicas"
    return desired, "DesiredWithinRange"


def with_fallback(
    fallback: Fallback, proposals: Sequence[MetricProposal], failures: Sequence[tuple[str, int]]
) -> tuple[tuple[MetricProposal, ...], tuple[tuple[str, int], ...]]:
    """Count failed reads in a row per metric; from the failureThreshold-th one on, a failing
    metric proposes ``fallback.replicas`` (when set) instead of failing, as KEDA does."""
    previous = dict(failures)
    counts: list[tuple[str, int]] = []
    result = []
    for proposal in proposals:
        if proposal.replicas is not None:
            result.append(proposal)
            continue
        count = previous.get(proposal.name, 0) + 1
        counts.append((proposal.name, count))
        if fallback.replicas is not None and count >= fallback.failure_threshold:
            proposal = replace(proposal, replicas=fallback.replicas, fallback=True)
        result.append(proposal)
    return tuple(result), tuple(counts)


@dataclass(frozen=True)
class _Outcome:
    desired: int
    source: Source
    reason: str
    decided_by: str | None = None
    scaling_active: bool = True
    stabilization_reason: str = "ReadyForNewScale"
    limit_reason: str = "DesiredWithinRange"
    recommendation: int | None = None


def decide_replicas(
    spec: HorizontalScalerSpec,
    readings: Sequence[Reading],
    current_replicas: int,
    memory: ScalerMemory,
    now: float,
    *,
    ready_pods: int | None = None,
    tolerance: float = TOLERANCE,
) -> Decision:
    """One HPA sync: the replica count to set now, given one reading per ``spec.metrics``."""
    if len(readings) != len(spec.metrics):
        raise ValueError(f"{len(readings)} readings for {len(spec.metrics)} metrics")
    if current_replicas < 0:
        raise ValueError("current_replicas must not be negative")
    if not memory.recommendations:
        # Like the HPA on first sight: the current count is a recommendation, so a restart
        # does not allow an immediate scale down, nor a scale to zero.
        memory = replace(
            memory, recommendations=(RecommendationSample(now, current_replicas),), last_active=now
        )
    raw = [
        propose(metric, reading, current_replicas, ready_pods, tolerance)
        for metric, reading in zip(spec.metrics, readings, strict=True)
    ]
    proposals, failures = with_fallback(spec.fallback, raw, memory.failures)
    if any(p.active for p in proposals):
        memory = replace(memory, last_active=now)
    up, down = direction_rules(spec.behavior)
    outcome = _outcome(spec, proposals, current_replicas, memory, up, down, now)
    return Decision(
        desired_replicas=outcome.desired,
        current_replicas=current_replicas,
        proposals=proposals,
        decided_by=outcome.decided_by,
        source=outcome.source,
        scaling_active=outcome.scaling_active,
        stabilization_reason=outcome.stabilization_reason,
        limited=outcome.limit_reason != "DesiredWithinRange",
        limit_reason=outcome.limit_reason,
        reason=outcome.reason,
        memory=_remember(memory, outcome, current_replicas, failures, up, down, now),
    )


def _outcome(
    spec: HorizontalScalerSpec,
    proposals: Sequence[MetricProposal],
    current: int,
    memory: ScalerMemory,
    up: DirectionRules,
    down: DirectionRules,
    now: float,
) -> _Outcome:
    """The branches of the HPA's reconcile, with KEDA's activation in front."""
    can_idle = spec.min_replicas == 0 and any(m.prometheus is not None for m in spec.metrics)
    minimum = max(spec.min_replicas, 1)
    if current == 0:
        if not can_idle:
            disabled = "the target has 0 replicas: scaling is disabled"
            return _Outcome(0, "disabled", disabled, scaling_active=False)
        return _activation(proposals, up)
    if current > spec.max_replicas:
        above = "current replicas above maxReplicas"
        return _Outcome(spec.max_replicas, "bounds", above, limit_reason="TooManyReplicas")
    if current < minimum:
        below = "current replicas below minReplicas"
        return _Outcome(minimum, "bounds", below, limit_reason="TooFewReplicas")
    if can_idle and _idle_long_enough(proposals, memory, down, now):
        idle = f"no metric above its activation threshold for {down.window_seconds} s"
        return _Outcome(0, "activation", idle)
    return _from_metrics(proposals, current, minimum, spec.max_replicas, memory, up, down, now)


def _activation(proposals: Sequence[MetricProposal], up: DirectionRules) -> _Outcome:
    active = next((p for p in proposals if p.active), None)
    if active is None or up.select_policy == "Disabled":
        return _Outcome(0, "activation", "no metric above its activation threshold")
    woke = f"{active.name} is {active.value:g}, above its activation threshold"
    return _Outcome(1, "activation", woke, decided_by=active.name)


def _idle_long_enough(
    proposals: Sequence[MetricProposal], memory: ScalerMemory, down: DirectionRules, now: float
) -> bool:
    """Every Prometheus metric was read and is inactive, and has been for the whole
    scale-down window; a failed read never lets the target go to zero."""
    if down.select_policy == "Disabled" or any(p.replicas is None or p.fallback for p in proposals):
        return False
    activity = [p.active for p in proposals if p.active is not None]
    if not activity or any(activity):
        return False
    return memory.last_active is None or now - memory.last_active >= down.window_seconds


def _from_metrics(
    proposals: Sequence[MetricProposal],
    current: int,
    minimum: int,
    maximum: int,
    memory: ScalerMemory,
    up: DirectionRules,
    down: DirectionRules,
    now: float,
) -> _Outcome:
    """Largest proposal, failed-metric rule, stabilisation, policies and bounds."""
    valid = [p for p in proposals if p.replicas is not None]
    failed = [p for p in proposals if p.replicas is None]
    best = max(valid, key=lambda p: p.replicas or 0, default=None)
    if best is None or best.replicas is None or (failed and best.replicas < current):
        first = failed[0]
        held = f"{len(failed)} of {len(proposals)} metrics failed ({first.name}: {first.error})"
        return _Outcome(current, "hold", f"{held}; staying at {current}", scaling_active=False)
    desired = best.replicas
    stabilized = stabilized_recommendation(desired, current, memory.recommendations, up, down, now)
    final, limit_reason = rate_limited(
        stabilized, current, minimum, maximum, memory.scale_events, up, down, now
    )
    stabilization_reason = "ReadyForNewScale"
    if stabilized != desired:
        stabilization_reason = "ScaleUpStabilized" if desired >= current else "ScaleDownStabilized"
    return _Outcome(
        final,
        "fallback" if best.fallback else "metrics",
        _metrics_reason(best, desired, final, current, stabilization_reason, limit_reason),
        decided_by=best.name,
        stabilization_reason=stabilization_reason,
        limit_reason=limit_reason,
        recommendation=desired,
    )


def _metrics_reason(
    best: MetricProposal, desired: int, final: int, current: int, stabilized: str, limited: str
) -> str:
    if best.fallback:
        text = f"{best.name} keeps failing ({best.error}): fallback {desired}"
    else:
        value = "none" if best.value is None else f"{best.value:g}"
        text = f"{best.name} {value} for target {best.target:g}: {desired} replicas"
    if stabilized != "ReadyForNewScale":
        text += f"; {stabilized}"
    if limited != "DesiredWithinRange":
        text += f"; {limited} to {final}"
    if final == current:
        return f"{text}; staying at {current}"
    return f"{text}; scaling {'up' if final > current else 'down'} to {final}"


def _remember(
    memory: ScalerMemory,
    outcome: _Outcome,
    current: int,
    failures: tuple[tuple[str, int], ...],
    up: DirectionRules,
    down: DirectionRules,
    now: float,
) -> ScalerMemory:
    """The memory after this sync, pruned to what the windows and periods can still see."""
    horizon = max(up.window_seconds, down.window_seconds)
    samples = [s for s in memory.recommendations if s.time > now - horizon]
    if outcome.recommendation is not None:
        samples.append(RecommendationSample(now, outcome.recommendation))
    if not samples:
        # One sample however old, so that the next sync does not mistake this scaler for a
        # new one and hold it at its current size for a whole window.
        samples = list(memory.recommendations[-1:])
    periods = [p.period_seconds for p in (*up.policies, *down.policies)]
    longest = max(periods, default=0)
    events = [e for e in memory.scale_events if e.time > now - longest]
    if outcome.desired != current:
        events.append(ScaleEvent(now, outcome.desired - current))
    return ScalerMemory(tuple(samples), tuple(events), failures, memory.last_active)


__all__ = [
    "SCALE_DOWN_POLICIES",
    "SCALE_DOWN_WINDOW",
    "SCALE_UP_POLICIES",
    "SCALE_UP_WINDOW",
    "TOLERANCE",
    "Decision",
    "DirectionRules",
    "FailedReading",
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
    "stabilized_recommendation",
    "with_fallback",
]
