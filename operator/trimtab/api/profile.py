"""RecommenderProfile: how recommendations are computed, tuned by platform teams.

The defaults reproduce the VPA recommender (see ALGORITHMS in the design notes): p90 target,
p50 and p95 bounds, a 15 % margin, 24 h half-life, 8 days of history, per-pod floors of 25m and
250Mi, and an OOM bump of max(100Mi, 20 %).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import ConfigDict, Field, model_validator

from trimtab.api.common import ApiModel, Duration, Quantity, StatusBase, cel_rules
from trimtab.api.rules import FieldError, cel_number_order, check_number_order
from trimtab.durations import parse_duration


class Strategy(StrEnum):
    """The estimator family."""

    VPA = "vpa"
    PERCENTILE = "percentile"


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


class RecommenderProfileSpec(ApiModel):
    """What a RecommenderProfile declares."""

    strategy: Strategy = Strategy.VPA
    """vpa: decaying histograms as the VPA recommender; percentile: KRR-like, CPU percentile
    over the window and memory peak times (1 + margin)."""
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
        return self


class RecommenderProfileStatus(StatusBase):
    """What the operator reports for a RecommenderProfile."""

    used_by: list[str] = Field(default_factory=list)
    """VerticalScalers (namespace/name) that use this profile."""


__all__ = ["RecommenderProfileSpec", "RecommenderProfileStatus", "Strategy"]
