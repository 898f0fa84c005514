"""The simulated provider: "buying" a machine creates a Node object that kwok keeps Ready.

This is what the demo, the e2e tests and the benchmarks run on: the whole provisioning loop
(pending pods, NodeClaims, Nodes registering, pods binding, consolidation) works as with a real
cloud, in seconds and for free. Nodes carry the annotation ``kwok.x-k8s.io/node: fake``, which
the kwok controller selects by default: it marks them Ready and runs their pods as fakes.

Faults are injected from the SimulatedNodeClass: offerings listed in ``insufficientCapacity``
answer "insufficient capacity", and ``launchFailureRate`` fails that share of launches.

The Node is named after the NodeClaim. That is what makes ``create`` idempotent across
restarts: a retry finds the Node (or the apiserver answers 409 for it) and adopts it instead of
buying a second machine. Everything :meth:`SimulatedProvider.list` needs to rebuild an
:class:`~trimtab.cloud.provider.Instance` is in the Node's labels and annotations, so the
provider keeps no state of its own.

The Kubernetes API is reached through a :class:`NodeStore` (implemented in ``trimtab.kube``,
which alone talks to the API); whatever a store raises is turned into a typed
:class:`~trimtab.cloud.provider.CloudError` here.
"""

from __future__ import annotations

import logging
import math
import random as random_module
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from trimtab.api.nodes import SimulatedNodeClassSpec
from trimtab.cloud.provider import (
    CAPACITY_TYPES,
    CloudError,
    Instance,
    InstanceNotFoundError,
    InstanceTypeLookup,
    InsufficientCapacityError,
    LaunchError,
    LaunchRequest,
    OfferingKey,
    capacity_of,
    lookup_instance_type,
    offering_price,
)
from trimtab.durations import parse_duration
from trimtab.provisioner.model import (
    CAPACITY_TYPE,
    HOSTNAME,
    INSTANCE_TYPE,
    NODE_POOL,
    REGION,
    ZONE,
    InstanceType,
    Offering,
    Taint,
)
from trimtab.quantity import format_cpu, format_memory

logger = logging.getLogger(__name__)

SIMULATED_LABEL = "trimtab.dev/simulated"
"""Marks the Nodes this provider made: :meth:`SimulatedProvider.list` selects on it."""
KWOK_ANNOTATION = "kwok.x-k8s.io/node"
"""kwok manages Nodes annotated ``kwok.x-k8s.io/node: fake`` (its default selector)."""
LAUNCHED_AT_ANNOTATION = "trimtab.dev/launched-at"
"""When the machine was "bought" (RFC 3339), by the provider's clock, not the apiserver's."""
PROVIDER_SCHEME = "simulated://"

_BYTE_RESOURCES = frozenset({"memory", "ephemeral-storage"})
"""Resources counted in bytes besides ``hugepages-*``; every other non-CPU one is a count."""

T = TypeVar("T")


class NodeStore(Protocol):
    """Where simulated machines live: the cluster's Node objects.

    Failures other than "already exists" and "not found" raise (any exception: the provider
    wraps them in a CloudError that names the operation).
    """

    def create(self, body: Mapping[str, Any]) -> bool:
        """Create the Node; False when a Node of that name already existed."""
        ...

    def delete(self, name: str) -> bool:
        """Delete the Node; False when there was none of that name."""
        ...

    def list(self, label_selector: str) -> list[dict[str, Any]]:
        """The Nodes matching a label selector (``key=value,...``), as API dictionaries."""
        ...


class SimulatedProvider:
    """Buys machines by creating kwok Nodes; see the module docstring."""

    def __init__(
        self,
        spec: SimulatedNodeClassSpec,
        catalog: InstanceTypeLookup,
        nodes: NodeStore,
        cluster_name: str,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] | None = None,
    ) -> None:
        self._spec = spec
        self._catalog = catalog
        self._nodes = nodes
        self._cluster = cluster_name
        self._clock = clock
        self._sleep = sleep
        # A generator of its own, so that a seeded one makes a run reproducible.
        self._random = random if random is not None else random_module.Random().random
        self._boot_delay = parse_duration(spec.boot_delay)
        self._unavailable = parse_insufficient_capacity(spec.insufficient_capacity)
        self._zones = frozenset(spec.zones) or None

    # -- CloudProvider -----------------------------------------------------------------------

    def create(self, request: LaunchRequest) -> Instance:
        """Create the claim's Node after the boot delay, or adopt the one that exists."""
        existing = self._find(request.claim_name)
        if existing is not None:
            return existing
        instance_type, offering = choose_offering(request, self._zones, self._unavailable)
        if self._random() < self._spec.launch_failure_rate:
            raise LaunchError(
                f"launching {instance_type.name} in {offering.zone} for NodeClaim "
                f"{request.claim_name}: injected failure (launchFailureRate "
                f"{self._spec.launch_failure_rate})",
                code="InjectedFailure",
            )
        launched_at = self._clock()
        self._sleep(self._boot_delay)
        body = node_body(request, instance_type, offering, self._spec.region, launched_at)
        created = self._store(
            LaunchError, f"creating Node {request.claim_name}", self._nodes.create, body
        )
        if created:
            return instance_from_node(body, self._catalog)
        # Lost a race with an earlier attempt for the same claim: its Node is the machine.
        adopted = self._find(request.claim_name)
        if adopted is None:
            raise LaunchError(
                f"creating Node {request.claim_name}: it already exists but is not a simulated "
                f"node of cluster {self._cluster}",
                code="AlreadyExists",
            )
        return adopted

    def delete(self, provider_id: str) -> None:
        """Delete the machine's Node; InstanceNotFoundError when it is already gone."""
        name = node_name(provider_id)
        if not self._store(CloudError, f"deleting Node {name}", self._nodes.delete, name):
            raise InstanceNotFoundError(f"Node {name} of {provider_id} does not exist")

    def get(self, provider_id: str) -> Instance:
        """The machine of a provider id; InstanceNotFoundError when its Node is gone."""
        instance = self._find(node_name(provider_id))
        if instance is None or instance.provider_id != provider_id:
            raise InstanceNotFoundError(f"no simulated Node has providerID {provider_id}")
        return instance

    def list(self) -> list[Instance]:
        """Every simulated Node of the cluster, as machines (malformed ones are skipped)."""
        selector = f"{SIMULATED_LABEL}=true"
        nodes = self._store(CloudError, "listing simulated Nodes", self._nodes.list, selector)
        return list(_instances(nodes, self._catalog))

    # -- helpers -----------------------------------------------------------------------------

    def _find(self, name: str) -> Instance | None:
        selector = f"{SIMULATED_LABEL}=true,{HOSTNAME}={name}"
        nodes = self._store(CloudError, f"looking up Node {name}", self._nodes.list, selector)
        found = [i for i in _instances(nodes, self._catalog) if i.claim_name == name]
        return found[0] if found else None

    @staticmethod
    def _store(error: type[CloudError], what: str, call: Callable[..., T], *args: Any) -> T:
        """Call the store, turning whatever it raises into a typed CloudError naming the step."""
        try:
            return call(*args)
        except CloudError:
            raise
        except Exception as exc:  # the store is an I/O port: any failure of it is the cloud's
            raise error(f"{what}: {exc}", code=type(exc).__name__) from exc


def parse_insufficient_capacity(entries: Iterable[str]) -> frozenset[OfferingKey]:
    """``type/zone/capacityType`` texts as offering keys; ValueError names a malformed entry."""
    keys = set()
    for index, entry in enumerate(entries):
        parts = entry.split("/")
        if len(parts) != 3 or not all(parts) or parts[2] not in CAPACITY_TYPES:
            raise ValueError(
                f"insufficientCapacity[{index}]: {entry!r} is not type/zone/capacityType "
                f"with a capacity type in {sorted(CAPACITY_TYPES)}"
            )
        keys.add((parts[0], parts[1], parts[2]))
    return frozenset(keys)


def choose_offering(
    request: LaunchRequest,
    node_class_zones: frozenset[str] | None,
    unavailable: frozenset[OfferingKey],
) -> tuple[InstanceType, Offering]:
    """The cheapest offering the request allows that does not answer "insufficient capacity".

    Ties go to the type the request lists first, then to the zone and capacity type by name,
    so the choice is reproducible. Raises InsufficientCapacityError listing the offerings that
    answered ICE when they were all there was, LaunchError when the request allows none.
    """
    zones = _intersect(request.zones, node_class_zones)
    allowed = [
        (rank, instance_type, offering)
        for rank, instance_type in enumerate(request.instance_types)
        for offering in instance_type.offerings
        if offering.available
        and (zones is None or offering.zone in zones)
        and offering.capacity_type in request.capacity_types
    ]
    if not allowed:
        names = [t.name for t in request.instance_types]
        raise LaunchError(
            f"NodeClaim {request.claim_name}: no offering of {names} in zones "
            f"{sorted(zones) if zones is not None else 'any'} as {sorted(request.capacity_types)}",
            code="NoOffering",
        )
    open_ = [a for a in allowed if _key(a[1], a[2]) not in unavailable]
    if not open_:
        refused = tuple(sorted({_key(t, o) for _, t, o in allowed}))
        raise InsufficientCapacityError(
            f"NodeClaim {request.claim_name}: insufficient capacity for every allowed "
            f"offering: {['/'.join(k) for k in refused]}",
            refused,
            code="InsufficientInstanceCapacity",
        )
    _, instance_type, offering = min(
        open_, key=lambda a: (a[2].price, a[0], a[2].zone, a[2].capacity_type)
    )
    return instance_type, offering


def node_body(
    request: LaunchRequest,
    instance_type: InstanceType,
    offering: Offering,
    region: str,
    launched_at: float,
) -> dict[str, Any]:
    """The Node object of a simulated machine, as the kubelet would register it."""
    name = request.claim_name
    labels = {
        **request.labels,
        **instance_type.labels,
        INSTANCE_TYPE: instance_type.name,
        REGION: region,
        ZONE: offering.zone,
        CAPACITY_TYPE: offering.capacity_type,
        HOSTNAME: name,
        NODE_POOL: request.pool,
        SIMULATED_LABEL: "true",
    }
    taints = [_taint(t) for t in (*request.taints, *request.startup_taints)]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {
                KWOK_ANNOTATION: "fake",
                LAUNCHED_AT_ANNOTATION: _rfc3339(launched_at),
            },
        },
        "spec": {"providerID": f"{PROVIDER_SCHEME}{offering.zone}/{name}", "taints": taints},
        "status": {
            "capacity": quantities(instance_type.capacity),
            "allocatable": quantities(instance_type.allocatable),
        },
    }


def instance_from_node(node: Mapping[str, Any], catalog: InstanceTypeLookup) -> Instance:
    """The machine a simulated Node stands for; KeyError names a label it lacks."""
    metadata = node.get("metadata") or {}
    labels = metadata.get("labels") or {}
    type_name, zone, capacity_type = labels[INSTANCE_TYPE], labels[ZONE], labels[CAPACITY_TYPE]
    instance_type = lookup_instance_type(catalog, type_name)
    capacity, allocatable = capacity_of(instance_type)
    return Instance(
        provider_id=(node.get("spec") or {}).get("providerID")
        or f"{PROVIDER_SCHEME}{zone}/{metadata['name']}",
        claim_name=metadata["name"],
        instance_type=type_name,
        zone=zone,
        capacity_type=capacity_type,
        price=offering_price(instance_type, zone, capacity_type),
        launched_at=_launched_at(metadata),
        capacity=capacity,
        allocatable=allocatable,
    )


def node_name(provider_id: str) -> str:
    """The Node name in ``simulated://<zone>/<name>``; CloudError for any other provider id."""
    rest = provider_id.removeprefix(PROVIDER_SCHEME)
    zone, _, name = rest.partition("/")
    if rest == provider_id or not zone or not name or "/" in name:
        raise CloudError(
            f"providerID {provider_id!r} is not simulated://<zone>/<name>",
            code="InvalidProviderID",
        )
    return name


def quantities(amounts: Mapping[str, float]) -> dict[str, str]:
    """Amounts in base units as Kubernetes quantities: CPU in cores, bytes, or whole counts."""
    return {resource: _quantity(resource, amount) for resource, amount in amounts.items()}


def _quantity(resource: str, amount: float) -> str:
    if resource == "cpu":
        return format_cpu(amount)
    if resource in _BYTE_RESOURCES or resource.startswith("hugepages-"):
        return format_memory(amount)
    # Pods and extended resources (GPUs...) are whole units; never offer more than there is.
    return str(math.floor(amount + 1e-9))


def _instances(
    nodes: Iterable[Mapping[str, Any]], catalog: InstanceTypeLookup
) -> Iterable[Instance]:
    for node in nodes:
        try:
            yield instance_from_node(node, catalog)
        except KeyError as missing:
            name = (node.get("metadata") or {}).get("name")
            logger.warning("Simulated Node %s lacks the label or field %s; skipped", name, missing)


def _launched_at(metadata: Mapping[str, Any]) -> float:
    text = (metadata.get("annotations") or {}).get(LAUNCHED_AT_ANNOTATION) or metadata.get(
        "creationTimestamp"
    )
    try:
        return datetime.fromisoformat(str(text)).timestamp() if text else 0.0
    except ValueError:
        return 0.0


def _rfc3339(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _taint(taint: Taint) -> dict[str, str]:
    body = {"key": taint.key, "effect": taint.effect}
    if taint.value is not None:
        body["value"] = taint.value
    return body


def _key(instance_type: InstanceType, offering: Offering) -> OfferingKey:
    return (instance_type.name, offering.zone, offering.capacity_type)


def _intersect(a: frozenset[str] | None, b: frozenset[str] | None) -> frozenset[str] | None:
    if a is None:
        return b
    return a if b is None else a & b


__all__ = [
    "KWOK_ANNOTATION",
    "LAUNCHED_AT_ANNOTATION",
    "SIMULATED_LABEL",
    "NodeStore",
    "SimulatedProvider",
    "choose_offering",
    "instance_from_node",
    "node_body",
    "node_name",
    "parse_insufficient_capacity",
    "quantities",
]
