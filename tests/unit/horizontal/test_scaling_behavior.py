"""Stabilisation windows, scaling policies, bounds, failed metrics, fallback and activation,
checked against the examples of the Kubernetes HPA documentation and KEDA's semantics."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import horizontal_scaler
from trimtab.api.horizontal import Behavior, HorizontalScalerSpec
from trimtab.horizontal import (
    DirectionRules,
    FailedReading,
    PodUsage,
    PrometheusReading,
    Reading,
    RecommendationSample,
    ResourceReading,
    ScaleEvent,
    ScalerMemory,
    decide_replicas,
    direction_rules,
    scale_down_limit,
    scale_up_limit,
    stabilized_recommendation,
)

NOW = 1_700_000_000.0
DOCS_SCALE_DOWN = {
    "policies": [
        {"type": "Pods", "value": 4, "periodSeconds": 60},
        {"type": "Percent", "value": 10, "periodSeconds": 60},
    ]
}
"""The documentation's example: at most 4 pods or 10 % per minute, whichever is more."""


def per_replica(query: str = "queue_length", **fields: Any) -> dict[str, Any]:
    """A Prometheus metric with a per-replica target of 1: a value of N proposes N replicas."""
    return {
        "type": "Prometheus",
        "prometheus": {"query": query, "targetAverageValue": "1", **fields},
    }


def spec(**overrides: Any) -> HorizontalScalerSpec:
    base: dict[str, Any] = {"maxReplicas": 100, "metrics": [per_replica()]}
    return HorizontalScalerSpec.model_validate(horizontal_scaler(**{**base, **overrides})["spec"])


def rules(**behavior: Any) -> tuple[DirectionRules, DirectionRules]:
    return direction_rules(Behavior.model_validate(behavior))


def settled(replicas: int) -> ScalerMemory:
    """The memory of a scaler that has held ``replicas`` for an hour."""
    return ScalerMemory(recommendations=(RecommendationSample(NOW - 3600, replicas),))


def cpu_pods(count: int, percent: float) -> ResourceReading:
    return ResourceReading(tuple(PodUsage(percent / 1000.0, 0.1) for _ in range(count)))


# --- defaults -------------------------------------------------------------------------------


def test_defaults_when_behavior_is_omitted() -> None:
    up, down = rules()
    assert up.window_seconds == 0
    assert down.window_seconds == 300
    assert [(p.type, p.value, p.period_seconds) for p in up.policies] == [
        ("Percent", 100, 15),
        ("Pods", 4, 15),
    ]
    assert [(p.type, p.value, p.period_seconds) for p in down.policies] == [("Percent", 100, 15)]
    assert up.select_policy == down.select_policy == "Max"


def test_partial_rules_keep_defaults_for_what_is_left_out() -> None:
    up, down = rules(scaleDown={"selectPolicy": "Min"}, scaleUp={"stabilizationWindowSeconds": 60})
    assert (down.window_seconds, down.select_policy, len(down.policies)) == (300, "Min", 1)
    assert (up.window_seconds, len(up.policies)) == (60, 2)


# --- policies -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("behavior", "current", "events", "expected"),
    [
        pytest.param({}, 1, [], 5, id="default: 4 pods beats doubling 1"),
        pytest.param({}, 3, [], 7, id="default: 4 pods beats doubling 3"),
        pytest.param({}, 10, [], 20, id="default: doubling beats 4 pods"),
        pytest.param({}, 5, [(-10, 4)], 5, id="4 pods added 10 s ago use up the period"),
        pytest.param({}, 5, [(-15, 4)], 10, id="an event 15 s old is out of a 15 s period"),
        pytest.param({}, 8, [(-5, -2)], 20, id="a scale down in the period lowers the start"),
        pytest.param(
            {"policies": [{"type": "Percent", "value": 900, "periodSeconds": 60}]},
            1,
            [],
            10,
            id="docs: 900 % lets 1 replica become 10",
        ),
        pytest.param(
            {"policies": [{"type": "Percent", "value": 10, "periodSeconds": 60}]},
            10,
            [],
            11,
            id="10 replicas plus 10 % is 11",
        ),
        pytest.param(
            {"policies": [{"type": "Percent", "value": 10, "periodSeconds": 60}]},
            3,
            [],
            4,
            id="a percent step is rounded up so that growth never stalls",
        ),
        pytest.param({"selectPolicy": "Min"}, 10, [], 14, id="Min: the smaller of 20 and 14"),
        pytest.param({"selectPolicy": "Disabled"}, 10, [], 10, id="Disabled: no scale up"),
        pytest.param({"policies": []}, 10, [], 10, id="no policies: no scale up"),
    ],
)
def test_scale_up_limit(
    behavior: dict[str, Any], current: int, events: list[tuple[float, int]], expected: int
) -> None:
    up, _ = rules(scaleUp=behavior)
    history = [ScaleEvent(NOW + age, change) for age, change in events]
    assert scale_up_limit(current, history, up, NOW) == expected


@pytest.mark.parametrize(
    ("behavior", "current", "events", "expected"),
    [
        pytest.param({}, 10, [], 0, id="default: 100 % may go"),
        pytest.param(DOCS_SCALE_DOWN, 80, [], 72, id="docs: 80 replicas lose 8 first"),
        pytest.param(DOCS_SCALE_DOWN, 72, [], 64, id="docs: 10 % of 72 is 7.2, so 8 go"),
        pytest.param(DOCS_SCALE_DOWN, 72, [(-30, -8)], 72, id="the minute's 8 are used up"),
        pytest.param(DOCS_SCALE_DOWN, 72, [(-60, -8)], 64, id="a minute later 8 more may go"),
        pytest.param(DOCS_SCALE_DOWN, 40, [], 36, id="docs: at 40 both policies remove 4"),
        pytest.param(DOCS_SCALE_DOWN, 30, [], 26, id="docs: below 40 the Pods policy wins"),
        pytest.param(
            {
                "selectPolicy": "Min",
                "policies": [
                    {"type": "Percent", "value": 10, "periodSeconds": 60},
                    {"type": "Pods", "value": 5, "periodSeconds": 60},
                ],
            },
            100,
            [],
            95,
            id="docs: Min removes no more than 5 pods a minute",
        ),
        pytest.param(
            {
                "selectPolicy": "Min",
                "policies": [
                    {"type": "Percent", "value": 10, "periodSeconds": 60},
                    {"type": "Pods", "value": 5, "periodSeconds": 60},
                ],
            },
            20,
            [],
            18,
            id="Min: 10 % of 20 is less than 5 pods",
        ),
        pytest.param({"selectPolicy": "Disabled"}, 10, [], 10, id="docs: Disabled"),
    ],
)
def test_scale_down_limit(
    behavior: dict[str, Any], current: int, events: list[tuple[float, int]], expected: int
) -> None:
    _, down = rules(scaleDown=behavior)
    history = [ScaleEvent(NOW + age, change) for age, change in events]
    assert scale_down_limit(current, history, down, NOW) == expected


# --- stabilisation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("behavior", "desired", "current", "history", "expected"),
    [
        pytest.param({}, 2, 8, [(-200, 8)], 8, id="down: 8 was recommended 200 s ago"),
        pytest.param({}, 2, 8, [(-301, 8)], 2, id="down: 301 s ago is out of the window"),
        pytest.param({}, 2, 8, [(-300, 8)], 2, id="down: exactly 300 s ago is out too"),
        pytest.param({}, 2, 8, [(-200, 5), (-100, 4)], 5, id="down: highest in the window"),
        pytest.param({}, 6, 2, [(-1, 3)], 6, id="up: no window by default"),
        pytest.param(
            {"scaleUp": {"stabilizationWindowSeconds": 60}},
            6,
            2,
            [(-30, 3)],
            3,
            id="up: lowest in a 60 s window",
        ),
        pytest.param(
            {"scaleUp": {"stabilizationWindowSeconds": 60}},
            6,
            2,
            [(-30, 1)],
            2,
            id="up: never below the current count",
        ),
        pytest.param(
            {"scaleDown": {"stabilizationWindowSeconds": 60}},
            2,
            8,
            [(-90, 8), (-30, 4)],
            4,
            id="docs: a 60 s down window",
        ),
    ],
)
def test_stabilized_recommendation(
    behavior: dict[str, Any],
    desired: int,
    current: int,
    history: list[tuple[float, int]],
    expected: int,
) -> None:
    up, down = rules(**behavior)
    samples = [RecommendationSample(NOW + age, replicas) for age, replicas in history]
    assert stabilized_recommendation(desired, current, samples, up, down, NOW) == expected


# --- whole syncs ----------------------------------------------------------------------------


def run(
    scaler: HorizontalScalerSpec,
    values: list[float | None],
    current: int,
    start: float = NOW,
    syncs: int = 1,
    every: float = 15.0,
    memory: ScalerMemory | None = None,
) -> list[int]:
    """Sync ``syncs`` times, applying each decision; the replica count after each sync."""
    memory = ScalerMemory() if memory is None else memory
    counts = []
    for sync in range(syncs):
        readings: list[Reading] = [
            FailedReading("unreachable") if value is None else PrometheusReading(value)
            for value in values
        ]
        decision = decide_replicas(scaler, readings, current, memory, start + sync * every)
        current, memory = decision.desired_replicas, decision.memory
        counts.append(current)
    return counts


def test_docs_scale_down_from_80_to_10_one_step_a_minute() -> None:
    scaler = spec(behavior={"scaleDown": {"stabilizationWindowSeconds": 0, **DOCS_SCALE_DOWN}})
    counts = run(scaler, [10.0], 80, syncs=60)  # a sync every 15 s for 15 minutes
    per_minute = counts[::4]
    assert per_minute == [72, 64, 57, 51, 45, 40, 36, 32, 28, 24, 20, 16, 12, 10, 10]
    assert all(counts[i] == counts[i - i % 4] for i in range(len(counts)))


def test_default_scale_up_adds_four_then_doubles_every_15_s() -> None:
    assert run(spec(), [40.0], 1, syncs=4) == [5, 10, 20, 40]
    assert run(spec(), [40.0], 1, syncs=3, every=5.0) == [5, 5, 5]


def test_default_scale_down_waits_for_the_300_s_window() -> None:
    # A new scaler counts the current size as a recommendation, as the HPA does on first sight.
    counts = run(spec(), [1.0], 5, syncs=22)
    assert counts[:20] == [5] * 20  # up to 285 s
    assert counts[20:] == [1, 1]  # from 300 s


def test_a_settled_scaler_scales_down_at_once_by_default() -> None:
    assert run(spec(), [1.0], 5, memory=settled(5)) == [1]


def test_several_metrics_the_largest_proposal_wins() -> None:
    scaler = spec(
        metrics=[
            {"type": "Resource", "resource": {"name": "cpu", "targetAverageUtilization": 50}},
            per_replica("queue_length"),
        ]
    )
    readings: list[Reading] = [cpu_pods(4, 100), PrometheusReading(6.0)]
    decision = decide_replicas(scaler, readings, 4, settled(4), NOW)
    assert [p.replicas for p in decision.proposals] == [8, 6]
    assert decision.desired_replicas == 8
    assert decision.decided_by == "cpu"
    assert decision.source == "metrics"
    assert "cpu 100 for target 50" in decision.reason
    assert "scaling up to 8" in decision.reason


@pytest.mark.parametrize(
    ("values", "expected", "active"),
    [
        pytest.param([8.0, None], 8, True, id="a failed metric does not stop a scale up"),
        pytest.param([2.0, None], 4, False, id="a failed metric stops a scale down"),
        pytest.param([None, None], 4, False, id="all failed: hold"),
        pytest.param([4.0, None], 4, True, id="no change with a failed metric"),
    ],
)
def test_failed_metrics_only_allow_scaling_up(
    values: list[float | None], expected: int, active: bool
) -> None:
    scaler = spec(metrics=[per_replica("a"), per_replica("b")])
    readings: list[Reading] = [
        FailedReading("unreachable") if v is None else PrometheusReading(v) for v in values
    ]
    decision = decide_replicas(scaler, readings, 4, settled(4), NOW)
    assert decision.desired_replicas == expected
    assert decision.scaling_active is active
    if not active:
        assert decision.source == "hold"
        assert "unreachable" in decision.reason


def test_fallback_after_the_failure_threshold_and_reset_on_success() -> None:
    scaler = spec(fallback={"failureThreshold": 3, "replicas": 7})
    memory, sources, counts = settled(4), [], []
    for sync, value in enumerate([None, None, None, None, 4.0]):
        reading: Reading = FailedReading("down") if value is None else PrometheusReading(value)
        decision = decide_replicas(scaler, [reading], 4, memory, NOW + 15 * sync)
        memory = decision.memory
        sources.append(decision.source)
        counts.append(decision.desired_replicas)
    assert sources == ["hold", "hold", "fallback", "fallback", "metrics"]
    assert counts == [4, 4, 7, 7, 4]
    assert memory.failures == ()


def test_without_fallback_replicas_failures_hold_the_count() -> None:
    scaler = spec(fallback={"failureThreshold": 1})
    decision = decide_replicas(scaler, [FailedReading("down")], 4, settled(4), NOW)
    assert (decision.desired_replicas, decision.source) == (4, "hold")
    assert decision.memory.failures == (("queue_length", 1),)


@pytest.mark.parametrize(
    ("overrides", "value", "current", "expected", "reason"),
    [
        pytest.param({"maxReplicas": 10}, 20.0, 8, 10, "TooManyReplicas", id="max"),
        pytest.param({"maxReplicas": 50}, 20.0, 8, 16, "ScaleUpLimit", id="rate beats max"),
        pytest.param({"minReplicas": 2}, 0.0, 4, 2, "TooFewReplicas", id="min"),
        pytest.param(
            {"behavior": {"scaleDown": DOCS_SCALE_DOWN}}, 1.0, 80, 72, "ScaleDownLimit", id="rate"
        ),
        pytest.param({}, 6.0, 4, 6, "DesiredWithinRange", id="within range"),
    ],
)
def test_limits_are_reported_for_the_scaling_limited_condition(
    overrides: dict[str, Any], value: float, current: int, expected: int, reason: str
) -> None:
    decision = decide_replicas(
        spec(**overrides), [PrometheusReading(value)], current, settled(current), NOW
    )
    assert decision.desired_replicas == expected
    assert decision.limit_reason == reason
    assert decision.limited is (reason != "DesiredWithinRange")


@pytest.mark.parametrize(
    ("overrides", "current", "expected", "source", "active"),
    [
        pytest.param({"maxReplicas": 10}, 12, 10, "bounds", True, id="above max"),
        pytest.param({"minReplicas": 3}, 2, 3, "bounds", True, id="below min"),
        pytest.param({"minReplicas": 1}, 0, 0, "disabled", False, id="scaled to 0 by hand"),
    ],
)
def test_counts_outside_the_bounds_come_back_first(
    overrides: dict[str, Any], current: int, expected: int, source: str, active: bool
) -> None:
    decision = decide_replicas(
        spec(**overrides), [PrometheusReading(5.0)], current, settled(current), NOW
    )
    assert (decision.desired_replicas, decision.source) == (expected, source)
    assert decision.scaling_active is active


def test_stabilisation_is_reported_for_the_able_to_scale_condition() -> None:
    memory = ScalerMemory(recommendations=(RecommendationSample(NOW - 100, 8),))
    decision = decide_replicas(spec(), [PrometheusReading(2.0)], 8, memory, NOW)
    assert decision.desired_replicas == 8
    assert decision.stabilization_reason == "ScaleDownStabilized"
    assert "staying at 8" in decision.reason


# --- scaling to and from zero ---------------------------------------------------------------

IDLE = {"minReplicas": 0, "metrics": [per_replica(activationThreshold="5")]}


@pytest.mark.parametrize(
    ("overrides", "value", "current", "last_active", "expected"),
    [
        pytest.param(IDLE, 3.0, 0, None, 0, id="at 0, below the threshold: stay"),
        pytest.param(IDLE, 5.0, 0, None, 0, id="at 0, at the threshold: stay"),
        pytest.param(IDLE, 6.0, 0, None, 1, id="at 0, above the threshold: wake to 1"),
        pytest.param(IDLE, 3.0, 3, NOW - 301, 0, id="idle for the down window: to 0"),
        pytest.param(IDLE, 3.0, 3, NOW - 100, 3, id="idle for 100 s: not yet"),
        pytest.param(IDLE, 6.0, 3, NOW - 301, 6, id="active: the HPA decides"),
        pytest.param({**IDLE, "minReplicas": 1}, 3.0, 3, NOW - 301, 3, id="minReplicas 1: never 0"),
        pytest.param(
            {**IDLE, "behavior": {"scaleDown": {"selectPolicy": "Disabled"}}},
            3.0,
            3,
            NOW - 301,
            3,
            id="scale down disabled: never 0",
        ),
        pytest.param(
            {**IDLE, "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}},
            3.0,
            3,
            NOW - 61,
            0,
            id="the down window is the cool-down",
        ),
    ],
)
def test_activation_threshold_governs_zero(
    overrides: dict[str, Any], value: float, current: int, last_active: float | None, expected: int
) -> None:
    memory = ScalerMemory(
        recommendations=(RecommendationSample(NOW - 3600, current),), last_active=last_active
    )
    decision = decide_replicas(spec(**overrides), [PrometheusReading(value)], current, memory, NOW)
    assert decision.desired_replicas == expected


def test_a_failed_metric_never_scales_to_zero() -> None:
    scaler = spec(
        minReplicas=0,
        metrics=[per_replica("a", activationThreshold="0"), per_replica("b")],
    )
    memory = ScalerMemory(recommendations=(RecommendationSample(NOW - 3600, 2),), last_active=0.0)
    decision = decide_replicas(
        scaler, [PrometheusReading(0.0), FailedReading("down")], 2, memory, NOW
    )
    assert decision.desired_replicas == 2
    both_idle = decide_replicas(
        scaler, [PrometheusReading(0.0), PrometheusReading(0.0)], 2, memory, NOW
    )
    assert both_idle.desired_replicas == 0


def test_without_a_prometheus_metric_minreplicas_0_acts_as_1() -> None:
    cpu = [{"type": "Resource", "resource": {"name": "cpu", "targetAverageUtilization": 50}}]
    with pytest.raises(ValueError, match="activationThreshold"):
        spec(minReplicas=0, metrics=cpu)
    # Validation refuses such a spec; should one get through anyway, it never idles.
    scaler = spec(metrics=cpu).model_copy(update={"min_replicas": 0})
    decision = decide_replicas(scaler, [cpu_pods(3, 1)], 3, settled(3), NOW)
    assert decision.desired_replicas == 1


def test_a_new_scaler_does_not_go_to_zero_at_once() -> None:
    counts = run(spec(**IDLE), [0.0], 2, syncs=22)
    assert counts[0] == 2
    assert counts[-1] == 0


# --- memory ---------------------------------------------------------------------------------


def test_memory_records_changes_and_forgets_what_no_window_can_see() -> None:
    memory = ScalerMemory(
        recommendations=(RecommendationSample(NOW - 400, 9), RecommendationSample(NOW - 10, 4)),
        scale_events=(ScaleEvent(NOW - 100, 2), ScaleEvent(NOW - 5, -1)),
    )
    decision = decide_replicas(spec(), [PrometheusReading(8.0)], 4, memory, NOW)
    assert decision.desired_replicas == 8
    assert decision.memory.recommendations == (
        RecommendationSample(NOW - 10, 4),
        RecommendationSample(NOW, 8),
    )
    assert decision.memory.scale_events == (ScaleEvent(NOW - 5, -1), ScaleEvent(NOW, 4))


def test_no_change_records_no_event() -> None:
    decision = decide_replicas(spec(), [PrometheusReading(4.0)], 4, settled(4), NOW)
    assert decision.desired_replicas == 4
    assert decision.memory.scale_events == ()


def test_memory_survives_a_round_trip_through_the_caller() -> None:
    first = decide_replicas(spec(), [PrometheusReading(1.0)], 5, ScalerMemory(), NOW)
    again = decide_replicas(spec(), [PrometheusReading(1.0)], 5, ScalerMemory(), NOW)
    assert first == again
    later = decide_replicas(spec(), [PrometheusReading(1.0)], 5, first.memory, NOW + 300)
    assert later.desired_replicas == 1


def test_readings_must_match_the_metrics() -> None:
    with pytest.raises(ValueError, match="readings"):
        decide_replicas(spec(), [], 1, ScalerMemory(), NOW)
