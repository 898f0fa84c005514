"""Every Kubernetes API call the operator makes, in one list.

The ClusterRole in ``deploy/`` must grant exactly these (a test compares them), so a handler
that starts calling a new endpoint adds it here first, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from trimtab.api import KINDS


@dataclass(frozen=True)
class ApiCall:
    """Verbs the operator uses on one resource of one API group (``""`` is the core group)."""

    group: str
    resource: str
    verbs: frozenset[str]
    why: str


def _calls() -> tuple[ApiCall, ...]:
    own = []
    for info in KINDS:
        own.append(
            ApiCall(
                info.group,
                info.plural,
                frozenset({"get", "list", "watch", "patch"}),
                "watch every object; keep handler progress in its annotations",
            )
        )
        own.append(
            ApiCall(
                info.group,
                f"{info.plural}/status",
                frozenset({"get", "patch"}),
                "write observedGeneration, conditions and results",
            )
        )
    framework = [
        ApiCall("", "events", frozenset({"create"}), "post Events about objects"),
        ApiCall(
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            frozenset({"list", "watch"}),
            "kopf notices CRDs that appear or go",
        ),
        ApiCall("", "namespaces", frozenset({"list", "watch"}), "kopf follows namespaces"),
        ApiCall(
            "kopf.dev",
            "clusterkopfpeerings",
            frozenset({"get", "list", "watch", "patch"}),
            "peering keeps two replicas from both acting",
        ),
    ]
    admission = [
        ApiCall(
            "admissionregistration.k8s.io",
            "mutatingwebhookconfigurations",
            frozenset({"create", "patch"}),
            "register the pod webhook with its caBundle",
        ),
    ]
    recommender = [
        ApiCall(
            "",
            "configmaps",
            frozenset({"get", "create", "patch"}),
            "recommender checkpoints beside each VerticalScaler",
        ),
        ApiCall(
            "",
            "pods",
            frozenset({"list", "watch"}),
            "OOM kills from pod status; the pods of each scale target, from an index",
        ),
        ApiCall(
            "apps",
            "replicasets",
            frozenset({"list", "watch"}),
            "a pod's Deployment through its ReplicaSet, from a watch, not a call per pod",
        ),
    ]
    horizontal = [
        ApiCall(
            "apps",
            f"{plural}/scale",
            frozenset({"get", "patch"}),
            "read and set the replica count of a HorizontalScaler's target",
        )
        for plural in ("deployments", "statefulsets", "replicasets")
    ]
    updater = [
        ApiCall(
            "",
            "pods/eviction",
            frozenset({"create"}),
            "evict pods through the Eviction API, so PodDisruptionBudgets hold",
        ),
        ApiCall("", "pods/resize", frozenset({"patch"}), "resize pods in place"),
        ApiCall("", "nodes", frozenset({"list", "watch"}), "cap requests to the largest node"),
        ApiCall(
            "autoscaling",
            "horizontalpodautoscalers",
            frozenset({"list", "watch"}),
            "leave CPU alone where an HPA scales the same workload on CPU",
        ),
    ]
    provisioner = [
        ApiCall(
            "",
            "nodes",
            frozenset({"create", "patch", "delete"}),
            "simulated machines are Nodes; label, untaint and cordon nodes; remove empty ones",
        ),
        ApiCall(
            "apps",
            "daemonsets",
            frozenset({"list", "watch"}),
            "DaemonSet pods count against a new node's room",
        ),
        ApiCall(
            "trimtab.dev",
            "nodeclaims",
            frozenset({"create", "delete"}),
            "one NodeClaim per machine to buy; deleted to give it back",
        ),
    ]
    return (*own, *framework, *admission, *recommender, *horizontal, *updater, *provisioner)


OPERATOR_API_CALLS: tuple[ApiCall, ...] = _calls()
"""Cluster-wide calls (the ClusterRole)."""

OPERATOR_NAMESPACE_CALLS: tuple[ApiCall, ...] = (
    ApiCall(
        "",
        "secrets",
        frozenset({"get", "create", "patch"}),
        "the webhook's self-signed certificate, shared by the replicas",
    ),
)
"""Calls in the operator's own namespace only (a Role there, not the ClusterRole)."""
