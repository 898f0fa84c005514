"""Generated history survives OpenMetrics, promtool and Prometheus unchanged.

Everything is read back through prometheus_api_client, the client the metrics port uses. A
range query may return at most 11,000 points per series, so 14 days are read at a 2-minute
step (10,080 points) and compared on every other generated sample; queries are made at the
data's end time, since Prometheus looks back only 5 minutes from a query's time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from prometheus_api_client import PrometheusConnect

from trimtab.history.generator import FloatArray, IntArray, WorkloadHistory

RANGE_STEP_S = 120.0
MAX_POINTS_PER_SERIES = 11_000

LabelKey = frozenset[tuple[str, str]]


def _client(prometheus_history: Any) -> PrometheusConnect:
    return PrometheusConnect(url=prometheus_history.url, disable_ssl=True)


def _key(metric: dict[str, str]) -> LabelKey:
    return frozenset(metric.items())


def _query_range(
    prometheus_history: Any, query: str
) -> dict[LabelKey, tuple[FloatArray, FloatArray]]:
    start, end = prometheus_history.start, prometheus_history.end
    assert (end - start) / RANGE_STEP_S + 1 <= MAX_POINTS_PER_SERIES
    result = _client(prometheus_history).custom_query_range(
        query,
        start_time=datetime.fromtimestamp(start, tz=UTC),
        end_time=datetime.fromtimestamp(end, tz=UTC),
        step=str(int(RANGE_STEP_S)),
    )
    series = {}
    for item in result:
        points = np.array(item["values"], dtype=np.float64)
        series[_key(item["metric"])] = (points[:, 0], points[:, 1])
    return series


def _query_at_end(prometheus_history: Any, query: str) -> dict[LabelKey, float]:
    result = _client(prometheus_history).custom_query(
        query, params={"time": prometheus_history.end}
    )
    return {_key(item["metric"]): float(item["value"][1]) for item in result}


def _container_key(history: WorkloadHistory, pod: int, container: int, **extra: str) -> LabelKey:
    return _key(
        {
            "namespace": history.namespace,
            "pod": history.pods[pod],
            "container": history.containers[container],
            **extra,
        }
    )


def _per_container(
    histories: tuple[WorkloadHistory, ...],
    values_of: Callable[[WorkloadHistory], FloatArray],
    **extra: str,
) -> dict[LabelKey, FloatArray]:
    expected = {}
    for history in histories:
        values = values_of(history)
        for pod in range(len(history.pods)):
            for container in range(len(history.containers)):
                expected[_container_key(history, pod, container, **extra)] = values[pod, container]
    return expected


def _sample_index(prometheus_history: Any, timestamps: FloatArray) -> IntArray:
    """Positions in the generated arrays of the timestamps Prometheus answered for."""
    offsets: FloatArray = (timestamps - prometheus_history.start) / prometheus_history.step_s
    index: IntArray = np.rint(offsets).astype(np.int64)
    np.testing.assert_array_equal(index, offsets)
    return index


def test_the_metric_names_written_are_the_ones_stored(prometheus_history: Any) -> None:
    names = set(_client(prometheus_history).all_metrics())

    assert names == {
        "container_cpu_usage_seconds_total",
        "container_memory_working_set_bytes",
        "kube_pod_owner",
        "kube_replicaset_owner",
        "kube_pod_container_resource_requests",
        "kube_pod_container_resource_limits",
        "kube_pod_container_status_restarts_total",
        "kube_pod_container_status_last_terminated_reason",
    }


@pytest.mark.parametrize(
    ("metric", "values_of"),
    [
        ("container_cpu_usage_seconds_total", WorkloadHistory.cpu_usage_seconds_total),
        ("container_memory_working_set_bytes", lambda history: history.memory_bytes),
    ],
)
def test_fourteen_days_of_cadvisor_series_read_back_exactly(
    prometheus_history: Any, metric: str, values_of: Callable[[WorkloadHistory], FloatArray]
) -> None:
    expected = _per_container(prometheus_history.histories, values_of, __name__=metric)

    stored = _query_range(prometheus_history, metric)

    assert set(stored) == set(expected)
    for key, (timestamps, values) in stored.items():
        index = _sample_index(prometheus_history, timestamps)
        assert len(index) == 10_080, "one point per 2 minutes over 14 days"
        np.testing.assert_array_equal(values, expected[key][index], err_msg=str(dict(key)))


def test_every_sample_was_backfilled(prometheus_history: Any) -> None:
    samples = len(prometheus_history.histories[0].timestamps)
    days = int((prometheus_history.end - prometheus_history.start) // 86_400) + 1

    counts = _query_at_end(
        prometheus_history,
        f"count_over_time(container_cpu_usage_seconds_total[{days}d])",
    )

    assert len(counts) == sum(
        h.cpu_cores.shape[0] * h.cpu_cores.shape[1] for h in prometheus_history.histories
    )
    assert set(counts.values()) == {float(samples)}
    owner_counts = _query_at_end(prometheus_history, f"count_over_time(kube_pod_owner[{days}d])")
    thinned = int(prometheus_history.kube_state_step_s // prometheus_history.step_s)
    expected_owner_samples = len(range(0, samples, thinned)) + ((samples - 1) % thinned > 0)
    assert set(owner_counts.values()) == {float(expected_owner_samples)}


def test_irate_of_the_counter_is_the_generated_cpu_even_across_restarts(
    prometheus_history: Any,
) -> None:
    expected = _per_container(prometheus_history.histories, lambda history: history.cpu_cores)
    restarted = sum(int(history.restarts.sum()) for history in prometheus_history.histories)

    stored = _query_range(prometheus_history, "irate(container_cpu_usage_seconds_total[2m])")

    assert restarted > 0
    assert set(stored) == set(expected)
    for key, (timestamps, values) in stored.items():
        index = _sample_index(prometheus_history, timestamps)
        np.testing.assert_allclose(values, expected[key][index], rtol=1e-7, atol=1e-9)


def test_kube_state_series_join_pods_to_their_deployment(prometheus_history: Any) -> None:
    query = """
        max by (namespace, pod, deployment) (
          label_replace(kube_pod_owner{owner_kind="ReplicaSet"},
                        "replicaset", "$1", "owner_name", "(.*)")
          * on (namespace, replicaset) group_left (deployment)
          label_replace(kube_replicaset_owner{owner_kind="Deployment"},
                        "deployment", "$1", "owner_name", "(.*)")
        )
    """
    expected = {
        _key({"namespace": history.namespace, "pod": pod, "deployment": history.name})
        for history in prometheus_history.histories
        if history.kind == "Deployment"
        for pod in history.pods
    }

    joined = _query_at_end(prometheus_history, query)

    assert set(joined) == expected
    assert set(joined.values()) == {1.0}


def test_requests_restarts_and_oom_kills_are_stored(prometheus_history: Any) -> None:
    histories = prometheus_history.histories
    requests = _query_at_end(prometheus_history, "kube_pod_container_resource_requests")
    restarts = _query_at_end(prometheus_history, "kube_pod_container_status_restarts_total")
    oom_killed = _query_at_end(
        prometheus_history,
        'kube_pod_container_status_last_terminated_reason{reason="OOMKilled"}',
    )

    expected_requests = {}
    for history in histories:
        for pod in range(len(history.pods)):
            for container in range(len(history.containers)):
                cpu = _container_key(
                    history,
                    pod,
                    container,
                    __name__="kube_pod_container_resource_requests",
                    resource="cpu",
                    unit="core",
                )
                memory = _container_key(
                    history,
                    pod,
                    container,
                    __name__="kube_pod_container_resource_requests",
                    resource="memory",
                    unit="byte",
                )
                expected_requests[cpu] = float(history.cpu_request_cores[container])
                expected_requests[memory] = float(history.memory_request_bytes[container])
    assert requests == expected_requests

    expected_restarts = _per_container(
        histories,
        lambda history: history.restarts.sum(axis=-1, keepdims=True).astype(np.float64),
    )
    assert {
        _key({k: v for k, v in key if k != "__name__"}): value for key, value in restarts.items()
    } == {key: float(values[0]) for key, values in expected_restarts.items()}

    cache = prometheus_history.history("cache")
    restarted_pods = {
        cache.pods[pod] for pod in range(len(cache.pods)) if cache.restarts[pod].any()
    }
    assert restarted_pods
    assert {dict(key)["pod"] for key in oom_killed} == restarted_pods
