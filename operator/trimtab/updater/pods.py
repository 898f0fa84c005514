"""Pods as the updater sees them: one :class:`UpdatablePod` per pod object, and who may be touched.

The operator keeps one small record per pod (fed by the pod watch) rather than the whole body,
so parsing never raises: a field that is missing or malformed is left at its default, and a
request or limit that is not a valid quantity is skipped as if it were not set.

Only ``spec.containers`` are read, and only CPU and memory: those are the resources the updater
changes, and the pod spec (not the status) holds what the pod asked for, including a resize the
kubelet has not carried out yet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from trimtab.quantity import QuantityError, cores, to_bytes
from trimtab.updater.model import Amounts, ContainerResources, ResizeState, UpdatablePod

DO_NOT_DISRUPT_ANNOTATION = "trimtab.dev/do-not-disrupt"
"""A pod annotated with this set to "true" is never evicted or resized by the updater."""
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
"""The kubelet marks the API's copy of a static pod with this; evicting it does nothing."""
OOM_REASON = "OOMKilled"
RESIZE_PENDING = "PodResizePending"
RESIZE_IN_PROGRESS = "PodResizeInProgress"

_PARSERS: Mapping[str, Callable[[Any], float]] = {
    "cpu": cores,
    "memory": lambda text: float(to_bytes(text)),
}


def pod_from_body(body: Mapping[str, Any]) -> UpdatablePod:
    """The updater's view of a pod object as the API serves it; never raises for odd content."""
    meta = _mapping(body.get("metadata"))
    spec = _mapping(body.get("spec"))
    status = _mapping(body.get("status"))
    annotations = _mapping(meta.get("annotations"))
    conditions = [_mapping(c) for c in _sequence(status.get("conditions"))]
    statuses = [_mapping(s) for s in _sequence(status.get("containerStatuses"))]
    started = _timestamp(status.get("startTime"))
    created = _timestamp(meta.get("creationTimestamp"))
    return UpdatablePod(
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        uid=str(meta.get("uid") or ""),
        # Every stored pod has a creation time; should one not, its start is the best guess.
        created=created if created is not None else (started or 0.0),
        containers=tuple(_container(_mapping(c)) for c in _sequence(spec.get("containers"))),
        phase=str(status.get("phase") or "Pending"),
        ready=_condition_true(conditions, "Ready"),
        deleting=bool(meta.get("deletionTimestamp")),
        controller=_controller(meta),
        do_not_disrupt=str(annotations.get(DO_NOT_DISRUPT_ANNOTATION, "")).strip().lower()
        == "true",
        mirror=MIRROR_ANNOTATION in annotations,
        restarts=sum(_int(s.get("restartCount")) for s in statuses),
        last_oom=_last_oom(statuses),
        started=started,
        qos_class=str(status["qosClass"]) if status.get("qosClass") else None,
        resize=_resize_state(conditions),
    )


def touchable(pod: UpdatablePod) -> str | None:
    """None when the updater may evict or resize ``pod``; otherwise why it must leave it alone.

    A pod without a controller would not come back after an eviction, and a pod that is not
    running (or already going away) has nothing to update.
    """
    if pod.mirror:
        return "mirror pod"
    if pod.controller is None:
        return "no controller"
    if pod.do_not_disrupt:
        return f"annotated {DO_NOT_DISRUPT_ANNOTATION}"
    if pod.deleting:
        return "being deleted"
    if pod.phase != "Running":
        return f"phase {pod.phase}"
    return None


def _container(container: Mapping[str, Any]) -> ContainerResources:
    """One container's CPU and memory requests and limits, without unparseable values."""
    resources = _mapping(container.get("resources"))
    return ContainerResources(
        name=str(container.get("name") or ""),
        requests=_amounts(_mapping(resources.get("requests"))),
        limits=_amounts(_mapping(resources.get("limits"))),
    )


def _amounts(quantities: Mapping[str, Any]) -> Amounts:
    """CPU in cores and memory in bytes; a value that is not a quantity counts as unset."""
    found: dict[str, float] = {}
    for resource, parse in _PARSERS.items():
        if resource not in quantities:
            continue
        try:
            found[resource] = parse(quantities[resource])
        except QuantityError:
            continue
    return found


def _controller(meta: Mapping[str, Any]) -> tuple[str, str] | None:
    """(kind, name) of the owner reference marked as the controller, if there is one."""
    for ref in map(_mapping, _sequence(meta.get("ownerReferences"))):
        if ref.get("controller") is True and ref.get("kind") and ref.get("name"):
            return str(ref["kind"]), str(ref["name"])
    return None


def _last_oom(statuses: Iterable[Mapping[str, Any]]) -> float | None:
    """The latest OOM kill among the containers' current and last terminations."""
    kills = [
        _timestamp(terminated.get("finishedAt"))
        for status in statuses
        for key in ("state", "lastState")
        for terminated in [_mapping(_mapping(status.get(key)).get("terminated"))]
        if terminated.get("reason") == OOM_REASON
    ]
    known = [kill for kill in kills if kill is not None]
    return max(known) if known else None


def _resize_state(conditions: list[Mapping[str, Any]]) -> ResizeState:
    """What the kubelet reports about an in-place resize, from the pod's conditions."""
    pending = _true_condition(conditions, RESIZE_PENDING)
    in_progress = _true_condition(conditions, RESIZE_IN_PROGRESS)
    return ResizeState(
        pending_reason=None if pending is None else str(pending.get("reason") or "") or None,
        pending_since=None if pending is None else _timestamp(pending.get("lastTransitionTime")),
        in_progress_since=(
            None if in_progress is None else _timestamp(in_progress.get("lastTransitionTime"))
        ),
    )


def _true_condition(conditions: list[Mapping[str, Any]], kind: str) -> Mapping[str, Any] | None:
    """The condition of this type when its status is "True" (a False one means it is over)."""
    return next(
        (c for c in conditions if c.get("type") == kind and c.get("status") == "True"), None
    )


def _condition_true(conditions: list[Mapping[str, Any]], kind: str) -> bool:
    return _true_condition(conditions, kind) is not None


def _timestamp(text: Any) -> float | None:
    """Unix seconds of an RFC 3339 time as the API writes it; None when absent or malformed."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    # The API always writes UTC; a time without a zone is read as UTC, never as local time.
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _sequence(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


__all__ = [
    "DO_NOT_DISRUPT_ANNOTATION",
    "MIRROR_ANNOTATION",
    "pod_from_body",
    "touchable",
]
