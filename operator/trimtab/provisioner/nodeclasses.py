"""What a pool's narrowed requirements give the packer: the allowed instance types as arrays,
each with its cheapest allowed offering and the room DaemonSets leave on it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from trimtab.provisioner.model import CAPACITY_TYPE, ZONE, DaemonSetPod, InstanceType
from trimtab.provisioner.nodetemplates import NodeTemplate, labels_allow, undefined_key
from trimtab.provisioner.requirements import Requirements, node_terms
from trimtab.provisioner.taints import untolerated

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

FIT_SLACK = 1e-9
"""Relative slack when comparing summed requests with a capacity (float sums of 0.1s)."""


def fits_within(used: FloatArray, capacity: FloatArray) -> BoolArray:
    """Elementwise used <= capacity, forgiving rounding; reduces over the last axis."""
    ok: BoolArray = np.all(used <= capacity + FIT_SLACK * np.maximum(np.abs(capacity), 1.0), -1)
    return ok


def fitting_types(used: FloatArray, capacity: FloatArray, by_price: IntArray) -> IntArray:
    """Indices of the types (in `by_price` order) whose capacity holds `used`."""
    ok = fits_within(used[None, :], capacity[by_price])
    fitting: IntArray = by_price[ok]
    return fitting


def amounts_vector(
    amounts: Mapping[str, float], axes: Sequence[str], pods: float = 0.0
) -> FloatArray:
    values = [float(amounts.get(r, pods if r == "pods" else 0.0)) for r in axes]
    return np.array(values, dtype=np.float64)


@dataclass(frozen=True)
class NodeClass:
    """The nodes a pool can make for one narrowed set of requirements: its allowed types,
    cheapest first, with what DaemonSets take from each."""

    pool: int
    requirements: Requirements
    types: IntArray
    """Indices into the catalog."""
    price: FloatArray
    overhead: FloatArray
    """(n, R): requests of the DaemonSet pods that would land on a node of each type."""
    capacity: FloatArray
    """(n, R): allocatable minus that overhead."""
    zones: BoolArray
    """(n, Z): whether each type has an allowed offering in each zone of the catalog."""
    zone_names: tuple[str, ...]

    def zones_for(self, requests: FloatArray) -> frozenset[str]:
        """The zones where some type that fits `requests` is offered."""
        fitting = fits_within(requests[None, :], self.capacity)
        offered = np.flatnonzero(self.zones[fitting].any(axis=0))
        return frozenset(self.zone_names[z] for z in offered)


@dataclass(frozen=True)
class TypeTable:
    """The instance types as arrays over the resource axes of the batch, and their available
    offerings as flat arrays (so a scope of zones and capacity types prices every type at
    once)."""

    types: Sequence[InstanceType]
    axes: tuple[str, ...]
    allocatable: FloatArray
    keys: frozenset[str]
    """Every label key some instance type carries."""
    name_rank: IntArray
    zones: tuple[str, ...]
    capacity_types: tuple[str, ...]
    offerings: IntArray
    """(N, 3): type, zone and capacity type (indices) of every available offering."""
    offering_price: FloatArray

    @classmethod
    def of(cls, types: Sequence[InstanceType], axes: tuple[str, ...]) -> TypeTable:
        available = [(k, o) for k, t in enumerate(types) for o in t.offerings if o.available]
        zones = tuple(sorted({o.zone for _, o in available}))
        kinds = tuple(sorted({o.capacity_type for _, o in available}))
        offerings = np.array(
            [(k, zones.index(o.zone), kinds.index(o.capacity_type)) for k, o in available],
            dtype=np.int64,
        ).reshape(-1, 3)
        allocatable = np.array([amounts_vector(t.allocatable, axes) for t in types])
        return cls(
            types,
            axes,
            allocatable.reshape(-1, len(axes)),
            frozenset(k for t in types for k in t.labels),
            np.argsort(np.argsort([t.name for t in types], kind="stable")).astype(np.int64),
            zones,
            kinds,
            offerings,
            np.array([o.price for _, o in available], dtype=np.float64),
        )

    def capacity_of(self, resource: str, index: IntArray) -> FloatArray:
        return np.array([self.types[k].capacity.get(resource, 0.0) for k in index], dtype=float)

    def offers(self, requirements: Requirements) -> tuple[FloatArray, BoolArray]:
        """Per type, the cheapest offering the requirements allow (inf: none), and in which
        zones it has one."""
        zone, kind = requirements.get(ZONE), requirements.get(CAPACITY_TYPE)
        zone_ok = np.array([zone is None or zone.admits(z) for z in self.zones], dtype=bool)
        kind_ok = np.array(
            [kind is None or kind.admits(c) for c in self.capacity_types], dtype=bool
        )
        inside = zone_ok[self.offerings[:, 1]] & kind_ok[self.offerings[:, 2]]
        chosen = self.offerings[inside]
        price = np.full(len(self.types), np.inf)
        np.minimum.at(price, chosen[:, 0], self.offering_price[inside])
        where = np.zeros((len(self.types), len(self.zones)), dtype=bool)
        where[chosen[:, 0], chosen[:, 1]] = True
        return price, where

    def allowed(self, requirements: Requirements, template: NodeTemplate) -> BoolArray:
        """Types whose labels and offerings the requirements allow."""
        price, _ = self.offers(requirements)
        ok: BoolArray = labels_allow(requirements, template, self.types, self.keys) & np.isfinite(
            price
        )
        return ok


def _daemon_overhead(
    daemonsets: Sequence[DaemonSetPod],
    template: NodeTemplate,
    requirements: Requirements,
    catalog: TypeTable,
    index: IntArray,
) -> FloatArray:
    """Per type of a node class, the requests of the DaemonSet pods that could land on it (a
    DaemonSet counts when it tolerates the pool's taints and one of its terms is compatible
    with the class and the type: a conservative reading, so claimed nodes never come short)."""
    overhead = np.zeros((len(index), len(catalog.axes)))
    for daemonset in daemonsets:
        if untolerated(template.taints, daemonset.tolerations):
            continue
        lands = np.zeros(len(catalog.types), dtype=bool)
        for term in node_terms(daemonset.node_selector, daemonset.required_affinity):
            narrowed = requirements.intersect(term)
            if narrowed.conflict() or undefined_key(narrowed, catalog.keys, template.pool_keys):
                continue
            lands |= catalog.allowed(narrowed, template)
        overhead[lands[index]] += amounts_vector(daemonset.requests, catalog.axes)
    return overhead


def node_class(
    pool: int,
    template: NodeTemplate,
    requirements: Requirements,
    catalog: TypeTable,
    daemonsets: Sequence[DaemonSetPod],
) -> NodeClass:
    """The node class of a pool for narrowed requirements (types sorted by price, then name)."""
    price, where = catalog.offers(requirements)
    labels = labels_allow(requirements, template, catalog.types, catalog.keys)
    candidates = np.flatnonzero(labels & np.isfinite(price))
    index = candidates[np.lexsort((catalog.name_rank[candidates], price[candidates]))]
    overhead = _daemon_overhead(daemonsets, template, requirements, catalog, index)
    return NodeClass(
        pool,
        requirements,
        index,
        price[index],
        overhead,
        catalog.allocatable[index] - overhead,
        where[index],
        catalog.zones,
    )


__all__ = [
    "FIT_SLACK",
    "NodeClass",
    "TypeTable",
    "amounts_vector",
    "fits_within",
    "fitting_types",
    "node_class",
]
