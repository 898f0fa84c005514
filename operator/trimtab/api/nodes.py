"""NodePool and NodeClaim: which machines may be bought, and one machine being bought."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from trimtab.api.common import (
    ApiModel,
    Duration,
    DurationOrNever,
    ObjectReference,
    ResourceList,
    StatusBase,
    cel_rule,
    cel_rules,
)
from trimtab.api.rules import FieldError

LABEL_KEY_PATTERN = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"  # noqa: E501


class Requirement(ApiModel):
    """A node selector requirement on a well-known label, e.g. instance family or zone."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            cel_rule(
                "self.operator in ['In', 'NotIn'] ? has(self.values) && size(self.values) > 0"
                " : self.operator in ['Gt', 'Lt'] ? has(self.values) && size(self.values) == 1"
                " : !has(self.values) || size(self.values) == 0",
                "In/NotIn need values, Gt/Lt exactly one value, Exists/DoesNotExist none",
                ".values",
            )
        )
    )

    key: str = Field(pattern=LABEL_KEY_PATTERN, max_length=316)
    """The label, e.g. `node.kubernetes.io/instance-type` or `topology.kubernetes.io/zone`."""
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]
    """How the label's value is matched."""
    values: list[str] = Field(default_factory=list, max_length=500)
    """Values for In/NotIn; one integer for Gt/Lt."""

    @model_validator(mode="after")
    def _values_fit_operator(self) -> Requirement:
        count = len(self.values)
        if self.operator in ("In", "NotIn") and count == 0:
            raise FieldError("values", f"operator {self.operator} needs at least one value")
        integer = count == 1 and self.values[0].lstrip("-").isdigit()
        if self.operator in ("Gt", "Lt") and not integer:
            raise FieldError("values", f"operator {self.operator} needs exactly one integer")
        if self.operator in ("Exists", "DoesNotExist") and count:
            raise FieldError("values", f"operator {self.operator} takes no values")
        return self


class Taint(ApiModel):
    """A taint put on the nodes."""

    key: str = Field(pattern=LABEL_KEY_PATTERN, max_length=316)
    """The taint key."""
    value: str | None = None
    """The taint value."""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]
    """What the taint does to pods that do not tolerate it."""


class NodeClaimTemplate(ApiModel):
    """What every node of a pool gets."""

    labels: dict[str, str] = Field(default_factory=dict)
    """Labels put on the nodes."""
    requirements: list[Requirement] = Field(default_factory=list, max_length=100)
    """Constraints on instance type, family, capacity type, zone, architecture."""
    taints: list[Taint] = Field(default_factory=list)
    """Taints put on the nodes."""
    startup_taints: list[Taint] = Field(default_factory=list)
    """Taints present at boot that another agent removes; pods need not tolerate them."""
    node_class_ref: ObjectReference
    """The provider settings (SimulatedNodeClass or AWSNodeClass)."""
    expire_after: DurationOrNever = "720h"
    """Nodes are replaced after this age; Never keeps them."""


class Budget(ApiModel):
    """At most this many nodes of the pool disrupted at once."""

    nodes: str = Field(default="10%", pattern=r"^((100|[0-9]{1,2})%|[0-9]+)$")
    """A count or a percentage of the pool's nodes."""


class Disruption(ApiModel):
    """When nodes are given back."""

    consolidation_policy: Literal["WhenEmpty", "WhenEmptyOrUnderutilized"] = "WhenEmpty"
    """WhenEmpty removes nodes without workload pods; WhenEmptyOrUnderutilized also repacks."""
    consolidate_after: Duration = "30s"
    """How long a node must stay empty (or under-used) before it is removed."""
    budgets: list[Budget] = Field(default_factory=lambda: [Budget()])
    """Disruption budgets; the smallest applies."""


class NodePoolSpec(ApiModel):
    """What a NodePool declares."""

    template: NodeClaimTemplate
    """What the nodes of this pool look like."""
    disruption: Disruption = Field(default_factory=Disruption)
    """When nodes are removed."""
    limits: ResourceList = Field(default_factory=dict)
    """The pool never holds more than this much capacity (e.g. cpu: 1000)."""
    weight: int = Field(default=0, ge=0, le=100)
    """Pools with a higher weight are tried first."""


class NodePoolStatus(StatusBase):
    """What the operator reports for a NodePool."""

    nodes: int = Field(default=0, ge=0)
    """Nodes the pool holds."""
    resources: ResourceList = Field(default_factory=dict)
    """Capacity the pool holds."""


class NodeClaimSpec(ApiModel):
    """What a NodeClaim declares: the machine to buy."""

    requirements: list[Requirement] = Field(default_factory=list, max_length=100)
    """Constraints the instance must meet, including the allowed instance types."""
    resources: ResourceList = Field(default_factory=dict)
    """Resources requested by the pods the node is for."""
    taints: list[Taint] = Field(default_factory=list)
    """Taints for the node."""
    startup_taints: list[Taint] = Field(default_factory=list)
    """Taints removed once the node is initialised."""
    node_class_ref: ObjectReference
    """Provider settings."""
    expire_after: DurationOrNever = "720h"
    """The node is replaced after this age."""


class NodeClaimStatus(StatusBase):
    """What the operator reports for a NodeClaim."""

    provider_id: str | None = Field(default=None, alias="providerID")
    """The cloud's id of the instance (the Node's spec.providerID)."""
    node_name: str | None = None
    """The Node that registered for this claim."""
    instance_type: str | None = None
    """The instance type bought."""
    zone: str | None = None
    """The zone it runs in."""
    capacity_type: Literal["on-demand", "spot"] | None = None
    """How it is paid for."""
    price: float | None = Field(default=None, ge=0)
    """Price per hour in US dollars."""
    capacity: ResourceList = Field(default_factory=dict)
    """Resources of the machine."""
    allocatable: ResourceList = Field(default_factory=dict)
    """Resources left for pods after the system's reservations."""


class SimulatedNodeClassSpec(ApiModel):
    """Settings of the simulated provider, used by the demo, tests and benchmarks."""

    region: str = "us-east-1"
    """The catalog region whose instance types and prices are simulated."""
    zones: list[str] = Field(default_factory=list)
    """Zones to offer; all of the region's when empty."""
    boot_delay: Duration = "5s"
    """Time from launch until the Node registers."""
    launch_failure_rate: float = Field(default=0.0, ge=0, le=1)
    """Share of launches that fail, for fault injection."""
    insufficient_capacity: list[str] = Field(default_factory=list)
    """Offerings that answer 'insufficient capacity', as `type/zone/capacityType`."""


class SimulatedNodeClassStatus(StatusBase):
    """What the operator reports for a SimulatedNodeClass."""

    zones: list[str] = Field(default_factory=list)
    """Zones resolved."""


class SelectorTerm(ApiModel):
    """Finds cloud resources by id or by tags."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            cel_rule("has(self.id) != has(self.tags)", "set exactly one of id and tags", ".id")
        )
    )

    id: str | None = None
    """The resource id."""
    tags: dict[str, str] | None = None
    """Tags the resource must carry."""

    @model_validator(mode="after")
    def _id_or_tags(self) -> SelectorTerm:
        if (self.id is None) == (self.tags is None):
            raise FieldError("id", "set exactly one of id and tags")
        return self


class AWSNodeClassSpec(ApiModel):
    """Settings of the AWS provider."""

    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]$")
    """The AWS region, e.g. `us-east-1`."""
    subnet_selector_terms: list[SelectorTerm] = Field(min_length=1, max_length=32)
    """Subnets instances are launched into."""
    security_group_selector_terms: list[SelectorTerm] = Field(min_length=1, max_length=32)
    """Security groups attached to the instances."""
    ami_id: str = Field(pattern=r"^ami-[0-9a-f]+$")
    """The machine image."""
    instance_profile: str | None = None
    """IAM instance profile of the nodes."""
    user_data: str | None = None
    """User data passed to the instances (bootstrap of the kubelet)."""
    tags: dict[str, str] = Field(default_factory=dict)
    """Tags added to every resource Trimtab creates."""


class AWSNodeClassStatus(StatusBase):
    """What the operator reports for an AWSNodeClass."""

    subnets: list[str] = Field(default_factory=list)
    """Subnet ids resolved."""
    security_groups: list[str] = Field(default_factory=list)
    """Security group ids resolved."""
