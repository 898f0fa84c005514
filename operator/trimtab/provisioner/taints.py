"""Taints and tolerations: whether a pod may go on a node (or a pool's nodes) despite its taints.

Kept apart from the label requirements: taints are matched against tolerations, not labels.
Taints follow Kubernetes: NoSchedule and NoExecute taints must be tolerated, PreferNoSchedule
taints need not be, and a pool's startup taints are not matched at all (they are gone once the
node is initialised).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from trimtab.provisioner.model import Taint, Toleration

BLOCKING_EFFECTS = frozenset({"NoSchedule", "NoExecute"})
"""Taint effects a pod must tolerate to be scheduled on the node."""


def tolerates(toleration: Toleration, taint: Taint) -> bool:
    """Kubernetes toleration matching (an empty key with Exists tolerates every taint)."""
    if toleration.effect and toleration.effect != taint.effect:
        return False
    if not toleration.key:
        return toleration.operator == "Exists"
    if toleration.key != taint.key:
        return False
    return toleration.operator == "Exists" or (toleration.value or "") == (taint.value or "")


def untolerated(taints: Iterable[Taint], tolerations: Sequence[Toleration]) -> tuple[Taint, ...]:
    """The NoSchedule and NoExecute taints none of the tolerations tolerates."""
    return tuple(
        taint
        for taint in taints
        if taint.effect in BLOCKING_EFFECTS and not any(tolerates(t, taint) for t in tolerations)
    )


def describe_taint(taint: Taint) -> str:
    """`key=value:Effect`, as kubectl prints it."""
    value = f"={taint.value}" if taint.value else ""
    return f"{taint.key}{value}:{taint.effect}"


__all__ = ["BLOCKING_EFFECTS", "describe_taint", "tolerates", "untolerated"]
