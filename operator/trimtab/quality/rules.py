"""When a replay applies a new recommendation: the VPA updater's rules, per container.

A recommender that is right but moves every hour would cost a restart every hour, so the
replay does not simply copy each target into the request; it asks the same question the VPA
updater asks of a running pod (see ALGORITHMS in the design notes), for each workload
container at each update point:

* ``vpa-updater`` (the default) updates when
  - a request (CPU or memory) is outside ``[lowerBound, upperBound]``, or
  - the pods are at least ``min_age_s`` old (12 h: since the container's request last
    changed, which recreated them) and ``|cpu - target| / cpu + |memory - target| / memory``
    is at least ``min_difference`` (0.1), or
  - the container was OOM-killed within ``quick_oom_s`` (10 min) of its pods' start.
* ``outside-bounds`` updates only on the first condition.
* ``always`` updates whenever the target differs from the request.

An update sets both requests to the target (as the admission webhook does), and counts as a
change only when that moves a request. Two simplifications: VPA sums the relative difference
over a pod's containers, this rule looks at each container alone; and the pods of a workload
are updated at once, not a few at a time under an eviction budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from trimtab.recommender.arrays import BoolArray, FloatArray
from trimtab.recommender.estimators import Recommendation, Resources

SMALLEST_CPU = 0.001
"""VPA divides by the request in millicores but at least 1: the same floor in cores."""
SMALLEST_MEMORY = 1.0
"""... and by at least one byte."""


class ApplyRule(StrEnum):
    """Which condition makes the replay apply a recommendation (see the module doc)."""

    VPA_UPDATER = "vpa-updater"
    OUTSIDE_BOUNDS = "outside-bounds"
    ALWAYS = "always"


@dataclass(frozen=True)
class UpdaterSettings:
    """The apply rule and the VPA updater's thresholds."""

    rule: ApplyRule = ApplyRule.VPA_UPDATER
    min_age_s: float = 12 * 3600.0
    """Pods younger than this are updated only outside the bounds or after a quick OOM."""
    min_difference: float = 0.1
    """Sum of the relative CPU and memory differences that justifies updating old pods."""
    quick_oom_s: float = 600.0
    """An OOM kill this soon after the pods started updates them whatever the bounds say."""


def outside_bounds(request: Resources, recommendation: Recommendation) -> BoolArray:
    """Containers with a request below its lower bound or above its upper bound."""
    low, high = recommendation.lower_bound, recommendation.upper_bound
    outside: BoolArray = (
        (request.cpu < low.cpu)
        | (request.cpu > high.cpu)
        | (request.memory < low.memory)
        | (request.memory > high.memory)
    )
    return outside


def relative_difference(request: Resources, target: Resources) -> FloatArray:
    """``|cpu - target| / cpu + |memory - target| / memory`` per container."""
    cpu = np.abs(request.cpu - target.cpu) / np.maximum(request.cpu, SMALLEST_CPU)
    memory = np.abs(request.memory - target.memory) / np.maximum(request.memory, SMALLEST_MEMORY)
    found: FloatArray = cpu + memory
    return found


def updates(
    settings: UpdaterSettings,
    request: Resources,
    recommendation: Recommendation,
    pod_age_s: FloatArray,
    quick_oom: BoolArray,
) -> BoolArray:
    """Containers whose request changes now: the rule holds and the target moves a request."""
    target = recommendation.target
    moves: BoolArray = (request.cpu != target.cpu) | (request.memory != target.memory)
    if settings.rule == ApplyRule.ALWAYS:
        return moves
    wanted = outside_bounds(request, recommendation)
    if settings.rule == ApplyRule.VPA_UPDATER:
        old = pod_age_s >= settings.min_age_s
        wanted |= old & (relative_difference(request, target) >= settings.min_difference)
        wanted |= quick_oom
    changed: BoolArray = wanted & moves
    return changed


__all__ = [
    "ApplyRule",
    "UpdaterSettings",
    "outside_bounds",
    "relative_difference",
    "updates",
]
