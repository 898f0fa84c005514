"""The one interface every cloud provider offers: buy a machine for a NodeClaim, give it back,
find it again, and list every machine the cluster owns.

The controller decides *what* to buy (the simulation picks the instance types that fit, cheapest
first); a provider only decides *where* among those and talks to its cloud. Keeping the two apart
is what lets the same controller run against the simulator in tests and demos and against EC2
in production.

Failures are typed, so that the controller reacts without reading cloud error codes:

    InsufficientCapacityError  the cloud has no machines of these offerings now: mark them
                               unavailable for a while and plan again without them
    LaunchError                anything else went wrong while buying: retry with backoff
    InstanceNotFoundError      the machine is gone (deleted, terminated, never existed)
    CloudError                 the base of all three, and what other failures (an unreachable
                               API, a refused call) are raised as
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypeAlias

from trimtab.provisioner.model import Amounts, InstanceType, Taint

CAPACITY_TYPES = frozenset({"on-demand", "spot"})

InstanceTypeLookup: TypeAlias = Mapping[str, InstanceType] | Callable[[str], InstanceType]
"""How a provider finds an instance type by name: a mapping, or a function that raises
LookupError (KeyError) for a name it does not know."""

OfferingKey: TypeAlias = tuple[str, str, str]
"""(instance type, zone, capacity type): one way to buy a machine, as errors report it."""


class CloudError(Exception):
    """A provider failed; ``code`` is the cloud's own error code when it gave one."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class InsufficientCapacityError(CloudError):
    """Every offering tried answered "insufficient capacity" (ICE).

    ``offerings`` lists them as (type, zone, capacity type), so that the caller can mark exactly
    those unavailable and plan again with the rest.
    """

    def __init__(
        self, message: str, offerings: tuple[OfferingKey, ...], *, code: str | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.offerings = offerings


class LaunchError(CloudError):
    """Buying the machine failed for a reason other than capacity (retry with backoff)."""


class InstanceNotFoundError(CloudError):
    """No machine of that provider id exists (any more)."""


@dataclass(frozen=True)
class LaunchRequest:
    """One machine to buy for one NodeClaim.

    ``instance_types`` are already filtered to those that fit the claim's pods, cheapest first;
    ``zones`` None means every zone the provider offers.
    """

    claim_name: str
    claim_uid: str
    """Makes retries idempotent: a provider never buys two machines for one uid."""
    pool: str
    instance_types: tuple[InstanceType, ...]
    zones: frozenset[str] | None = None
    capacity_types: frozenset[str] = frozenset({"on-demand"})
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    startup_taints: tuple[Taint, ...] = ()

    def __post_init__(self) -> None:
        if not self.claim_name:
            raise ValueError("claim_name: a launch request needs the NodeClaim's name")
        if not self.claim_uid:
            raise ValueError(f"claim_uid: NodeClaim {self.claim_name} has no uid")
        if not self.instance_types:
            raise ValueError(f"instance_types: NodeClaim {self.claim_name} allows no type")
        unknown = self.capacity_types - CAPACITY_TYPES
        if not self.capacity_types or unknown:
            raise ValueError(
                f"capacity_types: {sorted(self.capacity_types)} for NodeClaim "
                f"{self.claim_name}; expected a non-empty subset of {sorted(CAPACITY_TYPES)}"
            )


@dataclass(frozen=True)
class Instance:
    """A machine a provider bought, as the controller records it in the NodeClaim's status."""

    provider_id: str
    """The Node's ``spec.providerID``, e.g. ``aws:///us-east-1a/i-0abc`` or
    ``simulated://us-east-1a/general-x7k2p``."""
    claim_name: str
    instance_type: str
    zone: str
    capacity_type: str
    price: float
    """US dollars per hour; 0.0 when the catalog does not know the offering."""
    launched_at: float
    """Seconds since the epoch."""
    capacity: Amounts = field(default_factory=dict)
    allocatable: Amounts = field(default_factory=dict)
    """Capacity minus the type's overhead (kube-reserved and the eviction threshold)."""


class CloudProvider(Protocol):
    """What the controller needs from a cloud. Implementations are synchronous and thread-safe
    enough for one caller at a time per claim; the controller runs them in a worker thread."""

    def create(self, request: LaunchRequest) -> Instance:
        """Buy one machine for the claim, or return the one already bought for it.

        Idempotent by claim: a retry (after a timeout, a restart) never buys a second machine.
        Raises InsufficientCapacityError or LaunchError.
        """
        ...

    def delete(self, provider_id: str) -> None:
        """Give the machine back. Raises InstanceNotFoundError when it is already gone."""
        ...

    def get(self, provider_id: str) -> Instance:
        """The machine of that id. Raises InstanceNotFoundError when it is gone."""
        ...

    def list(self) -> list[Instance]:
        """Every machine this cluster owns, so that machines without a claim can be collected."""
        ...


def lookup_instance_type(catalog: InstanceTypeLookup, name: str) -> InstanceType | None:
    """The catalog's type of that name, or None when the catalog does not know it (a type
    retired from the catalog must not hide a running machine from garbage collection)."""
    if isinstance(catalog, Mapping):
        return catalog.get(name)
    try:
        return catalog(name)
    except LookupError:
        return None


def offering_price(instance_type: InstanceType | None, zone: str, capacity_type: str) -> float:
    """The catalog price of one offering, 0.0 when unknown (the machine exists regardless)."""
    if instance_type is None:
        return 0.0
    for offering in instance_type.offerings:
        if offering.zone == zone and offering.capacity_type == capacity_type:
            return offering.price
    return 0.0


def capacity_of(instance_type: InstanceType | None) -> tuple[dict[str, float], dict[str, float]]:
    """(capacity, allocatable) of a type; both empty when the catalog does not know it."""
    if instance_type is None:
        return {}, {}
    return dict(instance_type.capacity), instance_type.allocatable


__all__ = [
    "CAPACITY_TYPES",
    "CloudError",
    "CloudProvider",
    "Instance",
    "InstanceNotFoundError",
    "InstanceTypeLookup",
    "InsufficientCapacityError",
    "LaunchError",
    "LaunchRequest",
    "OfferingKey",
    "capacity_of",
    "lookup_instance_type",
    "offering_price",
]
