"""Whether a running pod is worth disrupting for its new requests, and which pods go first.

Every update restarts something, so a pod is only updated when it is clearly off:

- a controlled request lies outside the recommendation's ``[lowerBound, upperBound]``;
- a container was OOM-killed within :data:`QUICK_OOM_WITHIN` of the pod's start (the memory
  request is plainly too small and waiting for the bounds to notice costs more kills);
- the pod has run for :data:`LONG_LIVED_AFTER` and its requests are, summed over the
  resources, at least :data:`MIN_RELATIVE_CHANGE` off: for each resource the difference of the
  containers' summed requests and summed new requests, over the summed requests.

The amount a request is compared with is the request :func:`new_resources` would write, not the
raw target: under RequestsOnly the request stops at the limit, and a pod already there must not
look off forever. Likewise a request already equal to its new value (to the millicore or byte
that would be written) is never a reason to update, even outside the bounds.

Pods that must grow come first (they are the ones starved of CPU or memory), then the pods
farthest from their new requests.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from trimtab.durations import format_duration
from trimtab.quantity import format_cpu, format_memory
from trimtab.updater.model import ContainerControl, ContainerTarget, UpdatablePod
from trimtab.updater.resources import RESOURCES, new_resources

LONG_LIVED_AFTER = 12 * 3600
"""Seconds a pod must have run before a small drift (no bound crossed) justifies updating it."""
MIN_RELATIVE_CHANGE = 0.10
"""The summed relative difference that justifies updating a long-lived pod."""
QUICK_OOM_WITHIN = 600
"""Seconds after the pod's start within which an OOM kill makes it due for an update."""

_SMALLEST_REQUEST = {"cpu": 0.001, "memory": 1.0}
"""The relative difference divides by at least a millicore or a byte, so an unset request
gives a large but finite distance."""
_FORMATS: Mapping[str, Callable[[float], str]] = {"cpu": format_cpu, "memory": format_memory}


@dataclass(frozen=True)
class UpdateNeed:
    """Why a pod should get its new requests, and how urgently."""

    must_grow: bool
    """Some controlled request is below its new value."""
    distance: float
    """Summed over the resources: |summed requests - summed new requests| / summed requests."""
    reason: str
    """Readable, for the Event and the status: names the container, resource and amounts."""


@dataclass(frozen=True)
class _Change:
    """One controlled resource of one container: its request now and the one it would get."""

    container: str
    resource: str
    request: float
    new: float
    lower: float | None
    upper: float | None

    @property
    def moves(self) -> bool:
        """Whether writing the new request would change what the pod spec says."""
        return not _same_amount(self.resource, self.request, self.new)

    @property
    def relative(self) -> float:
        return abs(self.new - self.request) / max(self.request, _SMALLEST_REQUEST[self.resource])

    def describe(self) -> str:
        return (
            f"{self.container} {self.resource} request {_show(self.resource, self.request)} "
            f"would become {_show(self.resource, self.new)}"
        )


def update_need(
    pod: UpdatablePod,
    targets: Mapping[str, ContainerTarget],
    controls: Mapping[str, ContainerControl],
    now: float,
) -> UpdateNeed | None:
    """Why ``pod`` should be updated now, or None when it should be left as it is.

    Only containers with both a target and a control count, and only the resources the control
    lists; everything else is outside the updater's business.
    """
    changes = _changes(pod, targets, controls)
    moving = [change for change in changes if change.moves]
    if not moving:
        return None
    distance = _distance(changes)
    reason = (
        _outside_bounds(moving) or _quick_oom(pod, moving) or _drifted(pod, moving, distance, now)
    )
    if reason is None:
        return None
    return UpdateNeed(
        must_grow=any(change.new > change.request for change in moving),
        distance=distance,
        reason=reason,
    )


def by_priority(
    items: Iterable[tuple[UpdatablePod, UpdateNeed]],
) -> list[tuple[UpdatablePod, UpdateNeed]]:
    """Pods that must grow first, then the farthest off; ties by name, so plans are repeatable."""
    return sorted(
        items,
        key=lambda item: (not item[1].must_grow, -item[1].distance, item[0].name, item[0].uid),
    )


def _changes(
    pod: UpdatablePod,
    targets: Mapping[str, ContainerTarget],
    controls: Mapping[str, ContainerControl],
) -> list[_Change]:
    """Each controlled resource of each targeted container, in the pod's container order."""
    found = []
    for container in pod.containers:
        target, control = targets.get(container.name), controls.get(container.name)
        if target is None or control is None:
            continue
        new = new_resources(container, target.target, control)
        for resource in RESOURCES:
            if resource not in control.resources or resource not in target.target:
                continue
            found.append(
                _Change(
                    container=container.name,
                    resource=resource,
                    # The apiserver defaults a missing request to the limit; with neither the
                    # container asks for nothing.
                    request=container.requests.get(resource, container.limits.get(resource, 0.0)),
                    new=new.requests[resource],
                    lower=target.lower_bound.get(resource),
                    upper=target.upper_bound.get(resource),
                )
            )
    return found


def _distance(changes: Sequence[_Change]) -> float:
    """Per resource, how far the pod's summed requests are from the summed new ones, added up."""
    total = 0.0
    for resource in RESOURCES:
        of_resource = [change for change in changes if change.resource == resource]
        if not of_resource:
            continue
        requested = sum(change.request for change in of_resource)
        wanted = sum(change.new for change in of_resource)
        total += abs(requested - wanted) / max(requested, _SMALLEST_REQUEST[resource])
    return total


def _outside_bounds(moving: Sequence[_Change]) -> str | None:
    """The first request below its lower bound or above its upper bound, said plainly."""
    for change in moving:
        request = f"{change.container} {change.resource} request"
        amount = _show(change.resource, change.request)
        if change.lower is not None and change.request < change.lower:
            bound = _show(change.resource, change.lower)
            return f"{request} {amount} is below the lower bound {bound}"
        if change.upper is not None and change.request > change.upper:
            bound = _show(change.resource, change.upper)
            return f"{request} {amount} is above the upper bound {bound}"
    return None


def _quick_oom(pod: UpdatablePod, moving: Sequence[_Change]) -> str | None:
    """A kill soon after the start: memory is short, so update without waiting for the bounds."""
    if pod.last_oom is None or pod.started is None:
        return None
    after = pod.last_oom - pod.started
    if after >= QUICK_OOM_WITHIN:
        return None
    memory = [change for change in moving if change.resource == "memory"]
    headline = max(memory or moving, key=lambda change: change.relative)
    return (
        f"a container was OOM-killed {_show_seconds(after)} after the pod started; "
        f"{headline.describe()}"
    )


def _drifted(
    pod: UpdatablePod, moving: Sequence[_Change], distance: float, now: float
) -> str | None:
    """A pod that has run long enough and whose requests are off by enough to be worth a restart."""
    # VPA measures from the pod's start; a pod not yet started has not run at all.
    since = pod.started if pod.started is not None else pod.created
    age = now - since
    if age < LONG_LIVED_AFTER or distance < MIN_RELATIVE_CHANGE:
        return None
    headline = max(moving, key=lambda change: change.relative)
    return (
        f"pod has run {_show_seconds(age)} and its requests are {distance:.0%} off; "
        f"{headline.describe()}"
    )


def _same_amount(resource: str, first: float, second: float) -> bool:
    """Equal as the quantities that would be written (whole millicores or bytes)."""
    if not (math.isfinite(first) and math.isfinite(second)):
        return first == second
    return _show(resource, first) == _show(resource, second)


def _show(resource: str, amount: float) -> str:
    if not math.isfinite(amount):
        return str(amount)
    return _FORMATS[resource](amount)


def _show_seconds(seconds: float) -> str:
    return format_duration(max(0, round(seconds)))


__all__ = [
    "LONG_LIVED_AFTER",
    "MIN_RELATIVE_CHANGE",
    "QUICK_OOM_WITHIN",
    "UpdateNeed",
    "by_priority",
    "update_need",
]
