"""Recommendation strategies behind one small interface, configured by a RecommenderProfile.

A strategy decides what usage state to keep (``new_state``) and how to turn it into
recommendations for a batch of containers (``recommend``); the service that feeds samples
and writes status does not need to know which one it holds:

* ``vpa``: the VPA recommender. Decaying histograms (24 h half-life), bucket-end percentiles
  p50 / p90 / p95 times 1.15, the upper and lower bounds widened for young histories, per-pod
  floors, OOM bumps, rounding and caps. Decay, not the history window, ages samples; the window
  is how much history the metrics port loads at start-up.
* ``percentile``: KRR-like. CPU is the profile's CPU percentiles over the window of raw samples
  (no decay: half-lives are ignored) times (1 + margin); memory target and upper bound are the
  window's highest sample times (1 + memory margin), the lower bound the memory lower
  percentile times the same (the memory target and upper percentiles are not used). No
  confidence widening: the window is what it is. Floors, rounding and caps as for ``vpa``.
  Samples are pooled across a workload's pods, as VPA does; KRR takes the largest per-pod
  value, which can only be higher.
* ``adaptive``: per container, the cheapest of a family of moving-window models, scored on the
  container's own history (see ``adaptive``, which builds on this module).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from trimtab.api.profile import RecommenderProfileSpec, ResourceEstimator
from trimtab.api.profile import Strategy as StrategyName
from trimtab.durations import parse_duration
from trimtab.quantity import cores, to_bytes
from trimtab.recommender.arrays import IntArray
from trimtab.recommender.estimators import (
    LOWER_CONFIDENCE,
    UPPER_CONFIDENCE,
    Caps,
    Finishing,
    Recommendation,
    Resources,
    confidence,
    pod_floors,
    with_confidence,
    with_margin,
)
from trimtab.recommender.states import PercentileState, UsageState, VpaState


@dataclass(frozen=True)
class ContainerContext:
    """What the workloads add to the usage: pod shapes and the VerticalScaler's caps."""

    containers_per_pod: IntArray
    """Containers in the pod of each row; the per-pod floors are split among them."""
    caps: Caps
    """minAllowed / maxAllowed per row."""

    @classmethod
    def single(cls, containers: int) -> ContainerContext:
        """One container per pod and no caps, for ``containers`` rows."""
        return cls(np.ones(containers, dtype=np.int64), Caps.none(containers))


class Strategy(Protocol):
    """Turns usage history into recommendations for a batch of containers."""

    @property
    def name(self) -> str:
        """The profile's strategy name."""

    def new_state(self, containers: int) -> UsageState:
        """An empty state this strategy can recommend from."""

    def restore_state(self, data: bytes) -> UsageState:
        """A state saved with ``to_bytes``."""

    def recommend(
        self, state: UsageState, context: ContainerContext | None = None, now: float | None = None
    ) -> Recommendation:
        """Recommendations for every row of ``state``; ``now`` ends the window (if any)."""


@dataclass(frozen=True)
class Percentiles:
    """Lower, target and upper percentiles and the margin of one resource."""

    lower: float
    target: float
    upper: float
    margin: float

    @classmethod
    def of(cls, estimator: ResourceEstimator) -> Percentiles:
        return cls(
            estimator.lower_percentile,
            estimator.target_percentile,
            estimator.upper_percentile,
            estimator.margin,
        )

    def as_tuple(self) -> tuple[float, float, float]:
        return (self.lower, self.target, self.upper)


@dataclass(frozen=True)
class Shared:
    """Settings both strategies use: floors, rounding, OOM bump and the window."""

    pod_cpu: float
    pod_memory: float
    cpu_step: float
    memory_step: float
    oom_minimum: float
    oom_ratio: float
    window: float

    @classmethod
    def of(cls, profile: RecommenderProfileSpec) -> Shared:
        return cls(
            pod_cpu=cores(profile.pod_minimum.cpu),
            pod_memory=float(to_bytes(profile.pod_minimum.memory)),
            cpu_step=cores(profile.rounding.cpu),
            memory_step=float(to_bytes(profile.rounding.memory)),
            oom_minimum=float(to_bytes(profile.oom_bump.minimum)),
            oom_ratio=profile.oom_bump.ratio,
            window=parse_duration(profile.history_window),
        )

    def finishing(self, context: ContainerContext) -> Finishing:
        floor = pod_floors(context.containers_per_pod, self.pod_cpu, self.pod_memory)
        return Finishing(floor, self.cpu_step, self.memory_step, context.caps)


def resolve_context(state: UsageState, context: ContainerContext | None) -> ContainerContext:
    """``context``, or one container per pod without caps; it must cover every row."""
    resolved = ContainerContext.single(state.containers) if context is None else context
    if resolved.containers_per_pod.size != state.containers:
        raise ValueError("the context must describe every container of the state")
    return resolved


@dataclass(frozen=True)
class VpaStrategy:
    """The VPA recommender's estimates (see the module doc)."""

    cpu: Percentiles
    memory: Percentiles
    cpu_half_life: float
    memory_half_life: float
    memory_interval: float
    shared: Shared
    name: str = StrategyName.VPA.value

    def new_state(self, containers: int) -> VpaState:
        """Empty decaying histograms for ``containers`` rows."""
        return VpaState.empty(
            containers,
            cpu_half_life=self.cpu_half_life,
            memory_half_life=self.memory_half_life,
            memory_interval=self.memory_interval,
            oom_minimum=self.shared.oom_minimum,
            oom_ratio=self.shared.oom_ratio,
        )

    def restore_state(self, data: bytes) -> VpaState:
        """A VPA state from its checkpoint bytes."""
        return VpaState.from_bytes(data)

    def recommend(
        self, state: UsageState, context: ContainerContext | None = None, now: float | None = None
    ) -> Recommendation:
        """percentile -> margin -> confidence -> floors -> rounding -> caps."""
        if not isinstance(state, VpaState):
            raise TypeError(f"the vpa strategy cannot read a {type(state).__name__}")
        cpu = state.cpu.percentiles(self.cpu.as_tuple())
        memory = state.memory.percentiles(self.memory.as_tuple())
        lower, target, upper = (
            with_margin(Resources(cpu[i], memory[i]), self.cpu.margin, self.memory.margin)
            for i in range(3)
        )
        days = confidence(state.cpu.history_span(), state.cpu.sample_count)
        lower = with_confidence(lower, days, *LOWER_CONFIDENCE)
        upper = with_confidence(upper, days, *UPPER_CONFIDENCE)
        finishing = self.shared.finishing(resolve_context(state, context))
        return finishing.finish(
            target, lower, upper, state.cpu.history_span(), state.cpu.sample_count
        )


@dataclass(frozen=True)
class PercentileStrategy:
    """KRR-like estimates over a sliding window (see the module doc)."""

    cpu: Percentiles
    memory: Percentiles
    shared: Shared
    name: str = StrategyName.PERCENTILE.value

    def new_state(self, containers: int) -> PercentileState:
        """Empty sliding windows for ``containers`` rows."""
        return PercentileState.empty(
            containers,
            window=self.shared.window,
            oom_minimum=self.shared.oom_minimum,
            oom_ratio=self.shared.oom_ratio,
        )

    def restore_state(self, data: bytes) -> PercentileState:
        """A percentile state from its checkpoint bytes."""
        return PercentileState.from_bytes(data)

    def recommend(
        self, state: UsageState, context: ContainerContext | None = None, now: float | None = None
    ) -> Recommendation:
        """CPU percentiles and memory maximum over the window, margins, floors, caps."""
        if not isinstance(state, PercentileState):
            raise TypeError(f"the percentile strategy cannot read a {type(state).__name__}")
        cpu = state.cpu.percentiles(self.cpu.as_tuple(), now)
        highest = state.memory.window_max(now)
        lowest = state.memory.percentiles([self.memory.lower], now)[0]
        margins = (self.cpu.margin, self.memory.margin)
        lower = with_margin(Resources(cpu[0], lowest), *margins)
        target = with_margin(Resources(cpu[1], highest), *margins)
        upper = with_margin(Resources(cpu[2], highest), *margins)
        finishing = self.shared.finishing(resolve_context(state, context))
        return finishing.finish(
            target, lower, upper, state.cpu.history_span(), state.cpu.sample_count
        )


def strategy_for(profile: RecommenderProfileSpec) -> Strategy:
    """The strategy a profile asks for, with its percentiles, margins, decay and floors."""
    if profile.strategy == StrategyName.ADAPTIVE:
        # Imported here: the adaptive package builds on Shared and ContainerContext above.
        from trimtab.recommender.adaptive import adaptive_strategy

        return adaptive_strategy(profile)
    shared = Shared.of(profile)
    cpu, memory = Percentiles.of(profile.cpu), Percentiles.of(profile.memory)
    if profile.strategy == StrategyName.PERCENTILE:
        return PercentileStrategy(cpu=cpu, memory=memory, shared=shared)
    return VpaStrategy(
        cpu=cpu,
        memory=memory,
        cpu_half_life=parse_duration(profile.cpu.half_life),
        memory_half_life=parse_duration(profile.memory.half_life),
        memory_interval=parse_duration(profile.memory_aggregation_interval),
        shared=shared,
    )


def recommend_once(
    profile: RecommenderProfileSpec,
    cpu: tuple[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike],
    memory: tuple[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike],
    containers: int,
    context: ContainerContext | None = None,
) -> Recommendation:
    """Fold (containers, values, timestamps) CPU and memory samples into a fresh state and
    recommend: the offline path (``trimtab recommend``) and a handy reference in tests."""
    strategy = strategy_for(profile)
    state = strategy.new_state(containers)
    state.add_cpu(*cpu)
    state.add_memory(*memory)
    return strategy.recommend(state, context)
