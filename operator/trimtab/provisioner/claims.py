"""NodePools and NodeClaims as the simulation and the providers need them, and back.

Pure: a NodePool's spec becomes the simulation's :class:`NodePoolView`; a planned claim
becomes the NodeClaim object to create; a NodeClaim's requirements become what the provider
may launch. Keeping both directions here means the claim says exactly what was decided: its
requirements list the allowed instance types cheapest first, and the zone and capacity type
it may use, so a restarted operator launches what the simulation chose.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from trimtab.api.nodes import NodeClaimSpec, NodePoolSpec
from trimtab.conditions import find_condition
from trimtab.provisioner.catalog import Catalog
from trimtab.provisioner.model import (
    CAPACITY_TYPE,
    INSTANCE_TYPE,
    NODE_POOL,
    ZONE,
    Amounts,
    ClaimPlan,
    ExistingNode,
    LabelRequirement,
    NodePoolView,
    Taint,
)
from trimtab.provisioner.pods import resource_amounts
from trimtab.quantity import format_cpu, format_memory

MAX_INSTANCE_TYPES = 60
"""Instance types a claim keeps (and a launch offers the cloud), cheapest first."""
DEFAULT_CAPACITY_TYPES = frozenset({"on-demand"})
"""What a claim may buy when neither its pool nor its pods say (spot only when asked)."""


@dataclass(frozen=True)
class LaunchChoice:
    """What a NodeClaim allows the provider to launch."""

    instance_types: tuple[str, ...]
    zones: frozenset[str] | None
    capacity_types: frozenset[str]
    labels: Mapping[str, str]
    """Labels the Node gets: the pool's and every requirement with a single In value."""


def pool_view(
    name: str, spec: NodePoolSpec, in_use: Amounts, weight: int | None = None
) -> NodePoolView:
    """The simulation's view of a NodePool, with the capacity its nodes already hold."""
    template = spec.template
    requirements = [
        LabelRequirement(r.key, r.operator, tuple(r.values)) for r in template.requirements
    ]
    if not any(r.key == CAPACITY_TYPE for r in requirements):
        # As Karpenter: spot only when a pool asks for it.
        requirements.append(LabelRequirement(CAPACITY_TYPE, "In", tuple(DEFAULT_CAPACITY_TYPES)))
    return NodePoolView(
        name=name,
        requirements=tuple(requirements),
        labels={**template.labels, NODE_POOL: name},
        taints=tuple(Taint(t.key, t.value, t.effect) for t in template.taints),
        startup_taints=tuple(Taint(t.key, t.value, t.effect) for t in template.startup_taints),
        limits=resource_amounts(spec.limits),
        in_use=dict(in_use),
        weight=spec.weight if weight is None else weight,
    )


def claim_body(
    plan: ClaimPlan, pool_name: str, pool_uid: str, spec: NodePoolSpec, suffix: str | None = None
) -> dict[str, Any]:
    """The NodeClaim to create for a planned node; owned by its NodePool."""
    template = spec.template
    types = plan.instance_types[:MAX_INSTANCE_TYPES]
    requirements = [_requirement_dict(r) for r in plan.requirements if r.key != INSTANCE_TYPE]
    requirements.append({"key": INSTANCE_TYPE, "operator": "In", "values": list(types)})
    name = f"{pool_name}-{suffix or secrets.token_hex(3)}"
    return {
        "apiVersion": "trimtab.dev/v1alpha1",
        "kind": "NodeClaim",
        "metadata": {
            "name": name,
            "labels": {**template.labels, NODE_POOL: pool_name},
            "ownerReferences": [
                {
                    "apiVersion": "trimtab.dev/v1alpha1",
                    "kind": "NodePool",
                    "name": pool_name,
                    "uid": pool_uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "requirements": requirements,
            "resources": quantities(plan.requests),
            "taints": [t.model_dump(exclude_none=True) for t in template.taints],
            "startupTaints": [t.model_dump(exclude_none=True) for t in template.startup_taints],
            "nodeClassRef": template.node_class_ref.model_dump(),
            "expireAfter": template.expire_after,
        },
    }


def launch_choice(spec: NodeClaimSpec, pool_labels: Mapping[str, str]) -> LaunchChoice:
    """What a NodeClaim's requirements allow the provider to launch."""
    by_key = {r.key: r for r in spec.requirements}
    types = by_key.get(INSTANCE_TYPE)
    zones = by_key.get(ZONE)
    capacity = by_key.get(CAPACITY_TYPE)
    labels = dict(pool_labels)
    for requirement in spec.requirements:
        if requirement.operator == "In" and len(requirement.values) == 1:
            labels.setdefault(requirement.key, requirement.values[0])
    return LaunchChoice(
        instance_types=tuple(types.values) if types and types.operator == "In" else (),
        zones=frozenset(zones.values) if zones and zones.operator == "In" else None,
        capacity_types=(
            frozenset(capacity.values)
            if capacity and capacity.operator == "In"
            else DEFAULT_CAPACITY_TYPES
        ),
        labels=labels,
    )


def quantities(amounts: Amounts) -> dict[str, str]:
    """Amounts as Kubernetes quantities (CPU in cores or millicores, memory in bytes/Mi/Gi)."""
    printed = {}
    for resource, amount in sorted(amounts.items()):
        if resource == "cpu":
            printed[resource] = format_cpu(amount)
        elif resource == "memory":
            printed[resource] = format_memory(amount)
        else:
            printed[resource] = str(round(amount))
    return printed


def in_use_by_pool(claims: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Capacity each pool's claims hold (launched ones by their status, others by request)."""
    totals: dict[str, dict[str, float]] = {}
    for claim in claims:
        pool = ((claim.get("metadata") or {}).get("labels") or {}).get(NODE_POOL)
        if not pool:
            continue
        status = claim.get("status") or {}
        amounts = resource_amounts(
            status.get("capacity") or (claim.get("spec") or {}).get("resources") or {}
        )
        pool_total = totals.setdefault(pool, {})
        for resource, amount in amounts.items():
            pool_total[resource] = pool_total.get(resource, 0.0) + amount
    return totals


def _requirement_dict(requirement: LabelRequirement) -> dict[str, Any]:
    body: dict[str, Any] = {"key": requirement.key, "operator": requirement.operator}
    if requirement.values:
        body["values"] = list(requirement.values)
    return body


def in_flight_node(claim: Mapping[str, Any], catalog: Catalog) -> ExistingNode:
    """A claim whose Node has not registered yet, as an empty node of the type it launched
    (or, before the launch, its cheapest allowed type). Empty, because the pods still pending
    are the ones it was made for: the simulation puts them back on it instead of buying again."""
    spec, status = claim.get("spec") or {}, claim.get("status") or {}
    requirements = spec.get("requirements") or []
    labels = {
        r["key"]: r["values"][0]
        for r in requirements
        if r.get("operator") == "In" and len(r.get("values") or []) == 1
    }
    labels.update((claim.get("metadata") or {}).get("labels") or {})
    allowed = next(
        (r.get("values") or [] for r in requirements if r.get("key") == INSTANCE_TYPE), []
    )
    type_name = status.get("instanceType") or next(iter(allowed), None)
    allocatable: dict[str, float] = {}
    if type_name:
        labels[INSTANCE_TYPE] = type_name
        try:
            allocatable = catalog.by_name(type_name).allocatable
        except KeyError:
            allocatable = {}
    return ExistingNode(
        name=claim["metadata"]["name"],
        labels=labels,
        taints=tuple(
            Taint(t["key"], t.get("value"), t["effect"]) for t in spec.get("taints") or []
        ),
        allocatable=allocatable,
        requested={},
        in_flight=True,
    )


def is_initialized(claim: Mapping[str, Any]) -> bool:
    """Whether the claim's Node is up: Ready, labelled, startup taints gone."""
    found = find_condition((claim.get("status") or {}).get("conditions"), "Initialized")
    return found is not None and found.get("status") == "True"


def starting_node(node: ExistingNode, claim: Mapping[str, Any], catalog: Catalog) -> ExistingNode:
    """The Node of a claim not yet Initialized, as the simulation should see it: with only the
    taints the claim keeps. Its startup taints, and those the node controller puts on a node
    that is not Ready yet, go away by themselves; counted, they would keep the pods waiting
    for this node off it, and a batch would buy them another."""
    return replace(node, taints=in_flight_node(claim, catalog).taints, in_flight=True)
