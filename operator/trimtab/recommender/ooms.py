"""OOM kills as the recommender needs them, from a pod's status or from kube-state-metrics.

An OOM-killed container tells more than its memory samples: the kernel stopped it before the
working set could show the peak. VPA answers with a bumped memory sample (see
``estimators.oom_bump``); this module turns what the cluster says into those events.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from trimtab.quantity import QuantityError, to_bytes

OOM_REASON = "OOMKilled"
SAME_KILL_WITHIN = 600.0
"""Two reports of one container's OOM kill closer than this are the same kill (the pod status
is exact, kube-state-metrics dates it to the end of a 5-minute step)."""


@dataclass(frozen=True)
class OomEvent:
    """One OOM kill of a workload's container in one pod."""

    namespace: str
    workload_kind: str
    workload_name: str
    container: str
    pod: str
    timestamp: float
    memory_request: float
    """Bytes; 0 when unknown (the bump then starts from the usage peak)."""


OwnerLookup = Callable[[str, str], tuple[str, str] | None]
"""(namespace, ReplicaSet name) -> (kind, name) of the ReplicaSet's controller, if any."""


def oom_events_from_pod(pod: Mapping[str, Any], replicaset_owner: OwnerLookup) -> list[OomEvent]:
    """The OOM kills a pod's status reports (lastState.terminated.reason = OOMKilled)."""
    meta = pod.get("metadata", {})
    namespace, name = meta.get("namespace", ""), meta.get("name", "")
    kind, workload = workload_of(meta, replicaset_owner)
    requests = _memory_requests(pod.get("spec", {}))
    events = []
    for status in pod.get("status", {}).get("containerStatuses") or []:
        terminated = (status.get("lastState") or {}).get("terminated") or {}
        if terminated.get("reason") != OOM_REASON or not terminated.get("finishedAt"):
            continue
        finished = datetime.fromisoformat(terminated["finishedAt"].replace("Z", "+00:00"))
        events.append(
            OomEvent(
                namespace,
                kind,
                workload,
                status["name"],
                name,
                finished.timestamp(),
                requests.get(status["name"], 0.0),
            )
        )
    return events


def has_oom_kill(pod: Mapping[str, Any]) -> bool:
    """Whether any container's last termination was an OOM kill (a cheap event filter)."""
    statuses = pod.get("status", {}).get("containerStatuses") or []
    return any(
        ((s.get("lastState") or {}).get("terminated") or {}).get("reason") == OOM_REASON
        for s in statuses
    )


def workload_of(meta: Mapping[str, Any], replicaset_owner: OwnerLookup) -> tuple[str, str]:
    """The workload a pod belongs to: its controller, through a ReplicaSet to its Deployment."""
    controller = next(
        (ref for ref in meta.get("ownerReferences") or [] if ref.get("controller")), None
    )
    if controller is None:
        return "Pod", meta.get("name", "")
    if controller.get("kind") == "ReplicaSet":
        owner = replicaset_owner(meta.get("namespace", ""), controller["name"])
        if owner is not None:
            return owner
    return controller["kind"], controller["name"]


def _memory_requests(spec: Mapping[str, Any]) -> dict[str, float]:
    requests = {}
    for container in spec.get("containers") or []:
        memory = ((container.get("resources") or {}).get("requests") or {}).get("memory")
        try:
            requests[container["name"]] = float(to_bytes(memory)) if memory else 0.0
        except QuantityError:
            requests[container["name"]] = 0.0
    return requests
