"""Feed a batch of usage samples into a strategy's state.

The metrics port returns samples keyed by pod container; a state has one row per workload
container. ``rows`` maps each key of the batch to a state row (or -1 to leave it out), and
``series`` to a stable id of the pod container, so memory peaks stay per pod across batches as
VPA keeps them. Samples at or before ``after`` were folded by an earlier batch and are skipped,
which makes overlapping reads harmless.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trimtab.recommender.arrays import FloatArray, IntArray
from trimtab.recommender.states import UsageState


@dataclass(frozen=True)
class KeyedSamples:
    """Samples of one metric: ``values[i]`` of batch key ``index[i]`` at ``timestamps[i]``."""

    index: IntArray
    timestamps: FloatArray
    values: FloatArray


@dataclass(frozen=True)
class Folded:
    """How many samples went in."""

    cpu: int
    memory: int
    last_timestamp: float | None


def fold_usage(
    state: UsageState,
    rows: IntArray,
    series: IntArray,
    cpu: KeyedSamples,
    memory: KeyedSamples,
    after: float | None = None,
) -> Folded:
    """Fold the samples whose key has a row and that are newer than ``after``."""
    cpu_mask = _wanted(rows, cpu, after)
    memory_mask = _wanted(rows, memory, after)
    cpu_count = state.add_cpu(
        rows[cpu.index[cpu_mask]], cpu.values[cpu_mask], cpu.timestamps[cpu_mask]
    )
    memory_count = state.add_memory(
        rows[memory.index[memory_mask]],
        memory.values[memory_mask],
        memory.timestamps[memory_mask],
        series[memory.index[memory_mask]],
    )
    stamps = [part.timestamps[mask] for part, mask in ((cpu, cpu_mask), (memory, memory_mask))]
    latest = [float(s.max()) for s in stamps if s.size]
    return Folded(cpu_count, memory_count, max(latest) if latest else None)


def _wanted(rows: IntArray, samples: KeyedSamples, after: float | None) -> np.ndarray:
    mask: np.ndarray = rows[samples.index] >= 0
    if after is not None:
        mask &= samples.timestamps > after
    return mask
