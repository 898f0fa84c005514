"""The horizontal scaler's metrics reader against a real Prometheus holding 14 days of
generated history.

CPU is read with irate over two minutes: at a sample time t that is (counter[t] -
counter[t - 60 s]) / 60 s, exactly the generator's mean usage over the minute ending at t (to
float precision of the 14-day running sum), under Prometheus 2's closed and 3's left-open range
windows alike. Memory is the working set at t, exactly.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from trimtab.api.horizontal import HorizontalScalerSpec, MetricSpec
from trimtab.history.generator import WorkloadHistory
from trimtab.history.prometheus_server import free_port
from trimtab.horizontal.algorithm import (
    PrometheusReading,
    ResourceReading,
    ScalerMemory,
    decide_replicas,
)
from trimtab.metrics import (
    MetricFailure,
    PrometheusClient,
    PrometheusConfig,
    ScalingMetricsReader,
    TargetPod,
)

RTOL = 1e-6
SAMPLES_PER_DAY = 1440
TARGET_CORES_PER_REPLICA = 0.5
WEB_CPU = (
    'sum(irate(container_cpu_usage_seconds_total{namespace="shop",pod=~"web-.*",'
    'container!="",container!="POD"}[2m]))'
)


def _reader(url: str, **fields: Any) -> ScalingMetricsReader:
    return ScalingMetricsReader(PrometheusClient(PrometheusConfig(url=url, retries=0, **fields)))


def _target_pods(history: WorkloadHistory) -> list[TargetPod]:
    return [
        TargetPod(
            name,
            "Ready",
            cpu_request=float(history.cpu_request_cores.sum()),
            memory_request=float(history.memory_request_bytes.sum()),
        )
        for name in history.pods
    ]


def _resource(name: str) -> MetricSpec:
    return MetricSpec.model_validate(
        {"type": "Resource", "resource": {"name": name, "targetAverageUtilization": 80}}
    )


def _prometheus(query: str) -> MetricSpec:
    return MetricSpec.model_validate(
        {
            "type": "Prometheus",
            "prometheus": {"query": query, "targetAverageValue": f"{TARGET_CORES_PER_REPLICA}"},
        }
    )


def _spec(metric: MetricSpec) -> HorizontalScalerSpec:
    """Stabilisation and rate limits out of the way, so each decision is the metric's own."""
    return HorizontalScalerSpec.model_validate(
        {
            "scaleTargetRef": {"kind": "Deployment", "name": "web"},
            "minReplicas": 1,
            "maxReplicas": 50,
            "metrics": [metric.model_dump(by_alias=True, exclude_none=True)],
            "behavior": {
                "scaleUp": {
                    "stabilizationWindowSeconds": 0,
                    "policies": [{"type": "Pods", "value": 100, "periodSeconds": 15}],
                },
                "scaleDown": {
                    "stabilizationWindowSeconds": 0,
                    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
                },
            },
        }
    )


def _expected_replicas(value: float, current: int) -> int:
    """The HPA's rule for a targetAverageValue, from the generator's numbers: no change within
    10 % of the target per replica, else ceil(value / target), within 1..50."""
    if abs(value / (TARGET_CORES_PER_REPLICA * current) - 1.0) <= 0.1:
        return current
    return min(max(math.ceil(value / TARGET_CORES_PER_REPLICA), 1), 50)


@pytest.mark.parametrize(
    "name", ["web", "cache", "api", "ledger", "gateway", "search", "node-agent"]
)
def test_resource_readings_are_each_pods_summed_containers_at_end(
    prometheus_history: Any, name: str
) -> None:
    history = prometheus_history.history(name)
    pods = [*_target_pods(history), TargetPod("gone-pod", cpu_request=1.0, memory_request=1e9)]
    reader = _reader(prometheus_history.url)

    cpu, memory = reader.read(
        history.namespace, pods, [_resource("cpu"), _resource("memory")], prometheus_history.end
    )

    assert reader.queries_sent == 2
    assert isinstance(cpu, ResourceReading) and isinstance(memory, ResourceReading)
    assert cpu.pods[-1].usage is None and memory.pods[-1].usage is None
    expected_cpu = history.cpu_cores[:, :, -1].sum(axis=1)
    expected_memory = history.memory_bytes[:, :, -1].sum(axis=1)
    for index in range(len(history.pods)):
        cpu_usage, memory_usage = cpu.pods[index].usage, memory.pods[index].usage
        assert cpu_usage is not None and memory_usage is not None
        assert cpu_usage == pytest.approx(expected_cpu[index], rel=RTOL, abs=0)
        assert memory_usage == expected_memory[index]
        assert cpu.pods[index].request == pytest.approx(history.cpu_request_cores.sum())
        assert memory.pods[index].request == history.memory_request_bytes.sum()


def test_a_prometheus_metric_drives_the_algorithm_along_a_recorded_day(
    prometheus_history: Any,
) -> None:
    web = prometheus_history.history("web")
    totals = web.cpu_cores.sum(axis=(0, 1))  # cores of all pods and containers, per minute
    last_day = np.arange(totals.size - SAMPLES_PER_DAY, totals.size)
    peak = int(last_day[np.argmax(totals[last_day])])
    trough = int(last_day[np.argmin(totals[last_day])])
    hourly = last_day[::60].tolist()
    metric = _prometheus(WEB_CPU)
    spec = _spec(metric)
    reader = _reader(prometheus_history.url)

    current, memory = len(web.pods), ScalerMemory()
    decided = {}
    for index in sorted({*hourly, peak, trough}):
        at = float(web.timestamps[index])
        (reading,) = reader.read("shop", [], spec.metrics, at)
        assert isinstance(reading, PrometheusReading) and reading.value is not None
        assert reading.value == pytest.approx(totals[index], rel=RTOL, abs=0)

        decision = decide_replicas(spec, [reading], current, memory, at)

        assert decision.desired_replicas == _expected_replicas(totals[index], current), at
        decided[index] = decision.desired_replicas
        current, memory = decision.desired_replicas, decision.memory

    assert reader.queries_sent == len(decided)
    assert decided[peak] == math.ceil(totals[peak] / TARGET_CORES_PER_REPLICA)
    assert decided[trough] < decided[peak]
    assert len(set(decided.values())) > 2, "the day moved the count more than once"


def test_the_predictive_history_is_fourteen_days_of_the_generated_values(
    prometheus_history: Any,
) -> None:
    web = prometheus_history.history("web")
    reader = _reader(prometheus_history.url)

    timestamps, values = reader.history("shop", [], _prometheus(WEB_CPU), prometheus_history.end)

    assert reader.queries_sent == 2  # 20,160 points at most 11,000 per query
    # irate needs two scrapes: the first sample time of the 14 days has no value.
    np.testing.assert_array_equal(timestamps, web.timestamps[1:])
    np.testing.assert_allclose(values, web.cpu_cores.sum(axis=(0, 1))[1:], rtol=RTOL, atol=0)


def test_the_resource_history_is_the_utilisation_of_the_pods(prometheus_history: Any) -> None:
    web = prometheus_history.history("web")
    pods = _target_pods(web)
    reader = _reader(prometheus_history.url)
    per_pod = web.cpu_cores.sum(axis=1)[:, -SAMPLES_PER_DAY:]  # (pods, samples)
    request = float(web.cpu_request_cores.sum())

    timestamps, average = reader.history(
        "shop", pods, _resource("cpu"), prometheus_history.end, history_s=86_400.0
    )
    _, total = reader.history(
        "shop", pods, _resource("cpu"), prometheus_history.end, history_s=86_400.0, total=True
    )

    np.testing.assert_array_equal(timestamps, web.timestamps[-SAMPLES_PER_DAY:])
    np.testing.assert_allclose(average, 100 * per_pod.mean(axis=0) / request, rtol=RTOL)
    np.testing.assert_allclose(total, 100 * per_pod.sum(axis=0) / request, rtol=RTOL)


def test_a_query_that_does_not_parse_fails_alone_as_invalid(prometheus_history: Any) -> None:
    web = prometheus_history.history("web")
    reader = _reader(prometheus_history.url)
    broken = _prometheus('sum(rate(container_cpu_usage_seconds_total{namespace="shop"}[2m])')

    failed, cpu = reader.read(
        "shop", _target_pods(web), [broken, _resource("cpu")], prometheus_history.end
    )

    assert isinstance(failed, MetricFailure) and failed.invalid
    assert failed.error.startswith("the query does not parse: ")
    assert "parse error" in failed.error
    assert "HTTP 400" not in failed.error
    assert isinstance(cpu, ResourceReading)
    assert all(pod.usage is not None for pod in cpu.pods)
    assert reader.queries_sent == 2


def test_several_series_and_empty_answers_from_a_real_prometheus(prometheus_history: Any) -> None:
    reader = _reader(prometheus_history.url)
    by_pod = _prometheus(WEB_CPU.replace("sum(", "sum by (pod) (", 1))
    nothing = _prometheus('sum(container_cpu_usage_seconds_total{namespace="nowhere"})')

    several, empty = reader.read("shop", [], [by_pod, nothing], prometheus_history.end)

    assert isinstance(several, MetricFailure) and not several.invalid
    assert several.error.startswith("the query returned 3 series")
    assert empty == PrometheusReading(None)


def test_an_unreachable_prometheus_fails_each_metric_but_not_as_invalid() -> None:
    reader = _reader(f"http://127.0.0.1:{free_port()}", timeout_s=2.0)

    readings = reader.read(
        "shop", [TargetPod("web-a", cpu_request=1.0)], [_prometheus("sum(x)"), _resource("cpu")], 0
    )

    for reading in readings:
        assert isinstance(reading, MetricFailure) and not reading.invalid
        assert "cannot connect" in reading.error
    assert reader.queries_sent == 2
