"""The horizontal service with fake ports: when it scales, falls back, predicts, refuses."""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.fakes import FakeScaleTargets, FakeScalingMetrics
from trimtab.api.horizontal import HorizontalScalerSpec
from trimtab.horizontal.pods import PodFacts
from trimtab.horizontal.service import HorizontalService, ScalerRef, SyncOutcome
from trimtab.kube.scale import NoScaleSubresource, Scale, ScaleApiError
from trimtab.metrics.scaling import MetricFailure
from trimtab.quantity import parse_quantity

DAY = 86_400.0
NOW = 1_700_006_400.0  # a whole day: the daily sine of the history starts rising here
QUERY = "sum(rate(requests_total[2m]))"
REF = ScalerRef("shop", "web", "uid-web")


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def spec(**overrides: Any) -> HorizontalScalerSpec:
    body: dict[str, Any] = {
        "scaleTargetRef": {"kind": "Deployment", "name": "web"},
        "minReplicas": 1,
        "maxReplicas": 20,
        "metrics": [
            {"type": "Prometheus", "prometheus": {"query": QUERY, "targetAverageValue": "100"}}
        ],
    }
    body.update(overrides)
    return HorizontalScalerSpec.model_validate(body)


def make(
    replicas: int = 2, **kwargs: Any
) -> tuple[HorizontalService, FakeScalingMetrics, FakeScaleTargets, Clock]:
    metrics = FakeScalingMetrics()
    targets = FakeScaleTargets({("shop", "web"): Scale(replicas, replicas, "app=web")})
    clock = Clock()
    service = HorizontalService(metrics, targets, clock=clock, **kwargs)
    return service, metrics, targets, clock


def conditions(outcome: SyncOutcome) -> dict[str, tuple[str, str, str]]:
    return {type_: (state, reason, message) for type_, state, reason, message in outcome.conditions}


def test_scales_only_when_the_count_changes() -> None:
    service, metrics, targets, clock = make(replicas=2)
    metrics.values[QUERY] = 400.0
    first = service.sync(REF, spec(), None, [])
    assert targets.patches == [("shop", "web", 4)]
    assert first.scaled
    assert first.status["desiredReplicas"] == 4
    assert first.status["decidedBy"] == "Reactive"
    assert first.status["currentMetrics"] == [{"name": QUERY, "value": "400", "target": "100"}]
    assert "lastScaleTime" in first.status
    (event,) = first.events
    assert (event.type, event.reason) == ("Normal", "SuccessfulRescale")
    assert "Deployment web from 2 to 4" in event.message
    assert f"{QUERY} 400 for target 100" in event.message
    assert conditions(first)["ScalingActive"][:2] == ("True", "ValidMetricFound")

    clock.now += 15
    second = service.sync(REF, spec(), None, [])
    assert targets.patches == [("shop", "web", 4)]
    assert not second.scaled and not second.events
    assert "lastScaleTime" not in second.status


def test_scale_down_waits_for_the_stabilisation_window() -> None:
    window = {"scaleDown": {"stabilizationWindowSeconds": 60}}
    service, metrics, targets, clock = make(replicas=4)
    metrics.values[QUERY] = 400.0
    service.sync(REF, spec(behavior=window), None, [])
    metrics.values[QUERY] = 100.0
    clock.now += 30
    held = service.sync(REF, spec(behavior=window), None, [])
    assert targets.patches == []
    assert conditions(held)["AbleToScale"][:2] == ("True", "ScaleDownStabilized")
    clock.now += 31
    service.sync(REF, spec(behavior=window), None, [])
    assert targets.patches == [("shop", "web", 1)]


def test_fallback_after_the_failure_threshold() -> None:
    service, metrics, targets, clock = make(replicas=2)
    metrics.failures[QUERY] = MetricFailure("Prometheus at http://p: connection refused")
    fallback = {"failureThreshold": 3, "replicas": 6}
    for _ in range(2):
        held = service.sync(REF, spec(fallback=fallback), None, [])
        assert conditions(held)["ScalingActive"][:2] == ("False", "FailedGetMetrics")
        assert held.status["decidedBy"] is None
        clock.now += 15
    assert targets.patches == []
    third = service.sync(REF, spec(fallback=fallback), None, [])
    assert targets.patches == [("shop", "web", 6)]
    assert third.status["decidedBy"] == "Fallback"
    assert conditions(third)["ScalingActive"][:2] == ("False", "Fallback")
    assert third.status["scalerMemory"]["failures"] == [{"metric": QUERY, "count": 3}]


def test_without_a_fallback_count_the_current_count_holds() -> None:
    service, metrics, targets, clock = make(replicas=3)
    metrics.failures[QUERY] = MetricFailure("Prometheus at http://p: timeout")
    for _ in range(6):
        outcome = service.sync(REF, spec(), None, [])
        clock.now += 15
    assert targets.patches == []
    assert outcome.status["desiredReplicas"] == 3
    assert "staying at 3" in conditions(outcome)["ScalingActive"][2]


def test_an_invalid_query_stops_scaling_and_is_named() -> None:
    service, metrics, targets, clock = make(replicas=2)
    metrics.failures[QUERY] = MetricFailure(
        "the query does not parse: 1:5: parse error: unexpected end of input", invalid=True
    )
    fallback = {"failureThreshold": 1, "replicas": 6}
    first = service.sync(REF, spec(fallback=fallback), None, [])
    clock.now += 15
    second = service.sync(REF, spec(fallback=fallback), None, [])
    assert targets.patches == []  # not even the fallback: the spec is wrong, not Prometheus
    state, reason, message = conditions(second)["ScalingActive"]
    assert (state, reason) == ("False", "InvalidMetric")
    assert message.startswith(f"spec.metrics[0] ({QUERY}): the query does not parse")
    assert "unexpected end of input" in message
    assert [e.reason for e in first.events] == ["InvalidMetric"]
    assert second.events == []  # announced once
    assert second.status["scalerMemory"]["failures"] == []


def test_no_scale_subresource_is_reported_without_scaling() -> None:
    service, _, targets, _ = make()
    targets.errors["web"] = NoScaleSubresource("DaemonSet web (apps/v1) has no scale subresource")
    outcome = service.sync(REF, spec(), None, [])
    assert conditions(outcome)["ScalingActive"][:2] == ("False", "NoScaleSubresource")
    assert conditions(outcome)["AbleToScale"][:2] == ("False", "NoScaleSubresource")
    assert [(e.type, e.reason) for e in outcome.events] == [("Warning", "NoScaleSubresource")]
    assert targets.patches == []


def test_a_failed_scale_write_keeps_the_memory_and_retries() -> None:
    service, metrics, targets, clock = make(replicas=2)
    metrics.values[QUERY] = 400.0
    targets.patch_errors.append(ScaleApiError("HTTP 409 Conflict", reason="FailedUpdateScale"))
    failed = service.sync(REF, spec(), None, [])
    assert conditions(failed)["AbleToScale"][:2] == ("False", "FailedUpdateScale")
    assert failed.status["scalerMemory"]["scaleEvents"] == []
    assert [e.reason for e in failed.events] == ["FailedRescale"]
    clock.now += 15
    service.sync(REF, spec(), None, [])
    assert targets.patches == [("shop", "web", 4)]


def test_dry_run_announces_and_changes_nothing() -> None:
    service, metrics, targets, _ = make(replicas=2, dry_run=True)
    metrics.values[QUERY] = 400.0
    outcome = service.sync(REF, spec(), None, [])
    assert targets.patches == []
    assert [e.reason for e in outcome.events] == ["WouldRescale"]
    assert outcome.status["scalerMemory"]["scaleEvents"] == []


def test_the_memory_in_status_survives_a_restart() -> None:
    window = {"scaleDown": {"stabilizationWindowSeconds": 300}}
    service, metrics, targets, _ = make(replicas=2)
    metrics.values[QUERY] = 400.0
    saved = service.sync(REF, spec(behavior=window), None, []).status["scalerMemory"]
    assert {"time": NOW, "replicas": 4} in saved["recommendations"]
    assert saved["scaleEvents"] == [{"time": NOW, "change": 2}]

    # A new process 310 s later: the window of the saved recommendation has passed.
    metrics.values[QUERY] = 100.0
    for memory, expected in ((saved, [("shop", "web", 1)]), (None, [])):
        targets.patches.clear()
        targets.scales[("shop", "web")] = Scale(4, 4, "app=web")
        restarted = HorizontalService(metrics, targets, clock=Clock(NOW + 310))
        restarted.sync(REF, spec(behavior=window), memory, [])
        # Without the saved memory the scaler is new: it holds for a whole window.
        assert targets.patches == expected


def test_a_recreated_scaler_does_not_inherit_the_old_memory() -> None:
    service, metrics, _, clock = make(replicas=2)
    metrics.values[QUERY] = 400.0
    service.sync(REF, spec(), None, [])
    clock.now += 15
    again = service.sync(ScalerRef("shop", "web", "uid-new"), spec(), None, [])
    assert again.status["scalerMemory"]["scaleEvents"] == []


def test_due_waits_for_the_poll_interval() -> None:
    service, metrics, _, clock = make()
    metrics.values[QUERY] = 200.0
    assert service.due(REF, 15.0)
    service.sync(REF, spec(), None, [])
    clock.now += 10
    assert not service.due(REF, 15.0)
    assert service.due(REF, 15.0, slack=5.0)
    clock.now += 5
    assert service.due(REF, 15.0)


def test_pods_are_selected_by_the_scale_selector() -> None:
    service, metrics, _, _ = make(replicas=2)
    metrics.values["cpu"] = 70.0
    pods = [
        _pod("web-1", {"app": "web"}),
        _pod("web-2", {"app": "web"}),
        _pod("api-1", {"app": "api"}),
        _pod("web-old", {"app": "web"}, phase="Succeeded"),
    ]
    resource = [{"type": "Resource", "resource": {"name": "cpu", "targetAverageUtilization": 70}}]
    outcome = service.sync(REF, spec(metrics=resource), None, pods)
    assert metrics.reads == [("shop", ("web-1", "web-2"))]
    assert outcome.status["currentMetrics"] == [{"name": "cpu", "value": "70", "target": "70"}]


# -- predictive mode -------------------------------------------------------------------------


def _daily_history(level: float = 1000.0, amplitude: float = 800.0) -> tuple[Any, Any]:
    times = np.arange(NOW - 14 * DAY + 60, NOW + 1, 60.0)
    return times, level + amplitude * np.sin(2 * np.pi * (times % DAY) / DAY)


PREDICTIVE = {"enabled": True, "leadTime": "1h", "history": "14d"}


def test_the_forecast_decides_when_it_asks_for_more() -> None:
    service, metrics, targets, clock = make(replicas=10)
    metrics.histories[QUERY] = _daily_history()
    metrics.values[QUERY] = 1000.0  # ahead: 1000 + 800 sin(1/24 of a turn), about 1207
    outcome = service.sync(REF, spec(predictive=PREDICTIVE), None, [])
    assert outcome.status["decidedBy"] == "Predictive"
    assert targets.patches == [("shop", "web", 13)]
    (value,) = outcome.status["currentMetrics"]
    assert value["value"] == "1k"
    assert 1200 < parse_quantity(value["forecast"]).as_float() < 1215
    assert conditions(outcome)["PredictiveActive"][:2] == ("True", "ForecastUsed")

    # Within the forecast interval the cached forecast is reused: no second history read.
    clock.now += 15
    service.sync(REF, spec(predictive=PREDICTIVE), None, [])
    assert len(metrics.history_calls) == 1
    clock.now += 300
    service.sync(REF, spec(predictive=PREDICTIVE), None, [])
    assert len(metrics.history_calls) == 2


def test_a_lower_forecast_leaves_the_decision_to_the_metrics() -> None:
    service, metrics, targets, _ = make(replicas=10)
    metrics.histories[QUERY] = _daily_history()
    metrics.values[QUERY] = 2000.0
    outcome = service.sync(REF, spec(predictive=PREDICTIVE), None, [])
    assert outcome.status["decidedBy"] == "Reactive"
    assert targets.patches == [("shop", "web", 20)]


def test_a_short_history_falls_back_to_reacting() -> None:
    service, metrics, targets, _ = make(replicas=10)
    times, values = _daily_history()
    metrics.histories[QUERY] = (times[-1440:], values[-1440:])
    metrics.values[QUERY] = 1000.0
    outcome = service.sync(REF, spec(predictive=PREDICTIVE), None, [])
    assert outcome.status["decidedBy"] == "Reactive"
    assert targets.patches == []
    state, reason, message = conditions(outcome)["PredictiveActive"]
    assert (state, reason) == ("False", "ReactiveOnly")
    assert "the model needs 2" in message
    assert "forecast" not in outcome.status["currentMetrics"][0]


def test_resource_history_covers_the_workloads_earlier_pods() -> None:
    service, metrics, _, _ = make(replicas=2)
    metrics.values["cpu"] = 70.0
    resource = [{"type": "Resource", "resource": {"name": "cpu", "targetAverageUtilization": 70}}]
    pods = [_pod("web-5d9f-a1b2c", {"app": "web"})]
    outcome = service.sync(REF, spec(metrics=resource, predictive=PREDICTIVE), None, pods)
    assert metrics.history_calls == [("cpu", "web-[a-z0-9]+-[a-z0-9]+", True)]
    assert "no history" in conditions(outcome)["PredictiveActive"][2]


def _pod(name: str, labels: dict[str, str], phase: str = "Running") -> PodFacts:
    return PodFacts(
        name,
        labels,
        phase=phase,
        start_time=NOW - DAY,
        ready=True,
        ready_changed=NOW - DAY + 10,
        cpu_request=0.5,
        memory_request=256e6,
    )


def test_a_target_scaled_to_zero_by_hand_is_left_alone() -> None:
    service, metrics, targets, _ = make(replicas=0)
    metrics.values[QUERY] = 400.0
    outcome = service.sync(REF, spec(), None, [])
    assert targets.patches == []
    assert conditions(outcome)["ScalingActive"][:2] == ("False", "ScalingDisabled")
