"""The adaptive state and strategy: what the service, checkpoints, the offline report and the
replay harness see (the ``UsageState`` and ``Strategy`` protocols).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from trimtab.api.profile import RecommenderProfileSpec
from trimtab.api.profile import Strategy as StrategyName
from trimtab.recommender import codec
from trimtab.recommender.adaptive.cpu import CpuModels
from trimtab.recommender.adaptive.memory import MemoryModels
from trimtab.recommender.adaptive.settings import AdaptiveSettings
from trimtab.recommender.arrays import FloatArray, IntArray, as_floats, as_indices, same_length
from trimtab.recommender.buckets import MEMORY_LAYOUT
from trimtab.recommender.estimators import (
    LOWER_CONFIDENCE,
    UPPER_CONFIDENCE,
    Recommendation,
    Resources,
    confidence,
    with_confidence,
)
from trimtab.recommender.states import UsageState
from trimtab.recommender.strategies import ContainerContext, Shared, resolve_context

_KIND = "adaptive-state"


@dataclass(eq=False)
class AdaptiveState:
    """CPU and memory model families of a batch of containers (see the package doc)."""

    settings: AdaptiveSettings
    cpu: CpuModels
    memory: MemoryModels

    @classmethod
    def empty(cls, containers: int, settings: AdaptiveSettings) -> AdaptiveState:
        return cls(
            settings,
            CpuModels.empty(containers, settings),
            MemoryModels.empty(containers, settings),
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
        """Count CPU samples in their scoring intervals (weights as VPA's, default 1)."""
        rows = as_indices(containers, self.containers, "containers")
        vals, times = as_floats(values, "values"), as_floats(timestamps, "timestamps")
        sample_weights = None if weights is None else as_floats(weights, "weights")
        same_length(
            "add_cpu", rows, vals, times, vals if sample_weights is None else sample_weights
        )
        return self.cpu.fold(rows, vals, times, sample_weights)

    def add_cpu_grid(
        self,
        containers: npt.ArrayLike,
        timestamps: npt.ArrayLike,
        values: npt.ArrayLike,
        weights: npt.ArrayLike | None = None,
    ) -> int:
        """Count a (containers x timestamps) CPU matrix, NaN where missing."""
        rows, times, matrix = self._grid(containers, timestamps, values)
        sample_weights = None if weights is None else np.asarray(weights, dtype=np.float64)
        if sample_weights is not None and sample_weights.shape != matrix.shape:
            raise ValueError("weights must have the shape of values")
        return self.cpu.fold_grid(rows, times, matrix, sample_weights)

    def add_memory(
        self,
        containers: npt.ArrayLike,
        values: npt.ArrayLike,
        timestamps: npt.ArrayLike,
        series: npt.ArrayLike | None = None,
    ) -> int:
        """Keep memory peaks per interval, pooled over the row's pods (``series`` unused)."""
        rows = as_indices(containers, self.containers, "containers")
        vals, times = as_floats(values, "values"), as_floats(timestamps, "timestamps")
        same_length("add_memory", rows, vals, times)
        return self.memory.fold(rows, vals, times)

    def add_memory_grid(
        self,
        containers: npt.ArrayLike,
        timestamps: npt.ArrayLike,
        values: npt.ArrayLike,
        series: npt.ArrayLike | None = None,
    ) -> int:
        """Keep the peaks of a (series x timestamps) memory matrix, NaN where missing."""
        rows, times, matrix = self._grid(containers, timestamps, values)
        return self.memory.fold_grid(rows, times, matrix)

    def add_oom(
        self,
        containers: npt.ArrayLike,
        timestamps: npt.ArrayLike,
        requests: npt.ArrayLike,
        series: npt.ArrayLike | None = None,
    ) -> int:
        """Record OOM kills: ``max(request, recent peak) + max(minimum, ratio x that)``."""
        rows = as_indices(containers, self.containers, "containers")
        times, asked = as_floats(timestamps, "timestamps"), as_floats(requests, "requests")
        same_length("add_oom", rows, times, asked)
        return self.memory.add_oom(rows, times, asked)

    def _grid(
        self, containers: npt.ArrayLike, timestamps: npt.ArrayLike, values: npt.ArrayLike
    ) -> tuple[IntArray, FloatArray, FloatArray]:
        rows = as_indices(containers, self.containers, "containers")
        times = as_floats(timestamps, "timestamps")
        matrix = np.asarray(values, dtype=np.float64)
        if matrix.shape != (rows.size, times.size):
            raise ValueError(f"values must have shape {(rows.size, times.size)}")
        if not (np.isfinite(times).all() and (np.diff(times) > 0).all()):
            raise ValueError("timestamps must be finite and strictly increasing")
        return rows, times, matrix

    def adopt(self, settings: AdaptiveSettings) -> None:
        """Take another profile's weights and margins; the family must be the same."""
        if settings.family != self.settings.family:
            raise ValueError("a state can only take the settings of its own model family")
        self.settings = self.cpu.settings = self.memory.settings = settings
        self.cpu.scores.first, self.memory.scores.first = settings.first_models()

    def _arrays(self) -> dict[str, npt.NDArray[Any]]:
        parts = {f"cpu.{k}": v for k, v in self.cpu.arrays().items()}
        parts.update({f"memory.{k}": v for k, v in self.memory.arrays().items()})
        return parts

    def _clocks(self) -> list[list[int]]:
        return [
            [self.cpu.open_period, self.cpu.closed_period],
            [self.memory.open_period, self.memory.closed_period],
        ]

    def to_bytes(self) -> bytes:
        """Settings, interval clocks and every array in one envelope."""
        meta = {"settings": self.settings.to_meta(), "clocks": self._clocks()}
        return codec.pack(_KIND, meta, self._arrays())

    @classmethod
    def from_bytes(cls, data: bytes) -> AdaptiveState:
        """Restore what ``to_bytes`` wrote, bit for bit."""
        meta, parts = codec.unpack(data, _KIND)
        settings = AdaptiveSettings.from_meta(meta["settings"])
        cpu_clock, memory_clock = meta["clocks"]

        def part(prefix: str) -> dict[str, npt.NDArray[Any]]:
            return {k.removeprefix(prefix): v for k, v in parts.items() if k.startswith(prefix)}

        return cls(
            settings,
            CpuModels.from_arrays(settings, part("cpu."), cpu_clock),
            MemoryModels.from_arrays(settings, part("memory."), memory_clock),
        )

    def equals(self, other: AdaptiveState) -> bool:
        """Exact equality of the settings, the clocks, the histograms and every array."""
        mine, theirs = self._arrays(), other._arrays()
        return (
            self.settings == other.settings
            and self._clocks() == other._clocks()
            and mine.keys() == theirs.keys()
            and all(
                np.array_equal(a, theirs[k], equal_nan=a.dtype.kind == "f") for k, a in mine.items()
            )
        )


@dataclass(frozen=True)
class AdaptiveStrategy:
    """Per container the cheapest of a family of moving-window models (see the package doc)."""

    settings: AdaptiveSettings
    shared: Shared
    name: str = StrategyName.ADAPTIVE.value

    @classmethod
    def of(cls, profile: RecommenderProfileSpec) -> AdaptiveStrategy:
        """The adaptive strategy a profile declares."""
        return cls(AdaptiveSettings.of(profile), Shared.of(profile))

    def new_state(self, containers: int) -> AdaptiveState:
        """Empty model families for ``containers`` rows."""
        return AdaptiveState.empty(containers, self.settings)

    def restore_state(self, data: bytes) -> AdaptiveState:
        """A state from its checkpoint; of the same family, it takes this profile's weights."""
        state = AdaptiveState.from_bytes(data)
        if state.settings.family == self.settings.family:
            state.adopt(self.settings)
        return state

    def recommend(
        self, state: UsageState, context: ContainerContext | None = None, now: float | None = None
    ) -> Recommendation:
        """The chosen models' values (the open interval included), bounds, confidence, floors,
        rounding, caps. ``now`` is not needed: windows end with the newest interval."""
        if not isinstance(state, AdaptiveState):
            raise TypeError(f"the adaptive strategy cannot read a {type(state).__name__}")
        cpu_target, cpu_lower, cpu_upper = cpu_estimates(state.cpu)
        memory_target, memory_lower, memory_upper = memory_estimates(state.memory)
        span, count = state.cpu.history()
        days = confidence(span, count)
        target = Resources(cpu_target, memory_target)
        lower = with_confidence(Resources(cpu_lower, memory_lower), days, *LOWER_CONFIDENCE)
        upper = with_confidence(Resources(cpu_upper, memory_upper), days, *UPPER_CONFIDENCE)
        finishing = self.shared.finishing(resolve_context(state, context))
        return finishing.finish(target, lower, upper, span, count)


def cpu_estimates(cpu: CpuModels) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Target from the chosen model; the bounds are the band the scoring moved requests by."""
    settings = cpu.settings
    rows = np.arange(cpu.rows)
    h, p, m = settings.cpu_model(cpu.scores.chosen())
    found = cpu.percentiles(rows, settings.percentiles, with_open=True)[rows, h, p]
    target = np.nan_to_num(found * (1.0 + np.asarray(settings.margins)[m]))
    lower = target / (1.0 + settings.increase_band)
    upper = target * (1.0 + settings.decrease_band)
    return target, lower, upper


def memory_estimates(memory: MemoryModels) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Target from the chosen model, never below the recent peak nor, after an OOM, below the
    OOM floor. The lower bound is the recent peak plus memoryMargin (closer than that, the
    request must grow), the upper the target plus the decrease band."""
    settings = memory.settings
    rows = np.arange(memory.rows)
    maxima = memory.window_maxima(rows)
    target = memory.model_values(maxima)[rows, memory.scores.chosen()]
    oom = np.where(memory.oom_active(), memory.oom_level, 0.0)
    highest = np.fmax(oom, np.fmax.reduce(maxima, axis=1))
    floor = MEMORY_LAYOUT.ends[MEMORY_LAYOUT.bucket_of(np.nan_to_num(highest))]
    target = np.nan_to_num(
        np.where(oom > 0, np.fmax(target, floor * (1.0 + settings.oom_margin)), target)
    )
    lower = np.fmin(np.nan_to_num(maxima[:, -1]) * (1.0 + settings.memory_margin), target)
    return target, lower, target * (1.0 + settings.decrease_band)


def adaptive_strategy(profile: RecommenderProfileSpec) -> AdaptiveStrategy:
    """The adaptive strategy a profile declares."""
    return AdaptiveStrategy.of(profile)
