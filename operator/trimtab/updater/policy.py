"""A VerticalScaler's spec and status, as the updater and the webhook apply them.

Both read the same two things: the per-container targets from ``status.recommendations`` and
what the policy lets Trimtab change in each container. Keeping that here means a pod created
by the webhook and a pod resized by the updater get the same requests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from trimtab.api.vertical import UpdateMode, VerticalScalerSpec
from trimtab.quantity import QuantityError, cores, to_bytes
from trimtab.recommender.status import container_policy
from trimtab.updater.capping import fit_to_allocatable
from trimtab.updater.model import Amounts, ContainerControl, ContainerTarget


def _memory(text: str) -> float:
    return float(to_bytes(text))


_PARSE: Mapping[str, Callable[[str], float]] = {"cpu": cores, "memory": _memory}


def targets_from_status(recommendations: Iterable[Mapping[str, Any]]) -> dict[str, ContainerTarget]:
    """Each container's target and bounds from ``status.recommendations`` (camelCase dicts)."""
    targets = {}
    for entry in recommendations:
        name, target = entry.get("containerName"), _amounts(entry.get("target"))
        if not name or not target:
            continue
        targets[name] = ContainerTarget(
            name, target, _amounts(entry.get("lowerBound")), _amounts(entry.get("upperBound"))
        )
    return targets


def capped_targets(
    targets: Mapping[str, ContainerTarget], allocatable: Amounts
) -> tuple[dict[str, ContainerTarget], list[str]]:
    """Targets (and bounds) scaled down so the pod fits the largest node; the resources capped.

    A pod asking for more than any node has would stay Pending forever; a smaller one runs.
    """
    fitted, capped = fit_to_allocatable(
        {name: t.target for name, t in targets.items()}, allocatable
    )
    if not capped:
        return dict(targets), []
    result = {}
    for name, t in targets.items():
        new = fitted[name]
        lower = {r: min(v, new.get(r, v)) for r, v in t.lower_bound.items()}
        upper = {r: min(v, new.get(r, v)) if r in capped else v for r, v in t.upper_bound.items()}
        result[name] = ContainerTarget(name, new, lower, upper)
    return result, capped


def container_controls(
    spec: VerticalScalerSpec, containers: Iterable[str], cpu_held: bool
) -> dict[str, ContainerControl]:
    """What may be changed in each named container; containers whose policy is Off are left out.

    ``cpu_held`` removes CPU everywhere (a horizontal scaler works on CPU utilisation).
    """
    policies = {p.container_name: p for p in spec.resource_policy.container_policies}
    controls = {}
    for name in containers:
        policy = container_policy(policies, name)
        resources = frozenset(policy.controlled_resources) - ({"cpu"} if cpu_held else set())
        if policy.mode == "Off" or not resources:
            continue
        controls[name] = ContainerControl(
            resources, policy.controlled_values == "RequestsAndLimits"
        )
    return controls


def admits(spec: VerticalScalerSpec) -> bool:
    """Whether new pods get the recommendation (every mode but Off)."""
    return spec.update_policy.mode != UpdateMode.OFF


def evicts(spec: VerticalScalerSpec) -> bool:
    """Whether running pods are updated (Recreate and InPlaceOrRecreate)."""
    return spec.update_policy.mode in (UpdateMode.RECREATE, UpdateMode.IN_PLACE_OR_RECREATE)


def _amounts(entry: Any) -> dict[str, float]:
    amounts: dict[str, float] = {}
    for resource, parse in _PARSE.items():
        text = (entry or {}).get(resource)
        if text is None:
            continue
        try:
            amounts[resource] = parse(str(text))
        except QuantityError:
            continue
    return amounts
