"""Pods to workloads, from kube-state-metrics' owner series.

cAdvisor's series name only the pod; the recommender pools samples per workload container,
so pods are joined to their controller: pod -> ReplicaSet -> Deployment through
`kube_pod_owner` and `kube_replicaset_owner`; StatefulSet, DaemonSet, Job (and anything else,
e.g. a Node for static pods) directly from `kube_pod_owner`. The join is done here rather than
in PromQL (`group_left` over `label_replace`) so that pods without an owner, or whose
ReplicaSet's owner is unknown, are kept and reported as such instead of vanishing.

Owners are cached per namespace: a pod's owner never changes, so incremental reads send an
owner query only when a pod they have not seen appears.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from trimtab.metrics.client import Series
from trimtab.metrics.config import LabelNames

KIND_POD = "Pod"
"""A pod without an owner: it is its own workload (workload name = pod name)."""
KIND_UNKNOWN = "Unknown"
"""No owner series for the pod (kube-state-metrics missing or not scraped yet); workload
name = pod name, so such pods are never pooled with each other."""
KIND_REPLICASET = "ReplicaSet"
_NO_OWNER = frozenset({"", "<none>"})


@dataclass(frozen=True, slots=True)
class Workload:
    kind: str
    name: str


@dataclass(frozen=True, slots=True)
class _Owner:
    kind: str
    name: str
    controller: bool

    def preferred_over(self, other: _Owner) -> bool:
        """The controller reference wins; ties go to the smaller (kind, name), so the answer
        does not depend on the order Prometheus returned the rows in."""
        if self.controller != other.controller:
            return self.controller
        return (self.kind, self.name) < (other.kind, other.name)


class OwnerMap:
    """Owners of the pods and ReplicaSets of one namespace, merged over owner answers."""

    def __init__(self) -> None:
        self._pods: dict[str, _Owner] = {}
        self._replicasets: dict[str, _Owner] = {}
        self._last_seen: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._pods)

    def add(self, answer: Iterable[Series], labels: LabelNames, at: float) -> None:
        """Merge an owners answer (see `promql.owners_query`) evaluated at time `at`: rows with
        a pod label describe pods, rows with a replicaset label describe ReplicaSets."""
        for series in answer:
            metric = series.labels
            owner = _Owner(
                metric.get(labels.owner_kind, ""),
                metric.get(labels.owner_name, ""),
                metric.get(labels.owner_is_controller, "") == "true",
            )
            pod = metric.get(labels.pod)
            table, name = (
                (self._pods, pod) if pod else (self._replicasets, metric.get(labels.replicaset))
            )
            if not name:
                continue
            known = table.get(name)
            if known is None or owner.preferred_over(known):
                table[name] = owner
            if pod:
                self._last_seen.setdefault(pod, at)

    def knows(self, pod: str) -> bool:
        return pod in self._pods

    def workload(self, pod: str, seen_at: float | None = None) -> Workload:
        """The workload `pod` belongs to (see KIND_POD and KIND_UNKNOWN for the fallbacks)."""
        if seen_at is not None:
            self._last_seen[pod] = max(seen_at, self._last_seen.get(pod, seen_at))
        owner = self._pods.get(pod)
        if owner is None:
            return Workload(KIND_UNKNOWN, pod)
        if owner.kind in _NO_OWNER or owner.name in _NO_OWNER:
            return Workload(KIND_POD, pod)
        if owner.kind == KIND_REPLICASET:
            parent = self._replicasets.get(owner.name)
            if parent is not None and parent.kind not in _NO_OWNER and parent.name not in _NO_OWNER:
                return Workload(parent.kind, parent.name)
        return Workload(owner.kind, owner.name)

    def prune(self, before: float) -> None:
        """Forget pods last seen before `before` (bounded memory under pod churn), and the
        ReplicaSets no remaining pod refers to."""
        stale = [pod for pod, seen in self._last_seen.items() if seen < before]
        for pod in stale:
            del self._last_seen[pod]
            self._pods.pop(pod, None)
        used = {owner.name for owner in self._pods.values() if owner.kind == KIND_REPLICASET}
        for replicaset in [name for name in self._replicasets if name not in used]:
            del self._replicasets[replicaset]
