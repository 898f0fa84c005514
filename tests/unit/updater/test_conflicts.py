"""A horizontal scaler on CPU of the same workload keeps the updater off CPU."""

from __future__ import annotations

from typing import Any

import pytest

from trimtab.updater.conflicts import cpu_scaling_conflict

WEB = ("Deployment", "web")


def scaler(
    name: str = "web",
    metrics: list[dict[str, Any]] | None = None,
    namespace: str = "shop",
    target: tuple[str, str] = WEB,
) -> dict[str, Any]:
    """A Trimtab HorizontalScaler scaling ``target`` on 70 % CPU unless told otherwise."""
    cpu = {"type": "Resource", "resource": {"name": "cpu", "targetAverageUtilization": 70}}
    return {
        "apiVersion": "trimtab.dev/v1alpha1",
        "kind": "HorizontalScaler",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "scaleTargetRef": {"kind": target[0], "name": target[1]},
            "minReplicas": 2,
            "maxReplicas": 10,
            "metrics": [cpu] if metrics is None else metrics,
        },
    }


def hpa(
    name: str = "web-hpa",
    metrics: list[dict[str, Any]] | None = None,
    namespace: str = "shop",
    target: tuple[str, str] = WEB,
) -> dict[str, Any]:
    """An autoscaling/v2 HPA of ``target``; without ``metrics`` it has none (80 % CPU)."""
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": target[0], "name": target[1]},
        "maxReplicas": 10,
    }
    if metrics is not None:
        spec["metrics"] = metrics
    return {"metadata": {"name": name, "namespace": namespace}, "spec": spec}


MEMORY = {"type": "Resource", "resource": {"name": "memory", "targetAverageUtilization": 70}}
PROMETHEUS = {"type": "Prometheus", "prometheus": {"query": "sum(rate(x[1m]))", "targetValue": 5}}
HPA_CPU = {
    "type": "Resource",
    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}},
}
HPA_CPU_VALUE = {
    "type": "Resource",
    "resource": {"name": "cpu", "target": {"type": "AverageValue", "averageValue": "500m"}},
}
HPA_CONTAINER_CPU = {
    "type": "ContainerResource",
    "containerResource": {
        "name": "cpu",
        "container": "app",
        "target": {"type": "Utilization", "averageUtilization": 60},
    },
}
HPA_MEMORY = {
    "type": "Resource",
    "resource": {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 60}},
}
HPA_EXTERNAL = {
    "type": "External",
    "external": {"metric": {"name": "queue"}, "target": {"type": "Value", "value": "10"}},
}


@pytest.mark.parametrize(
    ("scalers", "hpas", "expected"),
    [
        pytest.param([], [], None, id="none"),
        pytest.param(
            [scaler()],
            [],
            "HorizontalScaler web scales Deployment web on CPU utilisation",
            id="scaler-on-cpu",
        ),
        pytest.param(
            [scaler(metrics=[PROMETHEUS, MEMORY])], [], None, id="scaler-on-memory-and-promql"
        ),
        pytest.param(
            [scaler(metrics=[PROMETHEUS, MEMORY, scaler()["spec"]["metrics"][0]])],
            [],
            "HorizontalScaler web scales Deployment web on CPU utilisation",
            id="scaler-cpu-among-others",
        ),
        pytest.param([scaler(namespace="other")], [], None, id="scaler-other-namespace"),
        pytest.param([scaler(target=("Deployment", "api"))], [], None, id="scaler-other-name"),
        pytest.param([scaler(target=("StatefulSet", "web"))], [], None, id="scaler-other-kind"),
        pytest.param(
            [],
            [hpa()],
            "HorizontalPodAutoscaler web-hpa scales Deployment web on CPU utilisation "
            "(the default 80 % when no metrics are set)",
            id="hpa-without-metrics",
        ),
        pytest.param(
            [],
            [hpa(metrics=[])],
            "HorizontalPodAutoscaler web-hpa scales Deployment web on CPU utilisation (the",
            id="hpa-empty-metrics",
        ),
        pytest.param(
            [],
            [hpa(metrics=[HPA_MEMORY, HPA_CPU])],
            "HorizontalPodAutoscaler web-hpa scales Deployment web on CPU utilisation",
            id="hpa-on-cpu",
        ),
        pytest.param(
            [],
            [hpa(metrics=[HPA_CPU_VALUE])],
            "HorizontalPodAutoscaler web-hpa scales Deployment web on CPU usage",
            id="hpa-on-cpu-value",
        ),
        pytest.param(
            [],
            [hpa(metrics=[HPA_CONTAINER_CPU])],
            "HorizontalPodAutoscaler web-hpa scales Deployment web on CPU utilisation",
            id="hpa-on-container-cpu",
        ),
        pytest.param([], [hpa(metrics=[HPA_MEMORY, HPA_EXTERNAL])], None, id="hpa-not-on-cpu"),
        pytest.param([], [hpa(namespace="other")], None, id="hpa-other-namespace"),
        pytest.param([], [hpa(target=("Deployment", "api"))], None, id="hpa-other-target"),
        pytest.param(
            [scaler("first")],
            [hpa()],
            "HorizontalScaler first scales",
            id="scalers-before-hpas",
        ),
        pytest.param(
            [scaler("a", target=("Deployment", "api")), scaler("b", metrics=[MEMORY]), scaler("c")],
            [],
            "HorizontalScaler c scales",
            id="first-matching",
        ),
    ],
)
def test_cpu_scaling_conflict(
    scalers: list[dict[str, Any]], hpas: list[dict[str, Any]], expected: str | None
) -> None:
    found = cpu_scaling_conflict("shop", WEB, scalers, hpas)
    if expected is None:
        assert found is None
    else:
        assert found is not None
        assert found.startswith(expected)


def test_malformed_bodies_are_no_conflict() -> None:
    broken: list[dict[str, Any]] = [{}, {"metadata": None, "spec": "x"}, {"spec": {"metrics": 3}}]
    assert cpu_scaling_conflict("shop", WEB, broken, []) is None
    assert cpu_scaling_conflict("shop", WEB, [], broken) is None
