"""The usage-history generator and its OpenMetrics writer.

The promtool and Prometheus round trip is in tests/integration; here the writer's output is
checked against the OpenMetrics rules promtool relies on.
"""

from __future__ import annotations

import io
import re
from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trimtab.history.generator import (
    MIB,
    PAGE_BYTES,
    SECONDS_PER_DAY,
    WorkloadClass,
    WorkloadHistory,
    WorkloadSpec,
    generate,
    standard_workloads,
)
from trimtab.history.openmetrics import (
    format_floats,
    format_labels,
    write_openmetrics,
)

START = 1_767_225_600.0  # 2026-01-01 00:00 UTC, a Thursday
DAY = float(SECONDS_PER_DAY)
NAME_CHARS = "[bcdfghjklmnpqrstvwxz2456789]"


def _spec(workload_class: WorkloadClass, **changes: object) -> WorkloadSpec:
    fields: dict[str, object] = {
        "name": workload_class.value.replace("_", "-"),
        "namespace": "team-a",
        "workload_class": workload_class,
        "replicas": 3,
        "containers": ("app", "sidecar"),
        "cpu_base_cores": (0.5, 0.05),
        "memory_base_bytes": (512.0 * MIB, 64.0 * MIB),
        "seed": 7,
    }
    fields.update(changes)
    return WorkloadSpec(**fields)  # type: ignore[arg-type]


def _history(
    workload_class: WorkloadClass, days: float = 14, step_s: float = 60.0, **changes: object
) -> WorkloadHistory:
    return generate(_spec(workload_class, **changes), START, days * DAY, step_s)


def _hour_of_day_means(history: WorkloadHistory, values: np.ndarray) -> np.ndarray:
    hours = ((history.timestamps % DAY) // 3600).astype(int)
    return np.array([values[..., hours == hour].mean() for hour in range(24)])


# Shapes, names, determinism


@pytest.mark.parametrize("workload_class", list(WorkloadClass))
def test_arrays_are_pods_by_containers_by_samples(workload_class: WorkloadClass) -> None:
    history = _history(workload_class)

    assert history.cpu_cores.shape == (3, 2, 20_160)
    assert history.memory_bytes.shape == (3, 2, 20_160)
    assert history.restarts.shape == (3, 2, 20_160)
    assert history.cpu_usage_seconds_total().shape == (3, 2, 20_160)
    assert history.timestamps[0] == START
    assert history.end == START + 14 * DAY - 60
    np.testing.assert_array_equal(np.diff(history.timestamps), 60.0)
    assert history.containers == ("app", "sidecar")


@pytest.mark.parametrize("workload_class", list(WorkloadClass))
def test_same_seed_same_history_other_seed_other_history(workload_class: WorkloadClass) -> None:
    first = _history(workload_class, days=2)
    again = _history(workload_class, days=2)
    other = _history(workload_class, days=2, seed=8)

    assert first.pods == again.pods
    np.testing.assert_array_equal(first.cpu_cores, again.cpu_cores)
    np.testing.assert_array_equal(first.memory_bytes, again.memory_bytes)
    np.testing.assert_array_equal(first.restarts, again.restarts)
    assert first.markers == again.markers
    assert first.pods != other.pods
    assert not np.array_equal(first.cpu_cores, other.cpu_cores)


def test_deployment_pods_are_named_after_their_replicaset() -> None:
    history = _history(WorkloadClass.STEADY, days=1)

    assert history.pod_owner_kind == "ReplicaSet"
    assert history.replicaset is not None
    assert re.fullmatch(rf"steady-{NAME_CHARS}{{10}}", history.replicaset)
    assert len(set(history.pods)) == 3
    for pod in history.pods:
        assert re.fullmatch(rf"{history.replicaset}-{NAME_CHARS}{{5}}", pod)


def test_statefulset_and_daemonset_pods() -> None:
    stateful = _history(WorkloadClass.STEADY, days=1, kind="StatefulSet", name="db")
    daemon = _history(WorkloadClass.STEADY, days=1, kind="DaemonSet", name="agent")

    assert stateful.pods == ("db-0", "db-1", "db-2")
    assert (stateful.pod_owner_kind, stateful.pod_owner_name) == ("StatefulSet", "db")
    assert stateful.replicaset is None
    assert all(re.fullmatch(rf"agent-{NAME_CHARS}{{5}}", pod) for pod in daemon.pods)
    assert (daemon.pod_owner_kind, daemon.pod_owner_name) == ("DaemonSet", "agent")


def test_replicas_differ_somewhat() -> None:
    history = _history(WorkloadClass.STEADY)
    per_pod = history.cpu_cores[:, 0].mean(axis=-1)

    assert len(set(per_pod.round(6))) == 3
    assert per_pod.max() / per_pod.min() < 2.0


def test_spec_validation() -> None:
    with pytest.raises(ValueError, match="kind"):
        _spec(WorkloadClass.STEADY, kind="CronJob")
    with pytest.raises(ValueError, match="one per container"):
        _spec(WorkloadClass.STEADY, cpu_base_cores=(0.1, 0.2, 0.3))
    with pytest.raises(ValueError, match="replicas"):
        _spec(WorkloadClass.STEADY, replicas=0)
    with pytest.raises(ValueError, match="no-such-class"):
        WorkloadSpec(name="x", workload_class="no-such-class")  # type: ignore[arg-type]


def test_default_requests_and_limits() -> None:
    spec = _spec(WorkloadClass.STEADY, cpu_base_cores=(0.26, 0.01))

    np.testing.assert_allclose(spec.cpu_requests(), [0.55, 0.05])
    np.testing.assert_array_equal(spec.memory_requests(), [768.0 * MIB, 128.0 * MIB])
    np.testing.assert_array_equal(spec.memory_limits(), [1536.0 * MIB, 256.0 * MIB])


def test_standard_workloads_cover_every_class() -> None:
    specs = standard_workloads(namespace="demo", replicas=2)

    assert [spec.workload_class for spec in specs] == list(WorkloadClass)
    assert {spec.namespace for spec in specs} == {"demo"}
    assert len({spec.name for spec in specs}) == len(specs)


# Invariants for every class and seed


@settings(max_examples=40, deadline=None)
@given(
    workload_class=st.sampled_from(list(WorkloadClass)),
    seed=st.integers(0, 2**32 - 1),
    replicas=st.integers(1, 4),
    days=st.sampled_from([0.5, 1.0, 3.0, 5.0]),
)
def test_usage_is_plausible_and_counters_only_reset_at_restarts(
    workload_class: WorkloadClass, seed: int, replicas: int, days: float
) -> None:
    history = _history(workload_class, days=days, seed=seed, replicas=replicas)
    counter = history.cpu_usage_seconds_total()
    step = history.step_s

    assert np.all(history.cpu_cores > 0)
    assert np.all(history.cpu_cores < 50 * 0.5)
    assert np.all(history.memory_bytes > 0)
    assert np.all(history.memory_bytes % PAGE_BYTES == 0)
    assert np.all(history.memory_bytes <= history.memory_limit_bytes[None, :, None])
    steps = np.diff(counter, axis=-1)
    restarted = history.restarts[..., 1:]
    np.testing.assert_allclose(
        steps[~restarted], (history.cpu_cores[..., 1:] * step)[~restarted], rtol=1e-9, atol=1e-6
    )
    assert np.all(steps[~restarted] > 0)
    np.testing.assert_allclose(
        counter[history.restarts], history.cpu_cores[history.restarts] * step, rtol=1e-12
    )
    assert not history.restarts[..., 0].any()
    assert (history.restart_reason is None) == (not history.restarts.any())


# Class characteristics


def test_steady_is_flat() -> None:
    history = _history(WorkloadClass.STEADY)
    cpu = history.cpu_cores[:, 0]

    assert np.percentile(cpu, 99) / np.median(cpu) < 1.6
    hourly = _hour_of_day_means(history, cpu)
    assert hourly.max() / hourly.min() < 1.1
    assert not history.restarts.any()


def test_diurnal_follows_a_daily_cycle() -> None:
    history = _history(WorkloadClass.DIURNAL)
    cpu = history.cpu_cores[:, 0]
    hourly = _hour_of_day_means(history, cpu)

    assert 12 <= int(np.argmax(hourly)) <= 18
    assert int(np.argmin(hourly)) <= 6
    assert hourly.max() / hourly.min() > 3
    one_day = int(DAY // history.step_s)
    series = cpu.mean(axis=0) - cpu.mean()
    day_lag = np.corrcoef(series[:-one_day], series[one_day:])[0, 1]
    half_day_lag = np.corrcoef(series[: -one_day // 2], series[one_day // 2 :])[0, 1]
    assert day_lag > 0.6
    assert half_day_lag < 0


def test_diurnal_weekends_are_quieter() -> None:
    history = _history(WorkloadClass.DIURNAL)
    day_of_week = ((history.timestamps // DAY).astype(int) + 3) % 7
    cpu = history.cpu_cores[:, 0]

    assert cpu[:, day_of_week >= 5].mean() < 0.8 * cpu[:, day_of_week < 5].mean()


def test_bursty_has_bursts_shared_by_replicas() -> None:
    history = _history(WorkloadClass.BURSTY)
    cpu = history.cpu_cores[:, 0]

    assert np.percentile(cpu, 99.5) / np.median(cpu) > 3
    above = cpu > 3 * np.median(cpu)
    assert (above.sum(axis=0) >= 2).sum() > 0, "some bursts hit several replicas at once"


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_step_change_has_two_levels(seed: int) -> None:
    history = _history(WorkloadClass.STEP_CHANGE, seed=seed)
    at = np.searchsorted(history.timestamps, history.markers["step_at"])
    factor = history.markers["step_factor"]
    cpu = history.cpu_cores[:, 0].mean(axis=0)
    settle = 30
    before, after = cpu[:at], cpu[at + settle :]

    assert 0.3 * len(cpu) < at < 0.75 * len(cpu)
    assert after.mean() / before.mean() == pytest.approx(factor, rel=0.1)
    for level in (before, after):
        halves = np.array_split(level, 2)
        assert halves[0].mean() == pytest.approx(halves[1].mean(), rel=0.1)


def test_memory_leak_grows_until_an_oom_kill_then_resets() -> None:
    history = _history(WorkloadClass.MEMORY_LEAK)
    memory = history.memory_bytes[:, 0]
    limit = history.memory_limit_bytes[0]
    restarts = history.restarts[:, 0]

    assert history.restart_reason == "OOMKilled"
    assert not history.restarts[:, 1].any(), "the sidecar does not leak"
    assert restarts.sum(axis=-1).min() >= 2, "every pod is killed more than once in 14 days"
    for pod in range(history.cpu_cores.shape[0]):
        kills = np.flatnonzero(restarts[pod])
        assert np.all(memory[pod, kills - 1] > 0.9 * limit)
        assert np.all(memory[pod, kills] < 0.6 * memory[pod, kills - 1])
        between = memory[pod, kills[0] : kills[1]]
        hours = np.arange(len(between))
        assert np.polyfit(hours, between, 1)[0] > 0
        assert np.corrcoef(hours, between)[0, 1] > 0.95
    assert history.memory_bytes[:, 1].max() < 0.5 * history.memory_limit_bytes[1]


def test_batch_runs_periodic_jobs() -> None:
    history = _history(WorkloadClass.BATCH)
    cpu = history.cpu_cores[:, 0]
    period = int(history.markers["batch_period_s"] // history.step_s)
    series = cpu.mean(axis=0) - cpu.mean()

    assert history.markers["batch_period_s"] in (1800.0, 3600.0, 7200.0)
    assert np.percentile(cpu, 99) / np.percentile(cpu, 25) > 10
    assert np.corrcoef(series[:-period], series[period:])[0, 1] > 0.6
    assert np.corrcoef(series[: -period // 2], series[period // 2 :])[0, 1] < 0.2
    assert np.all((history.memory_bytes[:, 0] > 0.9 * 512 * MIB).any(axis=-1))


def test_cold_start_costs_cpu_that_settles() -> None:
    history = _history(WorkloadClass.COLD_START)
    cpu = history.cpu_cores[:, 0]
    starts = history.restarts[:, 0].copy()
    starts[:, 0] = True

    for pod in range(cpu.shape[0]):
        for start in np.flatnonzero(starts[pod]):
            if start + 120 > cpu.shape[-1]:
                continue
            first_minutes = cpu[pod, start : start + 3].mean()
            an_hour_later = cpu[pod, start + 60 : start + 120].mean()
            assert first_minutes > 2.5 * an_hour_later
    assert history.restart_reason == "Error"
    np.testing.assert_array_equal(history.cpu_counter_offset, 0.0)
    assert history.restarts.any()


# OpenMetrics writer

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\}) (\S+) (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def _parse(text: str) -> tuple[dict[str, str], list[tuple[str, str, dict[str, str], float, float]]]:
    """(family -> type, samples as (family, name, labels, value, timestamp)) in file order.

    Asserts the structure promtool needs: TYPE before a family's samples, families not
    interleaved, the series of a family each in one run, timestamps rising, `# EOF` last.
    """
    lines = text.split("\n")
    assert lines[-2:] == ["# EOF", ""]
    types: dict[str, str] = {}
    samples = []
    family = None
    closed_series: set[tuple[str, frozenset[tuple[str, str]]]] = set()
    current_series = None
    last_time = -np.inf
    for line in lines[:-2]:
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name not in types, f"family {name} declared twice (interleaved)"
            types[name], family = kind, name
            continue
        match = SAMPLE.match(line)
        assert match, line
        name, labels_text, value, stamp = match.groups()
        assert family is not None
        assert name == (family + "_total" if types[family] == "counter" else family)
        labels = dict(LABEL.findall(labels_text))
        key = (name, frozenset(labels.items()))
        if key != current_series:
            assert key not in closed_series, f"{key} split in two runs"
            if current_series is not None:
                closed_series.add(current_series)
            current_series, last_time = key, -np.inf
        assert float(stamp) > last_time
        last_time = float(stamp)
        samples.append((family, name, labels, float(value), float(stamp)))
    return types, samples


def _written(histories: list[WorkloadHistory], **options: object) -> tuple[str, int]:
    out = io.StringIO()
    count = write_openmetrics(histories, out, **options)  # type: ignore[arg-type]
    return out.getvalue(), count


def test_openmetrics_has_the_cadvisor_and_kube_state_families() -> None:
    histories = [
        _history(WorkloadClass.MEMORY_LEAK, days=4, step_s=600, replicas=2),
        _history(
            WorkloadClass.STEADY,
            days=4,
            step_s=600,
            kind="StatefulSet",
            name="db",
            containers=("db",),
            cpu_base_cores=0.2,
            memory_base_bytes=200.0 * MIB,
        ),
    ]
    text, count = _written(histories)
    types, samples = _parse(text)

    assert count == len(samples)
    assert types == {
        "container_cpu_usage_seconds": "counter",
        "container_memory_working_set_bytes": "gauge",
        "kube_pod_owner": "gauge",
        "kube_replicaset_owner": "gauge",
        "kube_pod_container_resource_requests": "gauge",
        "kube_pod_container_resource_limits": "gauge",
        "kube_pod_container_status_restarts": "counter",
        "kube_pod_container_status_last_terminated_reason": "gauge",
    }
    label_names: dict[str, set[frozenset[str]]] = defaultdict(set)
    for _, name, labels, _, _ in samples:
        label_names[name].add(frozenset(labels))
    assert label_names["container_cpu_usage_seconds_total"] == {
        frozenset({"namespace", "pod", "container"})
    }
    assert label_names["kube_pod_owner"] == {
        frozenset({"namespace", "pod", "owner_kind", "owner_name", "owner_is_controller"})
    }
    assert label_names["kube_pod_container_resource_requests"] == {
        frozenset({"namespace", "pod", "container", "resource", "unit"})
    }


def test_openmetrics_values_read_back_exactly() -> None:
    history = _history(WorkloadClass.COLD_START, days=2, step_s=300)
    _, samples = _parse(_written([history])[0])
    by_series: dict[tuple[str, str, str], list[tuple[float, float]]] = defaultdict(list)
    for _, name, labels, value, stamp in samples:
        if name.startswith("container_"):
            by_series[(name, labels["pod"], labels["container"])].append((stamp, value))

    counter = history.cpu_usage_seconds_total()
    for pod_index, pod in enumerate(history.pods):
        for container_index, container in enumerate(history.containers):
            cpu = np.array(by_series[("container_cpu_usage_seconds_total", pod, container)])
            memory = np.array(by_series[("container_memory_working_set_bytes", pod, container)])
            np.testing.assert_array_equal(cpu[:, 0], history.timestamps)
            np.testing.assert_array_equal(cpu[:, 1], counter[pod_index, container_index])
            np.testing.assert_array_equal(
                memory[:, 1], history.memory_bytes[pod_index, container_index]
            )


def test_openmetrics_owner_and_request_series() -> None:
    history = _history(WorkloadClass.MEMORY_LEAK, days=1, step_s=600, replicas=2)
    _, samples = _parse(_written([history])[0])
    last = {}
    for _, name, labels, value, _ in samples:
        last[(name, frozenset(labels.items()))] = value

    owners = {dict(key)["pod"]: dict(key) for name, key in last if name == "kube_pod_owner"}
    assert set(owners) == set(history.pods)
    assert {owner["owner_name"] for owner in owners.values()} == {history.replicaset}
    replicasets = [dict(key) for name, key in last if name == "kube_replicaset_owner"]
    assert replicasets == [
        {
            "namespace": "team-a",
            "replicaset": history.replicaset,
            "owner_kind": "Deployment",
            "owner_name": "memory-leak",
            "owner_is_controller": "true",
        }
    ]
    cpu_request = (
        "kube_pod_container_resource_requests",
        frozenset(
            {
                "namespace": "team-a",
                "pod": history.pods[0],
                "container": "app",
                "resource": "cpu",
                "unit": "core",
            }.items()
        ),
    )
    assert last[cpu_request] == pytest.approx(float(history.cpu_request_cores[0]))


def test_openmetrics_thins_kube_state_series_but_keeps_the_last_sample() -> None:
    history = _history(WorkloadClass.MEMORY_LEAK, days=5, step_s=120, replicas=2)
    _, samples = _parse(_written([history], kube_state_step_s=240)[0])
    owner_times = sorted({s[4] for s in samples if s[1] == "kube_pod_owner"})
    cpu_times = sorted({s[4] for s in samples if s[1] == "container_cpu_usage_seconds_total"})

    assert len(cpu_times) == len(history.timestamps)
    assert owner_times[-1] == history.end
    assert set(np.diff(owner_times[:-1])) == {240.0}
    assert owner_times[-1] - owner_times[-2] <= 240
    restarts = {}
    for _, name, labels, value, stamp in samples:
        if name == "kube_pod_container_status_restarts_total":
            restarts[(labels["pod"], labels["container"], stamp)] = value
    for pod_index, pod in enumerate(history.pods):
        total = float(history.restarts[pod_index, 0].sum())
        assert restarts[(pod, "app", history.end)] == total
    with pytest.raises(ValueError, match="multiple"):
        _written([history], kube_state_step_s=300)


def test_openmetrics_without_kube_state() -> None:
    history = _history(WorkloadClass.STEADY, days=1, step_s=600)
    types, _ = _parse(_written([history], kube_state=False)[0])

    assert set(types) == {"container_cpu_usage_seconds", "container_memory_working_set_bytes"}


def test_number_and_label_formatting() -> None:
    values = np.array([1.0, 0.1, 1e-05, 123456789.0, 2.5e300, np.nan, np.inf, -np.inf])

    assert format_floats(values[:1]) == ["1"]
    assert format_floats(values[:5]) == ["1.0", "0.1", "1e-05", "123456789.0", "2.5e+300"]
    assert format_floats(values[5:]) == ["NaN", "+Inf", "-Inf"]
    assert [float(text) for text in format_floats(values[:5])] == values[:5].tolist()
    assert format_labels([("a", 'say "hi"\\n'), ("b", "x\ny")]) == (
        '{a="say \\"hi\\"\\\\n",b="x\\ny"}'
    )
