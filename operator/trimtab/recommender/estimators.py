"""The estimator chain that turns usage statistics into bounded, rounded recommendations.

Each step is a small function on arrays holding every container at once, written so that a
strategy reads as the chain it applies. The VPA chain, per resource:

    estimate    = percentile(p)                         target p90, lower p50, upper p95
    estimate   *= 1 + margin                            safety margin, 0.15
    upper      *= (1 + 1 / c)                           confidence c = min(days of history,
    lower      *= (1 + 0.001 / c) ** -2                   samples / 1440)
    estimate    = max(estimate, pod floor / containers) 25m CPU and 250Mi memory per pod
    estimate    = ceil(estimate / step) * step          the profile's rounding
    uncapped    = target
    estimate    = clip(estimate, minAllowed, maxAllowed)

Rounding comes before the caps so that a cap the user wrote is never exceeded by rounding
up. The OOM bump is not a step of the chain: it turns an OOM kill into one more memory sample
(see ``oom_bump``), which then goes through the histogram like any other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from trimtab.recommender.arrays import SECONDS_PER_DAY, FloatArray, IntArray

SAMPLES_PER_DAY = 1440.0
"""Confidence counts samples in days of one sample a minute."""
UPPER_CONFIDENCE = (1.0, 1.0)
"""(multiplier, exponent) for the upper bound: ``(1 + 1 / c) ** 1``."""
LOWER_CONFIDENCE = (0.001, -2.0)
"""(multiplier, exponent) for the lower bound: ``(1 + 0.001 / c) ** -2``."""
MAX_CPU_CORES = 1e11
"""VPA's cap on any amount (1e14 of its units: millicores) in cores."""
MAX_MEMORY_BYTES = 1e14
"""VPA's cap on any amount (1e14 of its units: bytes)."""


@dataclass(frozen=True)
class Resources:
    """CPU in cores and memory in bytes, one entry per container."""

    cpu: FloatArray
    memory: FloatArray

    def scaled(self, cpu: npt.ArrayLike, memory: npt.ArrayLike) -> Resources:
        """Each resource multiplied by its factor (scalars or per-container arrays)."""
        return Resources(self.cpu * np.asarray(cpu), self.memory * np.asarray(memory))


@dataclass(frozen=True)
class Caps:
    """Per-container minAllowed / maxAllowed; NaN means no cap on that side."""

    min_cpu: FloatArray
    max_cpu: FloatArray
    min_memory: FloatArray
    max_memory: FloatArray

    @classmethod
    def none(cls, containers: int) -> Caps:
        """No caps at all for ``containers`` containers."""
        nan = np.full(containers, np.nan)
        return cls(nan, nan, nan, nan)


@dataclass(frozen=True)
class Recommendation:
    """What the recommender reports per container (CPU in cores, memory in bytes)."""

    target: Resources
    lower_bound: Resources
    upper_bound: Resources
    uncapped_target: Resources
    history_span: FloatArray
    """Seconds between the first and the last CPU sample."""
    sample_count: IntArray
    """CPU samples folded so far."""


def with_margin(estimate: Resources, cpu_margin: float, memory_margin: float) -> Resources:
    """``estimate * (1 + margin)``: headroom above what was observed."""
    return estimate.scaled(1.0 + cpu_margin, 1.0 + memory_margin)


def confidence(history_span: FloatArray, sample_count: IntArray) -> FloatArray:
    """``c = min(span / 1 day, samples / 1440)``: how many days of history back the estimate.

    Both terms must be large: a long span of sparse samples or a burst of many samples in a
    short span is still a young history.
    """
    days: FloatArray = np.minimum(history_span / SECONDS_PER_DAY, sample_count / SAMPLES_PER_DAY)
    return days


def with_confidence(
    estimate: Resources, confidence_days: FloatArray, multiplier: float, exponent: float
) -> Resources:
    """``estimate * (1 + multiplier / c) ** exponent``: wide bounds for young histories.

    With (1, 1) the upper bound is x3 at 12 h, x2 at 1 day and x1.14 at a week; with
    (0.001, -2) the lower bound is x0.6 at 5 min and practically x1 after an hour. With no
    history (c = 0) the factor is infinite or zero: as in VPA, infinity saturates at VPA's
    maximum amount and 0 x infinity (no usage, no history) counts as 0 and is left to floors.
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        factor = (1.0 + multiplier / confidence_days) ** exponent
        scaled = estimate.scaled(factor, factor)
    return Resources(
        _saturate(scaled.cpu, MAX_CPU_CORES), _saturate(scaled.memory, MAX_MEMORY_BYTES)
    )


def _saturate(values: FloatArray, maximum: float) -> FloatArray:
    clipped: FloatArray = np.clip(np.nan_to_num(values, nan=0.0, posinf=maximum), 0.0, maximum)
    return clipped


def pod_floors(containers_per_pod: npt.ArrayLike, pod_cpu: float, pod_memory: float) -> Resources:
    """Per-container floors: the pod's minimum split evenly among its containers.

    A pod with two containers gets 12.5m CPU and 125Mi memory per container by default, so the
    pod as a whole never asks for less than 25m and 250Mi.
    """
    share = 1.0 / np.maximum(np.asarray(containers_per_pod, dtype=np.float64), 1.0)
    return Resources(pod_cpu * share, pod_memory * share)


def with_floor(estimate: Resources, floor: Resources) -> Resources:
    """``max(estimate, floor)`` per resource."""
    return Resources(np.maximum(estimate.cpu, floor.cpu), np.maximum(estimate.memory, floor.memory))


def oom_bump(
    request: npt.ArrayLike, usage_peak: npt.ArrayLike, minimum: float, ratio: float
) -> FloatArray:
    """The memory sample an OOM kill adds: ``base + max(minimum, ratio * base)`` with
    ``base = max(request, usage peak)``.

    A container killed for memory used at least what it asked for, so the next estimate must
    clear that by a real step: 100Mi or 20 % by default, whichever is larger.
    """
    base = np.maximum(
        np.asarray(request, dtype=np.float64), np.asarray(usage_peak, dtype=np.float64)
    )
    bumped: FloatArray = base + np.maximum(minimum, ratio * base)
    return bumped


def rounded_up(estimate: Resources, cpu_step: float, memory_step: float) -> Resources:
    """``ceil(value / step) * step``: values that read well and change less often.

    A relative tolerance of 1e-9 keeps values that are already multiples (up to floating
    point noise, e.g. 0.013 / 0.001 = 12.999999999999998) from moving up a whole step.
    """
    return Resources(_round_up(estimate.cpu, cpu_step), _round_up(estimate.memory, memory_step))


def _round_up(values: FloatArray, step: float) -> FloatArray:
    if step <= 0:
        return values
    rounded: FloatArray = np.ceil(values / step * (1 - 1e-9)) * step
    return rounded


def capped(estimate: Resources, caps: Caps) -> Resources:
    """``clip(value, minAllowed, maxAllowed)``; NaN caps are absent. A minimum above the
    maximum is a policy error caught by validation; here the maximum wins."""
    cpu = np.fmin(np.fmax(estimate.cpu, caps.min_cpu), caps.max_cpu)
    memory = np.fmin(np.fmax(estimate.memory, caps.min_memory), caps.max_memory)
    return Resources(cpu, memory)


@dataclass(frozen=True)
class Finishing:
    """The chain's last steps, shared by all strategies: floors, rounding, caps."""

    floor: Resources
    cpu_step: float
    memory_step: float
    caps: Caps

    def finish(
        self,
        target: Resources,
        lower: Resources,
        upper: Resources,
        history_span: FloatArray,
        sample_count: IntArray,
    ) -> Recommendation:
        """Apply floors, then rounding, then caps (keeping the uncapped target)."""

        def floored_and_rounded(estimate: Resources) -> Resources:
            return rounded_up(with_floor(estimate, self.floor), self.cpu_step, self.memory_step)

        uncapped = floored_and_rounded(target)
        return Recommendation(
            target=capped(uncapped, self.caps),
            lower_bound=capped(floored_and_rounded(lower), self.caps),
            upper_bound=capped(floored_and_rounded(upper), self.caps),
            uncapped_target=uncapped,
            history_span=history_span,
            sample_count=sample_count,
        )
