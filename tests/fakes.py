"""Fakes of Trimtab's ports for unit and component tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from trimtab.api.common import TargetRef
from trimtab.api.horizontal import MetricSpec
from trimtab.horizontal.algorithm import (
    PodUsage,
    PrometheusReading,
    Reading,
    ResourceReading,
    metric_name,
)
from trimtab.kube.scale import Scale, ScaleError
from trimtab.metrics.batch import ContainerKey, DropCounts, OomKill, Samples, UsageBatch
from trimtab.metrics.errors import MetricsUnavailable
from trimtab.metrics.promql import Selection
from trimtab.metrics.scaling import MetricFailure, TargetPod
from trimtab.recommender.checkpoint import Checkpoint

STEP = 60.0


@dataclass
class FakeUsageSource:
    """Usage of one Deployment's pods: `cpu` cores and `memory` bytes at every minute."""

    keys: tuple[ContainerKey, ...]
    cpu: float = 0.5
    memory: float = 300e6
    reads: list[tuple[str, float, float]] = field(default_factory=list)
    failing: bool = False
    kills: list[OomKill] = field(default_factory=list)

    @property
    def queries_sent(self) -> int:
        return 2 * len(self.reads)

    def read(self, selections: Selection, start: float, end: float) -> UsageBatch:
        if self.failing:
            raise MetricsUnavailable("http://prometheus.test", "connection refused")
        self.reads.append((selections.namespace, start, end))
        times = np.arange(np.ceil(start / STEP) * STEP, end, STEP)
        index = np.repeat(np.arange(len(self.keys)), times.size)
        stamps = np.tile(times, len(self.keys))
        return UsageBatch(
            keys=self.keys,
            cpu=Samples(index, stamps, np.full(stamps.size, self.cpu)),
            memory=Samples(index.copy(), stamps.copy(), np.full(stamps.size, self.memory)),
            start=float(times[0]) if times.size else start,
            end=float(times[-1] + STEP) if times.size else start,
            step_s=STEP,
            dropped=DropCounts(),
            queries=2,
        )

    def oom_kills(self, selections: Selection, start: float, end: float) -> list[OomKill]:
        return [k for k in self.kills if start <= k.timestamp < end]


@dataclass
class MemoryCheckpoints:
    saved: dict[tuple[str, str], Checkpoint] = field(default_factory=dict)

    def load(self, namespace: str, scaler: str) -> Checkpoint | None:
        return self.saved.get((namespace, scaler))

    def save(self, namespace: str, scaler: str, owner_uid: str, checkpoint: Checkpoint) -> None:
        self.saved[(namespace, scaler)] = checkpoint


@dataclass
class FakeScalingMetrics:
    """The horizontal scaler's metrics port with values set by the test.

    ``values`` maps a metric's name (the resource name or the query) to its value: the
    query's value for a Prometheus metric, the utilisation in percent of every pod for a
    Resource metric. ``failures`` makes a metric fail; ``histories`` is what ``history`` gives.
    """

    values: dict[str, float | None] = field(default_factory=dict)
    failures: dict[str, MetricFailure] = field(default_factory=dict)
    histories: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    reads: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    history_calls: list[tuple[str, str | None, bool]] = field(default_factory=list)

    def read(
        self, namespace: str, pods: Sequence[TargetPod], metrics: Sequence[MetricSpec], at: float
    ) -> list[Reading]:
        self.reads.append((namespace, tuple(pod.name for pod in pods)))
        return [self._reading(pods, metric) for metric in metrics]

    def _reading(self, pods: Sequence[TargetPod], metric: MetricSpec) -> Reading:
        name = metric_name(metric)
        if name in self.failures:
            return self.failures[name]
        value = self.values.get(name)
        if metric.resource is None:
            return PrometheusReading(value)
        resource = metric.resource.name
        return ResourceReading(
            tuple(
                PodUsage(
                    None if value is None else value / 100 * (pod.request(resource) or 0.0),
                    pod.request(resource) or 0.0,
                    pod.state,
                )
                for pod in pods
            )
        )

    def history(
        self,
        namespace: str,
        pods: Sequence[TargetPod],
        metric: MetricSpec,
        end: float,
        *,
        history_s: float = 14 * 86_400.0,
        step_s: float = 60.0,
        pods_regex: str | None = None,
        total: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        name = metric_name(metric)
        self.history_calls.append((name, pods_regex, total))
        if name not in self.histories:
            raise MetricsUnavailable("http://prometheus.test", "connection refused")
        timestamps, values = self.histories[name]
        keep = (timestamps <= end) & (timestamps > end - history_s)
        return timestamps[keep], values[keep]


@dataclass
class FakeScaleTargets:
    """Scale subresources kept in a dict, with the patches recorded and failures injected."""

    scales: dict[tuple[str, str], Scale] = field(default_factory=dict)
    errors: dict[str, ScaleError] = field(default_factory=dict)
    patch_errors: list[ScaleError] = field(default_factory=list)
    patches: list[tuple[str, str, int]] = field(default_factory=list)

    def get(self, namespace: str, target: TargetRef) -> Scale:
        if target.name in self.errors:
            raise self.errors[target.name]
        return self.scales[(namespace, target.name)]

    def patch(self, namespace: str, target: TargetRef, replicas: int) -> Scale:
        if self.patch_errors:
            raise self.patch_errors.pop(0)
        self.patches.append((namespace, target.name, replicas))
        old = self.scales[(namespace, target.name)]
        new = Scale(replicas, old.status_replicas, old.selector)
        self.scales[(namespace, target.name)] = new
        return new
