"""The trace suite of the recommender quality benchmark: classes, sizes and seeds, all fixed.

Every trace is one workload, 1-minute samples, starting 2025-01-01 00:00 UTC (a Wednesday).
Classes (the `group` of a trace):

* the generator's seven classes (steady, diurnal, bursty, step_change, memory_leak, batch,
  cold_start; see trimtab.history.generator), and
* four shapes real clusters show and the generator does not, made here:
  - jvm_heap: a JVM's working set is the largest heap it has needed since it started: it
    follows the daily load up, jumps after rare heavy requests and never comes down until a
    rollout (every 2-6 days) restarts the pods; CPU follows the load, plus a JIT warm-up spike
    after each start.
  - nightly_batch: a service with a mild daily cycle that runs a job in every replica each
    night at 02:00 UTC (30-75 min): CPU 4-7x, memory +120 %, and the Sunday run handles the
    week and needs 40 % more memory again.
  - weekly_cycle: office-hours traffic on weekdays (Mondays heavier, Fridays lighter), next to
    nothing at weekends; caches make memory follow the load of the last two hours.
  - slow_leak: memory grows 6-14 % of its base per day in each pod until a deploy (every 3-6
    days, a rolling restart) resets it; CPU creeps up with GC work.

Sizes: `small` (2 replicas, one container of 0.1 core / 200 MiB), `medium` (3 replicas, an
app of 0.5 core / 768 MiB and a proxy sidecar) and `large` (8 replicas, 2 cores / 3 GiB and a
sidecar, with two short scrape gaps where every sample is missing). Replicas differ: besides
the generator's own spread (about 12 %), each pod's level is multiplied by a log-normal factor
(sigma 0.15 for medium, 0.35 for large: uneven load balancing, hot partitions), CPU by the
factor and memory by its square root.

Seeds: `TUNING_SEEDS` may be looked at while tuning a strategy; `HELD_OUT_SEEDS` must not be,
so that figures on them show what tuning did not fit. All randomness comes from numpy
SeedSequences built from the seed and the trace's name (crc32), so every trace is the same on
every machine.

`hand_set` requests (what a cautious team writes: twice the CPU level rounded up to 50m, 1.5
times the memory level rounded up to 64 MiB, the generator's defaults) are kept beside each
trace as a fixed reference.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from trimtab.history.generator import WorkloadClass, WorkloadSpec, generate, smooth_noise
from trimtab.quality import Trace

FloatArray = npt.NDArray[np.float64]

MIB = 1024.0**2
GIB = 1024.0**3
DAY_S = 86_400.0
HOUR_S = 3600.0
STEP_S = 60.0
START = 1_735_689_600.0
"""2025-01-01 00:00 UTC, a Wednesday."""

TUNING_SEEDS = (1, 2, 3)
HELD_OUT_SEEDS = (101, 102, 103)
SEED_SETS = {"tuning": TUNING_SEEDS, "held-out": HELD_OUT_SEEDS}

GENERATOR_CLASSES = tuple(c.value for c in WorkloadClass)
SHAPES = ("jvm_heap", "nightly_batch", "weekly_cycle", "slow_leak")
GROUPS = GENERATOR_CLASSES + SHAPES


@dataclass(frozen=True)
class Size:
    """A workload size: replicas, containers and their typical level per replica."""

    name: str
    replicas: int
    containers: tuple[str, ...]
    cpu: tuple[float, ...]
    memory: tuple[float, ...]
    skew: float
    """Sigma of the extra log-normal factor per pod."""
    gaps: int
    """Scrape gaps (5-30 minutes with no sample at all)."""

    def hand_set(self) -> tuple[FloatArray, FloatArray]:
        """(CPU, memory) requests per container as a cautious team would set them."""
        cpu = np.ceil(np.asarray(self.cpu) * 2.0 / 0.05 - 1e-9) * 0.05
        memory = np.ceil(np.asarray(self.memory) * 1.5 / (64 * MIB)) * (64 * MIB)
        return cpu, memory


SIZES = {
    "small": Size("small", 2, ("app",), (0.1,), (200 * MIB,), skew=0.0, gaps=0),
    "medium": Size(
        "medium", 3, ("app", "proxy"), (0.5, 0.05), (768 * MIB, 64 * MIB), skew=0.15, gaps=0
    ),
    "large": Size(
        "large", 8, ("app", "proxy"), (2.0, 0.1), (3 * GIB, 128 * MIB), skew=0.35, gaps=2
    ),
}


@dataclass(frozen=True)
class SuiteSize:
    """How long the traces are, how much of them is warm-up, which sizes are in."""

    days: float
    warmup_days: float
    sizes: tuple[str, ...]


FULL = SuiteSize(days=16.0, warmup_days=2.0, sizes=("small", "medium", "large"))
QUICK = SuiteSize(days=5.0, warmup_days=1.0, sizes=("medium",))


@dataclass(frozen=True)
class TraceSpec:
    """One trace of the suite."""

    group: str
    size: str
    seed: int

    @property
    def name(self) -> str:
        return f"{self.group}/{self.size}/s{self.seed}"


@dataclass(frozen=True, eq=False)
class SuiteTrace:
    """A built trace and the hand-set requests of its containers."""

    spec: TraceSpec
    trace: Trace
    hand_set_cpu: FloatArray
    hand_set_memory: FloatArray


def suite(groups: Sequence[str], seeds: Sequence[int], size: SuiteSize) -> list[TraceSpec]:
    """Every (group, size, seed) combination, in a fixed order."""
    return [TraceSpec(g, s, seed) for g in groups for s in size.sizes for seed in seeds]


def _rng(spec: TraceSpec, purpose: int) -> np.random.Generator:
    identity = zlib.crc32(f"quality/{spec.name}".encode())
    return np.random.default_rng(np.random.SeedSequence([spec.seed, identity, purpose]))


def build(spec: TraceSpec, days: float) -> SuiteTrace:
    """Generate one trace of the suite (deterministic)."""
    size = SIZES[spec.size]
    if spec.group in GENERATOR_CLASSES:
        cpu, memory = _generated(spec, size, days)
    else:
        cpu, memory = _shaped(spec, size, days)
    factor = _rng(spec, 1).lognormal(0.0, size.skew, size.replicas)[:, None, None]
    cpu = cpu * factor
    memory = np.rint(memory * np.sqrt(factor) / 4096.0) * 4096.0
    _punch_gaps(_rng(spec, 2), cpu, memory, size.gaps)
    times = START + STEP_S * np.arange(cpu.shape[-1], dtype=np.float64)
    trace = Trace(spec.name, times, cpu, memory, size.containers, group=spec.group)
    hand_cpu, hand_memory = size.hand_set()
    return SuiteTrace(spec, trace, hand_cpu, hand_memory)


def _generated(spec: TraceSpec, size: Size, days: float) -> tuple[FloatArray, FloatArray]:
    workload = WorkloadSpec(
        name=f"{spec.group.replace('_', '-')}-{spec.size}",
        namespace="quality",
        workload_class=WorkloadClass(spec.group),
        replicas=size.replicas,
        containers=size.containers,
        cpu_base_cores=size.cpu,
        memory_base_bytes=size.memory,
        seed=spec.seed,
    )
    history = generate(workload, START, days * DAY_S, STEP_S)
    return history.cpu_cores, history.memory_bytes


def _punch_gaps(rng: np.random.Generator, cpu: FloatArray, memory: FloatArray, gaps: int) -> None:
    """Blank ``gaps`` stretches of 5-30 minutes in every series (a Prometheus outage)."""
    samples = cpu.shape[-1]
    for _ in range(gaps):
        length = int(rng.integers(5, 31))
        at = int(rng.integers(0, samples - length))
        cpu[..., at : at + length] = np.nan
        memory[..., at : at + length] = np.nan


# -- the four real-world shapes --------------------------------------------------------------

ShapeFn = Callable[[np.random.Generator, FloatArray, int], tuple[FloatArray, FloatArray]]
"""(rng, timestamps, pods) -> the app container's CPU and memory, multiples of its level,
each shaped (pods, samples)."""


def _daily(times: FloatArray, peak_hour: float = 15.0) -> FloatArray:
    """0 at night, 1 at ``peak_hour`` UTC: a raised cosine, a little sharper."""
    hours = (times % DAY_S) / HOUR_S
    cycle: FloatArray = (0.5 * (1.0 + np.cos(2.0 * np.pi * (hours - peak_hour) / 24.0))) ** 1.5
    return cycle


def _day_of_week(times: FloatArray) -> npt.NDArray[np.int64]:
    """0 = Monday (1970-01-01 was a Thursday)."""
    days: npt.NDArray[np.int64] = (np.floor(times / DAY_S).astype(np.int64) + 3) % 7
    return days


def _rollouts(
    rng: np.random.Generator, times: FloatArray, pods: int, low_days: float, high_days: float
) -> npt.NDArray[np.int64]:
    """Index of each pod's current run (0 before the first restart), shape (pods, samples):
    rolling restarts every ``low_days``-``high_days``, pods two minutes apart."""
    span = times[-1] - times[0]
    gaps = rng.uniform(low_days, high_days, int(span / (low_days * DAY_S)) + 2) * DAY_S
    first = rng.uniform(0.2, 1.0) * gaps[0]
    at = times[0] + first + np.concatenate(([0.0], np.cumsum(gaps[1:])))
    stagger = 120.0 * np.arange(pods)[:, None]
    runs: npt.NDArray[np.int64] = np.searchsorted(at, times[None, :] - stagger, side="right")
    return runs


def _age_s(runs: npt.NDArray[np.int64], times: FloatArray, before: FloatArray) -> FloatArray:
    """Seconds since each pod's run started; the first run started ``before`` s earlier."""
    index = np.arange(times.size)
    start = np.where(np.diff(runs, axis=1, prepend=runs[:, :1]) > 0, index, -1)
    start[:, 0] = 0
    start = np.maximum.accumulate(start, axis=1)
    age: FloatArray = times[None, :] - times[start]
    age = np.where(runs == 0, age + before[:, None], age)
    return age


def _jvm_heap(
    rng: np.random.Generator, times: FloatArray, pods: int
) -> tuple[FloatArray, FloatArray]:
    load = 0.35 + 0.65 * _daily(times)
    runs = _rollouts(rng, times, pods, 2.0, 6.0)
    age = _age_s(runs, times, rng.uniform(0.5, 3.0, pods) * DAY_S)
    heavy = rng.random((pods, times.size)) < STEP_S / (8 * HOUR_S)
    jump = heavy * rng.lognormal(np.log(0.12), 0.4, (pods, times.size))
    demand = 0.55 + 0.35 * load[None, :] + jump + 0.02 * rng.standard_normal((pods, times.size))
    demand = np.clip(demand, 0.0, 9.0)
    # The largest demand since the pod's start: offset each run so one running max does it.
    offset = 10.0 * runs
    working_set = np.maximum.accumulate(demand + offset, axis=1) - offset
    memory = np.minimum(working_set, 1.5)
    cpu = 0.3 + 0.9 * load[None, :] + 2.5 * np.exp(-age / 900.0)
    return cpu, memory


def _nightly_batch(
    rng: np.random.Generator, times: FloatArray, pods: int
) -> tuple[FloatArray, FloatArray]:
    day = np.floor((times - times[0]) / DAY_S).astype(np.int64)
    days = int(day[-1]) + 1
    begin = 2 * HOUR_S + rng.uniform(0.0, 20 * 60.0, days)
    length = rng.uniform(30 * 60.0, 75 * 60.0, days)
    into_day = times - times[0] - day * DAY_S
    running = (into_day >= begin[day]) & (into_day < begin[day] + length[day])
    sunday = _day_of_week(times) == 6
    intensity = rng.uniform(0.9, 1.1, (pods, 1))
    job_cpu = rng.uniform(4.0, 7.0, days)[day] * running
    job_memory = 1.2 * np.where(sunday, 1.4, 1.0) * running
    web = _daily(times)
    cpu = (0.4 + 0.3 * web)[None, :] + intensity * job_cpu[None, :]
    memory = (0.9 + 0.05 * web)[None, :] + intensity * job_memory[None, :]
    return cpu, memory


def _weekly_cycle(
    rng: np.random.Generator, times: FloatArray, pods: int
) -> tuple[FloatArray, FloatArray]:
    hours = (times % DAY_S) / HOUR_S
    office = np.clip(np.sin(np.pi * (hours - 7.0) / 12.0), 0.0, 1.0) ** 1.2
    weekday = _day_of_week(times)
    factor = np.select([weekday == 0, weekday == 4, weekday >= 5], [1.15, 0.85, 0.08], 1.0)
    level = factor * office * rng.uniform(0.9, 1.1)
    cpu = np.repeat((0.12 + level)[None, :], pods, axis=0)
    window = int(2 * HOUR_S / STEP_S)
    running = np.cumsum(np.concatenate((np.zeros(window), level)))
    recent = (running[window:] - running[:-window]) / window
    memory = np.repeat((0.65 + 0.35 * recent)[None, :], pods, axis=0)
    return cpu, memory


def _slow_leak(
    rng: np.random.Generator, times: FloatArray, pods: int
) -> tuple[FloatArray, FloatArray]:
    runs = _rollouts(rng, times, pods, 3.0, 6.0)
    age_days = _age_s(runs, times, rng.uniform(0.0, 3.0, pods) * DAY_S) / DAY_S
    rate = rng.uniform(0.06, 0.14, (pods, 1))
    daily = _daily(times)[None, :]
    memory = 0.8 + rate * age_days + 0.05 * daily
    cpu = 0.5 + 0.3 * daily + 0.5 * rate * age_days
    return cpu, memory


_SHAPES: dict[str, ShapeFn] = {
    "jvm_heap": _jvm_heap,
    "nightly_batch": _nightly_batch,
    "weekly_cycle": _weekly_cycle,
    "slow_leak": _slow_leak,
}


def _shaped(spec: TraceSpec, size: Size, days: float) -> tuple[FloatArray, FloatArray]:
    """The app container follows the shape; sidecars stay at their level. Both get the
    generator's kind of noise: CPU smooth over 15 minutes plus white, memory smooth over 30."""
    rng = _rng(spec, 0)
    samples = round(days * DAY_S / STEP_S)
    times = START + STEP_S * np.arange(samples, dtype=np.float64)
    pods, containers = size.replicas, len(size.containers)
    scale = rng.lognormal(0.0, 0.12, (pods, 1, 1))
    cpu_shape = np.ones((pods, containers, samples))
    memory_shape = np.ones((pods, containers, samples))
    app_cpu, app_memory = _SHAPES[spec.group](rng, times, pods)
    cpu_shape[:, 0] = app_cpu
    memory_shape[:, 0] = app_memory
    grid = (pods, containers, samples)
    cpu_noise = np.exp(0.10 * smooth_noise(rng, grid, 15) + 0.06 * rng.standard_normal(grid))
    memory_noise = np.exp(0.015 * smooth_noise(rng, grid, 30))
    cpu = np.asarray(size.cpu)[None, :, None] * scale * cpu_shape * cpu_noise
    memory = np.asarray(size.memory)[None, :, None] * scale * memory_shape * memory_noise
    return np.maximum(cpu, 1e-4), memory


__all__ = [
    "FULL",
    "GENERATOR_CLASSES",
    "GROUPS",
    "HELD_OUT_SEEDS",
    "QUICK",
    "SEED_SETS",
    "SHAPES",
    "SIZES",
    "TUNING_SEEDS",
    "SuiteSize",
    "SuiteTrace",
    "TraceSpec",
    "build",
    "suite",
]
