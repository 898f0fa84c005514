"""The list of Trimtab's kinds with everything the CRD and the handlers need to know of each."""

from __future__ import annotations

from dataclasses import dataclass, field

from trimtab.api.common import GROUP, VERSION, ApiModel, StatusBase
from trimtab.api.horizontal import HorizontalScalerSpec, HorizontalScalerStatus
from trimtab.api.nodes import (
    AWSNodeClassSpec,
    AWSNodeClassStatus,
    NodeClaimSpec,
    NodeClaimStatus,
    NodePoolSpec,
    NodePoolStatus,
    SimulatedNodeClassSpec,
    SimulatedNodeClassStatus,
)
from trimtab.api.profile import RecommenderProfileSpec, RecommenderProfileStatus
from trimtab.api.vertical import VerticalScalerSpec, VerticalScalerStatus


@dataclass(frozen=True)
class PrinterColumn:
    """A column of `kubectl get`."""

    name: str
    json_path: str
    type: str = "string"
    description: str = ""
    priority: int = 0


def _condition(type_: str) -> str:
    return f'.status.conditions[?(@.type=="{type_}")].status'


READY = PrinterColumn(
    "Ready", _condition("Ready"), description="Whether the object is valid and served"
)
AGE = PrinterColumn("Age", ".metadata.creationTimestamp", "date")


@dataclass(frozen=True)
class KindInfo:
    """One custom resource kind."""

    kind: str
    plural: str
    short_names: tuple[str, ...]
    namespaced: bool
    spec_model: type[ApiModel]
    status_model: type[StatusBase]
    description: str
    columns: tuple[PrinterColumn, ...] = field(default=())
    group: str = GROUP
    version: str = VERSION

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{self.group}"


KINDS: tuple[KindInfo, ...] = (
    KindInfo(
        kind="VerticalScaler",
        plural="verticalscalers",
        short_names=("vs", "vscaler"),
        namespaced=True,
        spec_model=VerticalScalerSpec,
        status_model=VerticalScalerStatus,
        description="Sets the CPU and memory requests of a workload's containers from their "
        "usage history.",
        columns=(
            PrinterColumn("Target", ".spec.targetRef.name"),
            PrinterColumn("Mode", ".spec.updatePolicy.mode"),
            PrinterColumn(
                "CPU",
                ".status.recommendations[0].target.cpu",
                description="CPU target of the first container",
            ),
            PrinterColumn(
                "Memory",
                ".status.recommendations[0].target.memory",
                description="Memory target of the first container",
            ),
            PrinterColumn(
                "Stale",
                ".status.podsToUpdate",
                "integer",
                description="Pods whose requests are off the recommendation",
            ),
            PrinterColumn("Evicted", ".status.evictions", "integer", priority=1),
            PrinterColumn("Resized", ".status.resizes", "integer", priority=1),
            READY,
            PrinterColumn("Provided", _condition("RecommendationProvided"), priority=1),
            PrinterColumn("Updated", _condition("PodsUpToDate"), priority=1),
            AGE,
        ),
    ),
    KindInfo(
        kind="RecommenderProfile",
        plural="recommenderprofiles",
        short_names=("rprof",),
        namespaced=False,
        spec_model=RecommenderProfileSpec,
        status_model=RecommenderProfileStatus,
        description="How recommendations are computed: strategy, percentiles, margins, "
        "half-lives, history window.",
        columns=(
            PrinterColumn("Strategy", ".spec.strategy"),
            PrinterColumn("CPU-Pct", ".spec.cpu.targetPercentile", "number"),
            PrinterColumn("Window", ".spec.historyWindow"),
            PrinterColumn(
                "Used-By",
                ".status.usedBy",
                priority=1,
                description="VerticalScalers that use this profile",
            ),
            READY,
            AGE,
        ),
    ),
    KindInfo(
        kind="HorizontalScaler",
        plural="horizontalscalers",
        short_names=("hs", "hscaler"),
        namespaced=True,
        spec_model=HorizontalScalerSpec,
        status_model=HorizontalScalerStatus,
        description="Sets a workload's replica count from resource utilisation or PromQL "
        "metrics, optionally ahead of time.",
        columns=(
            PrinterColumn("Target", ".spec.scaleTargetRef.name"),
            PrinterColumn("Min", ".spec.minReplicas", "integer"),
            PrinterColumn("Max", ".spec.maxReplicas", "integer"),
            PrinterColumn("Current", ".status.currentReplicas", "integer"),
            PrinterColumn("Desired", ".status.desiredReplicas", "integer"),
            READY,
            PrinterColumn(
                "Active",
                _condition("ScalingActive"),
                priority=1,
                description="Whether the metrics decide the replica count",
            ),
            PrinterColumn(
                "Decided-By",
                ".status.decidedBy",
                priority=1,
                description="Reactive, Predictive or Fallback",
            ),
            AGE,
        ),
    ),
    KindInfo(
        kind="NodePool",
        plural="nodepools",
        short_names=("np",),
        namespaced=False,
        spec_model=NodePoolSpec,
        status_model=NodePoolStatus,
        description="Which machines may be bought for pending pods, and when they are given back.",
        columns=(
            PrinterColumn("NodeClass", ".spec.template.nodeClassRef.name"),
            PrinterColumn("Nodes", ".status.nodes", "integer"),
            PrinterColumn("Weight", ".spec.weight", "integer", priority=1),
            READY,
            AGE,
        ),
    ),
    KindInfo(
        kind="NodeClaim",
        plural="nodeclaims",
        short_names=("nc",),
        namespaced=False,
        spec_model=NodeClaimSpec,
        status_model=NodeClaimStatus,
        description="One machine being bought from the cloud, and its Node once registered.",
        columns=(
            PrinterColumn("Type", ".status.instanceType"),
            PrinterColumn("Capacity", ".status.capacityType"),
            PrinterColumn("Zone", ".status.zone"),
            PrinterColumn("Node", ".status.nodeName"),
            READY,
            PrinterColumn("Price", ".status.price", "number", priority=1),
            AGE,
        ),
    ),
    KindInfo(
        kind="SimulatedNodeClass",
        plural="simulatednodeclasses",
        short_names=("simnc",),
        namespaced=False,
        spec_model=SimulatedNodeClassSpec,
        status_model=SimulatedNodeClassStatus,
        description="Settings of the simulated cloud provider used by the demo and tests.",
        columns=(
            PrinterColumn("Region", ".spec.region"),
            PrinterColumn("BootDelay", ".spec.bootDelay"),
            READY,
            AGE,
        ),
    ),
    KindInfo(
        kind="AWSNodeClass",
        plural="awsnodeclasses",
        short_names=("awsnc",),
        namespaced=False,
        spec_model=AWSNodeClassSpec,
        status_model=AWSNodeClassStatus,
        description="Settings of the AWS provider: region, subnets, security groups, AMI, tags.",
        columns=(
            PrinterColumn("Region", ".spec.region"),
            PrinterColumn("AMI", ".spec.amiId"),
            READY,
            AGE,
        ),
    ),
)


def kind_info(kind: str) -> KindInfo:
    """Look a kind up by name; the error lists the known kinds."""
    for info in KINDS:
        if info.kind == kind:
            return info
    raise KeyError(f"unknown kind {kind!r}; Trimtab's kinds are {[i.kind for i in KINDS]}")
