"""What the horizontal scaler reads from Prometheus: one reading per metric per loop, and the
history its predictive mode forecasts from.

One query per metric per loop, whatever the number of pods: a Resource metric asks for every
pod of the target at once through a regex of their names (escaped, so a `.` in a name matches
only a dot), never one query per pod.

Resource metrics, per pod, summed over its containers (cAdvisor's pod-level cgroup and pause
container left out, duplicates of a container merged with `max` first, as in `promql`):
- CPU: `irate(container_cpu_usage_seconds_total[2m])`, the mean usage over the last scrape
  interval. That is what the HPA gets from metrics-server (the kubelet's rate between its two
  latest cAdvisor samples), and the 2-minute window survives one missed scrape at a 1-minute
  scrape interval. `rate` over the window would average one or two intervals depending on the
  Prometheus version (2.x includes the sample at the window's start, 3.x does not), so it is
  used only when `PrometheusConfig.cpu_rate` is "rate" (a smoother, slower signal).
- Memory: the latest working set (within Prometheus's lookback), as metrics-server reports it.
Requests come from the caller, which reads them from the pods; Prometheus only supplies usage.
A pod Prometheus has no sample for gets `usage=None`: the algorithm treats it as the HPA
treats a pod without metrics. NaN, infinite and negative usage count as no sample.

Prometheus metrics (the spec's own PromQL) must give one value:
- one series: its value; NaN or an infinity is a failure naming it;
- no series: `PrometheusReading(None)`. `treatEmptyAsZero` is applied by the algorithm, the one
  place that also reports the value in status, so it is not applied twice;
- several series: a failure naming the count, asking the user to aggregate. Not marked invalid:
  the same query may give one series at other times (a `by` clause over a label with one value
  today), so only Prometheus's parser can prove a query wrong;
- HTTP 400 (bad_data: the query does not parse): a failure with ``invalid=True`` quoting
  Prometheus's message, so the caller can report a bad spec instead of an outage. Anything
  else (Prometheus unreachable, 422 execution errors) fails with ``invalid=False``.
A failed metric never stops the others from being read.

The query must return an instant vector: a scalar answer (`scalar(...)`, a bare number) is
not something the client parses, so wrap such queries in `vector(...)`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from trimtab.api.horizontal import MetricSpec
from trimtab.horizontal.algorithm import (
    FailedReading,
    PodState,
    PodUsage,
    PrometheusReading,
    Reading,
    ResourceReading,
)
from trimtab.metrics.chunking import Chunk, check_step, plan_range
from trimtab.metrics.client import FloatArray, PrometheusClient, QueryClient, Series
from trimtab.metrics.config import PrometheusConfig
from trimtab.metrics.errors import MetricsError, QueryError
from trimtab.metrics.promql import POD_LEVEL_CONTAINERS, duration, quote, selector

Resource = Literal["cpu", "memory"]

DEFAULT_CPU_WINDOW_S = 120.0
"""Window of the CPU irate: two scrape intervals of 1 minute, so one missed scrape is harmless."""
DEFAULT_HISTORY_S = 14 * 86_400.0
"""The spec's default `predictive.history`: two weekly periods."""
DEFAULT_HISTORY_STEP_S = 60.0
"""One point per minute: 14 days take two range queries (11,000 points per query at most)."""

_RE2_SPECIAL = re.compile(r"[\\.+*?()|\[\]{}^$]")
_SHOWN_SERIES = 2
_EMPTY = np.zeros(0, dtype=np.float64)


@dataclass(frozen=True)
class TargetPod:
    """A pod of the scale target as the operator knows it from the Kubernetes API.

    Requests are summed over the pod's containers (cores and bytes); None when a container
    has no request for that resource, which makes the utilisation undefined, as in the HPA.
    """

    name: str
    state: PodState = "Ready"
    cpu_request: float | None = None
    memory_request: float | None = None

    def request(self, resource: Resource) -> float | None:
        """The request for `resource`, or None when it is missing or not positive."""
        value = self.cpu_request if resource == "cpu" else self.memory_request
        return value if value is not None and value > 0 else None


@dataclass(frozen=True)
class MetricFailure(FailedReading):
    """A metric that could not be read, and whether the spec itself is at fault.

    ``invalid`` is True when Prometheus refused the query as malformed: retrying cannot help
    until the spec changes, so the caller reports the spec rather than an outage.
    """

    invalid: bool = False


class MultipleSeriesError(MetricsError):
    """A query meant to give one value gave several series at the same time."""

    def __init__(self, url: str, query: str, count: int) -> None:
        super().__init__(url, f"{query!r} gave {count} series at one time; it must give one value")
        self.query = query
        self.count = count


def pod_regex(names: Iterable[str]) -> str:
    """An RE2 alternation matching exactly `names` (Prometheus anchors regex matchers)."""
    unique = sorted(set(names))
    if not unique:
        raise ValueError("a pod regex needs at least one pod name")
    return "|".join(_RE2_SPECIAL.sub(r"\\\g<0>", name) for name in unique)


def resource_query(
    config: PrometheusConfig,
    resource: Resource,
    namespace: str,
    pods_regex: str,
    cpu_window_s: float = DEFAULT_CPU_WINDOW_S,
) -> str:
    """Usage per pod (cores or working-set bytes), summed over the pod's containers."""
    labels = config.labels
    matchers = [
        f"{labels.namespace}={quote(namespace)}",
        f"{labels.pod}=~{quote(pods_regex)}",
        *(f"{labels.container}!={quote(name)}" for name in POD_LEVEL_CONTAINERS),
        config.extra_selector,
    ]
    if resource == "cpu":
        function = "rate" if config.cpu_rate == "rate" else "irate"
        series = selector(config.metrics.cpu, matchers)
        inner = f"{function}({series}[{duration(cpu_window_s)}])"
    else:
        inner = selector(config.metrics.memory, matchers)
    return f"sum by ({labels.pod}) (max by ({labels.pod}, {labels.container}) ({inner}))"


def _prometheus_message(error: QueryError) -> str:
    """Prometheus's own words, without the client's `HTTP 400 bad_data:` prefix."""
    prefix = f"HTTP {error.status} {error.error_type}: ".replace(" : ", ": ")
    return error.reason.removeprefix(prefix)


def _number_text(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return "+Inf" if value > 0 else "-Inf"


def _labels_text(labels: Mapping[str, str]) -> str:
    return "{" + ", ".join(f"{name}={quote(value)}" for name, value in sorted(labels.items())) + "}"


class ScalingMetricsReader:
    """Reads a HorizontalScaler's metrics; one reader per Prometheus, reused across loops."""

    def __init__(
        self,
        client: QueryClient,
        config: PrometheusConfig | None = None,
        *,
        cpu_window_s: float = DEFAULT_CPU_WINDOW_S,
    ) -> None:
        if config is None:
            config = client.config if isinstance(client, PrometheusClient) else PrometheusConfig()
        duration(cpu_window_s)  # raises for a window that is not positive
        self.client = client
        self.config = config
        self.cpu_window_s = float(cpu_window_s)

    @property
    def queries_sent(self) -> int:
        """Queries the client has sent, for checking one query per metric per loop."""
        return self.client.queries_sent

    # -- each loop ---------------------------------------------------------------------------

    def read(
        self,
        namespace: str,
        pods: Sequence[TargetPod],
        metrics: Sequence[MetricSpec],
        at: float,
    ) -> list[Reading]:
        """One reading per metric, in order, evaluated at unix time `at`; never raises for a
        metric Prometheus cannot answer (that metric's reading is a `MetricFailure`)."""
        return [self.read_metric(namespace, pods, metric, at) for metric in metrics]

    def read_metric(
        self, namespace: str, pods: Sequence[TargetPod], metric: MetricSpec, at: float
    ) -> Reading:
        """The reading of one metric, with at most one query."""
        if metric.resource is not None:
            return self._resource(namespace, pods, metric.resource.name, at)
        assert metric.prometheus is not None
        return self._prometheus(metric.prometheus.query, at)

    def _resource(
        self, namespace: str, pods: Sequence[TargetPod], resource: Resource, at: float
    ) -> Reading:
        if not pods:
            return ResourceReading(())  # the algorithm reports that no pods match
        without = [pod.name for pod in pods if pod.request(resource) is None]
        if without:
            shown = ", ".join(without[:3]) + (", ..." if len(without) > 3 else "")
            return MetricFailure(f"missing {resource} request in {len(without)} pods ({shown})")
        query = resource_query(
            self.config, resource, namespace, pod_regex(pod.name for pod in pods), self.cpu_window_s
        )
        try:
            answer = self.client.instant(query, at)
        except MetricsError as error:
            return MetricFailure(str(error))
        usage = self._per_pod(answer)
        return ResourceReading(
            tuple(
                PodUsage(usage.get(pod.name), pod.request(resource) or 0.0, pod.state)
                for pod in pods
            )
        )

    def _per_pod(self, answer: Sequence[Series]) -> dict[str, float]:
        """Usable usage per pod name; unusable values (NaN, inf, negative) are left out."""
        found = {}
        for series in answer:
            pod = series.labels.get(self.config.labels.pod)
            if not pod or not len(series):
                continue
            value = float(series.values[-1])
            if 0 <= value < math.inf:
                found[pod] = value
        return found

    def _prometheus(self, query: str, at: float) -> Reading:
        try:
            answer = self.client.instant(query, at)
        except QueryError as error:
            message = _prometheus_message(error)
            if error.status == 400:
                return MetricFailure(f"the query does not parse: {message}", invalid=True)
            return MetricFailure(f"Prometheus could not evaluate the query: {message}")
        except MetricsError as error:
            return MetricFailure(str(error))
        answer = [series for series in answer if len(series)]
        if not answer:
            return PrometheusReading(None)
        if len(answer) > 1:
            shown = ", ".join(_labels_text(s.labels) for s in answer[:_SHOWN_SERIES])
            more = ", ..." if len(answer) > _SHOWN_SERIES else ""
            return MetricFailure(
                f"the query returned {len(answer)} series ({shown}{more}); it must return one "
                "value: aggregate them, e.g. with sum(...) or max(...)"
            )
        value = float(answer[0].values[-1])
        if not math.isfinite(value):
            return MetricFailure(f"the query returned {_number_text(value)}")
        return PrometheusReading(value)

    # -- history for predictive mode ---------------------------------------------------------

    def history(
        self,
        namespace: str,
        pods: Sequence[TargetPod],
        metric: MetricSpec,
        end: float,
        *,
        history_s: float = DEFAULT_HISTORY_S,
        step_s: float = DEFAULT_HISTORY_STEP_S,
        pods_regex: str | None = None,
        total: bool = False,
    ) -> tuple[FloatArray, FloatArray]:
        """(timestamps, values) of `metric` at the grid times t (multiples of `step_s`) with
        end - history_s < t <= end, oldest first; times without a finite value are left out,
        so no data gives two empty arrays.

        A Prometheus metric gives its query's value. A Resource metric gives the utilisation
        in percent of the pods' mean request (the caller's current requests): the average over
        the pods alive at each time, or with `total` the sum over them. The sum does not move
        when the scaler changes the replica count, which makes it the better quantity to
        forecast once the scaler is active. The pods are those matching `pods_regex` (pass
        one that covers the workload's earlier pods too, e.g. all pod-template hashes of a
        Deployment); by default, the current pods. Without pods or requests there is no
        utilisation, hence no data.

        A range longer than Prometheus's 11,000 points per query is read in balanced chunks
        (14 days at 60 s: two queries); a chunk refused as too big is split and retried.
        Raises `MetricsError` (`MultipleSeriesError` when a time has several values).
        """
        step = check_step(step_s)
        if not history_s >= step:
            raise ValueError(f"history ({history_s!r} s) must be at least one step ({step:g} s)")
        if metric.prometheus is not None:
            query, scale = metric.prometheus.query, 1.0
        else:
            assert metric.resource is not None
            resource = metric.resource.name
            requests = [pod.request(resource) for pod in pods]
            present = [request for request in requests if request is not None]
            if not present or len(present) < len(requests):
                return _EMPTY.copy(), _EMPTY.copy()
            regex = pods_regex if pods_regex is not None else pod_regex(p.name for p in pods)
            per_pod = resource_query(self.config, resource, namespace, regex, self.cpu_window_s)
            query = f"{'sum' if total else 'avg'}({per_pod})"
            scale = 100.0 / (sum(present) / len(present))
        last = math.floor(end / step) * step
        first = last - (math.floor(history_s / step) - 1) * step
        answer: list[Series] = []
        for chunk in plan_range(first, last + step, step, self.config.max_points_per_series):
            answer.extend(self._range(query, chunk))
        timestamps, values = self._one_value_per_time(query, answer)
        keep = np.isfinite(values)
        return timestamps[keep], values[keep] * scale

    def _range(self, query: str, chunk: Chunk) -> list[Series]:
        try:
            return self.client.range(query, chunk.first, chunk.last, chunk.step_s)
        except QueryError as error:
            if not (error.too_many_samples or error.too_many_points) or chunk.points < 2:
                raise
            head, tail = chunk.split()
            return self._range(query, head) + self._range(query, tail)

    def _one_value_per_time(
        self, query: str, answer: Sequence[Series]
    ) -> tuple[FloatArray, FloatArray]:
        """The answer's points in time order. Several series are accepted as long as they
        never overlap (one value per time, as the instant read requires): an unaggregated
        query over a single pod that was replaced changes series without being ambiguous."""
        if not answer:
            return _EMPTY.copy(), _EMPTY.copy()
        timestamps = np.concatenate([series.timestamps for series in answer])
        values = np.concatenate([series.values for series in answer])
        order = np.argsort(timestamps, kind="stable")
        timestamps, values = timestamps[order], values[order]
        if timestamps.size > 1:
            same = timestamps[1:] == timestamps[:-1]
            if same.any():
                _, counts = np.unique(timestamps, return_counts=True)
                raise MultipleSeriesError(self.client.url, query, int(counts.max()))
        return timestamps, values


__all__ = [
    "DEFAULT_CPU_WINDOW_S",
    "DEFAULT_HISTORY_S",
    "DEFAULT_HISTORY_STEP_S",
    "MetricFailure",
    "MultipleSeriesError",
    "ScalingMetricsReader",
    "TargetPod",
    "pod_regex",
    "resource_query",
]
