"""Pending pods, DaemonSets and nodes as the simulation sees them, read from their bodies.

Pure: the handlers hand these functions what their watches hold. Only what changes where a pod
may go is kept: requests, selectors, node affinity, tolerations, zone/hostname spread and
hostname anti-affinity; everything else about a pod is irrelevant to which machine to buy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from trimtab.provisioner.model import (
    HOSTNAME,
    NAMESPACE_LABEL,
    ZONE,
    Amounts,
    DaemonSetPod,
    ExistingNode,
    LabelRequirement,
    PendingPod,
    Taint,
    Toleration,
    TopologySpread,
)
from trimtab.quantity import QuantityError, cores, to_bytes

DO_NOT_DISRUPT = "trimtab.dev/do-not-disrupt"
_SPREAD_KEYS = frozenset({ZONE, HOSTNAME})
_OPERATORS = frozenset({"In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"})


def is_unschedulable(pod: Mapping[str, Any]) -> bool:
    """The scheduler gave up on it for now: PodScheduled False, reason Unschedulable."""
    if (pod.get("spec") or {}).get("nodeName") or (pod.get("metadata") or {}).get(
        "deletionTimestamp"
    ):
        return False
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "PodScheduled":
            return bool(
                condition.get("status") == "False" and condition.get("reason") == "Unschedulable"
            )
    return False


def pending_pod(pod: Mapping[str, Any]) -> PendingPod:
    """A pod as the simulation needs it."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    annotations = meta.get("annotations") or {}
    namespace = meta.get("namespace", "")
    return PendingPod(
        namespace=namespace,
        name=meta.get("name", ""),
        uid=meta.get("uid", ""),
        requests=pod_requests(spec),
        labels=scoped_labels(meta),
        node_selector=dict(spec.get("nodeSelector") or {}),
        required_affinity=required_node_affinity(spec),
        tolerations=tolerations(spec),
        spread=topology_spread(spec, meta.get("labels") or {}, namespace),
        anti_affinity=hostname_anti_affinity(spec, namespace),
        do_not_disrupt=str(annotations.get(DO_NOT_DISRUPT, "")).lower() == "true",
    )


def daemonset_pod(daemonset: Mapping[str, Any]) -> DaemonSetPod:
    """The pod a DaemonSet runs on each node it fits, from its pod template."""
    template = ((daemonset.get("spec") or {}).get("template") or {}).get("spec") or {}
    return DaemonSetPod(
        name=(daemonset.get("metadata") or {}).get("name", ""),
        requests=pod_requests(template),
        node_selector=dict(template.get("nodeSelector") or {}),
        required_affinity=required_node_affinity(template),
        tolerations=tolerations(template),
    )


def existing_node(
    node: Mapping[str, Any], pods: Iterable[Mapping[str, Any]], in_flight: bool = False
) -> ExistingNode:
    """A node and the pods bound to it: what room is left and whose labels are there."""
    meta, spec = node.get("metadata") or {}, node.get("spec") or {}
    bound = [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]
    requested: dict[str, float] = {}
    for pod in bound:
        for resource, amount in pod_requests(pod.get("spec") or {}).items():
            requested[resource] = requested.get(resource, 0.0) + amount
    return ExistingNode(
        name=meta.get("name", ""),
        labels=dict(meta.get("labels") or {}),
        taints=tuple(_taint(t) for t in spec.get("taints") or []),
        allocatable=resource_amounts((node.get("status") or {}).get("allocatable") or {}),
        requested=requested,
        pod_labels=tuple(scoped_labels(p.get("metadata") or {}) for p in bound),
        in_flight=in_flight,
        repels=tuple(
            selector
            for p in bound
            for selector in hostname_anti_affinity(
                p.get("spec") or {}, (p.get("metadata") or {}).get("namespace", "")
            )
        ),
    )


def pod_requests(spec: Mapping[str, Any]) -> dict[str, float]:
    """What a pod asks of a node: containers summed, each init container as a floor (the
    scheduler's rule: init containers run one at a time before the rest), plus one pod slot."""
    total: dict[str, float] = {}
    for container in spec.get("containers") or []:
        for resource, amount in _container_requests(container).items():
            total[resource] = total.get(resource, 0.0) + amount
    for container in spec.get("initContainers") or []:
        for resource, amount in _container_requests(container).items():
            total[resource] = max(total.get(resource, 0.0), amount)
    total["pods"] = 1.0
    return total


def resource_amounts(quantities: Mapping[str, Any]) -> dict[str, float]:
    """Kubernetes quantities in base units (cores, bytes, counts); unreadable ones are left out."""
    amounts = {}
    for resource, text in quantities.items():
        try:
            if resource == "cpu":
                amounts[resource] = cores(text)
            elif resource.startswith("hugepages-") or resource in ("memory", "ephemeral-storage"):
                amounts[resource] = float(to_bytes(text))
            else:
                amounts[resource] = float(cores(text))
        except (QuantityError, TypeError):
            continue
    return amounts


def required_node_affinity(spec: Mapping[str, Any]) -> tuple[tuple[LabelRequirement, ...], ...]:
    """nodeSelectorTerms of the required node affinity (ORed terms of ANDed expressions)."""
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    return tuple(
        tuple(_requirement(e) for e in term.get("matchExpressions") or [] if _valid(e))
        for term in required.get("nodeSelectorTerms") or []
    )


def tolerations(spec: Mapping[str, Any]) -> tuple[Toleration, ...]:
    """The pod's tolerations."""
    return tuple(
        Toleration(
            key=t.get("key") or None,
            operator="Exists" if t.get("operator") == "Exists" else "Equal",
            value=t.get("value"),
            effect=t.get("effect") or None,
        )
        for t in spec.get("tolerations") or []
    )


def scoped_labels(meta: Mapping[str, Any]) -> dict[str, str]:
    """A pod's labels and its namespace (under NAMESPACE_LABEL), for selectors to match."""
    return {**(meta.get("labels") or {}), NAMESPACE_LABEL: meta.get("namespace", "")}


def topology_spread(
    spec: Mapping[str, Any], labels: Mapping[str, str], namespace: str
) -> tuple[TopologySpread, ...]:
    """Hard spread constraints on zone or hostname (soft ones do not decide what to buy); they
    count the pods of the pod's own namespace."""
    found = []
    for constraint in spec.get("topologySpreadConstraints") or []:
        key = constraint.get("topologyKey")
        if key not in _SPREAD_KEYS or constraint.get("whenUnsatisfiable") != "DoNotSchedule":
            continue
        selector = (constraint.get("labelSelector") or {}).get("matchLabels") or labels
        scoped = {**selector, NAMESPACE_LABEL: namespace}
        found.append(TopologySpread(key, int(constraint.get("maxSkew") or 1), scoped))
    return tuple(found)


def hostname_anti_affinity(
    spec: Mapping[str, Any], namespace: str
) -> tuple[Mapping[str, str], ...]:
    """matchLabels of required pod anti-affinity terms on the hostname, scoped to the pod's
    namespace unless the term names namespaces of its own (then to all: the safe side, which
    may buy a node more but never plans a pod where the scheduler would not put it)."""
    terms = ((spec.get("affinity") or {}).get("podAntiAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or []
    found = []
    for term in terms:
        if term.get("topologyKey") != HOSTNAME:
            continue
        selector = dict((term.get("labelSelector") or {}).get("matchLabels") or {})
        if not term.get("namespaces") and term.get("namespaceSelector") is None:
            selector[NAMESPACE_LABEL] = namespace
        found.append(selector)
    return tuple(found)


def _container_requests(container: Mapping[str, Any]) -> Amounts:
    resources = container.get("resources") or {}
    # A limit without a request is the request (the apiserver defaults it so).
    merged = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
    return resource_amounts(merged)


def _requirement(expression: Mapping[str, Any]) -> LabelRequirement:
    return LabelRequirement(
        key=str(expression["key"]),
        operator=expression["operator"],
        values=tuple(str(v) for v in expression.get("values") or []),
    )


def _valid(expression: Mapping[str, Any]) -> bool:
    return bool(expression.get("key")) and expression.get("operator") in _OPERATORS


def _taint(taint: Mapping[str, Any]) -> Taint:
    return Taint(str(taint.get("key", "")), taint.get("value"), str(taint.get("effect", "")))


def pods_by_node(pods: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """Bound pods grouped by the node they are bound to."""
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        if node:
            grouped.setdefault(node, []).append(pod)
    return grouped
