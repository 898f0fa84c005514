"""The horizontal scaler's metrics reader without a network: queries sent, answers turned into
readings, failures kept per metric, and the predictive history read in chunks."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pytest

from trimtab.api.horizontal import MetricSpec
from trimtab.horizontal.algorithm import (
    FailedReading,
    PodUsage,
    PrometheusReading,
    ResourceReading,
    propose,
)
from trimtab.metrics import (
    LabelNames,
    MetricFailure,
    MetricsUnavailable,
    MultipleSeriesError,
    PrometheusConfig,
    QueryError,
    ScalingMetricsReader,
    Series,
    TargetPod,
)
from trimtab.metrics.client import parse_matrix, parse_vector
from trimtab.metrics.scaling import pod_regex, resource_query

URL = "http://prom.test"
T0 = 1_700_006_400.0  # a multiple of 3600
DAY = 86_400.0
CONFIG = PrometheusConfig(url=URL)

Labels = Mapping[str, str]
InstantAnswer = Sequence[tuple[Labels, float]] | Exception
RangeAnswer = Callable[[float, float, float], Sequence[tuple[Labels, Sequence[float], Any]]]


def _text(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


class FakePrometheus:
    """Answers by the first registered fragment the query contains, through the real JSON
    parsing; records every query."""

    def __init__(
        self,
        instant: Mapping[str, InstantAnswer] | None = None,
        range_answer: RangeAnswer | None = None,
        refuse_above_points: int | None = None,
    ) -> None:
        self.instant_answers = dict(instant or {})
        self.range_answer = range_answer
        self.refuse_above_points = refuse_above_points
        self.sent: list[tuple[str, float, float, float]] = []

    @property
    def url(self) -> str:
        return URL

    @property
    def queries_sent(self) -> int:
        return len(self.sent)

    def instant(self, query: str, at: float) -> list[Series]:
        self.sent.append((query, at, at, 0.0))
        answer = next(
            (answer for fragment, answer in self.instant_answers.items() if fragment in query),
            [],
        )
        if isinstance(answer, Exception):
            raise answer
        rows = [{"metric": dict(labels), "value": [at, _text(v)]} for labels, v in answer]
        return parse_vector(json.loads(json.dumps(rows)))

    def range(self, query: str, start: float, end: float, step_s: float) -> list[Series]:
        self.sent.append((query, start, end, step_s))
        points = round((end - start) / step_s) + 1
        if self.refuse_above_points is not None and points > self.refuse_above_points:
            raise QueryError(
                URL,
                "HTTP 422 execution: query processing would load too many samples into memory "
                "in query execution",
                query=query,
                status=422,
                error_type="execution",
            )
        assert self.range_answer is not None
        rows = [
            {
                "metric": dict(labels),
                "values": [[t, _text(v)] for t, v in zip(stamps, values, strict=True)],
            }
            for labels, stamps, values in self.range_answer(start, end, step_s)
        ]
        return parse_matrix(json.loads(json.dumps(rows)))


def _pods(*names: str, cpu: float = 0.5, memory: float = 512e6) -> list[TargetPod]:
    return [TargetPod(name, "Ready", cpu, memory) for name in names]


def _resource(name: str = "cpu", utilization: int = 60) -> MetricSpec:
    return MetricSpec.model_validate(
        {"type": "Resource", "resource": {"name": name, "targetAverageUtilization": utilization}}
    )


def _prometheus(query: str, **fields: Any) -> MetricSpec:
    fields.setdefault("targetAverageValue", "1")
    return MetricSpec.model_validate(
        {"type": "Prometheus", "prometheus": {"query": query, **fields}}
    )


def _pod_usage(*pairs: tuple[str, float]) -> list[tuple[Labels, float]]:
    return [({"pod": pod}, value) for pod, value in pairs]


def _regex_of(query: str) -> str:
    """The pod regex of a query, as Prometheus reads the PromQL string literal."""
    match = re.search(r'pod=~"((?:[^"\\]|\\.)*)"', query)
    assert match is not None, query
    literal: str = json.loads(f'"{match.group(1)}"')
    return literal


# --- one reading per metric, one query per metric ---------------------------------------------


def test_one_query_per_metric_whatever_the_number_of_pods() -> None:
    pods = _pods(*(f"web-7d9f-{index:03d}" for index in range(200)))
    prometheus = FakePrometheus(
        {
            "container_cpu_usage_seconds_total": _pod_usage(("web-7d9f-000", 0.3)),
            "container_memory_working_set_bytes": _pod_usage(("web-7d9f-001", 3e8)),
            "http_requests_total": [({}, 42.0)],
            "queue_depth": [({}, 7.0)],
        }
    )
    metrics = [
        _resource("cpu"),
        _resource("memory"),
        _prometheus("sum(rate(http_requests_total[2m]))"),
        _prometheus("max(queue_depth)"),
    ]
    reader = ScalingMetricsReader(prometheus, CONFIG)

    readings = reader.read("shop", pods, metrics, T0)

    assert reader.queries_sent == prometheus.queries_sent == len(metrics)
    assert len(readings) == len(metrics)
    assert readings[2:] == [PrometheusReading(42.0), PrometheusReading(7.0)]
    for query, _, _, _ in prometheus.sent[:2]:
        regex = _regex_of(query)
        assert all(re.fullmatch(regex, pod.name) for pod in pods)
    assert all(at == T0 for _, at, _, _ in prometheus.sent)


def test_resource_query_sums_the_containers_of_each_pod_and_leaves_out_pod_level_series() -> None:
    query = resource_query(CONFIG, "cpu", "shop", "web-1|web-2")

    assert query == (
        "sum by (pod) (max by (pod, container) (irate(container_cpu_usage_seconds_total"
        '{namespace="shop",pod=~"web-1|web-2",container!="",container!="POD"}[120s])))'
    )
    memory = resource_query(CONFIG, "memory", "shop", "web-1")
    assert memory.startswith("sum by (pod) (max by (pod, container) (")
    assert 'container_memory_working_set_bytes{namespace="shop",pod=~"web-1",' in memory


def test_rate_and_the_window_follow_the_configuration() -> None:
    config = PrometheusConfig(url=URL, cpu_rate="rate", extra_selector='cluster="prod"')
    prometheus = FakePrometheus()

    ScalingMetricsReader(prometheus, config, cpu_window_s=300).read(
        "shop", _pods("web-1"), [_resource("cpu")], T0
    )

    (query, *_), *_ = prometheus.sent
    assert "rate(container_cpu_usage_seconds_total{" in query
    assert "irate(" not in query
    assert ',cluster="prod"}[300s]' in query


def test_pods_missing_from_the_answer_have_no_usage_and_keep_their_requests_and_state() -> None:
    pods = [
        TargetPod("web-a", "Ready", cpu_request=0.5, memory_request=1e9),
        TargetPod("web-b", "Unready", cpu_request=0.25, memory_request=1e9),
        TargetPod("web-c", "Pending", cpu_request=0.5, memory_request=1e9),
    ]
    prometheus = FakePrometheus(
        {
            "cpu": _pod_usage(("web-a", 0.4), ("web-b", 0.1), ("other-pod", 9.0)),
        }
    )

    (reading,) = ScalingMetricsReader(prometheus, CONFIG).read("shop", pods, [_resource()], T0)

    assert reading == ResourceReading(
        (
            PodUsage(0.4, 0.5, "Ready"),
            PodUsage(0.1, 0.25, "Unready"),
            PodUsage(None, 0.5, "Pending"),
        )
    )


@pytest.mark.parametrize("garbage", [math.nan, math.inf, -0.5])
def test_unusable_usage_counts_as_no_sample(garbage: float) -> None:
    prometheus = FakePrometheus({"memory": _pod_usage(("web-a", garbage), ("web-b", 2e8))})

    (reading,) = ScalingMetricsReader(prometheus, CONFIG).read(
        "shop", _pods("web-a", "web-b"), [_resource("memory")], T0
    )

    assert isinstance(reading, ResourceReading)
    assert [pod.usage for pod in reading.pods] == [None, 2e8]
    assert [pod.request for pod in reading.pods] == [512e6, 512e6]


def test_configured_label_names_are_used_in_the_query_and_the_answer() -> None:
    config = PrometheusConfig(
        url=URL, labels=LabelNames(namespace="kubernetes_namespace", pod="pod_name")
    )
    prometheus = FakePrometheus({"cpu": [({"pod_name": "web-a"}, 0.2), ({"pod": "web-b"}, 0.3)]})

    (reading,) = ScalingMetricsReader(prometheus, config).read(
        "shop", _pods("web-a", "web-b"), [_resource()], T0
    )

    (query, *_), *_ = prometheus.sent
    assert query.startswith("sum by (pod_name) (max by (pod_name, container) (")
    assert 'kubernetes_namespace="shop",pod_name=~"web-a|web-b"' in query
    assert isinstance(reading, ResourceReading)
    assert [pod.usage for pod in reading.pods] == [0.2, None]


def test_pod_names_are_escaped_so_the_regex_matches_exactly_the_listed_pods() -> None:
    names = ["web.1", "a+b", "c(d)", "e|f", "g*", "h[1]", "back\\slash", "q?", "x{2}", "^y$"]
    prometheus = FakePrometheus()

    ScalingMetricsReader(prometheus, CONFIG).read("shop", _pods(*names), [_resource()], T0)

    (query, *_), *_ = prometheus.sent
    assert r"|a\\+b|back\\\\slash|c\\(d\\)|" in query  # PromQL doubles the backslashes
    regex = _regex_of(query)
    assert all(re.fullmatch(regex, name) for name in names)
    for impostor in ["webx1", "aab", "cd", "e", "f", "gg", "h1", "q", "xx", "y", "web.12"]:
        assert re.fullmatch(regex, impostor) is None, impostor


def test_pod_regex_lists_each_name_once() -> None:
    assert pod_regex(["b-1", "a.2", "b-1"]) == r"a\.2|b-1"
    with pytest.raises(ValueError, match="at least one pod"):
        pod_regex([])


def test_without_pods_nothing_is_asked_and_the_algorithm_reports_no_pods() -> None:
    prometheus = FakePrometheus()
    metric = _resource()

    (reading,) = ScalingMetricsReader(prometheus, CONFIG).read("shop", [], [metric], T0)

    assert reading == ResourceReading(())
    assert prometheus.queries_sent == 0
    assert propose(metric, reading, 3).error == "no pods match the target's selector"


def test_a_pod_without_a_request_fails_the_metric_without_a_query() -> None:
    pods = [TargetPod("web-a", cpu_request=0.5), TargetPod("web-b", cpu_request=None)]
    prometheus = FakePrometheus()

    cpu, memory = ScalingMetricsReader(prometheus, CONFIG).read(
        "shop", pods, [_resource("cpu"), _resource("memory")], T0
    )

    assert cpu == MetricFailure("missing cpu request in 1 pods (web-b)")
    assert memory == MetricFailure("missing memory request in 2 pods (web-a, web-b)")
    assert prometheus.queries_sent == 0


# --- Prometheus metrics -----------------------------------------------------------------------


def test_several_series_fail_naming_their_count() -> None:
    answer = [({"pod": f"web-{index}"}, 1.0) for index in range(3)]
    prometheus = FakePrometheus({"http_requests_total": answer})

    (reading,) = ScalingMetricsReader(prometheus, CONFIG).read(
        "shop", [], [_prometheus("rate(http_requests_total[2m])")], T0
    )

    assert isinstance(reading, MetricFailure)
    assert not reading.invalid
    assert reading.error.startswith('the query returned 3 series ({pod="web-0"}, {pod="web-1"}, ')
    assert "aggregate" in reading.error


def test_an_empty_answer_is_no_value_and_the_algorithm_applies_treat_empty_as_zero() -> None:
    prometheus = FakePrometheus({"absent_metric": []})
    plain = _prometheus("sum(absent_metric)")
    zero = _prometheus("sum(absent_metric) ", treatEmptyAsZero=True)

    readings = ScalingMetricsReader(prometheus, CONFIG).read("shop", [], [plain, zero], T0)

    assert readings == [PrometheusReading(None), PrometheusReading(None)]
    assert propose(plain, readings[0], 3).replicas is None
    assert propose(zero, readings[1], 3).value == 0.0


@pytest.mark.parametrize(("value", "named"), [(math.nan, "NaN"), (math.inf, "+Inf")])
def test_not_a_number_fails_naming_it(value: float, named: str) -> None:
    prometheus = FakePrometheus({"ratio": [({}, value)]})

    (reading,) = ScalingMetricsReader(prometheus, CONFIG).read(
        "shop", [], [_prometheus("sum(ratio)")], T0
    )

    assert reading == MetricFailure(f"the query returned {named}")


def test_negative_infinity_fails_and_a_negative_number_is_a_value() -> None:
    prometheus = FakePrometheus({"minus_inf": [({}, -math.inf)], "minus_one": [({}, -1.0)]})

    readings = ScalingMetricsReader(prometheus, CONFIG).read(
        "shop", [], [_prometheus("minus_inf"), _prometheus("minus_one")], T0
    )

    assert readings == [MetricFailure("the query returned -Inf"), PrometheusReading(-1.0)]


def test_a_query_that_does_not_parse_is_an_invalid_failure_quoting_prometheus() -> None:
    message = "1:14: parse error: unclosed left parenthesis"
    bad = "sum(rate(x[2m]"
    prometheus = FakePrometheus(
        {
            bad: QueryError(
                URL, f"HTTP 400 bad_data: {message}", query=bad, status=400, error_type="bad_data"
            ),
            "good": [({}, 3.0)],
        }
    )

    readings = ScalingMetricsReader(prometheus, CONFIG).read(
        "shop", [], [_prometheus(bad), _prometheus("sum(good)")], T0
    )

    assert readings == [
        MetricFailure(f"the query does not parse: {message}", invalid=True),
        PrometheusReading(3.0),
    ]
    assert prometheus.queries_sent == 2


def test_an_execution_error_is_not_an_invalid_spec() -> None:
    query = "a * on(job) b"
    reason = "HTTP 422 execution: found duplicate series for the match group"
    prometheus = FakePrometheus(
        {query: QueryError(URL, reason, query=query, status=422, error_type="execution")}
    )

    (reading,) = ScalingMetricsReader(prometheus, CONFIG).read("shop", [], [_prometheus(query)], T0)

    assert reading == MetricFailure(
        "Prometheus could not evaluate the query: found duplicate series for the match group"
    )


def test_prometheus_down_fails_every_metric_without_raising_and_is_not_invalid() -> None:
    down = MetricsUnavailable(URL, "cannot connect: Connection refused")
    prometheus = FakePrometheus({"cpu": down, "queue": down, "fine": [({}, 1.0)]})
    metrics = [_resource(), _prometheus("sum(queue)"), _prometheus("sum(fine)")]

    readings = ScalingMetricsReader(prometheus, CONFIG).read("shop", _pods("web-a"), metrics, T0)

    expected = MetricFailure(f"Prometheus at {URL}: cannot connect: Connection refused")
    assert readings == [expected, expected, PrometheusReading(1.0)]
    assert not expected.invalid
    assert prometheus.queries_sent == 3


def test_a_failure_is_a_failed_reading_for_the_algorithm() -> None:
    metric = _prometheus("sum(x)")
    failure = MetricFailure("the query does not parse: oops", invalid=True)

    proposal = propose(metric, failure, 3)

    assert isinstance(failure, FailedReading)
    assert proposal.replicas is None
    assert proposal.error == "the query does not parse: oops"


def test_the_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        ScalingMetricsReader(FakePrometheus(), CONFIG, cpu_window_s=0)


# --- history for predictive mode --------------------------------------------------------------


def _ramp(labels: Labels | None = None) -> RangeAnswer:
    """One series whose value at t is (t - T0) / 60, at every grid time asked for."""

    def answer(start: float, end: float, step: float) -> list[tuple[Labels, Any, Any]]:
        stamps = np.arange(start, end + step / 2, step)
        return [(labels or {}, stamps, (stamps - T0) / 60.0)]

    return answer


def test_fourteen_days_at_one_minute_take_two_range_queries() -> None:
    prometheus = FakePrometheus(range_answer=_ramp())
    end = T0 + 14 * DAY + 30.0  # between two grid times
    metric = _prometheus("sum(rate(http_requests_total[2m]))")

    timestamps, values = ScalingMetricsReader(prometheus, CONFIG).history("shop", [], metric, end)

    assert prometheus.queries_sent == 2
    assert [sent[0] for sent in prometheus.sent] == [metric.prometheus.query] * 2  # type: ignore[union-attr]
    assert [round((last - first) / step) + 1 for _, first, last, step in prometheus.sent] == [
        10_080,
        10_080,
    ]
    assert timestamps.dtype == values.dtype == np.float64
    assert timestamps.size == 20_160
    assert timestamps[0] == T0 + 60.0 and timestamps[-1] == T0 + 14 * DAY
    np.testing.assert_array_equal(np.diff(timestamps), 60.0)
    np.testing.assert_array_equal(values, (timestamps - T0) / 60.0)


def test_a_short_history_is_one_query_and_a_chunk_refused_as_too_big_is_split() -> None:
    prometheus = FakePrometheus(range_answer=_ramp(), refuse_above_points=500)

    timestamps, _ = ScalingMetricsReader(prometheus, CONFIG).history(
        "shop", [], _prometheus("sum(x)"), T0 + DAY, history_s=DAY / 2
    )

    assert timestamps.size == 720
    refused, *succeeded = prometheus.sent
    assert round((refused[2] - refused[1]) / 60) + 1 == 720
    assert len(succeeded) == 2


def test_no_data_gives_empty_float_arrays() -> None:
    prometheus = FakePrometheus(range_answer=lambda start, end, step: [])

    timestamps, values = ScalingMetricsReader(prometheus, CONFIG).history(
        "shop", [], _prometheus("sum(x)"), T0
    )

    assert timestamps.shape == values.shape == (0,)
    assert timestamps.dtype == values.dtype == np.float64


def test_history_leaves_out_times_without_a_finite_value() -> None:
    def answer(start: float, end: float, step: float) -> list[tuple[Labels, Any, Any]]:
        stamps = np.arange(start, end + step / 2, step)
        values = np.ones(stamps.size)
        values[1], values[2] = math.nan, math.inf
        return [({}, stamps, values)]

    timestamps, values = ScalingMetricsReader(FakePrometheus(range_answer=answer), CONFIG).history(
        "shop", [], _prometheus("sum(x)"), T0 + 600, history_s=600
    )

    assert timestamps.size == 8
    np.testing.assert_array_equal(values, 1.0)


def test_series_that_never_overlap_are_one_history_and_overlapping_ones_are_refused() -> None:
    def replaced(start: float, end: float, step: float) -> list[tuple[Labels, Any, Any]]:
        stamps = np.arange(start, end + step / 2, step)
        half = stamps.size // 2
        return [
            ({"pod": "web-b"}, stamps[half:], np.full(stamps.size - half, 2.0)),
            ({"pod": "web-a"}, stamps[:half], np.full(half, 1.0)),
        ]

    def overlapping(start: float, end: float, step: float) -> list[tuple[Labels, Any, Any]]:
        stamps = np.arange(start, end + step / 2, step)
        return [({"pod": pod}, stamps, np.ones(stamps.size)) for pod in ("a", "b", "c")]

    metric = _prometheus("x")
    timestamps, values = ScalingMetricsReader(
        FakePrometheus(range_answer=replaced), CONFIG
    ).history("shop", [], metric, T0 + 600, history_s=600)
    assert np.all(np.diff(timestamps) == 60.0)
    assert values.tolist() == [1.0] * 5 + [2.0] * 5

    with pytest.raises(MultipleSeriesError, match="3 series at one time") as raised:
        ScalingMetricsReader(FakePrometheus(range_answer=overlapping), CONFIG).history(
            "shop", [], metric, T0 + 600, history_s=600
        )
    assert raised.value.count == 3


def test_history_errors_are_raised_for_the_caller() -> None:
    class Down(FakePrometheus):
        def range(self, query: str, start: float, end: float, step_s: float) -> list[Series]:
            raise MetricsUnavailable(URL, "timed out")

    with pytest.raises(MetricsUnavailable):
        ScalingMetricsReader(Down(), CONFIG).history("shop", [], _prometheus("x"), T0)


def test_resource_history_is_utilisation_of_the_mean_request() -> None:
    prometheus = FakePrometheus(range_answer=_ramp())
    pods = [TargetPod("web-a", cpu_request=0.4), TargetPod("web-b", cpu_request=0.6)]
    reader = ScalingMetricsReader(prometheus, CONFIG)

    timestamps, average = reader.history("shop", pods, _resource("cpu"), T0 + 600, history_s=600)
    _, total = reader.history(
        "shop", pods, _resource("cpu"), T0 + 600, history_s=600, total=True, pods_regex="web-.*"
    )

    np.testing.assert_allclose(average, (timestamps - T0) / 60.0 * 100.0 / 0.5, rtol=1e-12)
    np.testing.assert_allclose(total, average, rtol=1e-12)
    first, second = (sent[0] for sent in prometheus.sent)
    assert first.startswith("avg(sum by (pod) (") and _regex_of(first) == "web-a|web-b"
    assert second.startswith("sum(sum by (pod) (") and _regex_of(second) == "web-.*"


def test_resource_history_without_requests_has_no_data() -> None:
    prometheus = FakePrometheus(range_answer=_ramp())
    pods = [TargetPod("web-a", cpu_request=0.4), TargetPod("web-b")]

    timestamps, values = ScalingMetricsReader(prometheus, CONFIG).history(
        "shop", pods, _resource("cpu"), T0
    )

    assert timestamps.size == values.size == 0
    assert prometheus.queries_sent == 0


def test_history_needs_at_least_one_step() -> None:
    with pytest.raises(ValueError, match="at least one step"):
        ScalingMetricsReader(FakePrometheus(), CONFIG).history(
            "shop", [], _prometheus("x"), T0, history_s=30
        )
