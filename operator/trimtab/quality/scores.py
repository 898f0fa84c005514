"""What a replay measures, defined exactly, and the block arithmetic that measures it.

A replay applies a strategy's recommendations as the requests of a workload's containers and
compares them with the usage the trace records. Every score is a plain sum over the scored
minutes of the pod containers (a minute is one sample of one container in one pod; a minute
whose sample is missing, NaN, counts for nothing), so the scores of many traces add up to the
scores of the whole suite and shares are computed from the sums, never averaged::

    cpu_requested          = sum(request)                        core-minutes
    cpu_used               = sum(used)                           core-minutes
    cpu_slack              = sum(max(request - used, 0))         core-minutes
    cpu_shortfall          = sum(max(used - request, 0))         core-minutes
    cpu_shortfall_minutes  = count(used > request)               minutes
    cpu_slack_share        = cpu_slack / cpu_requested

    memory_requested       = sum(request)                        byte-minutes
    memory_used            = sum(used)                           byte-minutes
    memory_slack           = sum(max(request - used, 0))         byte-minutes
    memory_slack_share     = memory_slack / memory_requested
    oom_minutes            = count(used > limit)                 minutes
    oom_events             = runs of oom_minutes (below)

Slack is only the unused part of a request: usage above the request is not negative slack
(that would let a strategy pay for waste with shortfall) but shortfall, counted on its own.
A minute lasts the trace's step, so with 1-minute samples ``count`` is a number of minutes.

The memory limit equals the memory request (the limit the updater writes when it keeps the
limit at the request) unless the replay is told to keep a larger limit-to-request ratio.
Memory usage above the limit is an OOM kill. One OOM event is one run of a
pod container's minutes above its limit: the run starts an event at its first minute above and
lasts while the samples stay above; missing minutes neither end nor start a run; a new request
applied to the container (its pods are recreated) ends the run, so a pod recreated with a
limit it still exceeds is killed again. A run counts once however long it lasts, so
``oom_events`` is a lower bound on the kills a crash-looping container would suffer;
``oom_minutes`` shows how long it stayed above.

``changes`` counts applied request changes, one per workload container and update point at
which its request (CPU, memory or both) changed: each recreates every pod of the workload.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt

from trimtab.recommender.arrays import BoolArray, FloatArray, IntArray


@dataclass(frozen=True)
class Scores:
    """Sums over the scored minutes of one or more traces (see the module doc)."""

    cpu_minutes: float = 0.0
    """Minutes with a CPU sample (pod containers x minutes)."""
    cpu_requested: float = 0.0
    """Core-minutes requested over those minutes."""
    cpu_used: float = 0.0
    """Core-minutes used."""
    cpu_slack: float = 0.0
    """Core-minutes requested and not used."""
    cpu_shortfall: float = 0.0
    """Core-minutes used above the request."""
    cpu_shortfall_minutes: float = 0.0
    """Minutes in which usage was above the request."""
    memory_minutes: float = 0.0
    """Minutes with a memory sample."""
    memory_requested: float = 0.0
    """Byte-minutes requested."""
    memory_used: float = 0.0
    """Byte-minutes used (what the workload wanted, also above its limit)."""
    memory_slack: float = 0.0
    """Byte-minutes requested and not used."""
    oom_minutes: float = 0.0
    """Minutes in which usage was above the limit."""
    oom_events: int = 0
    """Runs of minutes above the limit, one per pod container and run."""
    changes: int = 0
    """Applied request changes, one per workload container and update point."""

    @property
    def cpu_slack_share(self) -> float:
        """``cpu_slack / cpu_requested``: the share of the CPU request left unused (0 when
        nothing was requested)."""
        return self.cpu_slack / self.cpu_requested if self.cpu_requested > 0 else 0.0

    @property
    def memory_slack_share(self) -> float:
        """``memory_slack / memory_requested``: the share of the memory request left unused."""
        return self.memory_slack / self.memory_requested if self.memory_requested > 0 else 0.0

    def __add__(self, other: Scores) -> Scores:
        return Scores(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )

    @classmethod
    def total(cls, scores: Iterable[Scores]) -> Scores:
        """The sum of ``scores`` (zero for none)."""
        found = cls()
        for part in scores:
            found = found + part
        return found

    def as_dict(self) -> dict[str, Any]:
        """Every sum and both shares, for JSON."""
        return {
            **asdict(self),
            "cpu_slack_share": self.cpu_slack_share,
            "memory_slack_share": self.memory_slack_share,
        }


_SUMS = (
    "cpu_minutes",
    "cpu_requested",
    "cpu_used",
    "cpu_slack",
    "cpu_shortfall",
    "cpu_shortfall_minutes",
    "memory_minutes",
    "memory_requested",
    "memory_used",
    "memory_slack",
    "oom_minutes",
)


@dataclass
class SeriesTally:
    """Running sums per pod container (series), added to one block of minutes at a time.

    ``above`` carries, per series, whether its last known minute was above the limit, so an
    OOM run that spans blocks counts once.
    """

    sums: FloatArray
    """(len(_SUMS), series) running sums, in the order of ``_SUMS``."""
    oom_events: IntArray
    above: BoolArray

    @classmethod
    def empty(cls, series: int) -> SeriesTally:
        return cls(
            sums=np.zeros((len(_SUMS), series)),
            oom_events=np.zeros(series, dtype=np.int64),
            above=np.zeros(series, dtype=bool),
        )

    def end_runs(self, series: npt.ArrayLike) -> None:
        """The pods of these series were recreated: an OOM run in progress ends."""
        self.above[np.asarray(series, dtype=np.int64)] = False

    def add_block(
        self,
        cpu: FloatArray,
        memory: FloatArray,
        cpu_request: FloatArray,
        memory_request: FloatArray,
        memory_limit: FloatArray,
    ) -> tuple[IntArray, IntArray]:
        """Score a block: ``cpu`` and ``memory`` are (series, samples), NaN where missing;
        the requests and the limit are per series and hold for the whole block.
        Sums are kept in samples; ``scores_of`` turns them into minutes.

        Returns the OOM events that start in the block as (series, column) index arrays.
        """
        request = cpu_request[:, None]
        asked = memory_request[:, None]
        limit = memory_limit[:, None]
        cpu_known = ~np.isnan(cpu)
        memory_known = ~np.isnan(memory)
        used_cpu = np.where(cpu_known, cpu, 0.0)
        used_memory = np.where(memory_known, memory, 0.0)
        over = used_cpu > request  # False where missing
        above = used_memory > limit
        cpu_minutes = cpu_known.sum(axis=1)
        memory_minutes = memory_known.sum(axis=1)
        parts = (
            cpu_minutes,
            cpu_request * cpu_minutes,
            used_cpu.sum(axis=1),
            np.where(cpu_known, np.maximum(request - used_cpu, 0.0), 0.0).sum(axis=1),
            np.maximum(used_cpu - request, 0.0).sum(axis=1),
            over.sum(axis=1),
            memory_minutes,
            memory_request * memory_minutes,
            used_memory.sum(axis=1),
            np.where(memory_known, np.maximum(asked - used_memory, 0.0), 0.0).sum(axis=1),
            above.sum(axis=1),
        )
        self.sums += np.stack([np.asarray(part, dtype=np.float64) for part in parts])
        starts = self._run_starts(above, memory_known)
        series, columns = np.nonzero(starts)
        np.add.at(self.oom_events, series, 1)
        return series.astype(np.int64), columns.astype(np.int64)

    def _run_starts(self, above: BoolArray, known: BoolArray) -> BoolArray:
        """Minutes above the limit whose previous known minute (or the carried state, at the
        block's start) was not above; updates the carried state."""
        columns = above.shape[1]
        if columns == 0:
            return above
        index = np.where(known, np.arange(columns)[None, :], -1)
        last_known = np.maximum.accumulate(index, axis=1)
        taken = np.take_along_axis(above, np.maximum(last_known, 0), axis=1)
        state = np.where(last_known >= 0, taken, self.above[:, None])
        before = np.concatenate((self.above[:, None], state[:, :-1]), axis=1)
        self.above = state[:, -1].copy()
        starts: BoolArray = above & ~before
        return starts

    def scores_of(
        self, groups: IntArray, count: int, changes: IntArray, minutes_per_sample: float
    ) -> list[Scores]:
        """Scores per group (trace) of the series: ``groups[s]`` is the group of series ``s``,
        ``changes`` the changes per group."""
        sums = minutes_per_sample * np.stack(
            [np.bincount(groups, weights=row, minlength=count) for row in self.sums]
        )
        events = np.bincount(groups, weights=self.oom_events, minlength=count)
        return [
            Scores(
                **{name: float(sums[i, g]) for i, name in enumerate(_SUMS)},
                oom_events=int(events[g]),
                changes=int(changes[g]),
            )
            for g in range(count)
        ]


__all__ = ["Scores", "SeriesTally"]
