"""Whether a NodePool can ever give a node: its requirements match some instance type of the
catalog, and its limits leave room for at least one of them."""

from __future__ import annotations

from collections.abc import Sequence

from trimtab.provisioner.model import CAPACITY_TYPE, ZONE, InstanceType, NodePoolView
from trimtab.provisioner.nodetemplates import NodeTemplate, type_allowed


def pool_problem(pool: NodePoolView, types: Sequence[InstanceType]) -> tuple[str, str] | None:
    """(reason, message) when the pool cannot provision anything; None when it can."""
    allowed = _allowed(pool, types)
    if not allowed:
        return (
            "NoInstanceType",
            f"spec.template.requirements: no instance type of the {len(types)} in the catalog "
            "matches them (or none has an offering they allow)",
        )
    if pool.limits and not any(_fits_limits(t, pool) for t in allowed):
        smallest = min(
            allowed, key=lambda t: (t.capacity.get("cpu", 0.0), t.capacity.get("memory", 0.0))
        )
        limits = ", ".join(f"{r} {v:g}" for r, v in sorted(pool.limits.items()))
        return (
            "LimitsBelowOneNode",
            f"spec.limits ({limits}) leave no room for a single node; the smallest allowed "
            f"type, {smallest.name}, has {smallest.capacity.get('cpu', 0):g} CPU",
        )
    return None


def _allowed(pool: NodePoolView, types: Sequence[InstanceType]) -> list[InstanceType]:
    """The types whose labels meet the pool's requirements, with an offering they allow."""
    type_keys = frozenset(key for t in types for key in t.labels)
    template = NodeTemplate.of(pool, type_keys)
    requirements = template.requirements
    zones = requirements.admitted(ZONE, {o.zone for t in types for o in t.offerings})
    capacity = requirements.admitted(
        CAPACITY_TYPE, {o.capacity_type for t in types for o in t.offerings}
    )
    return [
        t
        for t in types
        if type_allowed(requirements, t.labels, type_keys, template.pool_keys)
        and t.cheapest(zones, capacity) is not None
    ]


def _fits_limits(instance_type: InstanceType, pool: NodePoolView) -> bool:
    # The pool's own nodes do not count: a pool at its limit is full, not misconfigured.
    return all(
        instance_type.capacity.get(resource, 0.0) <= limit
        for resource, limit in pool.limits.items()
    )
