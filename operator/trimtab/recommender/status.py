"""What a recommendation looks like in a VerticalScaler's status, computed without I/O:
the per-container entries, the conditions, the caps a container policy sets, and whether a
target moved enough to tell people."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from trimtab.api.vertical import ContainerPolicy
from trimtab.conditions import ConditionStatus
from trimtab.quantity import cores, format_cpu, format_memory, to_bytes
from trimtab.recommender.estimators import Caps, Recommendation

LOW_CONFIDENCE_SECONDS = 86_400.0
SIGNIFICANT_MOVE = 0.10


def container_policy(policies: dict[str, ContainerPolicy], container: str) -> ContainerPolicy:
    """The container's own policy, else the ``*`` policy, else the defaults."""
    return policies.get(container) or policies.get("*") or ContainerPolicy(container_name="*")


def caps_of(policy: ContainerPolicy) -> Caps:
    """minAllowed / maxAllowed of one container as the estimators take them (NaN: no cap)."""

    def value(amount: str | None, convert: Callable[[str], float]) -> Any:
        return np.array([np.nan if amount is None else convert(amount)])

    low, high = policy.min_allowed, policy.max_allowed
    return Caps(
        value(low.cpu if low else None, cores),
        value(high.cpu if high else None, cores),
        value(low.memory if low else None, lambda m: float(to_bytes(m))),
        value(high.memory if high else None, lambda m: float(to_bytes(m))),
    )


def status_entry(container: str, rec: Recommendation) -> dict[str, Any]:
    """One container's entry of ``status.recommendations`` from a one-row recommendation."""

    def amounts(resources: Any) -> dict[str, str]:
        return {
            "cpu": format_cpu(float(resources.cpu[0])),
            "memory": format_memory(float(resources.memory[0])),
        }

    return {
        "containerName": container,
        "target": amounts(rec.target),
        "lowerBound": amounts(rec.lower_bound),
        "upperBound": amounts(rec.upper_bound),
        "uncappedTarget": amounts(rec.uncapped_target),
        "historySeconds": int(rec.history_span[0]),
        "sampleCount": int(rec.sample_count[0]),
    }


def recommendation_conditions(
    target: str,
    strategy: str,
    read_yet: bool,
    entries: list[dict[str, Any]],
    spans: list[float],
    error: str | None,
) -> list[tuple[str, ConditionStatus, str, str]]:
    """RecommendationProvided, LowConfidence, NoPodsMatched and MetricsUnavailable for a
    VerticalScaler whose target (described by ``target``) got ``entries``."""
    conditions: list[tuple[str, ConditionStatus, str, str]] = []
    if error:
        conditions.append(
            (
                "MetricsUnavailable",
                "True",
                "PrometheusError",
                f"{error}; the last recommendation is kept",
            )
        )
    else:
        conditions.append(
            (
                "MetricsUnavailable",
                "False",
                "PrometheusAnswers",
                "Prometheus answered the last read",
            )
        )
    if entries:
        conditions.append(("NoPodsMatched", "False", "PodsFound", f"usage found for {target}"))
        conditions.append(
            (
                "RecommendationProvided",
                "True",
                "Computed",
                f"{len(entries)} container(s) from {strategy}",
            )
        )
        shortest = min(spans)
        low = shortest < LOW_CONFIDENCE_SECONDS
        conditions.append(
            (
                "LowConfidence",
                "True" if low else "False",
                "ShortHistory" if low else "EnoughHistory",
                f"{shortest / 3600:.1f} h of history (24 h gives full confidence)",
            )
        )
    else:
        found = "no usage" if read_yet else "no read yet"
        conditions.append(
            (
                "NoPodsMatched",
                "True",
                "NoUsageHistory",
                f"{found} in Prometheus for the pods of {target}",
            )
        )
        conditions.append(
            (
                "RecommendationProvided",
                "False",
                "NoUsageHistory",
                f"nothing to recommend from: no usage history for {target}",
            )
        )
    return conditions


def significant_moves(
    previous: Iterable[dict[str, Any]], current: Iterable[dict[str, Any]]
) -> list[str]:
    """Human descriptions of targets that moved by more than 10 % since the last status."""
    before = {entry["containerName"]: entry.get("target", {}) for entry in previous}
    moves = []
    for entry in current:
        old = before.get(entry["containerName"])
        for resource, convert in (("cpu", cores), ("memory", lambda m: float(to_bytes(m)))):
            new_value = entry["target"].get(resource)
            if old is None or resource not in old or new_value is None:
                continue
            old_amount, new_amount = convert(old[resource]), convert(new_value)
            if old_amount and abs(new_amount - old_amount) / old_amount > SIGNIFICANT_MOVE:
                moves.append(f"{entry['containerName']} {resource} {old[resource]} -> {new_value}")
    return moves
