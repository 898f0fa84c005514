"""What the usage reader hands to the recommender: samples as flat numpy arrays.

The recommender's core folds (container index, value, weight, timestamp) arrays in one
vectorised pass, so a batch is exactly that, minus the weight (the recommender's business):
per metric an `index` into the batch's `keys` table, `timestamps` and `values`. Samples of
one container sit in runs, in time order (as Prometheus answers series by series), which the
core's run-based group reductions exploit. The key table is per batch (a few hundred tuples),
so batches are self-contained; `UsageBatch.concat` re-indexes when joining them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import NamedTuple, Self

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IndexArray = NDArray[np.int64]


class WorkloadContainer(NamedTuple):
    """A container of a workload: what a recommendation is made for."""

    namespace: str
    workload_kind: str
    workload_name: str
    container: str


class ContainerKey(NamedTuple):
    """One container of one pod, with the workload the pod belongs to."""

    namespace: str
    workload_kind: str
    workload_name: str
    container: str
    pod: str

    @property
    def workload_container(self) -> WorkloadContainer:
        return WorkloadContainer(
            self.namespace, self.workload_kind, self.workload_name, self.container
        )


@dataclass(frozen=True, eq=False)
class Samples:
    """Samples of one metric: `values[i]` of container `keys[index[i]]` at `timestamps[i]`."""

    index: IndexArray
    timestamps: FloatArray
    values: FloatArray

    def __post_init__(self) -> None:
        if not (self.index.shape == self.timestamps.shape == self.values.shape):
            raise ValueError("index, timestamps and values must have the same length")

    def __len__(self) -> int:
        return int(self.values.shape[0])

    @classmethod
    def empty(cls) -> Self:
        return cls(
            np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64), np.zeros(0, np.float64)
        )

    @classmethod
    def concat(cls, parts: Sequence[Samples], remaps: Sequence[IndexArray]) -> Self:
        """Join `parts`, mapping each part's indices through its `remaps` entry."""
        if not parts:
            return cls.empty()
        return cls(
            np.concatenate([remap[part.index] for part, remap in zip(parts, remaps, strict=True)]),
            np.concatenate([part.timestamps for part in parts]),
            np.concatenate([part.values for part in parts]),
        )


@dataclass(frozen=True)
class DropCounts:
    """Garbage from Prometheus that was dropped, never folded.

    Value problems count samples; label problems count series (in Prometheus an empty label
    and a missing one are the same thing, so a series without a container name is cAdvisor's
    pod-level cgroup and counts as `pod_level`).
    """

    nan: int = 0
    infinite: int = 0
    negative: int = 0
    missing_labels: int = 0
    pod_level: int = 0

    def __add__(self, other: DropCounts) -> DropCounts:
        return DropCounts(
            *(getattr(self, item.name) + getattr(other, item.name) for item in fields(self))
        )

    def __bool__(self) -> bool:
        return any(getattr(self, item.name) for item in fields(self))

    def describe(self) -> str:
        """One line for the log, e.g. `dropped 3 NaN, 1 infinite samples; 2 pod-level series`."""
        samples = [
            f"{count} {what}"
            for count, what in (
                (self.nan, "NaN"),
                (self.infinite, "infinite"),
                (self.negative, "negative"),
            )
            if count
        ]
        series = [
            f"{count} {what}"
            for count, what in (
                (self.missing_labels, "missing namespace/pod labels"),
                (self.pod_level, "pod-level"),
            )
            if count
        ]
        parts = []
        if samples:
            parts.append(", ".join(samples) + " samples")
        if series:
            parts.append(", ".join(series) + " series")
        return "dropped " + "; ".join(parts) if parts else "dropped nothing"


@dataclass(frozen=True, eq=False)
class UsageBatch:
    """CPU (cores) and memory working set (bytes) per container, for the grid times
    `start`, `start + step_s`, ... before `end`.

    Not every container has a sample at every time: irate needs two scrapes, pods come and
    go, scrapes go missing. `queries` is the number of Prometheus queries this batch cost.
    """

    keys: tuple[ContainerKey, ...]
    cpu: Samples
    memory: Samples
    start: float
    end: float
    step_s: float
    dropped: DropCounts
    queries: int

    @property
    def last_timestamp(self) -> float | None:
        """Latest sample time in the batch (None when it holds no sample)."""
        latest = [float(part.timestamps.max()) for part in (self.cpu, self.memory) if len(part)]
        return max(latest) if latest else None

    @property
    def last_evaluated(self) -> float:
        """The last grid time this batch covered: pass it to `read_since` to continue."""
        return self.end - self.step_s

    @classmethod
    def concat(cls, batches: Sequence[UsageBatch]) -> UsageBatch:
        """One batch from consecutive or parallel batches (other namespaces, later chunks)."""
        if not batches:
            raise ValueError("nothing to concatenate")
        steps = {batch.step_s for batch in batches}
        if len(steps) != 1:
            raise ValueError(f"batches with different steps {sorted(steps)}")
        positions: dict[ContainerKey, int] = {}
        remaps = []
        for batch in batches:
            remap = [positions.setdefault(key, len(positions)) for key in batch.keys]
            remaps.append(np.asarray(remap, dtype=np.int64))
        dropped = DropCounts()
        for batch in batches:
            dropped = dropped + batch.dropped
        return cls(
            keys=tuple(positions),
            cpu=Samples.concat([batch.cpu for batch in batches], remaps),
            memory=Samples.concat([batch.memory for batch in batches], remaps),
            start=min(batch.start for batch in batches),
            end=max(batch.end for batch in batches),
            step_s=steps.pop(),
            dropped=dropped,
            queries=sum(batch.queries for batch in batches),
        )


class OomKill(NamedTuple):
    """`kills` OOM kills of a container in the step that ended at `timestamp`."""

    key: ContainerKey
    timestamp: float
    kills: int

    @property
    def namespace(self) -> str:
        return self.key.namespace

    @property
    def pod(self) -> str:
        return self.key.pod

    @property
    def container(self) -> str:
        return self.key.container


class ContainerRequests(NamedTuple):
    """Current requests of a workload's container (None where none is set)."""

    cpu_cores: float | None
    memory_bytes: float | None
