"""The adaptive strategy's settings: its model families and its cost, in plain units.

The profile speaks in durations, GiB and lists; the core works in seconds, bytes and sorted
tuples, and keeps the settings in every state (and its checkpoint), so a state always reads
its models the way it built them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from trimtab.api.profile import RecommenderProfileSpec
from trimtab.durations import parse_duration
from trimtab.recommender.arrays import SECONDS_PER_DAY, IntArray
from trimtab.recommender.strategies import Shared

GIB = 2.0**30
CHUNK_CELLS = 1 << 20
"""Intervals x rows x buckets folded at once: bounds each temporary of a fold to 8 MiB."""
CHUNK_INTERVALS = 256
"""Intervals folded at once at most, so decayed cost sums stay well inside float range."""


@dataclass(frozen=True)
class AdaptiveSettings:
    """The model families and their cost, in seconds, cores and bytes (see the package doc)."""

    interval: float
    half_lives: tuple[float, ...]
    percentiles: tuple[float, ...]
    margins: tuple[float, ...]
    memory_windows: tuple[float, ...]
    memory_margins: tuple[float, ...]
    recent_peak: float
    """Memory is never below the peak of this long (the memory aggregation interval)..."""
    memory_margin: float
    """... times (1 + this)."""
    overrun_weight: float
    slack_weight: float
    """Per core-sample."""
    memory_overrun_weight: float
    memory_slack_weight: float
    """Per byte-sample."""
    change_weight: float
    increase_band: float
    decrease_band: float
    switch_margin: float
    scoring_half_life: float
    oom_minimum: float
    oom_ratio: float
    oom_margin: float
    """Margin on the OOM floor: the profile's memory margin, as VPA applies it."""
    vpa_like: tuple[float, float, float, float]
    """(half-life, percentile, margin, memory margin) the first models are nearest to."""

    @classmethod
    def of(cls, profile: RecommenderProfileSpec) -> AdaptiveSettings:
        """The settings a profile declares: its ``adaptive`` block and what it shares."""
        block = profile.adaptive
        shared = Shared.of(profile)
        return cls(
            interval=parse_duration(block.scoring_interval),
            half_lives=tuple(sorted(parse_duration(h) for h in block.half_lives)),
            percentiles=tuple(sorted(block.cpu_percentiles)),
            margins=tuple(sorted(block.margins)),
            memory_windows=tuple(sorted(parse_duration(w) for w in block.memory_windows)),
            memory_margins=tuple(sorted(block.memory_margins)),
            recent_peak=parse_duration(profile.memory_aggregation_interval),
            memory_margin=block.memory_margin,
            overrun_weight=block.overrun_weight,
            slack_weight=block.slack_weight,
            memory_overrun_weight=block.memory_overrun_weight,
            memory_slack_weight=block.memory_slack_weight / GIB,
            change_weight=block.change_weight,
            increase_band=block.increase_band,
            decrease_band=block.decrease_band,
            switch_margin=block.switch_margin,
            scoring_half_life=parse_duration(block.scoring_half_life),
            oom_minimum=shared.oom_minimum,
            oom_ratio=shared.oom_ratio,
            oom_margin=profile.memory.margin,
            vpa_like=(
                parse_duration(profile.cpu.half_life),
                profile.cpu.target_percentile,
                profile.cpu.margin,
                profile.memory.margin,
            ),
        )

    @property
    def family(self) -> tuple[Any, ...]:
        """What shapes a state: states of one family can take each other's weights."""
        return (
            self.interval,
            self.half_lives,
            self.percentiles,
            self.margins,
            self.memory_windows,
            self.memory_margins,
            self.recent_peak,
        )

    def cpu_model(self, index: IntArray) -> tuple[IntArray, IntArray, IntArray]:
        """(half-life, percentile, margin) indices of CPU models, numbered in that order."""
        inner = len(self.percentiles) * len(self.margins)
        return (
            index // inner,
            (index // len(self.margins)) % len(self.percentiles),
            index % len(self.margins),
        )

    def memory_model(self, index: IntArray) -> tuple[IntArray, IntArray]:
        """(window, margin) indices of memory models, numbered in that order."""
        return index // len(self.memory_margins), index % len(self.memory_margins)

    def first_models(self) -> tuple[int, int]:
        """The CPU model nearest to VPA's half-life, percentile and margin (each on its own),
        and the memory model of the longest window with the margin nearest to VPA's."""
        half_life, percentile, margin, memory_margin = self.vpa_like

        def nearest(values: tuple[float, ...], wanted: float) -> int:
            return int(np.argmin([abs(v - wanted) for v in values]))

        h = int(np.argmin([abs(math.log(x / half_life)) for x in self.half_lives]))
        p = nearest(self.percentiles, percentile)
        m = nearest(self.margins, margin)
        cpu = (h * len(self.percentiles) + p) * len(self.margins) + m
        window = len(self.memory_windows) - 1
        memory = window * len(self.memory_margins) + nearest(self.memory_margins, memory_margin)
        return cpu, memory

    @property
    def window_slots(self) -> tuple[int, ...]:
        """Ring slots each memory window reads, then the recent-peak window: the open interval
        and enough closed ones to reach a whole window back from its start, so the peak of the
        same hour yesterday is in a one-day window."""
        lengths = (*self.memory_windows, self.recent_peak)
        return tuple(max(1, math.ceil(w / self.interval - 1e-9)) + 1 for w in lengths)

    @property
    def ring_slots(self) -> int:
        """Per-interval memory maxima kept: the longest window and one more."""
        return max(self.window_slots) + 1

    @property
    def warm_up(self) -> int:
        """Scored intervals before a container may leave its first model: one day's."""
        return max(1, math.ceil(SECONDS_PER_DAY / self.interval - 1e-9))

    def decay(self, periods: int) -> float:
        """How much a cost keeps over ``periods`` intervals."""
        return float(np.exp2(-periods * self.interval / self.scoring_half_life))

    def to_meta(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> AdaptiveSettings:
        values: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in meta.items()
        }
        return cls(**values)
