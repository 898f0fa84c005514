"""The metrics port without a network: chunking arithmetic, PromQL text, parsing of canned
answers, garbage dropped and counted, the owner join, query counts, and error mapping."""

from __future__ import annotations

import itertools
import json
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import requests
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from trimtab.metrics import (
    KIND_POD,
    KIND_UNKNOWN,
    ContainerKey,
    ContainerRequests,
    DropCounts,
    LabelNames,
    MetricsUnavailable,
    PrometheusClient,
    PrometheusConfig,
    QueryError,
    Samples,
    Selection,
    Series,
    UsageBatch,
    UsageReader,
    WorkloadContainer,
    promql,
)
from trimtab.metrics.chunking import (
    SAMPLES_PER_POINT,
    Chunk,
    check_step,
    grid,
    plan,
    plan_range,
    points_per_query,
)
from trimtab.metrics.client import parse_matrix, parse_matrix_text, parse_vector
from trimtab.metrics.owners import OwnerMap, Workload
from trimtab.metrics.usage import Spread

DAY = 86_400.0
T0 = 1_700_006_400.0  # a multiple of 3600
CONFIG = PrometheusConfig(url="http://prom.test")

# --- chunking -------------------------------------------------------------------------------


def test_fourteen_days_at_one_minute_take_two_balanced_queries() -> None:
    chunks = plan_range(T0, T0 + 14 * DAY, 60.0, 11_000)

    assert [chunk.points for chunk in chunks] == [10_080, 10_080]
    assert chunks[0].first == T0
    assert chunks[1].first == chunks[0].last + 60.0
    assert chunks[1].last == T0 + 14 * DAY - 60.0


def test_grid_times_are_multiples_of_the_step_inside_the_half_open_range() -> None:
    span = grid(T0 + 10.5, T0 + 180.0, 60.0)

    assert span == Chunk(T0 + 60.0, T0 + 120.0, 60.0)
    assert grid(T0 + 1, T0 + 59, 60.0) is None
    assert grid(T0, T0, 60.0) is None


@pytest.mark.parametrize("step", [0, -60, 0.5, 90.25, math.nan])
def test_steps_must_be_whole_seconds(step: float) -> None:
    with pytest.raises(ValueError, match="whole number of seconds"):
        check_step(step)


@settings(max_examples=300, deadline=None)
@given(
    start=st.floats(1.5e9, 1.9e9, allow_nan=False),
    length=st.floats(0, 40 * DAY, allow_nan=False),
    step=st.sampled_from([1.0, 15.0, 30.0, 60.0, 120.0, 300.0, 3600.0]),
    max_points=st.integers(1, 11_000),
    series=st.integers(1, 100_000),
    max_samples=st.integers(1_000, 60_000_000),
)
def test_chunks_cover_the_grid_exactly_and_never_pass_the_limits(
    start: float, length: float, step: float, max_points: int, series: int, max_samples: int
) -> None:
    limit = points_per_query(series, max_points, max_samples)
    assume(length / step / limit < 2_000)  # keep each example quick
    chunks = plan_range(
        start, start + length, step, max_points, series=series, max_samples=max_samples
    )

    span = grid(start, start + length, step)
    if span is None:
        assert chunks == []
        return
    assert chunks[0].first == span.first
    assert chunks[-1].last == span.last
    for before, after in itertools.pairwise(chunks):
        assert after.first == before.last + step
    assert sum(chunk.points for chunk in chunks) == span.points
    sizes = {chunk.points for chunk in chunks}
    assert max(sizes) - min(sizes) <= 1, "balanced"
    for chunk in chunks:
        assert 1 <= chunk.points <= min(max_points, 11_000)
        assert chunk.first % step == 0
        assert chunk.points == 1 or SAMPLES_PER_POINT * series * chunk.points <= max_samples


def test_the_sample_budget_shortens_chunks_for_big_namespaces() -> None:
    assert points_per_query(100, 11_000, 20_000_000) == 11_000
    assert points_per_query(2_000, 11_000, 20_000_000) == 5_000
    assert points_per_query(10**9, 11_000, 20_000_000) == 1
    chunks = plan_range(T0, T0 + 14 * DAY, 60.0, 11_000, series=2_000, max_samples=20_000_000)
    assert [chunk.points for chunk in chunks] == [4_032] * 5


def test_a_chunk_splits_into_two_adjacent_halves() -> None:
    head, tail = Chunk(T0, T0 + 60.0 * 10, 60.0).split()

    assert (head.points, tail.points) == (5, 6)
    assert head.last + 60.0 == tail.first
    with pytest.raises(ValueError, match="one-point"):
        Chunk(T0, T0, 60.0).split()


def test_plan_cuts_into_the_fewest_chunks() -> None:
    assert [c.points for c in plan(Chunk(T0, T0 + 60.0 * 22_000, 60.0), 11_000)] == [
        7_334,
        7_334,
        7_333,
    ]


# --- PromQL ---------------------------------------------------------------------------------


def test_cpu_is_irate_over_two_steps_at_fine_steps_and_rate_over_the_step_above() -> None:
    fine = promql.cpu_query(CONFIG, Selection("shop"), 60.0)
    coarse = promql.cpu_query(CONFIG, Selection("shop"), 3600.0)

    assert fine == (
        "max by (namespace, pod, container) (irate(container_cpu_usage_seconds_total"
        '{namespace="shop",container!="",container!="POD"}[120s]))'
    )
    assert "rate(container_cpu_usage_seconds_total{" in coarse
    assert coarse.endswith("[3600s]))")
    # Given the scrape interval, the window takes in the sample at the step's start too.
    spread = promql.cpu_query(CONFIG, Selection("shop"), 300.0, scrape_s=60.0)
    assert spread.endswith("[359999ms]))")
    forced = PrometheusConfig(cpu_rate="rate")
    assert "(rate(" in promql.cpu_query(forced, Selection("shop"), 60.0)


def test_memory_is_the_peak_within_each_step_without_overlapping_windows() -> None:
    query = promql.memory_query(CONFIG, Selection("shop"), 60.0)

    assert query == (
        "max by (namespace, pod, container) (max_over_time(container_memory_working_set_bytes"
        '{namespace="shop",container!="",container!="POD"}[59999ms]))'
    )


def test_renamed_labels_extra_selector_and_selection_reach_every_query() -> None:
    config = PrometheusConfig(
        labels=LabelNames(namespace="kubernetes_namespace", pod="pod_name", container="name"),
        extra_selector=' cluster="prod", ',
    )
    selection = Selection("shop", pod_regex='web-.*"x', matchers='app="web"')
    queries = [
        promql.cpu_query(config, selection, 60.0),
        promql.memory_query(config, selection, 60.0),
        promql.owners_query(config, selection, 3600.0),
        promql.requests_query(config, selection),
        promql.oom_query(config, selection, 300.0),
    ]

    for query in queries:
        assert 'kubernetes_namespace="shop"' in query
        assert 'cluster="prod"' in query
        assert "namespace=" not in query.replace("kubernetes_namespace=", "")
        assert ",," not in query and "{," not in query and ",}" not in query
    assert 'pod_name=~"web-.*\\"x"' in queries[0]
    assert 'app="web"' in queries[0] and 'app="web"' not in queries[2]
    assert "by (kubernetes_namespace, pod_name, name)" in queries[0]
    assert 'name!="POD"' in queries[1]


def test_owner_query_reads_pods_and_replicasets_in_one_query() -> None:
    query = promql.owners_query(CONFIG, Selection("shop"), 14 * DAY)

    assert query == (
        "max by (namespace, pod, owner_kind, owner_name, owner_is_controller) "
        '(max_over_time(kube_pod_owner{namespace="shop"}[1209600s])) or '
        "max by (namespace, replicaset, owner_kind, owner_name, owner_is_controller) "
        '(max_over_time(kube_replicaset_owner{namespace="shop"}[1209600s]))'
    )


def test_oom_query_dates_restarts_while_the_last_reason_is_oomkilled() -> None:
    query = promql.oom_query(CONFIG, Selection("shop"), 300.0)

    assert "kube_pod_container_status_restarts_total" in query
    assert "offset 300s) > 0" in query
    assert 'reason="OOMKilled"' in query
    assert query.startswith("max by (namespace, pod, container)")


def test_durations_and_string_literals() -> None:
    assert promql.duration(120) == "120s"
    assert promql.duration(59.999) == "59999ms"
    assert promql.quote('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'
    with pytest.raises(ValueError, match="positive"):
        promql.duration(0)
    with pytest.raises(ValueError, match="braces"):
        Selection("shop", matchers="{app='x'}")
    with pytest.raises(ValueError, match="namespace"):
        Selection("")


# --- configuration --------------------------------------------------------------------------


def test_config_defaults_are_cadvisor_and_kube_state_metrics_names() -> None:
    config = PrometheusConfig(url="https://prom.example:9090/")

    assert config.url == "https://prom.example:9090"
    assert config.metrics.cpu == "container_cpu_usage_seconds_total"
    assert config.metrics.memory == "container_memory_working_set_bytes"
    assert config.metrics.pod_owner == "kube_pod_owner"
    assert config.metrics.replicaset_owner == "kube_replicaset_owner"
    assert config.metrics.requests == "kube_pod_container_resource_requests"
    assert (
        config.metrics.last_terminated_reason == "kube_pod_container_status_last_terminated_reason"
    )
    assert config.max_points_per_series == 11_000


@pytest.mark.parametrize(
    "fields",
    [
        {"url": "prom:9090"},
        {"auth_header_value": "Bearer x", "auth_token_file": "/var/run/token"},
        {"labels": {"pod": "pod-name"}},
        {"metrics": {"cpu": "container cpu"}},
        {"extra_selector": '{cluster="prod"}'},
        {"max_points_per_series": 11_001},
        {"client_key_file": "/tls/key.pem"},
        {"headers": {"bad header": "x"}},
    ],
)
def test_bad_configuration_is_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        PrometheusConfig(**fields)


# --- parsing --------------------------------------------------------------------------------


def test_matrix_values_become_float_arrays_including_prometheus_specials() -> None:
    answer = parse_matrix(
        [
            {
                "metric": {"pod": "a"},
                "values": [[T0, "1.5"], [T0 + 60, "NaN"], [T0 + 120, "+Inf"], [T0 + 180, "-2"]],
            },
            {"metric": {"pod": "b"}, "values": []},
        ]
    )

    assert [dict(series.labels) for series in answer] == [{"pod": "a"}, {"pod": "b"}]
    np.testing.assert_array_equal(answer[0].timestamps, T0 + np.array([0, 60, 120, 180]))
    np.testing.assert_array_equal(answer[0].values, [1.5, np.nan, np.inf, -2.0])
    assert len(answer[1]) == 0


MATRIX: list[dict[str, Any]] = [
    {"metric": {"pod": 'a]],"values":[["x', "ns": "}{"}, "values": [[T0, "1.5"], [T0 + 60, "NaN"]]},
    {"metric": {}, "values": []},
    {"metric": {"pod": "b"}, "values": [[T0, "+Inf"], [T0 + 60, "-Inf"], [T0 + 120.5, "1e-7"]]},
]


def _as_series(answer: Sequence[Series] | None) -> list[tuple[dict[str, str], list[float], Any]]:
    assert answer is not None
    return [(dict(s.labels), s.timestamps.tolist(), s.values.tobytes()) for s in answer]


def test_range_answer_text_parses_like_the_decoded_json_whatever_the_labels_hold() -> None:
    body = json.dumps(
        {"status": "success", "data": {"resultType": "matrix", "result": MATRIX}},
        separators=(",", ":"),
    )

    fast = parse_matrix_text(body)

    assert _as_series(fast) == _as_series(parse_matrix(MATRIX))
    assert fast is not None and fast[0].labels["pod"] == 'a]],"values":[["x'


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"status": "success", "data": {"resultType": "matrix", "result": MATRIX}}),
        '{"status":"success","data":{"resultType":"vector","result":[]}}',
        '{"status":"success","data":{"resultType":"matrix","result":[{"values":[],"metric":{}}]}}',
        '{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,',
    ],
    ids=["spaced", "vector", "keys-reordered", "cut-short"],
)
def test_range_answer_text_of_another_shape_is_left_to_the_json_decoder(body: str) -> None:
    assert parse_matrix_text(body) is None


def test_a_range_answer_with_spaces_still_parses_through_the_json_decoder() -> None:
    body = {"status": "success", "data": {"resultType": "matrix", "result": MATRIX}}
    client = _client(CannedHTTP((200, json.dumps(body, indent=1).encode())))

    assert _as_series(client.range("up", T0, T0 + 120, 60.0)) == _as_series(parse_matrix(MATRIX))


def test_vector_values_become_one_sample_series() -> None:
    (series,) = parse_vector([{"metric": {"pod": "a"}, "value": [T0, "0.25"]}])

    assert series.timestamps.tolist() == [T0]
    assert series.values.tolist() == [0.25]


# --- a canned Prometheus for the reader -----------------------------------------------------

Labels = Mapping[str, str]


def _series(
    labels: Labels, values: npt.ArrayLike, start: float = T0, step: float = 60.0
) -> tuple[dict[str, str], Any, Any]:
    array = np.asarray(values, dtype=np.float64)
    return dict(labels), start + step * np.arange(array.size), array


class CannedPrometheus:
    """Answers the reader's queries from in-memory series, through the real JSON parsing."""

    def __init__(
        self,
        cpu: Sequence[Any] = (),
        memory: Sequence[Any] = (),
        owners: Sequence[Labels] = (),
        requests: Sequence[tuple[Labels, float]] = (),
        ooms: Sequence[Any] = (),
        refuse_above_points: int | None = None,
    ) -> None:
        self.answers = {"cpu": cpu, "memory": memory, "oom": ooms}
        self.owners = owners
        self.requests = requests
        self.refuse_above_points = refuse_above_points
        self.sent: list[tuple[str, str, float, float, float]] = []

    @property
    def url(self) -> str:
        return "http://prom.test"

    @property
    def queries_sent(self) -> int:
        return len(self.sent)

    @staticmethod
    def _kind(query: str) -> str:
        if "kube_pod_owner" in query:
            return "owners"
        if "restarts_total" in query:
            return "oom"
        if "resource_requests" in query:
            return "requests"
        if "cpu_usage" in query:
            return "cpu"
        return "memory"

    def instant(self, query: str, at: float) -> list[Series]:
        kind = self._kind(query)
        self.sent.append((kind, query, at, at, 0.0))
        if kind == "owners":
            rows = [{"metric": dict(labels), "value": [at, "1"]} for labels in self.owners]
        else:
            rows = [{"metric": dict(lab), "value": [at, repr(v)]} for lab, v in self.requests]
        return parse_vector(json.loads(json.dumps(rows)))

    def range(self, query: str, start: float, end: float, step_s: float) -> list[Series]:
        kind = self._kind(query)
        self.sent.append((kind, query, start, end, step_s))
        points = round((end - start) / step_s) + 1
        if self.refuse_above_points is not None and points > self.refuse_above_points:
            raise QueryError(
                self.url,
                "HTTP 422 execution: query processing would load too many samples into memory "
                "in query execution",
                query=query,
                status=422,
                error_type="execution",
            )
        namespace = re.search(r'namespace="([^"]*)"', query)
        rows = []
        for labels, minute_stamps, minute_values in self.answers[kind]:
            if namespace and labels.get("namespace", namespace[1]) != namespace[1]:
                continue
            stamps, values = _at_step(kind, minute_stamps, minute_values, step_s, start)
            inside = (stamps >= start) & (stamps <= end)
            if inside.any():
                pairs = [[t, _text(v)] for t, v in zip(stamps[inside], values[inside], strict=True)]
                rows.append({"metric": labels, "values": pairs})
        return parse_matrix(json.loads(json.dumps(rows)))

    def count(self, kind: str) -> int:
        return sum(1 for sent in self.sent if sent[0] == kind)


def _at_step(kind: str, stamps: Any, values: Any, step_s: float, start: float) -> tuple[Any, Any]:
    """What Prometheus evaluates at a step coarser than the stored samples: at each time t of
    the query's grid (start + k x step), the mean rate (CPU) or the peak (memory) of the
    samples in (t - step, t]."""
    if len(stamps) < 2 or step_s <= stamps[1] - stamps[0] or kind not in ("cpu", "memory"):
        return stamps, values
    owner = start + np.ceil((stamps - start) / step_s) * step_s
    times, group = np.unique(owner, return_inverse=True)
    if kind == "cpu":
        summed = np.bincount(group, weights=values)
        return times, summed / np.bincount(group)
    peaks = np.full(times.size, -np.inf)
    np.maximum.at(peaks, group, values)
    return times, peaks


def _text(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _labels(pod: str, container: str = "app", namespace: str = "shop") -> dict[str, str]:
    return {"namespace": namespace, "pod": pod, "container": container}


def _owner(pod: str, kind: str, name: str, controller: str = "true") -> dict[str, str]:
    return {
        "namespace": "shop",
        "pod": pod,
        "owner_kind": kind,
        "owner_name": name,
        "owner_is_controller": controller,
    }


def _rs_owner(replicaset: str, kind: str, name: str) -> dict[str, str]:
    return {
        "namespace": "shop",
        "replicaset": replicaset,
        "owner_kind": kind,
        "owner_name": name,
        "owner_is_controller": "true",
    }


def _by_key(batch: UsageBatch, samples: Samples) -> dict[ContainerKey, list[float]]:
    found: dict[ContainerKey, list[float]] = {}
    for index, value in zip(samples.index.tolist(), samples.values.tolist(), strict=True):
        found.setdefault(batch.keys[index], []).append(value)
    return found


OWNERS = [
    _owner("web-7d9f-a", "ReplicaSet", "web-7d9f"),
    _owner("web-7d9f-b", "ReplicaSet", "web-7d9f"),
    _owner("db-0", "StatefulSet", "db"),
    _owner("agent-x1", "DaemonSet", "agent"),
    _owner("backup-28-q", "Job", "backup-28"),
    _owner("debug", "<none>", "<none>"),
    _owner("orphan-rs-1", "ReplicaSet", "orphan-rs"),
    _owner("both-1", "Node", "node-a", controller="false"),
    _owner("both-1", "ReplicaSet", "web-7d9f", controller="true"),
    _rs_owner("web-7d9f", "Deployment", "web"),
    _rs_owner("orphan-rs", "<none>", "<none>"),
]


def test_pods_join_to_their_workloads_and_unowned_pods_say_so() -> None:
    pods = [
        "web-7d9f-a",
        "web-7d9f-b",
        "db-0",
        "agent-x1",
        "backup-28-q",
        "debug",
        "orphan-rs-1",
        "both-1",
        "mystery",
    ]
    prometheus = CannedPrometheus(
        cpu=[_series(_labels(pod), [0.1, 0.2]) for pod in pods],
        memory=[_series(_labels(pod), [1e8, 1e8]) for pod in pods],
        owners=OWNERS,
    )

    batch = UsageReader(prometheus).read("shop", T0, T0 + 120)

    workloads = {key.pod: (key.workload_kind, key.workload_name) for key in batch.keys}
    assert workloads == {
        "web-7d9f-a": ("Deployment", "web"),
        "web-7d9f-b": ("Deployment", "web"),
        "db-0": ("StatefulSet", "db"),
        "agent-x1": ("DaemonSet", "agent"),
        "backup-28-q": ("Job", "backup-28"),
        "debug": (KIND_POD, "debug"),
        "orphan-rs-1": ("ReplicaSet", "orphan-rs"),
        "both-1": ("Deployment", "web"),
        "mystery": (KIND_UNKNOWN, "mystery"),
    }
    assert prometheus.count("owners") == 1
    assert batch.keys[0].workload_container == WorkloadContainer("shop", "Deployment", "web", "app")


def test_the_owner_cache_forgets_pods_not_seen_for_a_while() -> None:
    owners = OwnerMap()
    owners.add(parse_vector([{"metric": m, "value": [T0, "1"]} for m in OWNERS]), LabelNames(), T0)
    owners.workload("web-7d9f-a", seen_at=T0 + DAY)

    owners.prune(T0 + 1)

    assert owners.knows("web-7d9f-a")
    assert owners.workload("web-7d9f-a") == Workload("Deployment", "web")
    assert not owners.knows("db-0")
    assert len(owners) == 1


def test_garbage_is_dropped_and_counted_never_returned() -> None:
    prometheus = CannedPrometheus(
        cpu=[
            _series(_labels("web-7d9f-a"), [0.1, math.nan, math.inf, -0.5, 0.3, -math.inf]),
            _series({"namespace": "shop", "container": "app"}, [0.1, 0.1]),  # no pod
            _series({"pod": "web-7d9f-a", "container": "app"}, [0.1]),  # no namespace
            _series({"namespace": "shop", "pod": "web-7d9f-a"}, [0.5, 0.5]),  # pod cgroup
            _series(_labels("web-7d9f-a", "POD"), [0.01]),  # pause container
        ],
        memory=[_series(_labels("web-7d9f-a"), [1e8, math.nan, 2e8, 3e8, -1.0, 4e8])],
        owners=OWNERS,
    )

    batch = UsageReader(prometheus).read("shop", T0, T0 + 360)

    assert batch.dropped == DropCounts(nan=2, infinite=2, negative=2, missing_labels=2, pod_level=2)
    assert batch.dropped.describe() == (
        "dropped 2 NaN, 2 infinite, 2 negative samples; "
        "2 missing namespace/pod labels, 2 pod-level series"
    )
    assert batch.cpu.values.tolist() == [0.1, 0.3]
    assert batch.cpu.timestamps.tolist() == [T0, T0 + 240]
    assert batch.memory.values.tolist() == [1e8, 2e8, 3e8, 4e8]
    assert len(batch.keys) == 1
    assert np.isfinite(batch.cpu.values).all() and (batch.cpu.values >= 0).all()


def test_fourteen_days_cost_one_query_per_metric_per_namespace_per_chunk_plus_owners() -> None:
    minutes = 14 * 1440
    series = [
        (ns, pod)
        for ns, pods in (("shop", ["web-7d9f-a", "web-7d9f-b"]), ("pay", ["api-0"]))
        for pod in pods
    ]
    prometheus = CannedPrometheus(
        cpu=[_series(_labels(pod, namespace=ns), np.full(minutes, 0.2)) for ns, pod in series],
        memory=[_series(_labels(pod, namespace=ns), np.full(minutes, 1e8)) for ns, pod in series],
        owners=OWNERS,
    )
    reader = UsageReader(prometheus)

    batch = reader.read(["shop", Selection("pay")], T0, T0 + 14 * DAY)

    assert prometheus.queries_sent == batch.queries == 2 * (2 * 2 + 1)
    assert [prometheus.count(kind) for kind in ("cpu", "memory", "owners")] == [4, 4, 2]
    # CPU: the last 3 days at 60 s, the 11 days before at 5 minutes spread over its minutes;
    # memory: one peak per 5 minutes throughout. One chunk each.
    assert len(batch.cpu) == 3 * minutes
    assert len(batch.memory) == 3 * (14 * 288 + 1)
    assert batch.start == T0 and batch.end == T0 + 14 * DAY
    for kind, query, start, end, step in prometheus.sent:
        if kind in ("cpu", "memory"):
            assert (end - start) / step + 1 <= 11_000, query
    # The next loop reads only what came after, and needs no owner query for known pods.
    again = reader.read_since("shop", batch.last_evaluated - 600, T0 + 14 * DAY)
    assert again.queries == 2
    assert again.start == T0 + 14 * DAY - 600
    assert set(again.cpu.timestamps.tolist()) == {T0 + 14 * DAY - 600 + 60 * i for i in range(10)}


def test_pods_that_come_and_go_appear_only_where_they_lived() -> None:
    prometheus = CannedPrometheus(
        cpu=[
            _series(_labels("web-7d9f-a"), [0.1] * 30),
            _series(_labels("web-7d9f-b"), [0.2] * 30, start=T0 + 60 * 40),
        ],
        owners=OWNERS,
        memory=[],
    )
    reader = UsageReader(prometheus, PrometheusConfig(max_points_per_series=25))

    batches = list(reader.iter_batches("shop", T0, T0 + 60 * 75))

    assert [batch.start for batch in batches] == [T0, T0 + 60 * 25, T0 + 60 * 50]
    assert [{key.pod for key in batch.keys} for batch in batches] == [
        {"web-7d9f-a"},
        {"web-7d9f-a", "web-7d9f-b"},
        {"web-7d9f-b"},
    ]
    joined = UsageBatch.concat(batches)
    counts = {key.pod: n for key, n in zip(joined.keys, np.bincount(joined.cpu.index), strict=True)}
    assert counts == {"web-7d9f-a": 30, "web-7d9f-b": 30}
    assert prometheus.count("owners") == 1


def test_a_chunk_prometheus_finds_too_big_is_split_and_later_chunks_are_shorter() -> None:
    minutes = 1000
    prometheus = CannedPrometheus(
        cpu=[_series(_labels("web-7d9f-a"), np.arange(minutes) / 1000)],
        memory=[_series(_labels("web-7d9f-a"), np.full(minutes, 1e8))],
        owners=OWNERS,
        refuse_above_points=120,
    )
    reader = UsageReader(prometheus, PrometheusConfig(max_points_per_series=200))

    batch = reader.read("shop", T0, T0 + 60 * minutes)

    np.testing.assert_array_equal(batch.cpu.values, np.arange(minutes) / 1000)
    np.testing.assert_array_equal(batch.cpu.timestamps, T0 + 60 * np.arange(minutes))
    sizes = Counter(
        round((end - start) / 60) + 1
        for kind, _, start, end, _ in prometheus.sent
        if kind != "owners"
    )
    # Five chunks of 200 points. The first two are out before the first answer: Prometheus
    # refuses both (for each metric) and each is halved; the other 600 points are re-planned
    # at 100 points.
    assert sizes == Counter({200: 4, 100: 2 * 2 * 2 + 2 * 6})
    assert batch.queries == prometheus.queries_sent


def test_queries_that_fail_for_other_reasons_are_not_split() -> None:
    class Broken(CannedPrometheus):
        def range(self, query: str, start: float, end: float, step_s: float) -> list[Series]:
            raise QueryError(self.url, "HTTP 400 bad_data: parse error", query=query, status=400)

    with pytest.raises(QueryError, match="parse error"):
        UsageReader(Broken()).read("shop", T0, T0 + 600)


def test_read_since_starts_after_the_last_timestamp_on_the_grid() -> None:
    prometheus = CannedPrometheus(cpu=[_series(_labels("web-7d9f-a"), [0.1] * 20)], owners=OWNERS)
    reader = UsageReader(prometheus)

    batch = reader.read_since("shop", T0 + 100.5, T0 + 300)
    assert batch.cpu.timestamps.tolist() == [T0 + 120, T0 + 180, T0 + 240]
    capped = reader.read_since("shop", T0 - DAY, T0 + 300, window_s=120)
    assert capped.cpu.timestamps.tolist() == [T0 + 180, T0 + 240]
    nothing = reader.read_since("shop", T0 + 240, T0 + 300)
    assert nothing.queries == 0 and len(nothing.cpu) == 0 and nothing.keys == ()


def test_concat_reindexes_keys_across_batches() -> None:
    key_a = ContainerKey("shop", "Deployment", "web", "app", "a")
    key_b = ContainerKey("shop", "Deployment", "web", "app", "b")

    def batch(keys: tuple[ContainerKey, ...], index: list[int], start: float) -> UsageBatch:
        samples = Samples(
            np.asarray(index, dtype=np.int64),
            np.full(len(index), start),
            np.arange(len(index), dtype=np.float64),
        )
        return UsageBatch(keys, samples, Samples.empty(), start, start + 60, 60.0, DropCounts(), 2)

    joined = UsageBatch.concat([batch((key_a,), [0], T0), batch((key_b, key_a), [0, 1], T0 + 60)])

    assert joined.keys == (key_a, key_b)
    assert [joined.keys[i].pod for i in joined.cpu.index.tolist()] == ["a", "b", "a"]
    assert joined.queries == 4
    assert (joined.start, joined.end, joined.last_timestamp) == (T0, T0 + 120, T0 + 60)


def test_oom_kills_are_dated_and_counted_per_container() -> None:
    restarts = [0, 0, 1, 0, 0, 2]
    prometheus = CannedPrometheus(
        ooms=[
            _series(_labels("web-7d9f-a"), restarts, step=300.0),
            _series(_labels("db-0", "db"), [0, 0, math.nan], step=300.0),
        ],
        owners=OWNERS,
    )

    kills = UsageReader(prometheus).oom_kills("shop", T0, T0 + 1800)

    key = ContainerKey("shop", "Deployment", "web", "app", "web-7d9f-a")
    assert [(kill.key, kill.timestamp, kill.kills) for kill in kills] == [
        (key, T0 + 600, 1),
        (key, T0 + 1500, 2),
    ]
    assert (kills[0].namespace, kills[0].pod, kills[0].container) == ("shop", "web-7d9f-a", "app")
    assert prometheus.count("oom") == 1 and prometheus.count("owners") == 1


def test_current_requests_per_workload_container() -> None:
    def row(pod: str, resource: str) -> dict[str, str]:
        return {**_labels(pod), "resource": resource}

    prometheus = CannedPrometheus(
        requests=[
            (row("web-7d9f-a", "cpu"), 0.5),
            (row("web-7d9f-b", "cpu"), 0.25),  # mid-rollout: the larger wins
            (row("web-7d9f-a", "memory"), 512.0 * 2**20),
            (row("db-0", "cpu"), 1.0),
            (row("db-0", "memory"), math.nan),
        ],
        owners=OWNERS,
    )
    reader = UsageReader(prometheus)

    found = reader.current_requests("shop", T0)

    assert found == {
        WorkloadContainer("shop", "Deployment", "web", "app"): ContainerRequests(0.5, 512 * 2**20),
        WorkloadContainer("shop", "StatefulSet", "db", "app"): ContainerRequests(1.0, None),
    }
    reader.current_requests("shop", T0)
    assert prometheus.count("owners") == 1, "owners are cached"


# --- the HTTP client, against canned HTTP answers -------------------------------------------


class CannedHTTP(requests.adapters.BaseAdapter):
    """A requests transport that answers from a list instead of the network."""

    def __init__(self, *replies: tuple[int, bytes] | Exception) -> None:
        super().__init__()
        self.replies = list(replies)
        self.requests: list[requests.PreparedRequest] = []

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        self.requests.append(request)
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, Exception):
            raise reply
        status, body = reply
        response = requests.Response()
        response.status_code = status
        response._content = body
        response.request = request
        response.url = request.url or ""
        response.headers["Content-Type"] = "application/json"
        return response

    def close(self) -> None:
        pass


def _client(adapter: CannedHTTP, **fields: Any) -> PrometheusClient:
    config = PrometheusConfig(url="http://prom.test", retries=0, **fields)
    session = requests.Session()
    session.mount("http://prom.test/api/", adapter)
    return PrometheusClient(config, session=session)


def _ok(result_type: str, result: list[dict[str, Any]]) -> tuple[int, bytes]:
    body = {"status": "success", "data": {"resultType": result_type, "result": result}}
    return 200, json.dumps(body).encode()


def _error(status: int, error_type: str, message: str) -> tuple[int, bytes]:
    body = {"status": "error", "errorType": error_type, "error": message}
    return status, json.dumps(body).encode()


def test_client_parses_answers_and_counts_queries() -> None:
    adapter = CannedHTTP(
        _ok("matrix", [{"metric": {"pod": "a"}, "values": [[T0, "1"], [T0 + 60, "2"]]}]),
        _ok("vector", [{"metric": {"pod": "a"}, "value": [T0, "3"]}]),
    )
    client = _client(adapter)

    matrix = client.range("up", T0, T0 + 60, 60.0)
    vector = client.instant("up", T0)

    assert matrix[0].values.tolist() == [1.0, 2.0]
    assert vector[0].values.tolist() == [3.0]
    assert client.queries_sent == 2
    sent = requests.utils.urlparse(adapter.requests[0].url)
    assert sent.path == "/api/v1/query_range"
    assert "step=60" in (sent.query or "")


@pytest.mark.parametrize(
    ("reply", "error", "words"),
    [
        (_error(400, "bad_data", 'parse error: unexpected "("'), QueryError, "HTTP 400 bad_data"),
        (
            _error(422, "execution", "query processing would load too many samples"),
            QueryError,
            "too many samples",
        ),
        (_error(503, "timeout", "query timed out"), MetricsUnavailable, "HTTP 503 timeout"),
        ((500, b"oops"), MetricsUnavailable, "HTTP 500"),
        ((401, b"Unauthorized"), MetricsUnavailable, "HTTP 401"),
        ((429, b"slow down"), MetricsUnavailable, "HTTP 429"),
        ((200, b"<html>a login page</html>"), MetricsUnavailable, "not Prometheus API JSON"),
        ((200, b'{"status": "success"}'), MetricsUnavailable, "not Prometheus API JSON"),
        (requests.exceptions.ConnectionError("refused"), MetricsUnavailable, "cannot connect"),
        (requests.exceptions.ReadTimeout("slow"), MetricsUnavailable, "timed out after 30 s"),
        (requests.exceptions.SSLError("bad certificate"), MetricsUnavailable, "TLS error"),
    ],
)
@pytest.mark.parametrize("kind", ["instant", "range"])
def test_client_errors_are_typed_and_name_the_url(
    reply: tuple[int, bytes] | Exception, error: type[Exception], words: str, kind: str
) -> None:
    client = _client(CannedHTTP(reply))
    ask = partial(client.instant, "up", T0)
    if kind == "range":
        ask = partial(client.range, "up", T0, T0 + 60, 60.0)

    with pytest.raises(error, match=words) as raised:
        ask()

    assert "http://prom.test" in str(raised.value)
    assert client.queries_sent == 1


def test_query_errors_say_whether_a_smaller_query_would_do() -> None:
    client = _client(CannedHTTP(_error(422, "execution", "would load too many samples")))

    with pytest.raises(QueryError) as raised:
        client.range("up", T0, T0 + 60, 60.0)

    assert raised.value.too_many_samples
    assert raised.value.status == 422 and raised.value.error_type == "execution"
    assert raised.value.query == "up"


def test_auth_header_value_and_extra_headers_are_sent() -> None:
    adapter = CannedHTTP(_ok("vector", []))
    client = _client(
        adapter, auth_header_value="Bearer s3cret", headers={"X-Scope-OrgID": "tenant-a"}
    )

    client.instant("up", T0)

    assert adapter.requests[0].headers["Authorization"] == "Bearer s3cret"
    assert adapter.requests[0].headers["X-Scope-OrgID"] == "tenant-a"
    assert "s3cret" not in repr(client.config)


def test_answers_are_asked_uncompressed_unless_gzip_is_wanted() -> None:
    plain, gzip = CannedHTTP(_ok("vector", [])), CannedHTTP(_ok("vector", []))

    _client(plain).instant("up", T0)
    _client(gzip, accept_gzip=True).instant("up", T0)

    assert plain.requests[0].headers["Accept-Encoding"] == "identity"
    assert gzip.requests[0].headers["Accept-Encoding"] == "gzip"


def test_token_file_is_read_at_every_query(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("first\n")
    adapter = CannedHTTP(_ok("vector", []))
    client = _client(adapter, auth_token_file=token, auth_header_name="X-Auth")

    client.instant("up", T0)
    token.write_text("rotated")
    client.instant("up", T0)
    token.unlink()

    assert [request.headers["X-Auth"] for request in adapter.requests] == [
        "Bearer first",
        "Bearer rotated",
    ]
    with pytest.raises(MetricsUnavailable, match="cannot read token file"):
        client.instant("up", T0)


def test_tls_settings_reach_the_session(tmp_path: Path) -> None:
    from trimtab.metrics.client import _session

    ca = tmp_path / "ca.pem"
    assert _session(PrometheusConfig(ca_file=ca)).verify == str(ca)
    assert _session(PrometheusConfig(insecure_skip_verify=True)).verify is False
    assert _session(PrometheusConfig()).verify is True
    mtls = PrometheusConfig(client_cert_file=tmp_path / "c.pem", client_key_file=tmp_path / "k")
    assert _session(mtls).cert == (str(tmp_path / "c.pem"), str(tmp_path / "k"))


def test_unexpected_answer_shapes_are_metrics_unavailable() -> None:
    client = _client(CannedHTTP(_ok("matrix", [{"metric": {}, "values": [[1, 2, 3]]}])))

    with pytest.raises(MetricsUnavailable, match="unexpected answer"):
        client.range("up", T0, T0 + 60, 60.0)


# --- two resolutions ------------------------------------------------------------------------


def test_the_older_part_of_a_long_read_comes_at_the_coarse_step_spread_over_its_minutes() -> None:
    minutes = 2 * 1440
    rng = np.random.default_rng(3)
    cpu, memory = rng.uniform(0.1, 2.0, minutes), rng.uniform(1e8, 5e8, minutes)
    prometheus = CannedPrometheus(
        cpu=[_series(_labels("web-7d9f-a"), cpu)],
        memory=[_series(_labels("web-7d9f-a"), memory)],
        owners=OWNERS,
    )
    config = PrometheusConfig(full_resolution_s=DAY, coarse_step_s=300)
    batch = UsageReader(prometheus, config).read("shop", T0, T0 + minutes * 60)

    steps = sorted({(kind, step) for kind, _, _, _, step in prometheus.sent if kind != "owners"})
    assert steps == [("cpu", 60), ("cpu", 300), ("memory", 300)]
    # Every minute of the window exactly once, in order.
    np.testing.assert_array_equal(batch.cpu.timestamps, T0 + 60 * np.arange(minutes))
    split = 1441  # the first coarse step ends at T0 (one minute kept), then 288 whole steps
    np.testing.assert_array_equal(batch.cpu.values[split:], cpu[split:])
    means = cpu[1:split].reshape(-1, 5).mean(axis=1)
    np.testing.assert_allclose(batch.cpu.values[1:split], np.repeat(means, 5))
    # Memory is 5-minute peaks throughout, so the peak of any day is exact: on the 5-minute
    # grid up to the split, then on one ending at the read's last minute (the first of those
    # windows reaches one minute back into the split's step).
    ends = [0, *range(5, 1441, 5), *range(minutes - 1 - 5 * 287, minutes, 5)]
    peaks = [memory[max(end - 4, 0) : end + 1].max() for end in ends]
    np.testing.assert_array_equal(batch.memory.values, peaks)
    np.testing.assert_array_equal(batch.memory.timestamps, T0 + 60 * np.array(ends))


def test_spread_samples_never_reach_before_the_read_whatever_series_comes_first() -> None:
    spread = Spread(300.0, 60.0, not_before=T0)
    # The first series starts a step later than the second, whose first step reaches back.
    index, times, values = spread.apply(
        np.array([0, 1, 1]), np.array([T0 + 300.0, T0, T0 + 300.0]), np.array([1.0, 2.0, 3.0])
    )

    assert times.min() == T0
    assert index.tolist() == [0] * 5 + [1] + [1] * 5
    assert values.tolist() == [1.0] * 5 + [2.0] + [3.0] * 5


def test_short_reads_and_a_disabled_split_read_everything_at_full_resolution() -> None:
    prometheus = CannedPrometheus(cpu=[_series(_labels("web-7d9f-a"), [0.1] * 600)], owners=OWNERS)
    UsageReader(prometheus).read("shop", T0, T0 + 600 * 60)
    full = PrometheusConfig(full_resolution_s=None)
    UsageReader(prometheus, full).read("shop", T0 - 20 * DAY, T0 + 600 * 60)

    assert {step for kind, _, _, _, step in prometheus.sent if kind == "cpu"} == {60.0}


def test_a_coarse_step_that_is_not_a_multiple_of_the_step_is_refused() -> None:
    with pytest.raises(ValueError, match=r"coarse_step_s \(90\) must be a whole multiple"):
        UsageReader(CannedPrometheus(), PrometheusConfig(coarse_step_s=90))
