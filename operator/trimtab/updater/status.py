"""The VerticalScaler conditions an updater pass reports, computed without I/O."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from trimtab.conditions import ConditionStatus
from trimtab.quantity import format_cpu, format_memory
from trimtab.updater.model import Amounts, Plan

ConditionUpdate = tuple[str, ConditionStatus, str, str]
"""(type, status, reason, message)."""

_PRINTERS: Mapping[str, Callable[[float], str]] = {"cpu": format_cpu, "memory": format_memory}


@dataclass
class PassResult:
    """What one pass did to the pods it planned."""

    evicted: int = 0
    resized: int = 0
    blocked: list[str] = field(default_factory=list)
    """Pods whose eviction a PodDisruptionBudget refused (429)."""
    failed: list[str] = field(default_factory=list)
    """Pods whose eviction or resize failed otherwise (retried after a backoff)."""


def capped_condition(capped: list[str], allocatable: Amounts) -> ConditionUpdate:
    """CappedToNode: whether the recommendation had to shrink to fit the largest node."""
    if not capped:
        return (
            "CappedToNode",
            "False",
            "FitsLargestNode",
            "The recommendation fits the largest node.",
        )
    sizes = ", ".join(f"{r} {_PRINTERS[r](allocatable[r])}" for r in capped)
    message = f"The recommendation's {', '.join(capped)} exceeds the largest node's "
    message += f"allocatable ({sizes}); pods get requests scaled down to fit it."
    return ("CappedToNode", "True", "LargerThanLargestNode", message)


def conflict_condition(conflict: str | None, allowed: bool) -> ConditionUpdate:
    """HorizontalConflict: whether a horizontal scaler on CPU keeps CPU requests as they are."""
    if conflict is None:
        return (
            "HorizontalConflict",
            "False",
            "NoCpuScaler",
            "No horizontal scaler uses CPU utilisation of this workload.",
        )
    if allowed:
        message = f"{conflict}; CPU is updated anyway (allowCpuWithHorizontalScaling)."
        return ("HorizontalConflict", "True", "CpuUpdatedAnyway", message)
    message = f"{conflict}; CPU requests are left alone, only memory is updated "
    message += "(set updatePolicy.allowCpuWithHorizontalScaling to update CPU too)."
    return ("HorizontalConflict", "True", "CpuLeftAlone", message)


def progress_condition(stale: int, plan: Plan, done: PassResult, dry_run: bool) -> ConditionUpdate:
    """PodsUpToDate while some pods differ: what this pass did and what holds the rest back."""
    if dry_run:
        return (
            "PodsUpToDate",
            "False",
            "DryRun",
            f"{stale} pod(s) differ; dry run: nothing is changed.",
        )
    acted = done.evicted + done.resized
    parts = [f"{stale} pod(s) differ from the recommendation"]
    if acted:
        parts.append(f"{done.evicted} evicted and {done.resized} resized in this pass")
    if done.blocked:
        parts.append(f"PodDisruptionBudget refused evicting {', '.join(done.blocked)}")
    if done.failed:
        parts.append(f"failed for {', '.join(done.failed)} (retried with backoff)")
    if plan.blocked:
        parts.append(plan.blocked)
    elif plan.waiting:
        parts.append(f"{len(plan.waiting)} waiting: {plan.waiting[0][1]}")
    reason = "Updating" if acted else "Failing" if done.failed else "Waiting"
    return ("PodsUpToDate", "False", reason, "; ".join(parts) + ".")
