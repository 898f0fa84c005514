"""Facts about workloads that the vertical handlers share, kept in memory by watches.

- Which workload owns which ReplicaSet, both ways. A Deployment's pods are owned by its
  ReplicaSets: the webhook needs pod -> Deployment for every pod created, the OOM follower for
  every OOM kill, and the updater needs Deployment -> pods for every pass.
- The nodes' allocatable CPU and memory, so recommendations are capped to the largest node.
- HorizontalScalers and HorizontalPodAutoscalers by their target, so CPU is left alone where
  one of them scales the same workload on CPU utilisation.

From these indexes none of them costs an API call per pod or per pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from trimtab.api import GROUP, VERSION
from trimtab.quantity import QuantityError, cores, to_bytes
from trimtab.settings import Settings
from trimtab.updater.conflicts import cpu_scaling_conflict
from trimtab.updater.model import Amounts

OwnerKey = tuple[str, str]
"""(namespace, ReplicaSet name)."""
WorkloadKey = tuple[str, str, str]
"""(namespace, kind, name) of a workload."""
_LARGEST = "allocatable"


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    """Register the indexes, when any of their users is enabled."""
    if settings.recommender_enabled or settings.updater_enabled or settings.webhook_enabled:
        _register_owners(registry)
    if settings.updater_enabled or settings.webhook_enabled:
        _register_nodes_and_scalers(registry)


def _register_owners(registry: kopf.OperatorRegistry) -> None:
    @kopf.index("apps", "v1", "replicasets", id="replicaset_owners", registry=registry)
    def replicaset_owners(
        namespace: str | None, name: str, meta: kopf.Meta, **_: Any
    ) -> dict[OwnerKey, tuple[str, str]] | None:
        controller = _controller(meta)
        return {(namespace or "", name): controller} if controller else None

    @kopf.index("apps", "v1", "replicasets", id="owned_replicasets", registry=registry)
    def owned_replicasets(
        namespace: str | None, name: str, meta: kopf.Meta, **_: Any
    ) -> dict[WorkloadKey, str] | None:
        controller = _controller(meta)
        return {(namespace or "", *controller): name} if controller else None

    del replicaset_owners, owned_replicasets


def _register_nodes_and_scalers(registry: kopf.OperatorRegistry) -> None:
    @kopf.index("v1", "nodes", id="node_allocatable", registry=registry)
    def node_allocatable(status: kopf.Status, **_: Any) -> dict[str, dict[str, float]]:
        return {_LARGEST: _amounts(status.get("allocatable") or {})}

    @kopf.index(GROUP, VERSION, "horizontalscalers", id="horizontal_by_target", registry=registry)
    def horizontal_by_target(
        namespace: str | None, body: kopf.Body, spec: kopf.Spec, **_: Any
    ) -> dict[WorkloadKey, dict[str, Any]]:
        return {_target_key(namespace, spec): dict(body)}

    @kopf.index(
        "autoscaling", "v2", "horizontalpodautoscalers", id="hpa_by_target", registry=registry
    )
    def hpa_by_target(
        namespace: str | None, body: kopf.Body, spec: kopf.Spec, **_: Any
    ) -> dict[WorkloadKey, dict[str, Any]]:
        return {_target_key(namespace, spec): dict(body)}

    del node_allocatable, horizontal_by_target, hpa_by_target


def workload_of_pod(
    namespace: str, meta: Mapping[str, Any], indexes: Mapping[str, Any]
) -> tuple[str, str] | None:
    """The (kind, name) of the workload a pod belongs to, through its ReplicaSet if it has one."""
    controller = _controller(meta)
    if controller is None:
        return None
    if controller[0] == "ReplicaSet":
        owners: kopf.Index[OwnerKey, tuple[str, str]] = indexes["replicaset_owners"]
        owner = next(iter(owners.get((namespace, controller[1]), [])), None)
        if owner is not None:
            return owner
    return controller


def controllers_of_workload(
    namespace: str, kind: str, name: str, indexes: Mapping[str, Any]
) -> list[tuple[str, str]]:
    """The (kind, name) of the objects that directly own a workload's pods."""
    owned: kopf.Index[WorkloadKey, str] = indexes["owned_replicasets"]
    replicasets = [("ReplicaSet", rs) for rs in owned.get((namespace, kind, name), [])]
    return [(kind, name), *replicasets]


def largest_allocatable(indexes: Mapping[str, Any]) -> Amounts:
    """The largest allocatable CPU and memory of any node (each on its own); empty: no nodes."""
    nodes: kopf.Index[str, dict[str, float]] = indexes["node_allocatable"]
    largest: dict[str, float] = {}
    for amounts in nodes.get(_LARGEST, []):
        for resource, value in amounts.items():
            largest[resource] = max(largest.get(resource, 0.0), value)
    return largest


def horizontal_cpu_conflict(
    namespace: str, kind: str, name: str, indexes: Mapping[str, Any]
) -> str | None:
    """What scales this workload on CPU utilisation, if anything (a sentence naming it)."""
    key = (namespace, kind, name)
    scalers: kopf.Index[WorkloadKey, dict[str, Any]] = indexes["horizontal_by_target"]
    hpas: kopf.Index[WorkloadKey, dict[str, Any]] = indexes["hpa_by_target"]
    return cpu_scaling_conflict(
        namespace, (kind, name), list(scalers.get(key, [])), list(hpas.get(key, []))
    )


def _controller(meta: Mapping[str, Any]) -> tuple[str, str] | None:
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller"):
            return (ref["kind"], ref["name"])
    return None


def _target_key(namespace: str | None, spec: Mapping[str, Any]) -> WorkloadKey:
    target = spec.get("scaleTargetRef") or {}
    return (namespace or "", str(target.get("kind", "")), str(target.get("name", "")))


def _amounts(allocatable: Mapping[str, Any]) -> dict[str, float]:
    amounts = {}
    try:
        if "cpu" in allocatable:
            amounts["cpu"] = cores(allocatable["cpu"])
        if "memory" in allocatable:
            amounts["memory"] = float(to_bytes(allocatable["memory"]))
    except QuantityError:
        return {}
    return amounts
