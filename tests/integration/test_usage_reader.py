"""The usage reader against a real Prometheus holding 14 days of generated history.

What Prometheus gives back must be what the generator made: CPU per minute through irate of
cAdvisor's counter (to float precision: the counter is a running sum over 14 days, so the
difference of two neighbouring values carries rounding of about 1e-11 relative), and the
memory working set exactly. The number of queries is part of the contract: one per metric per
namespace per time chunk, plus one owner query per namespace.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from trimtab.history.generator import SECONDS_PER_DAY, WorkloadHistory, WorkloadSpec, generate
from trimtab.history.openmetrics import write_openmetrics_file
from trimtab.history.prometheus_server import PrometheusServer, backfill_openmetrics, free_port
from trimtab.metrics import (
    ContainerKey,
    ContainerRequests,
    DropCounts,
    MetricsUnavailable,
    PrometheusClient,
    PrometheusConfig,
    QueryError,
    Samples,
    Selection,
    UsageBatch,
    UsageReader,
    WorkloadContainer,
)

STEP_S = 60.0
CPU_RTOL = 1e-9
CHUNKS_FOR_14_DAYS = 2  # 20,160 points at 60 s, at most 11,000 per query
OOM_STEP_S = 300.0


def _reader(url: str, **fields: Any) -> UsageReader:
    """A reader at full resolution unless `fields` say otherwise: most tests here compare
    every minute with the generator's."""
    fields.setdefault("full_resolution_s", None)
    return UsageReader(PrometheusClient(PrometheusConfig(url=url, **fields)))


def _namespaces(prometheus_history: Any) -> list[str]:
    return sorted({history.namespace for history in prometheus_history.histories})


def _key(history: WorkloadHistory, pod: int, container: int) -> ContainerKey:
    return ContainerKey(
        history.namespace,
        history.kind,
        history.name,
        history.containers[container],
        history.pods[pod],
    )


def _per_key(batch: UsageBatch, samples: Samples) -> dict[ContainerKey, tuple[Any, Any]]:
    order = np.argsort(samples.index, kind="stable")
    index = samples.index[order]
    bounds = np.flatnonzero(np.diff(index)) + 1
    found = {}
    for part in np.split(order, bounds):
        if part.size:
            key = batch.keys[int(samples.index[part[0]])]
            found[key] = (samples.timestamps[part], samples.values[part])
    return found


def _positions(history: WorkloadHistory, timestamps: Any) -> Any:
    offsets = (timestamps - history.start) / history.step_s
    index = np.rint(offsets).astype(np.int64)
    np.testing.assert_array_equal(index, offsets)
    return index


@pytest.fixture(scope="module")
def bootstrap(prometheus_history: Any) -> tuple[UsageBatch, UsageReader]:
    """14 days of every namespace, read once for the module (the bootstrap read)."""
    reader = _reader(prometheus_history.url)
    batch = reader.read(
        _namespaces(prometheus_history), prometheus_history.start, prometheus_history.end + STEP_S
    )
    return batch, reader


def test_every_generated_container_is_read_and_joined_to_its_deployment(
    prometheus_history: Any, bootstrap: tuple[UsageBatch, UsageReader]
) -> None:
    batch, _ = bootstrap
    expected = {
        _key(history, pod, container)
        for history in prometheus_history.histories
        for pod in range(len(history.pods))
        for container in range(len(history.containers))
    }

    assert set(batch.keys) == expected
    assert set(_per_key(batch, batch.cpu)) == expected
    assert set(_per_key(batch, batch.memory)) == expected
    assert batch.dropped == DropCounts()
    assert batch.start == prometheus_history.start
    assert batch.last_evaluated == prometheus_history.end


def test_cpu_is_the_generated_per_minute_usage(
    prometheus_history: Any, bootstrap: tuple[UsageBatch, UsageReader]
) -> None:
    batch, _ = bootstrap
    cpu = _per_key(batch, batch.cpu)
    restarted = 0
    for history in prometheus_history.histories:
        restarted += int(history.restarts.sum())
        for pod in range(len(history.pods)):
            for container in range(len(history.containers)):
                timestamps, values = cpu[_key(history, pod, container)]
                # irate needs two scrapes: the window's first minute has no CPU value.
                np.testing.assert_array_equal(timestamps, history.timestamps[1:])
                index = _positions(history, timestamps)
                np.testing.assert_allclose(
                    values, history.cpu_cores[pod, container, index], rtol=CPU_RTOL, atol=0
                )
    assert restarted > 0, "counter resets were exercised"


def test_memory_is_the_generated_working_set_at_every_sample(
    prometheus_history: Any, bootstrap: tuple[UsageBatch, UsageReader]
) -> None:
    batch, _ = bootstrap
    memory = _per_key(batch, batch.memory)
    for history in prometheus_history.histories:
        for pod in range(len(history.pods)):
            for container in range(len(history.containers)):
                timestamps, values = memory[_key(history, pod, container)]
                np.testing.assert_array_equal(timestamps, history.timestamps)
                np.testing.assert_array_equal(values, history.memory_bytes[pod, container])


def test_the_bootstrap_sends_one_query_per_metric_per_namespace_per_chunk_plus_owners(
    prometheus_history: Any, bootstrap: tuple[UsageBatch, UsageReader]
) -> None:
    batch, reader = bootstrap
    namespaces = len(_namespaces(prometheus_history))

    assert batch.queries == reader.queries_sent == namespaces * (2 * CHUNKS_FOR_14_DAYS + 1)


def test_incremental_reads_fetch_only_what_follows_without_owner_queries(
    prometheus_history: Any, bootstrap: tuple[UsageBatch, UsageReader]
) -> None:
    _, reader = bootstrap
    namespaces = _namespaces(prometheus_history)
    end = prometheus_history.end + STEP_S
    last_seen = prometheus_history.end - 15 * STEP_S
    sent_before = reader.queries_sent

    batch = reader.read_since(namespaces, last_seen, end)

    assert reader.queries_sent - sent_before == batch.queries == 2 * len(namespaces)
    memory = _per_key(batch, batch.memory)
    for history in prometheus_history.histories:
        for pod in range(len(history.pods)):
            timestamps, values = memory[_key(history, pod, 0)]
            assert timestamps.tolist() == history.timestamps[-15:].tolist()
            np.testing.assert_array_equal(values, history.memory_bytes[pod, 0, -15:])


def test_chunks_can_be_folded_one_at_a_time(prometheus_history: Any) -> None:
    reader = _reader(prometheus_history.url)
    start, end = prometheus_history.start, prometheus_history.end + STEP_S

    batches = list(reader.iter_batches("shop", start, end))

    assert [batch.queries for batch in batches] == [3, 2]  # the first also asked for owners
    assert batches[0].start == start and batches[1].start == batches[0].end
    assert batches[1].end == end
    assert sum(len(batch.memory) for batch in batches) == sum(
        history.memory_bytes.size
        for history in prometheus_history.histories
        if history.namespace == "shop"
    )


def test_a_pod_regex_narrows_the_selection(prometheus_history: Any) -> None:
    reader = _reader(prometheus_history.url)
    end = prometheus_history.end + STEP_S

    batch = reader.read(Selection("shop", pod_regex="web-.*"), end - SECONDS_PER_DAY, end)

    web = prometheus_history.history("web")
    assert {key.pod for key in batch.keys} == set(web.pods)
    assert batch.queries == 3


def test_a_coarse_bootstrap_step_reads_hourly_means_and_peaks(prometheus_history: Any) -> None:
    """The remedy for slow 1-minute bootstraps: rate over the hour is the mean of the minutes
    (exact on Prometheus 2's closed range windows), max_over_time the hour's peak."""
    reader = _reader(prometheus_history.url)
    hour = 3600.0
    end = prometheus_history.end + STEP_S

    batch = reader.read("shop", prometheus_history.start + hour, end, step_s=hour)

    assert batch.queries == 3
    cpu, memory = _per_key(batch, batch.cpu), _per_key(batch, batch.memory)
    web = prometheus_history.history("web")
    minutes = round(hour / STEP_S)
    for pod in range(len(web.pods)):
        timestamps, values = cpu[_key(web, pod, 0)]
        last = _positions(web, timestamps)
        windows = last[:, None] - np.arange(minutes)[None, :]
        np.testing.assert_allclose(values, web.cpu_cores[pod, 0][windows].mean(axis=1), rtol=1e-9)
        timestamps, values = memory[_key(web, pod, 0)]
        windows = _positions(web, timestamps)[:, None] - np.arange(minutes)[None, :]
        np.testing.assert_array_equal(values, web.memory_bytes[pod, 0][windows].max(axis=1))


def test_oom_kills_are_the_generated_oom_restarts(prometheus_history: Any) -> None:
    reader = _reader(prometheus_history.url)
    start, end = prometheus_history.start, prometheus_history.end + STEP_S

    kills = reader.oom_kills(_namespaces(prometheus_history), start, end, step_s=OOM_STEP_S)

    cache = prometheus_history.history("cache")
    expected: dict[ContainerKey, list[float]] = {}
    for pod in range(len(cache.pods)):
        restarts = cache.timestamps[np.flatnonzero(cache.restarts[pod, 0])]
        expected[_key(cache, pod, 0)] = restarts.tolist()
    assert {kill.key for kill in kills} == {key for key, times in expected.items() if times}
    for key, restarts in expected.items():
        dated = [kill for kill in kills if kill.key == key]
        assert sum(kill.kills for kill in dated) == len(restarts)
        for kill in dated:
            # kube-state-metrics is sampled every 2 minutes, kills are dated per 5 minutes.
            delays = [kill.timestamp - when for when in restarts]
            assert any(
                0 <= delay < prometheus_history.kube_state_step_s + OOM_STEP_S for delay in delays
            )
    assert all(kill.namespace == "shop" for kill in kills), "cold-start restarts are not OOMs"


def test_current_requests_are_the_generated_requests(prometheus_history: Any) -> None:
    reader = _reader(prometheus_history.url)

    found = reader.current_requests(_namespaces(prometheus_history), prometheus_history.end)

    expected = {
        WorkloadContainer(history.namespace, history.kind, history.name, name): ContainerRequests(
            float(history.cpu_request_cores[container]),
            float(history.memory_request_bytes[container]),
        )
        for history in prometheus_history.histories
        for container, name in enumerate(history.containers)
    }
    assert found == expected


def test_an_unreachable_prometheus_is_metrics_unavailable_naming_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    reader = _reader(url, retries=0, timeout_s=5)

    with pytest.raises(MetricsUnavailable, match="cannot connect") as raised:
        reader.read("shop", 0, 3600)

    assert url in str(raised.value)
    assert raised.value.url == url


def test_bad_promql_is_a_query_error(prometheus_history: Any) -> None:
    client = PrometheusClient(PrometheusConfig(url=prometheus_history.url))

    with pytest.raises(QueryError, match="HTTP 400 bad_data") as raised:
        client.instant("sum(rate(container_cpu_usage_seconds_total[5m]", prometheus_history.end)

    assert raised.value.status == 400
    assert prometheus_history.url in str(raised.value)


# --- a Prometheus with a small --query.max-samples -------------------------------------------

TIGHT_MAX_SAMPLES = 2_000


@pytest.fixture(scope="module")
def tight_prometheus(
    prometheus_history: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, WorkloadHistory]]:
    """One day of one small workload, served with --query.max-samples=2000 (the session
    fixture has already made sure Prometheus is installed)."""
    workdir: Path = tmp_path_factory.mktemp("tight-prometheus")
    spec = WorkloadSpec(name="tight", namespace="tight", replicas=2, seed=7)
    start = prometheus_history.end - SECONDS_PER_DAY + STEP_S
    history = generate(spec, start, SECONDS_PER_DAY, STEP_S)
    openmetrics = workdir / "history.om"
    write_openmetrics_file(history, openmetrics, kube_state_step_s=120.0)
    backfill_openmetrics(openmetrics, workdir / "tsdb")
    with PrometheusServer(
        workdir / "tsdb",
        workdir=workdir / "server",
        extra_args=[f"--query.max-samples={TIGHT_MAX_SAMPLES}"],
    ) as server:
        yield server.url, history


def test_chunks_too_big_for_the_server_are_split_and_the_rest_replanned(
    tight_prometheus: tuple[str, WorkloadHistory],
) -> None:
    url, history = tight_prometheus
    # 1,440 points in two chunks of 720: 2 series x 720 x 2 = 2,880 samples > 2,000. Both
    # chunks are out before the first answer (the reader keeps the next chunk's queries in
    # flight), so for each metric both fail and are halved: 2 + 4 queries, plus one owner query.
    reader = _reader(url, max_points_per_series=1_000)

    batch = reader.read("tight", history.start, history.end + STEP_S)

    assert batch.queries == reader.queries_sent == 2 * (2 + 4) + 1
    memory = _per_key(batch, batch.memory)
    for pod in range(len(history.pods)):
        timestamps, values = memory[_key(history, pod, 0)]
        np.testing.assert_array_equal(timestamps, history.timestamps)
        np.testing.assert_array_equal(values, history.memory_bytes[pod, 0])
    assert len(batch.cpu) == history.cpu_cores.size - len(history.pods)
    assert math.isclose(batch.end, history.end + STEP_S)


def test_the_default_read_takes_the_older_days_as_five_minute_means(
    prometheus_history: Any,
) -> None:
    """Real PromQL rate() over each 5-minute step (plus the scrape before it) gives the mean
    of the step's per-minute usage, spread back over its minutes."""
    reader = _reader(prometheus_history.url, full_resolution_s=3 * 86_400.0)
    start, end = prometheus_history.start + 86_400.0, prometheus_history.end + STEP_S
    batch = reader.read("payments", start, end)

    split = np.floor((end - 3 * 86_400.0) / 300.0) * 300.0
    for history in prometheus_history.histories:
        if history.namespace != "payments":
            continue
        minutes = (history.timestamps >= start) & (history.timestamps < end)
        step_end = np.ceil(history.timestamps / 300.0) * 300.0
        for pod in range(len(history.pods)):
            index = batch.keys.index(_key(history, pod, 0))
            mine = batch.cpu.index == index
            np.testing.assert_array_equal(batch.cpu.timestamps[mine], history.timestamps[minutes])
            got = batch.cpu.values[mine]
            usage = history.cpu_cores[pod, 0]
            older = minutes & (step_end <= split)
            means = {t: usage[step_end == t].mean() for t in np.unique(step_end[older])}
            want = np.where(older, [means.get(t, 0.0) for t in step_end], usage)[minutes]
            restarted = np.isin(step_end[minutes], step_end[history.restarts[pod, 0]])
            np.testing.assert_allclose(got[~restarted], want[~restarted], rtol=1e-6, atol=1e-9)
    assert batch.queries == 2 * 2 + 1  # CPU and memory at each resolution, one owner query
