"""How many of a workload's pods may be disrupted now, and a token bucket for rate limits.

The disruption budget follows the VPA updater's: a workload is updated only while at least
``minReplicas`` of its pods are running and ready (so a single-replica workload is left alone by
default), and at most ``tolerance`` of its live pods (at least one) may be down at once.
"Down" counts every pod already unavailable for any reason (not ready, being deleted, or in an
in-place resize the updater asked for), so the updater never adds its own disruption on top of
an outage: when more pods are down than the tolerance allows, nothing is touched at all.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from trimtab.updater.model import UpdatablePod

_LIVE_PHASES = frozenset({"Pending", "Running"})
_ROUNDING_SLACK = 1e-9
"""Refills are floats; 2.9999999999 tokens after three exact refills are three."""


@dataclass(frozen=True)
class DisruptionBudget:
    """The counts behind an allowance, so messages can say which rule held an update back."""

    live: int
    """Pods not being deleted, in phase Pending or Running."""
    ready: int
    """Live pods that are Running and ready."""
    down: int
    """Live pods not ready, plus pods being deleted, plus pods in an in-place resize."""
    min_replicas: int
    tolerance_count: int
    """How many pods may be down at once: max(1, floor(live * tolerance))."""

    @property
    def allowance(self) -> int:
        """How many more pods may be updated now."""
        if self.ready < self.min_replicas or self.down > self.tolerance_count:
            return 0
        return max(0, self.tolerance_count - self.down)

    @property
    def blocked_reason(self) -> str | None:
        """Why no pod at all may be updated now; None while the allowance is positive."""
        if self.ready < self.min_replicas:
            ready, live, least = self.ready, self.live, self.min_replicas
            return f"only {ready} of {live} pods are ready, minReplicas is {least}"
        if self.down > self.tolerance_count:
            unready = self.live - self.ready
            return (
                f"{unready} of {self.live} pods are not ready and {self.down} are down in all, "
                f"more than the {self.tolerance_count} the eviction tolerance allows"
            )
        if self.allowance > 0:
            return None
        return self.exhausted_reason

    @property
    def exhausted_reason(self) -> str:
        """Which rule stops further updates once the allowance is used up."""
        return (
            f"eviction tolerance: {self.tolerance_count} of {self.live} pods may update at once"
            + (f", {self.down} already down or updating" if self.down else "")
        )


def disruption_budget(
    pods: Sequence[UpdatablePod], min_replicas: int, tolerance: float, updating: int = 0
) -> DisruptionBudget:
    """The budget of a workload whose pods are exactly ``pods``; ``updating`` counts the pods
    in an in-place resize (they are live and may well be ready, but are not settled)."""
    live = [pod for pod in pods if not pod.deleting and pod.phase in _LIVE_PHASES]
    ready = sum(1 for pod in live if pod.ready and pod.phase == "Running")
    deleting = sum(1 for pod in pods if pod.deleting)
    return DisruptionBudget(
        live=len(live),
        ready=ready,
        down=len(live) - ready + deleting + updating,
        min_replicas=min_replicas,
        tolerance_count=max(1, math.floor(len(live) * tolerance)),
    )


def disruption_allowance(
    pods: Sequence[UpdatablePod], min_replicas: int, tolerance: float, updating: int = 0
) -> tuple[int, str | None]:
    """How many more pods may be updated now and, when none because of a rule, why."""
    budget = disruption_budget(pods, min_replicas, tolerance, updating)
    return budget.allowance, budget.blocked_reason


@dataclass(frozen=True)
class TokenBucket:
    """A rate limit as a value: ``per_minute`` tokens flow in, at most ``burst`` are kept.

    Every method returns a new bucket, so the caller decides where the state lives.
    """

    per_minute: float
    burst: int
    tokens: float
    stamp: float
    """Unix seconds the token count was last brought up to date."""

    def __post_init__(self) -> None:
        if self.per_minute < 0 or self.burst < 0:
            raise ValueError(
                f"a token bucket needs a rate and a burst of at least 0, not "
                f"{self.per_minute} per minute and a burst of {self.burst}"
            )

    @classmethod
    def full(cls, per_minute: float, burst: int, now: float) -> TokenBucket:
        """A bucket holding its whole burst, as after a long quiet time."""
        return cls(per_minute=per_minute, burst=burst, tokens=float(burst), stamp=now)

    def available(self, now: float) -> int:
        """Whole tokens that may be taken at ``now``."""
        return math.floor(self._refilled(now) + _ROUNDING_SLACK)

    def take(self, now: float, n: int = 1) -> TokenBucket:
        """The bucket after taking ``n`` tokens at ``now``; ValueError when fewer are there."""
        if n < 0:
            raise ValueError(f"cannot take {n} tokens")
        available = self.available(now)
        if available < n:
            raise ValueError(f"{n} tokens wanted, {available} available")
        return replace(self, tokens=max(0.0, self._refilled(now) - n), stamp=max(self.stamp, now))

    def _refilled(self, now: float) -> float:
        """Tokens at ``now``: a clock that went back adds nothing (and takes nothing away)."""
        elapsed = max(0.0, now - self.stamp)
        return min(float(self.burst), self.tokens + elapsed * self.per_minute / 60.0)


__all__ = ["DisruptionBudget", "TokenBucket", "disruption_allowance", "disruption_budget"]
