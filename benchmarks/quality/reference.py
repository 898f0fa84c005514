"""A fixed reference for the quality tables: the requests a team set by hand, never changed.

It goes through the same harness as the strategies (as a strategy that ignores usage and
always recommends the hand-set requests, bounds included), so its figures are scored by the
same slack, shortfall and OOM definitions. One difference, on purpose: its memory limit is
twice its request (``LIMIT_RATIO``, the generator's default), as such teams set it, where the
strategies run with limit = request. Scored with limit = request it would count thousands of
OOM kills it never suffered. It is what the recommenders are meant to improve on (Autopilot's
paper reports 46 % slack for hand-set limits).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from trimtab.recommender.estimators import Recommendation, Resources
from trimtab.recommender.strategies import ContainerContext

HAND_SET = "hand-set"
LIMIT_RATIO = 2.0
"""Memory limit / request of the hand-set reference."""


@dataclass
class IgnoredUsage:
    """A usage state that keeps nothing: the hand-set requests do not depend on usage."""

    rows: int

    @property
    def containers(self) -> int:
        return self.rows

    def add_cpu(self, *args: object, **kwargs: object) -> int:
        return 0

    def add_cpu_grid(self, *args: object, **kwargs: object) -> int:
        return 0

    def add_memory(self, *args: object, **kwargs: object) -> int:
        return 0

    def add_memory_grid(self, *args: object, **kwargs: object) -> int:
        return 0

    def add_oom(self, *args: object, **kwargs: object) -> int:
        return 0

    def to_bytes(self) -> bytes:
        return b""


@dataclass(frozen=True)
class HandSet:
    """Recommends the same per-row requests at every point (rows in the replay's order)."""

    cpu: npt.NDArray[np.float64]
    memory: npt.NDArray[np.float64]
    name: str = HAND_SET

    def new_state(self, containers: int) -> IgnoredUsage:
        if containers != self.cpu.size:
            raise ValueError("one hand-set request per replayed container is needed")
        return IgnoredUsage(containers)

    def restore_state(self, data: bytes) -> IgnoredUsage:
        return IgnoredUsage(self.cpu.size)

    def recommend(
        self,
        state: object,
        context: ContainerContext | None = None,
        now: float | None = None,
    ) -> Recommendation:
        requests = Resources(self.cpu.copy(), self.memory.copy())
        zeros = np.zeros(self.cpu.size)
        return Recommendation(
            target=requests,
            lower_bound=requests,
            upper_bound=requests,
            uncapped_target=requests,
            history_span=zeros,
            sample_count=zeros.astype(np.int64),
        )
