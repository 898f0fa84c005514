"""VerticalScaler: right-sized CPU and memory requests for the containers of one workload."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from trimtab.api.common import (
    ApiModel,
    CpuMemory,
    StatusBase,
    TargetRef,
    cel_rules,
)
from trimtab.api.rules import cel_quantity_order, check_quantity_order

ResourceName = Literal["cpu", "memory"]


def _both_resources() -> list[ResourceName]:
    return ["cpu", "memory"]


class UpdateMode(StrEnum):
    """How recommendations reach the pods."""

    OFF = "Off"
    INITIAL = "Initial"
    RECREATE = "Recreate"
    IN_PLACE_OR_RECREATE = "InPlaceOrRecreate"


class UpdatePolicy(ApiModel):
    """When and how pods are updated with the recommendation."""

    mode: UpdateMode = UpdateMode.OFF
    """Off: recommend only. Initial: set requests when pods are created. Recreate: also evict
    pods whose requests are off. InPlaceOrRecreate: resize in place where the cluster can,
    evict otherwise. The default is Off, so nothing is disrupted until asked."""
    min_replicas: int = Field(default=2, ge=1)
    """Never update a workload that would have fewer than this many pods running."""
    eviction_tolerance: float = Field(default=0.5, gt=0, le=1)
    """Share of the replicas that may be updating at once (at least one pod)."""
    dry_run: bool = False
    """Log and emit Events for what would be done, and do nothing else."""
    max_updates_per_minute: float = Field(default=10.0, gt=0, le=1000)
    """Evictions and resizes per minute for this workload (a burst of at most as many); the
    operator's global limit applies as well."""
    allow_cpu_with_horizontal_scaling: bool = False
    """Update CPU requests even when a HorizontalScaler or HorizontalPodAutoscaler scales the
    same workload on CPU utilisation. Off by default: the two would chase each other, since
    utilisation is measured against the request this scaler changes."""


class ContainerPolicy(ApiModel):
    """Limits and switches for one container, or for all with containerName `*`."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            cel_quantity_order("minAllowed.cpu", "maxAllowed.cpu"),
            cel_quantity_order("minAllowed.memory", "maxAllowed.memory"),
        )
    )

    container_name: str = Field(min_length=1)
    """Container name, or `*` for every container without a policy of its own."""
    mode: Literal["Auto", "Off"] = "Auto"
    """Off leaves this container's requests alone."""
    min_allowed: CpuMemory | None = None
    """The recommendation is never below this."""
    max_allowed: CpuMemory | None = None
    """The recommendation is never above this."""
    controlled_resources: list[ResourceName] = Field(default_factory=_both_resources)
    """Resources whose requests Trimtab sets."""
    controlled_values: Literal["RequestsAndLimits", "RequestsOnly"] = "RequestsAndLimits"
    """RequestsAndLimits scales limits with requests, keeping their ratio; RequestsOnly leaves
    limits alone and keeps requests at or below them."""

    @model_validator(mode="after")
    def _min_not_above_max(self) -> ContainerPolicy:
        low, high = self.min_allowed or CpuMemory(), self.max_allowed or CpuMemory()
        for resource in ("cpu", "memory"):
            check_quantity_order(
                getattr(low, resource),
                getattr(high, resource),
                f"minAllowed.{resource}",
                f"maxAllowed.{resource}",
            )
        return self


class ResourcePolicy(ApiModel):
    """Per-container policies."""

    container_policies: list[ContainerPolicy] = Field(default_factory=list, max_length=64)
    """One entry per container name (or `*`)."""


class VerticalScalerSpec(ApiModel):
    """What a VerticalScaler declares."""

    target_ref: TargetRef
    """The workload whose containers get recommendations."""
    profile: str = Field(default="default", min_length=1)
    """Name of the RecommenderProfile that computes the recommendations."""
    update_policy: UpdatePolicy = Field(default_factory=UpdatePolicy)
    """How recommendations are applied."""
    resource_policy: ResourcePolicy = Field(default_factory=ResourcePolicy)
    """Per-container limits and switches."""


class ContainerRecommendation(ApiModel):
    """The recommended requests for one container."""

    model_config = ConfigDict(extra="ignore")

    container_name: str
    """The container."""
    target: CpuMemory
    """The requests to set, after the policy's caps."""
    lower_bound: CpuMemory | None = None
    """Below this the container is short of resources."""
    upper_bound: CpuMemory | None = None
    """Above this the container wastes resources."""
    uncapped_target: CpuMemory | None = None
    """The target before minAllowed/maxAllowed were applied."""
    history_seconds: int | None = Field(default=None, ge=0)
    """How much usage history the recommendation rests on."""
    sample_count: int | None = Field(default=None, ge=0)
    """How many usage samples it rests on."""


class VerticalScalerStatus(StatusBase):
    """What the operator reports for a VerticalScaler."""

    recommendations: list[ContainerRecommendation] = Field(default_factory=list)
    """One entry per container of the target."""
    last_update_time: str | None = None
    """When a pod was last updated (RFC 3339)."""
    evictions: int = Field(default=0, ge=0)
    """Pods evicted to apply recommendations."""
    resizes: int = Field(default=0, ge=0)
    """Pods resized in place."""
    pods_to_update: int | None = Field(default=None, ge=0)
    """Pods whose requests are off the recommendation, at the updater's last pass."""
