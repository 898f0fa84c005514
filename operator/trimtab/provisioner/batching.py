"""When a batch of pending pods is complete enough to decide on machines for it.

Pods that cannot be scheduled tend to come in bursts (a Deployment scaled up, a node lost).
Deciding on the first pod would buy a machine for it alone; waiting forever buys nothing. So a
window opens with the first pending pod, closes once no new pod has come for ``idle`` seconds,
and never stays open longer than ``longest`` (1 s and 10 s by default, as in Karpenter).
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class BatchWindow:
    """The window of the current batch: when it opened and when its newest pod came."""

    opened: float
    last_pod: float

    @classmethod
    def open(cls, now: float) -> BatchWindow:
        """A window opened by a pod seen at ``now``."""
        return cls(now, now)

    def extended(self, now: float) -> BatchWindow:
        """The window after a new pending pod was seen at ``now``."""
        return replace(self, last_pod=max(self.last_pod, now))

    def closed(self, now: float, idle: float, longest: float) -> bool:
        """Whether the batch is complete: quiet for ``idle`` seconds, or open ``longest``."""
        return now - self.last_pod >= idle or now - self.opened >= longest

    def closes_at(self, idle: float, longest: float) -> float:
        """The time the window closes if no other pod comes."""
        return min(self.last_pod + idle, self.opened + longest)
