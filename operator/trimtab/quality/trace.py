"""A usage trace: what one workload's containers used, minute by minute, in every pod.

The trace is the demand, independent of any request: the replay decides requests and limits
and scores them against it. Usage above a memory limit is what the workload would have needed
(it is killed instead), and the strategy only ever sees usage capped at the limit it lived
under (see ``replay``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from trimtab.recommender.arrays import FloatArray

STEP_TOLERANCE = 1e-6
"""Relative spread allowed between consecutive time steps (float noise only)."""


@dataclass(frozen=True, eq=False)
class Trace:
    """Usage of one workload, arrays shaped (pods, containers, samples), NaN where missing.

    ``cpu`` is cores (the mean over the interval ending at the sample's timestamp), ``memory``
    the working set in bytes. ``initial_cpu`` / ``initial_memory`` (one value per container),
    when given, are the requests the workload runs with when scoring starts; without them it
    starts at the first recommendation.
    """

    name: str
    timestamps: FloatArray
    cpu: FloatArray
    memory: FloatArray
    containers: tuple[str, ...]
    group: str = ""
    """A label to total traces by (the workload class)."""
    initial_cpu: FloatArray | None = None
    initial_memory: FloatArray | None = None

    def __post_init__(self) -> None:
        times = np.asarray(self.timestamps, dtype=np.float64)
        cpu = np.asarray(self.cpu, dtype=np.float64)
        memory = np.asarray(self.memory, dtype=np.float64)
        object.__setattr__(self, "timestamps", times)
        object.__setattr__(self, "cpu", cpu)
        object.__setattr__(self, "memory", memory)
        object.__setattr__(self, "containers", tuple(self.containers))
        if times.ndim != 1 or times.size < 2 or not np.isfinite(times).all():
            raise ValueError(f"{self.name}: timestamps must be at least two finite times")
        steps = np.diff(times)
        if steps[0] <= 0 or np.abs(steps - steps[0]).max() > STEP_TOLERANCE * steps[0]:
            raise ValueError(f"{self.name}: timestamps must increase by a constant step")
        shape = (cpu.shape[0] if cpu.ndim == 3 else -1, len(self.containers), times.size)
        if cpu.shape != shape or memory.shape != shape or shape[0] < 1:
            raise ValueError(f"{self.name}: cpu and memory must be shaped (pods, containers, T)")
        for name in ("initial_cpu", "initial_memory"):
            value = getattr(self, name)
            if value is not None:
                array = np.asarray(value, dtype=np.float64)
                if array.shape != (len(self.containers),) or not (array > 0).all():
                    raise ValueError(f"{self.name}: {name} needs one positive value a container")
                object.__setattr__(self, name, array)
        if (self.initial_cpu is None) != (self.initial_memory is None):
            raise ValueError(f"{self.name}: give both initial requests or neither")

    @property
    def pods(self) -> int:
        return int(self.cpu.shape[0])

    @property
    def step_s(self) -> float:
        return float(self.timestamps[1] - self.timestamps[0])

    def with_usage(self, cpu: npt.ArrayLike, memory: npt.ArrayLike) -> Trace:
        """The same trace with other usage arrays (for tests and derived traces)."""
        return Trace(
            self.name,
            self.timestamps,
            np.asarray(cpu, dtype=np.float64),
            np.asarray(memory, dtype=np.float64),
            self.containers,
            self.group,
            self.initial_cpu,
            self.initial_memory,
        )


__all__ = ["Trace"]
