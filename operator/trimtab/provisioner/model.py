"""The records the provisioner's simulation works on: plain values, no I/O.

Amounts are floats in base units: CPU in cores, memory in bytes, pods and extended resources
(e.g. ``nvidia.com/gpu``) in units. Prices are US dollars per hour.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Amounts = Mapping[str, float]
"""Resource name ("cpu", "memory", "pods", "nvidia.com/gpu", ...) to an amount."""
CapacityType = Literal["on-demand", "spot"]

# Well-known node labels the simulation matches requirements against.
INSTANCE_TYPE = "node.kubernetes.io/instance-type"
ARCH = "kubernetes.io/arch"
OS = "kubernetes.io/os"
ZONE = "topology.kubernetes.io/zone"
REGION = "topology.kubernetes.io/region"
HOSTNAME = "kubernetes.io/hostname"
CAPACITY_TYPE = "trimtab.dev/capacity-type"
INSTANCE_FAMILY = "trimtab.dev/instance-family"
INSTANCE_CATEGORY = "trimtab.dev/instance-category"
"""The family's letter class: c (compute), m (general), r (memory), t, g, p, ..."""
INSTANCE_GENERATION = "trimtab.dev/instance-generation"
INSTANCE_CPU = "trimtab.dev/instance-cpu"
INSTANCE_MEMORY = "trimtab.dev/instance-memory"
"""In MiB, as a string (Gt/Lt requirements compare integers)."""
NODE_POOL = "trimtab.dev/nodepool"
NAMESPACE_LABEL = "(namespace)"
"""A key no real label has (label keys cannot hold parentheses): pods' labels carry their
namespace under it, and so do the spread and anti-affinity selectors read from a pod, so that a
selector matches only the pods of the namespace it applies to, as in the scheduler."""


@dataclass(frozen=True)
class Offering:
    """One way to buy an instance type: a zone and a capacity type, at a price."""

    zone: str
    capacity_type: CapacityType
    price: float
    available: bool = True
    """False while the cloud answers "insufficient capacity" for it."""


@dataclass(frozen=True)
class InstanceType:
    """One machine type of the catalog."""

    name: str
    capacity: Amounts
    """cpu, memory, pods and any extended resources of the whole machine."""
    overhead: Amounts
    """What the system reserves (kube-reserved plus the eviction threshold): allocatable is
    capacity minus this, before DaemonSets."""
    labels: Mapping[str, str]
    """Well-known labels every node of this type carries (not zone or capacity type)."""
    offerings: tuple[Offering, ...] = ()

    @property
    def allocatable(self) -> dict[str, float]:
        """Capacity minus overhead, per resource."""
        return {r: v - self.overhead.get(r, 0.0) for r, v in self.capacity.items()}

    def cheapest(
        self, zones: frozenset[str] | None = None, capacity_types: frozenset[str] | None = None
    ) -> Offering | None:
        """The cheapest available offering within the given zones and capacity types."""
        fitting = [
            o
            for o in self.offerings
            if o.available
            and (zones is None or o.zone in zones)
            and (capacity_types is None or o.capacity_type in capacity_types)
        ]
        return min(fitting, key=lambda o: (o.price, o.zone, o.capacity_type), default=None)


@dataclass(frozen=True)
class Toleration:
    """A pod's toleration (Kubernetes semantics: empty key with Exists tolerates everything)."""

    key: str | None = None
    operator: Literal["Equal", "Exists"] = "Equal"
    value: str | None = None
    effect: str | None = None
    """None tolerates every effect."""


@dataclass(frozen=True)
class Taint:
    key: str
    value: str | None
    effect: str


@dataclass(frozen=True)
class LabelRequirement:
    """One node selector requirement (In, NotIn, Exists, DoesNotExist, Gt, Lt)."""

    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class TopologySpread:
    """A pod's topologySpreadConstraint with whenUnsatisfiable DoNotSchedule."""

    topology_key: str
    """ZONE or HOSTNAME (others are not simulated)."""
    max_skew: int
    selector: Mapping[str, str]
    """matchLabels of its labelSelector; pods whose labels include these are counted."""


@dataclass(frozen=True)
class PendingPod:
    """One pod that cannot be scheduled, as the simulation needs it."""

    namespace: str
    name: str
    uid: str
    requests: Amounts
    """Summed over its containers (init containers: the max rule), plus pods: 1."""
    labels: Mapping[str, str] = field(default_factory=dict)
    node_selector: Mapping[str, str] = field(default_factory=dict)
    required_affinity: tuple[tuple[LabelRequirement, ...], ...] = ()
    """nodeSelectorTerms of requiredDuringScheduling node affinity: OR of ANDed requirements."""
    tolerations: tuple[Toleration, ...] = ()
    spread: tuple[TopologySpread, ...] = ()
    anti_affinity: tuple[Mapping[str, str], ...] = ()
    """Required pod anti-affinity on HOSTNAME: matchLabels of pods it must not share a node with."""
    do_not_disrupt: bool = False


@dataclass(frozen=True)
class NodePoolView:
    """A NodePool as the simulation needs it."""

    name: str
    requirements: tuple[LabelRequirement, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    startup_taints: tuple[Taint, ...] = ()
    """Not matched against tolerations (they go away once the node is initialised)."""
    limits: Amounts = field(default_factory=dict)
    """Capacity the pool may hold in all; missing resources are unlimited."""
    in_use: Amounts = field(default_factory=dict)
    """Capacity of the pool's existing and in-flight nodes."""
    weight: int = 0


@dataclass(frozen=True)
class DaemonSetPod:
    """The pod a DaemonSet puts on every node it fits (its requests count as node overhead)."""

    name: str
    requests: Amounts
    node_selector: Mapping[str, str] = field(default_factory=dict)
    required_affinity: tuple[tuple[LabelRequirement, ...], ...] = ()
    tolerations: tuple[Toleration, ...] = ()


@dataclass(frozen=True)
class ExistingNode:
    """A node that exists, or is being launched (in flight), with room pods could use."""

    name: str
    labels: Mapping[str, str]
    taints: tuple[Taint, ...]
    allocatable: Amounts
    requested: Amounts
    """Summed requests of the pods already bound to it (DaemonSet pods included)."""
    pod_labels: tuple[Mapping[str, str], ...] = ()
    """Labels of its pods, for anti-affinity and hostname spread."""
    in_flight: bool = False
    repels: tuple[Mapping[str, str], ...] = ()
    """matchLabels of its pods' required anti-affinity on HOSTNAME: pods they match may not
    join them (the scheduler checks anti-affinity both ways)."""


@dataclass(frozen=True)
class ClaimPlan:
    """One node to buy, and the pods it is for."""

    pool: str
    instance_types: tuple[str, ...]
    """Every type that fits all its pods plus DaemonSet overhead, cheapest first."""
    requirements: tuple[LabelRequirement, ...]
    """The pool's requirements narrowed by its pods' (zone chosen for spread, and so on)."""
    pods: tuple[str, ...]
    """uids of the pods it is for."""
    requests: Amounts
    """Summed requests of its pods plus DaemonSet overhead."""
    price: float
    """Price of its cheapest allowed offering."""


@dataclass(frozen=True)
class SchedulingResult:
    """What the simulation decided for one batch of pending pods."""

    claims: tuple[ClaimPlan, ...] = ()
    on_existing: Mapping[str, str] = field(default_factory=dict)
    """uid of a pod -> name of the existing or in-flight node it fits on."""
    unschedulable: Mapping[str, str] = field(default_factory=dict)
    """uid of a pod -> why no node can take it (names the pool and the rule)."""
