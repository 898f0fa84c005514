"""The horizontal scaler's handlers against an emulated API: the scale subresource is read and
patched for real, status and Events are written, bad targets and bad metrics are reported
without stopping anything else. Metrics come from a fake port the tests set."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import kopf
import pytest

from tests.component.harness import Cluster, Kind, condition, declare
from tests.factories import horizontal_scaler
from tests.fakes import FakeScalingMetrics
from trimtab.handlers import register
from trimtab.horizontal.service import HorizontalService
from trimtab.kube.scale import ScaleClient
from trimtab.metrics.scaling import MetricFailure
from trimtab.settings import Settings

NS = "shop"
QUERY = "sum(rate(http_requests_total[2m]))"
PER_POD = [{"type": "Prometheus", "prometheus": {"query": QUERY, "targetAverageValue": "100"}}]
CPU = [{"type": "Resource", "resource": {"name": "cpu", "targetAverageUtilization": 70}}]


@pytest.fixture
def metrics() -> FakeScalingMetrics:
    return FakeScalingMetrics()


@pytest.fixture
async def operator(cluster: Cluster, metrics: FakeScalingMetrics) -> Cluster:
    settings = Settings(
        standalone=True, webhook_enabled=False, recommender_enabled=False, horizontal_tick_s=0.1
    )
    connect = cluster.connector()

    service = HorizontalService(metrics, ScaleClient(connect), clock=time.time)
    await cluster.start_operator(
        lambda registry: register(registry, settings),
        memo=kopf.Memo(settings=settings, horizontal=service),
    )
    return cluster


def deployment(name: str, replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}},
        },
        "status": {"replicas": replicas},
    }


def pod(name: str, app: str, cpu: str = "500m") -> dict[str, Any]:
    started = "2023-11-14T22:13:20Z"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": {"app": app}},
        "spec": {"containers": [{"name": "app", "resources": {"requests": {"cpu": cpu}}}]},
        "status": {
            "phase": "Running",
            "startTime": started,
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": started}],
        },
    }


def scaler(name: str, **spec: Any) -> dict[str, Any]:
    return horizontal_scaler(name, NS, pollInterval="100ms", **spec)


def replicas_are(count: int) -> Callable[[dict[str, Any]], bool]:
    def check(obj: dict[str, Any]) -> bool:
        return bool(obj.get("spec", {}).get("replicas") == count)

    check.__name__ = f"spec.replicas == {count}"
    return check


def has(type_: str, status: str, reason: str) -> Callable[[dict[str, Any]], bool]:
    def check(obj: dict[str, Any]) -> bool:
        found = condition(obj, type_) or {}
        return found.get("status") == status and found.get("reason") == reason

    check.__name__ = f"{type_}={status} ({reason})"
    return check


def events(cluster: Cluster, name: str, reason: str) -> list[dict[str, Any]]:
    return [
        event
        for event in cluster.objects("Event")
        if event.get("reason") == reason and event.get("involvedObject", {}).get("name") == name
    ]


async def test_the_target_is_scaled_and_status_and_event_written(
    operator: Cluster, metrics: FakeScalingMetrics
) -> None:
    metrics.values[QUERY] = 400.0
    await operator.create(deployment("web", 2))
    await operator.create(scaler("web", metrics=PER_POD))
    await operator.wait_for("Deployment", "web", replicas_are(4), namespace=NS)
    hs = await operator.wait_for(
        "HorizontalScaler", "web", lambda o: "lastScaleTime" in o.get("status", {}), namespace=NS
    )
    status = hs["status"]
    assert status["desiredReplicas"] == 4
    assert status["decidedBy"] == "Reactive"
    assert status["currentMetrics"] == [{"name": QUERY, "value": "400", "target": "100"}]
    assert {"time", "replicas"} <= set(status["scalerMemory"]["recommendations"][-1])
    assert has("AbleToScale", "True", "ReadyForNewScale")(hs)
    assert has("ScalingActive", "True", "ValidMetricFound")(hs)
    assert has("ScalingLimited", "False", "DesiredWithinRange")(hs)
    await operator.wait_until(
        lambda: bool(events(operator, "web", "SuccessfulRescale")), what="a SuccessfulRescale"
    )
    (event,) = events(operator, "web", "SuccessfulRescale")
    assert "Deployment web from 2 to 4" in event["message"]
    assert f"{QUERY} 400 for target 100" in event["message"]
    # Steady now: the scale subresource is patched once, however many syncs follow.
    await operator.wait_for(
        "HorizontalScaler",
        "web",
        lambda o: "staying at 4" in (condition(o, "ScalingActive") or {}).get("message", ""),
        namespace=NS,
    )
    assert len(operator.requests("Deployment", method="PATCH", subresource="scale")) == 1


async def test_pods_of_the_target_come_from_the_index(
    operator: Cluster, metrics: FakeScalingMetrics
) -> None:
    metrics.values["cpu"] = 140.0
    for name in ("web-5d9f-aaaaa", "web-5d9f-bbbbb"):
        await operator.create(pod(name, "web"))
    await operator.create(pod("api-77c4-ccccc", "api"))
    await operator.create(deployment("web", 2))
    await operator.create(scaler("web", metrics=CPU))
    await operator.wait_for("Deployment", "web", replicas_are(4), namespace=NS)
    assert ("shop", ("web-5d9f-aaaaa", "web-5d9f-bbbbb")) in metrics.reads
    # The watch keeps the index current: a pod that failed is no longer measured.
    failed = {"status": {"phase": "Failed"}}
    await operator.patch("Pod", "web-5d9f-bbbbb", failed, namespace=NS, subresource="status")
    await operator.wait_until(
        lambda: metrics.reads[-1] == ("shop", ("web-5d9f-aaaaa",)), what="one pod measured"
    )


async def test_a_metric_drop_scales_down_after_the_window(
    operator: Cluster, metrics: FakeScalingMetrics
) -> None:
    metrics.values[QUERY] = 400.0
    await operator.create(deployment("web", 2))
    window = {"scaleDown": {"stabilizationWindowSeconds": 2}}
    await operator.create(scaler("web", metrics=PER_POD, behavior=window))
    await operator.wait_for("Deployment", "web", replicas_are(4), namespace=NS)
    metrics.values[QUERY] = 100.0
    dropped_at = time.monotonic()
    await operator.wait_for(
        "HorizontalScaler", "web", has("AbleToScale", "True", "ScaleDownStabilized"), namespace=NS
    )
    assert operator.get("Deployment", "web", namespace=NS)["spec"]["replicas"] == 4
    await operator.wait_for("Deployment", "web", replicas_are(1), namespace=NS, within=5.0)
    assert time.monotonic() - dropped_at >= 1.5


async def test_a_query_prometheus_cannot_parse_stops_scaling_and_is_named(
    operator: Cluster, metrics: FakeScalingMetrics
) -> None:
    metrics.failures[QUERY] = MetricFailure(
        "the query does not parse: 1:26: parse error: unclosed left parenthesis", invalid=True
    )
    await operator.create(deployment("web", 2))
    await operator.create(
        scaler("web", metrics=PER_POD, fallback={"failureThreshold": 1, "replicas": 5})
    )
    hs = await operator.wait_for(
        "HorizontalScaler", "web", has("ScalingActive", "False", "InvalidMetric"), namespace=NS
    )
    message = condition(hs, "ScalingActive")["message"]
    assert message.startswith(f"spec.metrics[0] ({QUERY}): the query does not parse")
    assert "unclosed left parenthesis" in message
    await operator.wait_until(
        lambda: bool(events(operator, "web", "InvalidMetric")), what="a Warning InvalidMetric"
    )
    assert operator.get("Deployment", "web", namespace=NS)["spec"]["replicas"] == 2
    assert operator.requests("Deployment", method="PATCH", subresource="scale") == []


async def test_a_target_without_scale_subresource_does_not_stop_the_others(
    operator: Cluster, metrics: FakeScalingMetrics
) -> None:
    declare(operator.emulator, [Kind("apps", "v1", "DaemonSet", "daemonsets", True)])
    metrics.values[QUERY] = 400.0
    await operator.create(deployment("web", 2))
    agent = {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent"}
    await operator.create(scaler("agent", metrics=PER_POD, scaleTargetRef=agent))
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "name": "w"}
    await operator.create(scaler("widget", metrics=PER_POD, scaleTargetRef=widget))
    await operator.create(scaler("web", metrics=PER_POD))
    await operator.wait_for(
        "HorizontalScaler", "widget", has("AbleToScale", "False", "UnknownTargetKind"), namespace=NS
    )
    hs = await operator.wait_for(
        "HorizontalScaler",
        "agent",
        has("ScalingActive", "False", "NoScaleSubresource"),
        namespace=NS,
    )
    assert (
        "DaemonSet agent (apps/v1) has no scale subresource"
        in condition(hs, "AbleToScale")["message"]
    )
    await operator.wait_for("Deployment", "web", replicas_are(4), namespace=NS)


async def test_a_missing_target_is_reported_until_it_appears(
    operator: Cluster, metrics: FakeScalingMetrics
) -> None:
    metrics.values[QUERY] = 400.0
    await operator.create(scaler("web", metrics=PER_POD))
    await operator.wait_for(
        "HorizontalScaler", "web", has("AbleToScale", "False", "TargetNotFound"), namespace=NS
    )
    await operator.create(deployment("web", 2))
    await operator.wait_for("Deployment", "web", replicas_are(4), namespace=NS)
    await operator.wait_for(
        "HorizontalScaler", "web", has("AbleToScale", "True", "ReadyForNewScale"), namespace=NS
    )


async def test_a_failed_scale_write_is_reported_and_retried(
    operator: Cluster, metrics: FakeScalingMetrics
) -> None:
    metrics.values[QUERY] = 400.0
    fault = operator.inject_fault("Deployment", 500, method="PATCH", subresource="scale")
    await operator.create(deployment("web", 2))
    await operator.create(scaler("web", metrics=PER_POD))
    await operator.wait_for("Deployment", "web", replicas_are(4), namespace=NS)
    assert len(fault.seen) == 1
    await operator.wait_until(
        lambda: bool(events(operator, "web", "FailedRescale")), what="a Warning FailedRescale"
    )
