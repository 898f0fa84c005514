"""RecommenderProfile: how recommendations are computed, tuned by platform teams.

The defaults reproduce the VPA recommender (see ALGORITHMS in the design notes): p90 target,
p50 and p95 bounds, a 15 % margin, 24 h half-life, 8 days of history, per-pod floors of 25m and
250Mi, and an OOM bump of max(100Mi, 20 %). The `adaptive` block only matters for
`strategy: adaptive` (see ``recommender.adaptive``).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field, model_validator

from trimtab.api.common import ApiModel, Duration, Quantity, StatusBase, cel_rule, cel_rules
from trimtab.api.rules import FieldError, cel_number_order, check_number_order
from trimtab.durations import parse_duration


class Strategy(StrEnum):
    """The estimator family."""

    VPA = "vpa"
    PERCENTILE = "percentile"
    ADAPTIVE = "adaptive"


class ResourceEstimator(ApiModel):
    """Percentiles, margin and decay for one resource."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            cel_number_order("lowerPercentile", "targetPercentile"),
            cel_number_order("targetPercentile", "upperPercentile"),
        )
    )

    target_percentile: float = Field(default=0.9, gt=0, le=1)
    """Percentile of the usage distribution used as the target."""
    lower_percentile: float = Field(default=0.5, gt=0, le=1)
    """Percentile used as the lower bound."""
    upper_percentile: float = Field(default=0.95, gt=0, le=1)
    """Percentile used as the upper bound."""
    margin: float = Field(default=0.15, ge=0, le=10)
    """Safety margin multiplied onto every estimate (0.15 adds 15 %)."""
    half_life: Duration = "24h"
    """Samples lose half their weight per half-life, so recent usage counts more."""

    @model_validator(mode="after")
    def _percentiles_in_order(self) -> ResourceEstimator:
        check_number_order(
            self.lower_percentile, self.target_percentile, "lowerPercentile", "targetPercentile"
        )
        check_number_order(
            self.target_percentile, self.upper_percentile, "targetPercentile", "upperPercentile"
        )
        if parse_duration(self.half_life) <= 0:
            raise FieldError("halfLife", f"{self.half_life} must be longer than zero")
        return self


class OomBump(ApiModel):
    """Memory added after an OOM kill: the sample becomes max(request, peak) plus the larger
    of minimum and ratio times it."""

    minimum: Quantity = "100Mi"
    """At least this much is added."""
    ratio: float = Field(default=0.2, ge=0, le=10)
    """Share of the memory added."""


class PodMinimum(ApiModel):
    """Floors per pod, split evenly among its containers."""

    cpu: Quantity = "25m"
    """CPU floor per pod."""
    memory: Quantity = "250Mi"
    """Memory floor per pod."""


class Rounding(ApiModel):
    """Recommendations are rounded up to a multiple of these, so they read well and move less."""

    cpu: Quantity = "1m"
    """CPU step."""
    memory: Quantity = "1Mi"
    """Memory step."""


MAX_ADAPTIVE_MODELS = 64
"""Models per resource: each costs a little at every scoring interval."""

Fraction = Annotated[float, Field(gt=0, le=1)]
Margin = Annotated[float, Field(ge=0, le=10)]


def _unique(values: Sequence[object], name: str) -> None:
    if len(set(values)) != len(values):
        raise FieldError(name, f"{list(values)} lists a value twice")


class AdaptiveSettings(ApiModel):
    """The model family of the adaptive strategy and the cost it picks a model by.

    Each container keeps a family of moving-window models. Every scoring interval each model is
    charged what it would have cost had it been in charge, with its request moved by the same
    rules the bounds give the updater, in one unit: a sample (minute) of CPU usage above its
    request costs overrunWeight, a core-minute of CPU slack slackWeight, a GiB-minute of memory
    slack memorySlackWeight, an interval whose memory peak went above its request (an OOM kill
    when the limit is the request) memoryOverrunWeight, and each change of its request
    changeWeight. The cheapest model recommends; a container changes model only when another
    is cheaper by switchMargin. Slack is absolute: a core-minute wasted by a large container
    costs what it costs in a small one.
    """

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            cel_rule(
                "!has(self.halfLives) || !has(self.cpuPercentiles) || !has(self.margins) || "
                "size(self.halfLives) * size(self.cpuPercentiles) * size(self.margins) "
                f"<= {MAX_ADAPTIVE_MODELS}",
                f"halfLives x cpuPercentiles x margins must not exceed {MAX_ADAPTIVE_MODELS}",
                ".cpuPercentiles",
            ),
            cel_rule(
                "!has(self.memoryWindows) || !has(self.memoryMargins) || "
                f"size(self.memoryWindows) * size(self.memoryMargins) <= {MAX_ADAPTIVE_MODELS}",
                f"memoryWindows x memoryMargins must not exceed {MAX_ADAPTIVE_MODELS}",
                ".memoryMargins",
            ),
        )
    )

    overrun_weight: float = Field(default=1.0, ge=0, le=1e6)
    """Cost of one sample (a minute) of CPU usage above a model's request."""
    slack_weight: float = Field(default=0.125, gt=0, le=1e6)
    """Cost of one core-minute of CPU requested and not used (0.125: eight core-minutes of
    slack cost as much as one minute short)."""
    memory_overrun_weight: float = Field(default=30.0, ge=0, le=1e9)
    """Cost of one scoring interval in which memory usage went above a model's request: with
    the memory limit at the request that is an OOM kill."""
    memory_slack_weight: float = Field(default=0.1, gt=0, le=1e6)
    """Cost of one GiB-minute of memory requested and not used."""
    change_weight: float = Field(default=60.0, ge=0, le=1e6)
    """Cost of one change of a model's request (a restart of the workload's pods)."""
    increase_band: float = Field(default=0.1, gt=0, le=10)
    """A CPU target this much above the request is applied at once: the lower bound is
    target / (1 + increaseBand). Memory is raised when its recent peak plus memoryMargin
    passes the request."""
    decrease_band: float = Field(default=0.08, gt=0, le=10)
    """A target this much below the request is applied at once: the upper bound is
    target x (1 + decreaseBand). Models are scored as if their requests moved by these rules."""
    switch_margin: float = Field(default=0.05, ge=0, lt=1)
    """Hysteresis: a container changes model only when another model's cost is lower than
    the current one's by this share (0.05: 5 % cheaper)."""
    half_lives: list[Duration] = Field(default=["6h", "24h", "72h"], min_length=1, max_length=4)
    """Half-lives of the decaying CPU histograms: short ones follow changes, long ones hold
    steady. One histogram per half-life; the percentiles and margins are read from each."""
    cpu_percentiles: list[Fraction] = Field(
        default=[0.85, 0.9, 0.95, 0.99], min_length=1, max_length=8
    )
    """CPU percentiles the models recommend."""
    margins: list[Margin] = Field(default=[0.0, 0.1, 0.2], min_length=1, max_length=8)
    """CPU margins the models add (0.1 adds 10 %)."""
    memory_windows: list[Duration] = Field(default=["1d", "3d", "8d"], min_length=1, max_length=8)
    """Windows of the memory models: each recommends the highest usage of its last window
    plus a margin. None may be longer than historyWindow."""
    memory_margins: list[Margin] = Field(default=[0.05, 0.1, 0.2, 0.3], min_length=1, max_length=8)
    """Margins the memory models add to their window's peak."""
    memory_margin: Margin = 0.05
    """Memory never goes below the peak of the last memoryAggregationInterval plus this
    margin, whatever model is chosen."""
    scoring_half_life: Duration = "48h"
    """Half-life of the cost: the models' recent behaviour counts more."""
    scoring_interval: Duration = "1h"
    """How often the models are scored and read again (in sample time, so replayed history
    scores alike). Shorter is finer and costs more CPU."""

    @model_validator(mode="after")
    def _sane_family(self) -> AdaptiveSettings:
        _unique(self.half_lives, "halfLives")
        _unique(self.cpu_percentiles, "cpuPercentiles")
        _unique(self.margins, "margins")
        _unique(self.memory_windows, "memoryWindows")
        _unique(self.memory_margins, "memoryMargins")
        models = len(self.half_lives) * len(self.cpu_percentiles) * len(self.margins)
        if models > MAX_ADAPTIVE_MODELS:
            raise FieldError(
                "cpuPercentiles",
                f"halfLives x cpuPercentiles x margins makes {models} models, more than "
                f"{MAX_ADAPTIVE_MODELS}",
            )
        if len(self.memory_windows) * len(self.memory_margins) > MAX_ADAPTIVE_MODELS:
            raise FieldError(
                "memoryMargins",
                f"memoryWindows x memoryMargins makes more than {MAX_ADAPTIVE_MODELS} models",
            )
        interval = parse_duration(self.scoring_interval)
        if not 60 <= interval <= 86_400:
            raise FieldError("scoringInterval", f"{self.scoring_interval} must be 1m to 24h")
        if parse_duration(self.scoring_half_life) <= 0:
            raise FieldError("scoringHalfLife", f"{self.scoring_half_life} must be longer than 0")
        for name, durations in (
            ("halfLives", self.half_lives),
            ("memoryWindows", self.memory_windows),
        ):
            for index, duration in enumerate(durations):
                if parse_duration(duration) < interval:
                    raise FieldError(
                        f"{name}[{index}]",
                        f"{duration} must not be shorter than "
                        f"scoringInterval ({self.scoring_interval})",
                    )
        return self


class RecommenderProfileSpec(ApiModel):
    """What a RecommenderProfile declares."""

    strategy: Strategy = Strategy.VPA
    """vpa: decaying histograms as the VPA recommender; percentile: KRR-like, CPU percentile
    over the window and memory peak times (1 + margin); adaptive: per container, the best of
    a family of moving-window models, scored on the container's own history (set in `adaptive`)."""
    cpu: ResourceEstimator = Field(default_factory=ResourceEstimator)
    """How CPU is estimated."""
    memory: ResourceEstimator = Field(default_factory=ResourceEstimator)
    """How memory is estimated (from the peak of each aggregation interval)."""
    history_window: Duration = "8d"
    """How much history is considered."""
    sample_interval: Duration = "1m"
    """Resolution of CPU samples read from Prometheus."""
    memory_aggregation_interval: Duration = "24h"
    """Memory contributes one peak per container per interval."""
    oom_bump: OomBump = Field(default_factory=OomBump)
    """Memory bump after an OOM kill."""
    pod_minimum: PodMinimum = Field(default_factory=PodMinimum)
    """Floors per pod."""
    rounding: Rounding = Field(default_factory=Rounding)
    """Rounding of the recommendations."""
    adaptive: AdaptiveSettings = Field(default_factory=AdaptiveSettings)
    """Model family and cost of the adaptive strategy (ignored by the others)."""

    @model_validator(mode="after")
    def _window_holds_samples(self) -> RecommenderProfileSpec:
        interval = parse_duration(self.sample_interval)
        if interval <= 0:
            raise FieldError("sampleInterval", f"{self.sample_interval} must be longer than zero")
        window = parse_duration(self.history_window)
        if parse_duration(self.memory_aggregation_interval) > window:
            raise FieldError(
                "memoryAggregationInterval",
                f"{self.memory_aggregation_interval} must not be longer than "
                f"historyWindow ({self.history_window})",
            )
        if window < interval:
            raise FieldError(
                "historyWindow",
                f"{self.history_window} must not be shorter than "
                f"sampleInterval ({self.sample_interval})",
            )
        for index, memory_window in enumerate(self.adaptive.memory_windows):
            if parse_duration(memory_window) > window:
                raise FieldError(
                    f"adaptive.memoryWindows[{index}]",
                    f"{memory_window} must not be longer than "
                    f"historyWindow ({self.history_window})",
                )
        return self


class RecommenderProfileStatus(StatusBase):
    """What the operator reports for a RecommenderProfile."""

    used_by: list[str] = Field(default_factory=list)
    """VerticalScalers (namespace/name) that use this profile."""


__all__ = ["AdaptiveSettings", "RecommenderProfileSpec", "RecommenderProfileStatus", "Strategy"]
