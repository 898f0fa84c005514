"""Whether a pod can get its new requests in place, must wait for a resize it already has, or
must be evicted instead.

An in-place resize is cheaper than an eviction but not always possible: the kubelet reports a
resize it can never carry out (Infeasible) or cannot carry out now (Deferred), a resize can hang,
the API can keep refusing it, and a resize may not change the pod's QoS class. Rather than leave
such a pod on its old requests indefinitely, the updater evicts it after a grace period and lets
admission give the new pod its requests.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from trimtab.durations import format_duration
from trimtab.updater.model import ContainerResources, UpdatablePod
from trimtab.updater.resources import qos_class

DEFERRED_LIMIT = 300
"""Seconds a Deferred resize may wait for room on the node before the pod is evicted."""
IN_PROGRESS_LIMIT = 3600
"""Seconds a resize may stay in progress before the pod is evicted."""
FAILING_LIMIT = 300
"""Seconds resize calls may keep failing before the pod is evicted."""
INFEASIBLE = "Infeasible"


class ResizeVerdict(StrEnum):
    """What to do with a pod that should get new requests under an in-place policy."""

    RESIZE = "Resize"
    """Patch the pods/resize subresource."""
    WAIT = "Wait"
    """A resize is already under way; asking again would only reset it."""
    EVICT = "Evict"
    """In place will not work (soon enough): evict and let admission set the requests."""


def resize_verdict(
    pod: UpdatablePod,
    new: Mapping[str, ContainerResources],
    now: float,
    failing_since: float | None,
) -> tuple[ResizeVerdict, str]:
    """The verdict for resizing ``pod`` to ``new`` (changed containers by name) and why.

    ``failing_since`` is when resize calls for this pod started failing (the service tracks it
    per pod uid), None while they succeed.
    """
    evict = _eviction_reason(pod, new, now, failing_since)
    if evict is not None:
        return ResizeVerdict.EVICT, evict
    state = pod.resize
    if state.pending_reason is not None:
        waited = _since(now, state.pending_since)
        return ResizeVerdict.WAIT, (
            f"resize pending ({state.pending_reason}) for {waited}"
            if waited
            else f"resize pending ({state.pending_reason})"
        )
    if state.in_progress_since is not None:
        waited = _since(now, state.in_progress_since)
        return ResizeVerdict.WAIT, f"resize in progress for {waited}"
    return ResizeVerdict.RESIZE, "resize in place"


def _eviction_reason(
    pod: UpdatablePod,
    new: Mapping[str, ContainerResources],
    now: float,
    failing_since: float | None,
) -> str | None:
    """Why in place cannot work for this pod, or None when it still may."""
    before = qos_class(pod.containers)
    after = qos_class([new.get(container.name, container) for container in pod.containers])
    if before != after:
        return f"resizing would change the QoS class from {before} to {after}"
    state = pod.resize
    if state.pending_reason == INFEASIBLE:
        return "the node can never fit the resize (Infeasible)"
    if state.pending_reason is not None and _over(now, state.pending_since, DEFERRED_LIMIT):
        return f"resize pending ({state.pending_reason}) for over {format_duration(DEFERRED_LIMIT)}"
    if _over(now, state.in_progress_since, IN_PROGRESS_LIMIT):
        return f"resize in progress for over {format_duration(IN_PROGRESS_LIMIT)}"
    if _over(now, failing_since, FAILING_LIMIT):
        return f"resize calls failing for over {format_duration(FAILING_LIMIT)}"
    return None


def _over(now: float, since: float | None, limit: float) -> bool:
    """More than ``limit`` seconds have passed since ``since`` (never, when it is unknown)."""
    return since is not None and now - since > limit


def _since(now: float, since: float | None) -> str:
    return "" if since is None else format_duration(max(0, round(now - since)))


__all__ = [
    "DEFERRED_LIMIT",
    "FAILING_LIMIT",
    "IN_PROGRESS_LIMIT",
    "ResizeVerdict",
    "resize_verdict",
]
