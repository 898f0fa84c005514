"""Keep a pod's new requests within what the largest node can offer.

A pod whose summed requests exceed every node's allocatable amount can never be scheduled:
evicting it for such a recommendation would take a working pod away for good. The targets are
scaled down together, keeping each container's share, until the pod fits the largest node.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from trimtab.updater.model import Amounts


def fit_to_allocatable(
    targets: Mapping[str, Amounts], allocatable: Amounts
) -> tuple[dict[str, dict[str, float]], list[str]]:
    """``targets`` (container name to amounts) scaled per resource so that no resource's sum
    exceeds the largest node's ``allocatable`` amount, and the resources that were scaled.

    Resources the allocatable amounts do not mention are left alone (nothing is known about
    them), and so is one whose allocatable amount is negative or not a number (a broken node
    report must not zero a workload's requests); every resource whose sum fits stays as it is.
    """
    fitted = {container: dict(amounts) for container, amounts in targets.items()}
    capped = []
    resources = sorted({resource for amounts in targets.values() for resource in amounts})
    for resource in resources:
        limit = allocatable.get(resource)
        total = sum(amounts.get(resource, 0.0) for amounts in targets.values())
        if limit is None or not math.isfinite(limit) or limit < 0 or total <= limit:
            continue
        factor = limit / total
        for amounts in fitted.values():
            if resource in amounts:
                amounts[resource] *= factor
        capped.append(resource)
    return fitted, capped


__all__ = ["fit_to_allocatable"]
