"""The pods of a scale target as the HPA sees them, from the pod objects a watch keeps.

The operator keeps one small :class:`PodFacts` per pod in memory (a kopf index fed by the pod
watch) instead of listing pods on every sync. Whether a pod counts is decided at sync time,
because the HPA's rules depend on how long ago the pod started and became ready:

- deleted pods and pods that have finished (Failed, Succeeded) are left out;
- Pending pods are never counted (``Pending``);
- for CPU, a pod is ``Unready`` when it has no Ready condition or start time; while it is
  within the CPU initialisation period (5 min from its start) when it is not ready or became
  ready less than one metric window ago; after that, only when it is not ready and has never
  been ready (its Ready condition last changed within 30 s of its start). Memory ignores
  readiness; the algorithm applies that distinction.

Requests are summed over the containers (and restartable init containers, which run beside
them); a container without a request for a resource leaves that resource's request undefined,
which the HPA reports as an error for utilisation metrics.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from trimtab.horizontal.algorithm import PodState
from trimtab.horizontal.selector import SelectorError, parse_selector
from trimtab.quantity import QuantityError, parse_quantity

CPU_INITIALIZATION_PERIOD = 300.0
"""Seconds after a pod's start during which CPU samples need a full window of readiness
(the controller manager's --horizontal-pod-autoscaler-cpu-initialization-period)."""
INITIAL_READINESS_DELAY = 30.0
"""Seconds after start within which a Ready transition still means "never ready yet"
(--horizontal-pod-autoscaler-initial-readiness-delay)."""
_FINISHED = frozenset({"Failed", "Succeeded"})


@dataclass(frozen=True)
class PodFacts:
    """What the scaler needs from one pod; small enough to keep one per pod of the cluster."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    phase: str = "Running"
    deleting: bool = False
    start_time: float | None = None
    """Unix seconds of ``status.startTime``."""
    ready: bool | None = None
    """The Ready condition; None when the pod has none."""
    ready_changed: float | None = None
    """Unix seconds of the Ready condition's last transition."""
    cpu_request: float | None = None
    """Cores summed over the containers; None when one has no CPU request."""
    memory_request: float | None = None
    """Bytes summed over the containers; None when one has no memory request."""

    @property
    def counted(self) -> bool:
        """False for pods the HPA leaves out entirely (deleted or finished)."""
        return not self.deleting and self.phase not in _FINISHED

    @property
    def running_and_ready(self) -> bool:
        """What a targetValue metric multiplies its ratio by (the HPA's ready pod count)."""
        return self.counted and self.phase == "Running" and self.ready is True


def facts_from_pod(pod: Mapping[str, Any]) -> PodFacts:
    """The facts of a pod object as the API serves it; never raises for odd content."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    ready = next(
        (c for c in status.get("conditions") or () if c.get("type") == "Ready"),
        None,
    )
    containers = list(spec.get("containers") or ()) + [
        c for c in spec.get("initContainers") or () if c.get("restartPolicy") == "Always"
    ]
    return PodFacts(
        name=str(meta.get("name", "")),
        labels=dict(meta.get("labels") or {}),
        phase=str(status.get("phase") or "Pending"),
        deleting=bool(meta.get("deletionTimestamp")),
        start_time=_timestamp(status.get("startTime")),
        ready=None if ready is None else ready.get("status") == "True",
        ready_changed=None if ready is None else _timestamp(ready.get("lastTransitionTime")),
        cpu_request=_request_sum(containers, "cpu"),
        memory_request=_request_sum(containers, "memory"),
    )


def pod_state(pod: PodFacts, now: float, metric_window: float) -> PodState:
    """``Pending``, ``Unready`` or ``Ready`` by the HPA's CPU rules (see the module doc).

    ``metric_window`` is the span a CPU sample covers; a sample taken less than that after the
    pod became ready may include its start-up, so it is not trusted.
    """
    if pod.phase == "Pending":
        return "Pending"
    if pod.ready is None or pod.start_time is None:
        return "Unready"
    changed = pod.ready_changed if pod.ready_changed is not None else pod.start_time
    if now < pod.start_time + CPU_INITIALIZATION_PERIOD:
        unready = not pod.ready or now < changed + metric_window
    else:
        unready = not pod.ready and changed < pod.start_time + INITIAL_READINESS_DELAY
    return "Unready" if unready else "Ready"


def select_pods(pods: Iterable[PodFacts], selector: str) -> list[PodFacts]:
    """The counted pods whose labels match the scale's selector; none for an empty selector
    (a target that reports no selector has no pods the scaler could measure)."""
    try:
        parsed = parse_selector(selector)
    except SelectorError:
        return []
    if parsed.empty:
        return []
    return sorted(
        (pod for pod in pods if pod.counted and parsed.matches(pod.labels)),
        key=lambda pod: pod.name,
    )


def ready_count(pods: Sequence[PodFacts]) -> int:
    """Running and ready pods among ``pods``."""
    return sum(pod.running_and_ready for pod in pods)


def _request_sum(containers: Sequence[Mapping[str, Any]], resource: str) -> float | None:
    total = 0.0
    for container in containers:
        requests = (container.get("resources") or {}).get("requests") or {}
        if resource not in requests:
            return None
        try:
            total += parse_quantity(requests[resource]).as_float()
        except QuantityError:
            return None
    return total if containers else None


def _timestamp(text: Any) -> float | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


__all__ = [
    "CPU_INITIALIZATION_PERIOD",
    "INITIAL_READINESS_DELAY",
    "PodFacts",
    "facts_from_pod",
    "pod_state",
    "ready_count",
    "select_pods",
]
