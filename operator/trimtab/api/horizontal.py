"""HorizontalScaler: replica counts from resource utilisation or any PromQL, HPA-compatible.

Defaults follow the HPA: scale down on the highest recommendation of the last 300 s, at most
100 % per 15 s; scale up immediately, by at most max(100 %, 4 pods) per 15 s.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from trimtab.api.common import (
    ApiModel,
    Duration,
    Quantity,
    StatusBase,
    TargetRef,
    cel_rule,
    cel_rules,
)
from trimtab.api.rules import FieldError, cel_number_order, check_number_order

ZERO_NEEDS_ACTIVATION = (
    "minReplicas 0 needs a Prometheus metric with an activationThreshold, "
    "the only signal that can wake the workload from zero"
)


class ResourceMetric(ApiModel):
    """Utilisation of a resource (usage over request) averaged over the ready pods."""

    name: Literal["cpu", "memory"]
    """The resource."""
    target_average_utilization: int = Field(ge=1, le=1000)
    """Target utilisation in percent of the request."""


class PrometheusMetric(ApiModel):
    """Any PromQL query returning one value, KEDA style."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            cel_rule(
                "has(self.targetValue) != has(self.targetAverageValue)",
                "set exactly one of targetValue and targetAverageValue",
                ".targetValue",
            )
        )
    )

    query: str = Field(min_length=1)
    """The PromQL query; it must return a single sample."""
    target_value: Quantity | None = None
    """Scale so that the value equals this (value / target * current replicas)."""
    target_average_value: Quantity | None = None
    """Scale so that the value per replica equals this (value / target replicas)."""
    activation_threshold: Quantity | None = None
    """Below this the workload may scale to zero (needs minReplicas 0)."""
    treat_empty_as_zero: bool = False
    """An empty result counts as 0 instead of an error."""

    @model_validator(mode="after")
    def _one_target(self) -> PrometheusMetric:
        if (self.target_value is None) == (self.target_average_value is None):
            raise FieldError("targetValue", "set exactly one of targetValue and targetAverageValue")
        return self


class MetricSpec(ApiModel):
    """One metric to scale on; the largest desired replica count of all metrics wins."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            cel_rule(
                "self.type == 'Resource' ? has(self.resource) && !has(self.prometheus)"
                " : has(self.prometheus) && !has(self.resource)",
                "type Resource needs the resource field, type Prometheus the prometheus field",
            )
        )
    )

    type: Literal["Resource", "Prometheus"]
    """Which of the fields below is set."""
    resource: ResourceMetric | None = None
    """For type Resource."""
    prometheus: PrometheusMetric | None = None
    """For type Prometheus."""

    @model_validator(mode="after")
    def _field_matches_type(self) -> MetricSpec:
        wanted = "resource" if self.type == "Resource" else "prometheus"
        other = "prometheus" if wanted == "resource" else "resource"
        if getattr(self, wanted) is None or getattr(self, other) is not None:
            raise FieldError(wanted, f"type {self.type} needs {wanted} set and {other} unset")
        return self


class ScalingPolicy(ApiModel):
    """At most `value` pods (or percent of current replicas) per `periodSeconds`."""

    type: Literal["Pods", "Percent"]
    """Pods or Percent."""
    value: int = Field(ge=1)
    """How many pods, or what percent."""
    period_seconds: int = Field(ge=1, le=1800)
    """The period the limit applies to."""


class ScalingRules(ApiModel):
    """Stabilisation and rate limits for one direction."""

    stabilization_window_seconds: int | None = Field(default=None, ge=0, le=3600)
    """Use the most conservative recommendation of this window (default 0 up, 300 down)."""
    select_policy: Literal["Max", "Min", "Disabled"] = "Max"
    """Which policy wins when several apply; Disabled forbids this direction."""
    policies: list[ScalingPolicy] | None = None
    """Rate limits; HPA's defaults when left out."""


class Behavior(ApiModel):
    """Scaling behaviour per direction."""

    scale_up: ScalingRules | None = None
    """Rules when adding replicas."""
    scale_down: ScalingRules | None = None
    """Rules when removing replicas."""


class Predictive(ApiModel):
    """Forecast the metrics from their own history and scale ahead of the load."""

    enabled: bool = False
    """Opt in to predictive scaling."""
    lead_time: Duration = "10m"
    """How far ahead to forecast (roughly how long a new replica takes to serve)."""
    history: Duration = "14d"
    """History used to fit the seasonal model (two weeks for a weekly period)."""


class Fallback(ApiModel):
    """What to do when metrics cannot be read."""

    failure_threshold: int = Field(default=3, ge=1)
    """Failed reads in a row before falling back."""
    replicas: int | None = Field(default=None, ge=0)
    """Replica count while metrics are failing; hold the current count when unset."""


class HorizontalScalerSpec(ApiModel):
    """What a HorizontalScaler declares."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            cel_number_order("minReplicas", "maxReplicas"),
            cel_rule(
                "!has(self.minReplicas) || self.minReplicas > 0 || self.metrics.exists(m,"
                " has(m.prometheus) && has(m.prometheus.activationThreshold))",
                ZERO_NEEDS_ACTIVATION,
                ".minReplicas",
            ),
        )
    )

    scale_target_ref: TargetRef
    """The workload to scale; it must have a scale subresource."""
    min_replicas: int = Field(default=1, ge=0)
    """Never fewer replicas (0 needs an activation threshold on a Prometheus metric)."""
    max_replicas: int = Field(ge=1)
    """Never more replicas."""
    metrics: list[MetricSpec] = Field(min_length=1, max_length=16)
    """The metrics to scale on."""
    behavior: Behavior = Field(default_factory=Behavior)
    """Stabilisation windows and rate limits."""
    predictive: Predictive = Field(default_factory=Predictive)
    """Look-ahead scaling from history."""
    fallback: Fallback = Field(default_factory=Fallback)
    """Behaviour when metrics fail."""
    poll_interval: Duration = "15s"
    """How often replicas are recomputed."""

    @model_validator(mode="after")
    def _min_not_above_max(self) -> HorizontalScalerSpec:
        check_number_order(self.min_replicas, self.max_replicas, "minReplicas", "maxReplicas")
        return self

    @model_validator(mode="after")
    def _zero_needs_activation(self) -> HorizontalScalerSpec:
        # Without a threshold nothing could ever wake the workload again: at zero replicas
        # there are no pods to measure and no activity to compare with.
        if self.min_replicas == 0 and not any(
            metric.prometheus is not None and metric.prometheus.activation_threshold is not None
            for metric in self.metrics
        ):
            raise FieldError("minReplicas", ZERO_NEEDS_ACTIVATION)
        return self


class MetricValue(ApiModel):
    """The last value read for one metric."""

    model_config = ConfigDict(extra="ignore")

    name: str
    """The metric (resource name or query)."""
    value: Quantity | None = None
    """The value read."""
    target: Quantity | None = None
    """The target it is compared with."""
    forecast: Quantity | None = None
    """The forecast `leadTime` ahead, when predictive."""


class RecommendationRecord(ApiModel):
    """A replica count the metrics asked for, kept for the stabilisation windows."""

    model_config = ConfigDict(extra="ignore")

    time: float
    """When (unix seconds)."""
    replicas: int
    """The count asked for, before stabilisation and rate limits."""


class ScaleRecord(ApiModel):
    """A change of the replica count, kept for the rate limits of the policies."""

    model_config = ConfigDict(extra="ignore")

    time: float
    """When (unix seconds)."""
    change: int
    """Replicas added (positive) or removed (negative)."""


class FailureCount(ApiModel):
    """Failed reads in a row of one metric, for the fallback."""

    model_config = ConfigDict(extra="ignore")

    metric: str
    """The metric (resource name or query)."""
    count: int
    """Failed reads in a row."""


class ScalerMemoryStatus(ApiModel):
    """What the scaler must remember between syncs. It lives in the status so that a restart
    or a new leader keeps the stabilisation windows and the rate limits."""

    model_config = ConfigDict(extra="ignore")

    recommendations: list[RecommendationRecord] = Field(default_factory=list)
    """Recent recommendations, the newest of each count within the longest window."""
    scale_events: list[ScaleRecord] = Field(default_factory=list)
    """Recent changes of the replica count, within the longest policy period."""
    failures: list[FailureCount] = Field(default_factory=list)
    """Metrics that are failing, with their failed reads in a row."""
    last_active: float | None = None
    """Last time a metric was above its activation threshold (unix seconds)."""


class HorizontalScalerStatus(StatusBase):
    """What the operator reports for a HorizontalScaler."""

    current_replicas: int | None = None
    """Replicas the target has."""
    desired_replicas: int | None = None
    """Replicas the operator wants."""
    current_metrics: list[MetricValue] = Field(default_factory=list)
    """Last values of the metrics."""
    decided_by: Literal["Reactive", "Predictive", "Fallback"] | None = None
    """Which mode decided the last count."""
    last_scale_time: str | None = None
    """When the replica count was last changed (RFC 3339)."""
    scaler_memory: ScalerMemoryStatus | None = None
    """The scaler's memory between syncs (recent recommendations, scale events, failing
    metrics); kept here so that a restart does not forget the stabilisation windows."""


__all__ = [
    "ZERO_NEEDS_ACTIVATION",
    "HorizontalScalerSpec",
    "HorizontalScalerStatus",
    "MetricSpec",
    "ScalerMemoryStatus",
]
