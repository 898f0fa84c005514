"""The offline report behind `trimtab recommend`: Prometheus history in, one row per
workload container out, computed with the same strategies as the operator.

All containers of a namespace share one state, one row each, so the fold and the estimates
run vectorised over the whole namespace.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from trimtab.api.profile import RecommenderProfileSpec
from trimtab.durations import parse_duration
from trimtab.metrics.batch import ContainerRequests, UsageBatch, WorkloadContainer
from trimtab.metrics.promql import Selection
from trimtab.metrics.usage import UsageReader
from trimtab.recommender.estimators import Caps
from trimtab.recommender.feed import KeyedSamples, fold_usage
from trimtab.recommender.strategies import ContainerContext, strategy_for


@dataclass(frozen=True)
class ReportRow:
    """The recommendation for one workload container, beside its current requests."""

    container: WorkloadContainer
    cpu_request: float | None
    memory_request: float | None
    cpu_target: float
    memory_target: float
    cpu_lower: float
    cpu_upper: float
    memory_lower: float
    memory_upper: float
    history_seconds: float
    samples: int


class NothingMatchedError(LookupError):
    """The selection found no container usage in Prometheus."""


def recommend_offline(
    reader: UsageReader,
    selections: Sequence[Selection],
    profile: RecommenderProfileSpec,
    end: float,
    on_namespace: Callable[[Selection], None] | None = None,
) -> list[ReportRow]:
    """Recommendations for every workload container the selections find in ``profile``'s
    window before ``end``; raises NothingMatchedError when there is none."""
    start = end - parse_duration(profile.history_window)
    rows: list[ReportRow] = []
    for selection in selections:
        if on_namespace is not None:
            on_namespace(selection)
        batch = reader.read(selection, start, end)
        if not batch.keys:
            continue
        requests = reader.current_requests(selection, end - batch.step_s)
        rows.extend(_namespace_rows(batch, profile, requests, end))
    if not rows:
        described = ", ".join(_describe(s) for s in selections)
        raise NothingMatchedError(f"no container usage found in Prometheus for {described}")
    return sorted(rows, key=lambda row: row.container)


def _namespace_rows(
    batch: UsageBatch,
    profile: RecommenderProfileSpec,
    requests: dict[WorkloadContainer, ContainerRequests],
    end: float,
) -> Iterable[ReportRow]:
    containers = sorted({key.workload_container for key in batch.keys})
    row_of = {container: row for row, container in enumerate(containers)}
    rows = np.array([row_of[key.workload_container] for key in batch.keys], dtype=np.int64)
    strategy = strategy_for(profile)
    state = strategy.new_state(len(containers))
    fold_usage(
        state,
        rows,
        np.arange(len(batch.keys), dtype=np.int64),
        KeyedSamples(batch.cpu.index, batch.cpu.timestamps, batch.cpu.values),
        KeyedSamples(batch.memory.index, batch.memory.timestamps, batch.memory.values),
    )
    per_workload: dict[tuple[str, str, str], int] = {}
    for container in containers:
        workload = container[:3]
        per_workload[workload] = per_workload.get(workload, 0) + 1
    sizes = np.array([per_workload[c[:3]] for c in containers], dtype=np.int64)
    result = strategy.recommend(state, ContainerContext(sizes, Caps.none(len(containers))), end)
    for row, container in enumerate(containers):
        current = requests.get(container)
        yield ReportRow(
            container=container,
            cpu_request=current.cpu_cores if current else None,
            memory_request=current.memory_bytes if current else None,
            cpu_target=float(result.target.cpu[row]),
            memory_target=float(result.target.memory[row]),
            cpu_lower=float(result.lower_bound.cpu[row]),
            cpu_upper=float(result.upper_bound.cpu[row]),
            memory_lower=float(result.lower_bound.memory[row]),
            memory_upper=float(result.upper_bound.memory[row]),
            history_seconds=float(result.history_span[row]),
            samples=int(result.sample_count[row]),
        )


def _describe(selection: Selection) -> str:
    narrowed = f" matching {selection.matchers}" if selection.matchers else ""
    return f"namespace {selection.namespace}{narrowed}"
