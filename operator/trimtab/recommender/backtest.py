"""`trimtab backtest`'s work: Prometheus history in, the replay harness's scores out, per profile.

The history of the selected namespaces is read at full resolution (the harness scores every
minute: a 5-minute mean would hide the minutes a request was too small), turned into one
trace per workload on a shared one-minute grid (a pod that came and went is a pod row that is
NaN outside its life), and replayed through each profile's strategy in one batch. The same
`trimtab.quality.replay` runs the benchmarks, so a platform team compares profiles on its own
workloads exactly as the project compares strategies on generated ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from trimtab.api.profile import RecommenderProfileSpec
from trimtab.metrics.batch import ContainerKey, Samples, UsageBatch
from trimtab.metrics.chunking import grid
from trimtab.metrics.promql import Selection
from trimtab.metrics.usage import UsageReader
from trimtab.quality.replay import ReplayConfig, replay
from trimtab.quality.scores import Scores
from trimtab.quality.trace import Trace
from trimtab.recommender.offline import NothingMatchedError
from trimtab.recommender.strategies import strategy_for

MIN_SCORED_S = 86_400.0
"""A backtest scores at least one day after the warm-up, or it says there is not enough."""


class NotEnoughHistoryError(LookupError):
    """The selected workloads have too little history for the warm-up and a scored day."""


@dataclass(frozen=True)
class WorkloadScores:
    """One workload's scores under one profile."""

    workload: str
    """namespace/Kind/name"""
    scores: Scores


@dataclass(frozen=True)
class ProfileResult:
    """One profile's scores: per workload and in total."""

    profile: str
    workloads: list[WorkloadScores]
    total: Scores


def backtest(
    reader: UsageReader,
    selections: Sequence[Selection],
    profiles: Mapping[str, RecommenderProfileSpec],
    start: float,
    end: float,
    config: ReplayConfig,
    on_namespace: Callable[[Selection], None] | None = None,
) -> list[ProfileResult]:
    """Replay the selections' history of [start, end) through every profile."""
    step = reader.step_s
    traces: list[Trace] = []
    for selection in selections:
        if on_namespace is not None:
            on_namespace(selection)
        traces.extend(traces_of(reader.read(selection, start, end), start, end, step))
    if not traces:
        described = ", ".join(f"namespace {s.namespace}" for s in selections)
        raise NothingMatchedError(f"no container usage found in Prometheus for {described}")
    _check_history(traces, config)
    results = []
    for name, profile in profiles.items():
        replayed = replay(traces, strategy_for(profile), config)
        workloads = [WorkloadScores(r.trace, r.scores) for r in replayed]
        results.append(ProfileResult(name, workloads, Scores.total(w.scores for w in workloads)))
    return results


def traces_of(batch: UsageBatch, start: float, end: float, step: float) -> list[Trace]:
    """One trace per workload of the batch, all on the grid of [start, end) at `step`."""
    span = grid(start, end, step)
    if span is None or not batch.keys:
        return []
    times = span.first + step * np.arange(span.points, dtype=np.float64)
    workloads = sorted({_workload(key) for key in batch.keys})
    pods = {w: sorted({k.pod for k in batch.keys if _workload(k) == w}) for w in workloads}
    containers = {
        w: sorted({k.container for k in batch.keys if _workload(k) == w}) for w in workloads
    }
    # Per batch key: its workload and its (pod, container) cell in that workload's arrays.
    workload_of = np.array([workloads.index(_workload(k)) for k in batch.keys], dtype=np.int64)
    cell_of = np.array(
        [
            pods[_workload(k)].index(k.pod) * len(containers[_workload(k)])
            + containers[_workload(k)].index(k.container)
            for k in batch.keys
        ],
        dtype=np.int64,
    )
    traces = []
    for number, workload in enumerate(workloads):
        shape = (len(pods[workload]), len(containers[workload]), times.size)
        cpu, memory = (
            _place(samples, workload_of == number, cell_of, shape, times[0], step)
            for samples in (batch.cpu, batch.memory)
        )
        namespace, kind, name = workload
        name = f"{namespace}/{kind}/{name}"
        traces.append(Trace(name, times, cpu, memory, tuple(containers[workload]), namespace))
    return traces


def _workload(key: ContainerKey) -> tuple[str, str, str]:
    return key.namespace, key.workload_kind, key.workload_name


def _place(
    samples: Samples,
    keys_of_workload: np.ndarray,
    cell_of: np.ndarray,
    shape: tuple[int, int, int],
    first: float,
    step: float,
) -> np.ndarray:
    """A (pods, containers, times) array of one workload's samples, NaN where none."""
    placed = np.full(shape, np.nan)
    mine = keys_of_workload[samples.index]
    column = np.rint((samples.timestamps[mine] - first) / step).astype(np.int64)
    inside = (column >= 0) & (column < shape[2])
    cells = cell_of[samples.index[mine]][inside]
    placed.reshape(-1, shape[2])[cells, column[inside]] = samples.values[mine][inside]
    return placed


def _check_history(traces: Sequence[Trace], config: ReplayConfig) -> None:
    """Fail with the reason when no workload has the warm-up plus a scored day of history."""
    spans = []
    for trace in traces:
        seen = np.flatnonzero(np.isfinite(trace.cpu).any(axis=(0, 1)))
        spans.append(
            float(trace.timestamps[seen[-1]] - trace.timestamps[seen[0]]) if seen.size else 0.0
        )
    needed = config.warmup_s + MIN_SCORED_S
    if max(spans) < needed:
        raise NotEnoughHistoryError(
            f"not enough history: the longest is {max(spans) / 3600:.1f} h, a backtest needs "
            f"{config.warmup_s / 3600:g} h of warm-up plus {MIN_SCORED_S / 3600:g} h to score"
        )
