"""Fakes of Trimtab's ports for unit and component tests."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from trimtab.metrics.batch import ContainerKey, DropCounts, OomKill, Samples, UsageBatch
from trimtab.metrics.errors import MetricsUnavailable
from trimtab.metrics.promql import Selection
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
