"""The requests a VerticalScaler gives a pod being created: its policy applied to its status."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from trimtab.admission.mutation import PodMutation, pod_mutation
from trimtab.api.vertical import VerticalScalerSpec
from trimtab.updater.model import Amounts
from trimtab.updater.policy import admits, capped_targets, container_controls, targets_from_status


def recommended_mutation(
    pod_spec: Mapping[str, Any],
    scaler: str,
    spec: VerticalScalerSpec,
    recommendations: Sequence[Mapping[str, Any]],
    allocatable: Amounts,
    cpu_conflict: str | None,
) -> PodMutation | None:
    """The change to a new pod of the scaler's workload, or None (mode Off, nothing to change).

    The same targets, caps and container controls as the updater's, so a pod the updater evicts
    comes back with exactly the requests the updater compares against.
    """
    if not admits(spec):
        return None
    targets, _ = capped_targets(targets_from_status(recommendations), allocatable)
    held = cpu_conflict is not None and not spec.update_policy.allow_cpu_with_horizontal_scaling
    controls = container_controls(spec, targets, cpu_held=held)
    return pod_mutation(
        pod_spec.get("containers") or [],
        {name: target.target for name, target in targets.items()},
        controls,
        scaler,
    )
