"""The records the updater's planning works on: plain values, built from pods and status.

Amounts are floats in base units everywhere below the ports: CPU in cores, memory in bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

Amounts = Mapping[str, float]
"""Resource name ("cpu", "memory") to an amount in cores or bytes."""


@dataclass(frozen=True)
class ContainerResources:
    """One container's requests and limits as the pod spec gives them."""

    name: str
    requests: Amounts = field(default_factory=dict)
    limits: Amounts = field(default_factory=dict)


@dataclass(frozen=True)
class ResizeState:
    """What the kubelet says about an in-place resize of the pod, from its conditions."""

    pending_reason: str | None = None
    """PodResizePending's reason: "Infeasible" or "Deferred"; None when not pending."""
    pending_since: float | None = None
    """Unix seconds of PodResizePending's last transition."""
    in_progress_since: float | None = None
    """Unix seconds of PodResizeInProgress's last transition; None when not in progress."""


@dataclass(frozen=True)
class UpdatablePod:
    """What the updater needs from one pod; small enough to keep one per pod of the cluster."""

    namespace: str
    name: str
    uid: str
    created: float
    """Unix seconds of metadata.creationTimestamp."""
    containers: tuple[ContainerResources, ...] = ()
    phase: str = "Running"
    ready: bool = True
    deleting: bool = False
    """metadata.deletionTimestamp is set."""
    controller: tuple[str, str] | None = None
    """(kind, name) of the owner reference marked controller, e.g. ("ReplicaSet", "web-5d8f")."""
    do_not_disrupt: bool = False
    """Annotation trimtab.dev/do-not-disrupt is "true"."""
    mirror: bool = False
    """A static pod's mirror (annotation kubernetes.io/config.mirror)."""
    restarts: int = 0
    """Container restarts summed over the pod's containers."""
    last_oom: float | None = None
    """Unix seconds of the latest OOMKilled termination among its containers."""
    started: float | None = None
    """Unix seconds of status.startTime."""
    qos_class: str | None = None
    """status.qosClass: Guaranteed, Burstable or BestEffort."""
    resize: ResizeState = field(default_factory=ResizeState)


@dataclass(frozen=True)
class ContainerTarget:
    """A container's recommendation as the updater applies it."""

    container: str
    target: Amounts
    lower_bound: Amounts = field(default_factory=dict)
    upper_bound: Amounts = field(default_factory=dict)


@dataclass(frozen=True)
class ContainerControl:
    """What the VerticalScaler's policy lets Trimtab change in one container."""

    resources: frozenset[str] = frozenset({"cpu", "memory"})
    """Resources whose requests are set (controlledResources, minus cpu under a CPU scaler)."""
    requests_and_limits: bool = True
    """RequestsAndLimits (limits keep their ratio to requests) or RequestsOnly."""


class UpdateAction(StrEnum):
    """How a pod gets its new requests."""

    EVICT = "Evict"
    """Evicted through the Eviction API; its controller recreates it and admission sets them."""
    RESIZE = "Resize"
    """Resized in place through the pods/resize subresource."""


@dataclass(frozen=True)
class PlannedUpdate:
    """One pod to update now, and why."""

    pod: UpdatablePod
    action: UpdateAction
    reason: str
    """Human-readable, for the Event, e.g. "memory request 128Mi below lower bound 200Mi"."""
    resources: Mapping[str, ContainerResources] = field(default_factory=dict)
    """For RESIZE: each changed container's new requests and limits."""


@dataclass(frozen=True)
class Plan:
    """The planner's answer for one workload."""

    updates: tuple[PlannedUpdate, ...] = ()
    waiting: tuple[tuple[str, str], ...] = ()
    """(pod name, why) for pods that need an update but were held back by a budget or rule."""
    blocked: str | None = None
    """Why nothing at all may be touched now (e.g. too many unready pods); None otherwise."""
