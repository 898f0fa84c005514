"""What each strategy remembers about usage, behind one folding interface.

The service feeds samples to a state without knowing the strategy: ``add_cpu`` and
``add_memory`` (or the faster ``add_cpu_grid`` and ``add_memory_grid`` for a Prometheus
range-query matrix), and ``add_oom``. A state
serialises to bytes for checkpoints: a small envelope (see ``codec``) holding the parts' own
checkpoints, so each part keeps its compact format.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from trimtab.recommender import codec
from trimtab.recommender.arrays import FloatArray, as_floats, as_indices
from trimtab.recommender.buckets import CPU_LAYOUT, MEMORY_LAYOUT
from trimtab.recommender.estimators import oom_bump
from trimtab.recommender.histogram import MIN_SAMPLE_WEIGHT, HistogramBatch
from trimtab.recommender.peaks import PeakTracker
from trimtab.recommender.window import FINE_CPU_LAYOUT, WindowedHistogram


class UsageState(Protocol):
    """Usage history of a batch of containers, as a strategy keeps it."""

    @property
    def containers(self) -> int:
        """How many containers (rows) the state holds."""

    def add_cpu(
        self,
        containers: npt.ArrayLike,
        values: npt.ArrayLike,
        timestamps: npt.ArrayLike,
        weights: npt.ArrayLike | None = None,
    ) -> int:
        """Fold CPU samples in cores; returns how many were usable."""

    def add_cpu_grid(
        self,
        containers: npt.ArrayLike,
        timestamps: npt.ArrayLike,
        values: npt.ArrayLike,
        weights: npt.ArrayLike | None = None,
    ) -> int:
        """Fold a (containers x timestamps) matrix of CPU samples, NaN where missing."""

    def add_memory(
        self,
        containers: npt.ArrayLike,
        values: npt.ArrayLike,
        timestamps: npt.ArrayLike,
        series: npt.ArrayLike | None = None,
    ) -> int:
        """Fold memory samples in bytes; ``series`` names the pod container of each."""

    def add_memory_grid(
        self,
        containers: npt.ArrayLike,
        timestamps: npt.ArrayLike,
        values: npt.ArrayLike,
        series: npt.ArrayLike | None = None,
    ) -> int:
        """Fold a (series x timestamps) matrix of memory samples, NaN where missing."""

    def add_oom(
        self,
        containers: npt.ArrayLike,
        timestamps: npt.ArrayLike,
        requests: npt.ArrayLike,
        series: npt.ArrayLike | None = None,
    ) -> int:
        """Record OOM kills: each adds a bumped memory sample (see ``estimators.oom_bump``)."""

    def to_bytes(self) -> bytes:
        """The state as checkpoint bytes."""


def request_weights(cpu_requests: npt.ArrayLike) -> FloatArray:
    """VPA's CPU sample weights: the container's CPU request in cores, at least 0.1.

    Weighing by the request makes history gathered under a smaller request fade faster after
    the request grows. The design notes give every sample the same weight (the default when no
    weights are passed); callers that want VPA's exact weighting pass these.
    """
    weights: FloatArray = np.maximum(as_floats(cpu_requests, "cpu_requests"), MIN_SAMPLE_WEIGHT)
    return weights


def _blob(data: bytes) -> npt.NDArray[np.uint8]:
    return np.frombuffer(data, dtype=np.uint8)


@dataclass(eq=False)
class VpaState:
    """Decaying CPU and memory-peak histograms, as the VPA recommender keeps them."""

    cpu: HistogramBatch
    memory: HistogramBatch
    peaks: PeakTracker
    oom_minimum: float
    oom_ratio: float

    @classmethod
    def empty(
        cls,
        containers: int,
        *,
        cpu_half_life: float,
        memory_half_life: float,
        memory_interval: float,
        oom_minimum: float,
        oom_ratio: float,
    ) -> VpaState:
        """Empty histograms in VPA's layouts for ``containers`` containers."""
        return cls(
            cpu=HistogramBatch.empty(containers, CPU_LAYOUT, cpu_half_life),
            memory=HistogramBatch.empty(containers, MEMORY_LAYOUT, memory_half_life),
            peaks=PeakTracker.empty(memory_interval),
            oom_minimum=oom_minimum,
            oom_ratio=oom_ratio,
        )

    @property
    def containers(self) -> int:
        """How many containers (rows) the state holds."""
        return self.cpu.rows

    def add_cpu(
        self,
        containers: npt.ArrayLike,
        values: npt.ArrayLike,
        timestamps: npt.ArrayLike,
        weights: npt.ArrayLike | None = None,
    ) -> int:
        """Fold CPU samples into the decaying CPU histograms."""
        return self.cpu.add_samples(containers, values, weights, timestamps)

    def add_cpu_grid(
        self,
        containers: npt.ArrayLike,
        timestamps: npt.ArrayLike,
        values: npt.ArrayLike,
        weights: npt.ArrayLike | None = None,
    ) -> int:
        """Fold a CPU sample matrix into the decaying CPU histograms."""
        return self.cpu.add_grid(containers, timestamps, values, weights)

    def add_memory(
        self,
        containers: npt.ArrayLike,
        values: npt.ArrayLike,
        timestamps: npt.ArrayLike,
        series: npt.ArrayLike | None = None,
    ) -> int:
        """Fold memory samples as per-interval peaks."""
        return self.peaks.fold(self.memory, containers, values, timestamps, series)

    def add_memory_grid(
        self,
        containers: npt.ArrayLike,
        timestamps: npt.ArrayLike,
        values: npt.ArrayLike,
        series: npt.ArrayLike | None = None,
    ) -> int:
        """Fold a memory sample matrix as per-interval peaks."""
        return self.peaks.fold_grid(self.memory, containers, timestamps, values, series)

    def add_oom(
        self,
        containers: npt.ArrayLike,
        timestamps: npt.ArrayLike,
        requests: npt.ArrayLike,
        series: npt.ArrayLike | None = None,
    ) -> int:
        """Add ``max(request, usage peak) + max(minimum, ratio x that)`` as a memory peak."""
        rows = as_indices(containers, self.containers, "containers")
        ids = rows if series is None else series
        base = self.peaks.usage_peaks(ids)
        values = oom_bump(requests, base, self.oom_minimum, self.oom_ratio)
        oom = np.ones(rows.size, dtype=bool)
        return self.peaks.fold(self.memory, rows, values, timestamps, ids, oom)

    def to_bytes(self) -> bytes:
        """The three parts' checkpoints in one envelope."""
        parts = {
            "cpu": _blob(self.cpu.to_bytes()),
            "memory": _blob(self.memory.to_bytes()),
            "peaks": _blob(self.peaks.to_bytes()),
        }
        meta = {"oomMinimum": self.oom_minimum, "oomRatio": self.oom_ratio}
        return codec.pack("vpa-state", meta, parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> VpaState:
        """Restore what ``to_bytes`` wrote, bit for bit."""
        meta, parts = codec.unpack(data, "vpa-state")
        return cls(
            cpu=HistogramBatch.from_bytes(parts["cpu"].tobytes()),
            memory=HistogramBatch.from_bytes(parts["memory"].tobytes()),
            peaks=PeakTracker.from_bytes(parts["peaks"].tobytes()),
            oom_minimum=float(meta["oomMinimum"]),
            oom_ratio=float(meta["oomRatio"]),
        )

    def equals(self, other: VpaState) -> bool:
        """Exact equality of every part."""
        return (
            self.cpu.equals(other.cpu)
            and self.memory.equals(other.memory)
            and self.peaks.equals(other.peaks)
            and (self.oom_minimum, self.oom_ratio) == (other.oom_minimum, other.oom_ratio)
        )


@dataclass(eq=False)
class PercentileState:
    """Sliding-window CPU and memory histograms (no decay), for the KRR-like strategy."""

    cpu: WindowedHistogram
    memory: WindowedHistogram
    oom_minimum: float
    oom_ratio: float

    @classmethod
    def empty(
        cls, containers: int, *, window: float, oom_minimum: float, oom_ratio: float
    ) -> PercentileState:
        """Empty windows (1 % CPU buckets, VPA's memory buckets) for ``containers``."""
        return cls(
            cpu=WindowedHistogram.empty(containers, FINE_CPU_LAYOUT, window),
            memory=WindowedHistogram.empty(containers, MEMORY_LAYOUT, window),
            oom_minimum=oom_minimum,
            oom_ratio=oom_ratio,
        )

    @property
    def containers(self) -> int:
        """How many containers (rows) the state holds."""
        return self.cpu.rows

    def add_cpu(
        self,
        containers: npt.ArrayLike,
        values: npt.ArrayLike,
        timestamps: npt.ArrayLike,
        weights: npt.ArrayLike | None = None,
    ) -> int:
        """Count CPU samples in the window; weights are ignored (every sample counts once)."""
        return self.cpu.add_samples(containers, values, timestamps)

    def add_cpu_grid(
        self,
        containers: npt.ArrayLike,
        timestamps: npt.ArrayLike,
        values: npt.ArrayLike,
        weights: npt.ArrayLike | None = None,
    ) -> int:
        """Count a CPU sample matrix in the window (NaN entries are skipped)."""
        return self.cpu.add_grid(containers, timestamps, values)

    def add_memory(
        self,
        containers: npt.ArrayLike,
        values: npt.ArrayLike,
        timestamps: npt.ArrayLike,
        series: npt.ArrayLike | None = None,
    ) -> int:
        """Count memory samples in the window (pooled over pods: ``series`` is not needed)."""
        return self.memory.add_samples(containers, values, timestamps)

    def add_memory_grid(
        self,
        containers: npt.ArrayLike,
        timestamps: npt.ArrayLike,
        values: npt.ArrayLike,
        series: npt.ArrayLike | None = None,
    ) -> int:
        """Count a memory sample matrix in the window (NaN entries are skipped)."""
        return self.memory.add_grid(containers, timestamps, values)

    def add_oom(
        self,
        containers: npt.ArrayLike,
        timestamps: npt.ArrayLike,
        requests: npt.ArrayLike,
        series: npt.ArrayLike | None = None,
    ) -> int:
        """Add ``max(request, window max) + max(minimum, ratio x that)`` as a memory sample."""
        rows = as_indices(containers, self.containers, "containers")
        base = self.memory.window_max()[rows]
        values = oom_bump(requests, base, self.oom_minimum, self.oom_ratio)
        return self.memory.add_samples(rows, values, timestamps)

    def to_bytes(self) -> bytes:
        """Both windows' checkpoints in one envelope."""
        meta = {"oomMinimum": self.oom_minimum, "oomRatio": self.oom_ratio}
        parts = {"cpu": _blob(self.cpu.to_bytes()), "memory": _blob(self.memory.to_bytes())}
        return codec.pack("percentile-state", meta, parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> PercentileState:
        """Restore what ``to_bytes`` wrote, bit for bit."""
        meta, parts = codec.unpack(data, "percentile-state")
        return cls(
            cpu=WindowedHistogram.from_bytes(parts["cpu"].tobytes()),
            memory=WindowedHistogram.from_bytes(parts["memory"].tobytes()),
            oom_minimum=float(meta["oomMinimum"]),
            oom_ratio=float(meta["oomRatio"]),
        )

    def equals(self, other: PercentileState) -> bool:
        """Exact equality of both windows and the OOM settings."""
        return (
            self.cpu.equals(other.cpu)
            and self.memory.equals(other.memory)
            and (self.oom_minimum, self.oom_ratio) == (other.oom_minimum, other.oom_ratio)
        )
