"""Kubernetes-style status conditions, computed without I/O.

A condition keeps its ``lastTransitionTime`` while its status stays the same, so that
``kubectl describe`` tells when something last changed, not when the operator last looked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

ConditionStatus = Literal["True", "False", "Unknown"]


def make_condition(
    type_: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    now: str,
    observed_generation: int | None = None,
) -> dict[str, Any]:
    """Build one condition as the Kubernetes API writes it (camelCase keys)."""
    condition: dict[str, Any] = {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": now,
    }
    if observed_generation is not None:
        condition["observedGeneration"] = observed_generation
    return condition


def merge_conditions(
    existing: Iterable[Mapping[str, Any]] | None,
    updates: Iterable[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """Return ``existing`` with ``updates`` applied by type.

    An update whose status equals the existing one keeps the old ``lastTransitionTime``.
    Conditions of other types are kept in their order; new types are appended.
    """
    merged = [dict(condition) for condition in existing or ()]
    index = {condition.get("type"): position for position, condition in enumerate(merged)}
    for update in updates:
        new = dict(update)
        position = index.get(new["type"])
        if position is None:
            index[new["type"]] = len(merged)
            merged.append(new)
            continue
        old = merged[position]
        if old.get("status") == new["status"] and old.get("lastTransitionTime"):
            new["lastTransitionTime"] = old["lastTransitionTime"]
        merged[position] = new
    return merged


def find_condition(
    conditions: Iterable[Mapping[str, Any]] | None, type_: str
) -> Mapping[str, Any] | None:
    """Return the condition of ``type_`` or None."""
    return next((c for c in conditions or () if c.get("type") == type_), None)
