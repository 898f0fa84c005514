"""Per-container CPU and memory usage for named workload classes, reproducible from a seed.

Every figure Trimtab publishes about its decisions is computed on these traces, so they must
be the same on every machine for the same `WorkloadSpec`: all randomness comes from one
`numpy.random.SeedSequence` built from the spec's seed and its namespace/name (crc32, not
Python's salted `hash`).

Model, for pod p, container c and sample i (one sample per `step_s`, 60 s by default)::

    cpu[p, c, i]    = cpu_base[c]    * scale[p] * class_cpu[p, c, i]    * noise
    memory[p, c, i] = memory_base[c] * scale[p] * class_memory[p, c, i] * noise

`scale[p]` is a per-replica factor (log-normal, about +-12 %), so replicas differ somewhat;
`class_*` is the shape of the workload class (below); the noise is log-normal, partly smooth
(a moving average over minutes) and partly white. `cpu` is the mean number of cores used
during the interval that ends at the sample's timestamp; `memory` is the working set in bytes,
rounded to whole 4 KiB pages and kept under the memory limit except where the class models
OOM kills.

Classes:
- steady: a flat level with noise.
- diurnal: a daily cycle peaking in the afternoon (UTC), lower at weekends.
- bursty: a low base with traffic bursts shared by all replicas plus bursts of single pods.
- step_change: one level change (up or down) part way through the window.
- memory_leak: memory of the first container grows linearly until it reaches the limit and
  the container is OOM-killed and restarted; CPU rises a little with heap size (GC).
- batch: periodic jobs (every 30, 60 or 120 minutes): CPU and memory spike, then idle.
- cold_start: pods start at the window's start and restart at rollouts every day or two;
  every start costs a CPU spike and a memory warm-up that settle within minutes.

Restarts reset the container's cumulative CPU counter (`cpu_usage_seconds_total`), as
cAdvisor's `container_cpu_usage_seconds_total` does when kubelet starts a new container.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]

MIB = 1024**2
GIB = 1024**3
SECONDS_PER_DAY = 86_400
PAGE_BYTES = 4096

# Characters Kubernetes uses for pod-template hashes and generated name suffixes
# (k8s.io/apimachinery/pkg/util/rand: no vowels, no look-alike digits).
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_TEMPLATE_HASH_LENGTH = 10
_POD_SUFFIX_LENGTH = 5

_OWNER_KIND_OF_POD = {
    "Deployment": "ReplicaSet",
    "StatefulSet": "StatefulSet",
    "DaemonSet": "DaemonSet",
}


class WorkloadClass(StrEnum):
    """Named usage patterns; see the module docstring for each shape."""

    STEADY = "steady"
    DIURNAL = "diurnal"
    BURSTY = "bursty"
    STEP_CHANGE = "step_change"
    MEMORY_LEAK = "memory_leak"
    BATCH = "batch"
    COLD_START = "cold_start"


PerContainer = float | tuple[float, ...]


@dataclass(frozen=True)
class WorkloadSpec:
    """One workload to generate.

    `cpu_base_cores` and `memory_base_bytes` are the typical level of one replica, either one
    value for every container or one per container. Requests default to roughly what a
    cautious team would set (about twice the CPU level, 1.5 times the memory level); the memory
    limit defaults to twice the memory request. No CPU limit is modelled.
    """

    name: str
    namespace: str = "default"
    kind: str = "Deployment"
    workload_class: WorkloadClass = WorkloadClass.STEADY
    replicas: int = 2
    containers: tuple[str, ...] = ("app",)
    cpu_base_cores: PerContainer = 0.25
    memory_base_bytes: PerContainer = 256.0 * MIB
    seed: int = 0
    cpu_request_cores: PerContainer | None = None
    memory_request_bytes: PerContainer | None = None
    memory_limit_bytes: PerContainer | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "workload_class", WorkloadClass(self.workload_class))
        object.__setattr__(self, "containers", tuple(self.containers))
        if self.kind not in _OWNER_KIND_OF_POD:
            supported = ", ".join(sorted(_OWNER_KIND_OF_POD))
            raise ValueError(f"kind {self.kind!r} is not supported (use one of {supported})")
        if self.replicas < 1:
            raise ValueError("replicas must be at least 1")
        if not self.containers or len(set(self.containers)) != len(self.containers):
            raise ValueError("containers must be a non-empty list of distinct names")
        for what in ("cpu_base_cores", "memory_base_bytes"):
            if np.any(self._resolve(getattr(self, what), what) <= 0):
                raise ValueError(f"{what} must be positive")

    def _resolve(self, value: PerContainer, what: str) -> FloatArray:
        values = np.atleast_1d(np.asarray(value, dtype=np.float64))
        if values.shape == (1,):
            return np.repeat(values, len(self.containers))
        if values.shape != (len(self.containers),):
            raise ValueError(f"{what} needs one value or one per container")
        return values

    def cpu_base(self) -> FloatArray:
        """Typical cores per container, shape (containers,)."""
        return self._resolve(self.cpu_base_cores, "cpu_base_cores")

    def memory_base(self) -> FloatArray:
        """Typical working-set bytes per container, shape (containers,)."""
        return self._resolve(self.memory_base_bytes, "memory_base_bytes")

    def cpu_requests(self) -> FloatArray:
        """CPU request in cores per container: given, or twice the base rounded up to 50m."""
        if self.cpu_request_cores is not None:
            return self._resolve(self.cpu_request_cores, "cpu_request_cores")
        return np.ceil(self.cpu_base() * 2.0 / 0.05 - 1e-9) * 0.05

    def memory_requests(self) -> FloatArray:
        """Memory request in bytes per container: given, or 1.5 x base rounded up to 64 MiB."""
        if self.memory_request_bytes is not None:
            return self._resolve(self.memory_request_bytes, "memory_request_bytes")
        return np.ceil(self.memory_base() * 1.5 / (64 * MIB)) * (64.0 * MIB)

    def memory_limits(self) -> FloatArray:
        """Memory limit in bytes per container: given, or twice the request."""
        if self.memory_limit_bytes is not None:
            return self._resolve(self.memory_limit_bytes, "memory_limit_bytes")
        return self.memory_requests() * 2.0


@dataclass(frozen=True, eq=False)
class WorkloadHistory:
    """Generated usage of one workload. Arrays are shaped (pods, containers, samples).

    `restarts[p, c, i]` is True when kubelet started a new instance of the container during
    the interval ending at sample i (its CPU counter restarts from zero there, and its restart
    count goes up by one). `cpu_counter_offset[p, c]` is the CPU seconds the container had
    already used before the first sample (0 when it started at the first sample).
    `markers` records the class's random choices (for example `step_at`, `batch_period_s`).
    """

    spec: WorkloadSpec
    timestamps: FloatArray
    step_s: float
    pods: tuple[str, ...]
    containers: tuple[str, ...]
    pod_owner_kind: str
    pod_owner_name: str
    cpu_cores: FloatArray
    memory_bytes: FloatArray
    restarts: BoolArray
    restart_reason: str | None
    cpu_counter_offset: FloatArray
    cpu_request_cores: FloatArray
    memory_request_bytes: FloatArray
    memory_limit_bytes: FloatArray
    markers: dict[str, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def namespace(self) -> str:
        return self.spec.namespace

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def replicaset(self) -> str | None:
        """The ReplicaSet that owns the pods, for Deployments; otherwise None."""
        return self.pod_owner_name if self.pod_owner_kind == "ReplicaSet" else None

    @property
    def start(self) -> float:
        return float(self.timestamps[0])

    @property
    def end(self) -> float:
        """Timestamp of the last sample."""
        return float(self.timestamps[-1])

    def cpu_usage_seconds_total(self) -> FloatArray:
        """The cumulative CPU counter (cAdvisor's), shape (pods, containers, samples).

        counter[i] = CPU seconds used by the current container instance up to sample i; it
        starts again from the interval's usage at each restart.
        """
        used = np.cumsum(self.cpu_cores * self.step_s, axis=-1)
        samples = self.timestamps.shape[0]
        index = np.arange(samples, dtype=np.int64)
        last_restart = np.maximum.accumulate(np.where(self.restarts, index, -1), axis=-1)
        used_before = np.concatenate([np.zeros_like(used[..., :1]), used[..., :-1]], axis=-1)
        at_restart = np.take_along_axis(used_before, np.maximum(last_restart, 0), axis=-1)
        baseline = np.where(last_restart >= 0, at_restart, -self.cpu_counter_offset[..., None])
        counter: FloatArray = used - baseline
        return counter

    def restart_counts(self) -> IntArray:
        """Cumulative restarts per container, shape (pods, containers, samples)."""
        counts: IntArray = np.cumsum(self.restarts, axis=-1, dtype=np.int64)
        return counts


@dataclass(frozen=True)
class _Context:
    """What a class shape needs: the time axis, the array shape and a random stream."""

    rng: np.random.Generator
    timestamps: FloatArray
    step_s: float
    pods: int
    containers: int
    # limit / (base x replica scale), shape (pods, containers, 1): room before an OOM kill.
    memory_headroom: FloatArray

    @property
    def samples(self) -> int:
        return int(self.timestamps.shape[0])

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.pods, self.containers, self.samples)

    def samples_in(self, seconds: float) -> int:
        return max(1, round(seconds / self.step_s))


@dataclass
class _Shape:
    """A class's multipliers of the base level (broadcastable to (pods, containers, samples))."""

    cpu: FloatArray
    memory: FloatArray
    restarts: BoolArray | None = None
    restart_reason: str | None = None
    fresh_at_start: bool = False
    markers: dict[str, float] = field(default_factory=dict)


def smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], window: int) -> FloatArray:
    """Unit-variance noise correlated over `window` samples (a moving sum of white noise)."""
    white = rng.standard_normal((*shape[:-1], shape[-1] + window))
    running = np.cumsum(white, axis=-1)
    summed: FloatArray = (running[..., window:] - running[..., :-window]) / np.sqrt(window)
    return summed


def _trailing_sum(impulses: FloatArray, width: int) -> FloatArray:
    """Sum of each sample and the `width - 1` before it: turns impulses into boxes."""
    running = np.cumsum(impulses, axis=-1)
    boxed = running.copy()
    boxed[..., width:] -= running[..., :-width]
    return boxed


def _age_since(starts: BoolArray) -> IntArray:
    """Samples since the last True in `starts` (along the last axis); large before the first."""
    samples = starts.shape[-1]
    index = np.arange(samples, dtype=np.int64)
    last = np.maximum.accumulate(np.where(starts, index, -(10**9)), axis=-1)
    age: IntArray = index - last
    return age


def _steady(ctx: _Context) -> _Shape:
    return _Shape(cpu=np.ones(ctx.shape), memory=np.ones(ctx.shape))


def _daily_cycle(timestamps: FloatArray) -> FloatArray:
    """0 at 03:00 UTC, 1 at 15:00 UTC, a little sharper than a cosine."""
    hours = (timestamps % SECONDS_PER_DAY) / 3600.0
    cycle: FloatArray = (0.5 * (1.0 + np.cos(2.0 * np.pi * (hours - 15.0) / 24.0))) ** 1.5
    return cycle


def _weekend_factor(timestamps: FloatArray, factor: float) -> FloatArray:
    day_of_week = (np.floor(timestamps / SECONDS_PER_DAY).astype(np.int64) + 3) % 7  # 0 Monday
    return np.where(day_of_week >= 5, factor, 1.0)


def _diurnal(ctx: _Context) -> _Shape:
    cycle = _daily_cycle(ctx.timestamps)
    weekend = _weekend_factor(ctx.timestamps, 0.6)
    cpu = (0.25 + 1.6 * cycle) * weekend
    memory = 0.85 + 0.3 * cycle * weekend
    full = np.ones(ctx.shape)
    return _Shape(cpu=full * cpu, memory=full * memory)


def _bursty(ctx: _Context) -> _Shape:
    rng = ctx.rng
    n = ctx.samples
    width = ctx.samples_in(10 * 60)
    p_shared = ctx.step_s / (3 * 3600.0)
    p_own = ctx.step_s / (6 * 3600.0)
    shared = (rng.random(n) < p_shared) * rng.lognormal(np.log(2.0), 0.5, n)
    own = (rng.random((ctx.pods, 1, n)) < p_own) * rng.lognormal(np.log(1.5), 0.5, (ctx.pods, 1, n))
    pod_share = rng.uniform(0.7, 1.3, (ctx.pods, 1, 1))
    bursts = _trailing_sum(shared, width) * pod_share + _trailing_sum(own, width)
    full = np.ones(ctx.shape)
    return _Shape(cpu=full * (0.5 + bursts), memory=full * (1.0 + 0.08 * bursts))


def _step_change(ctx: _Context) -> _Shape:
    rng = ctx.rng
    n = ctx.samples
    at = int(rng.integers(int(0.4 * n), max(int(0.7 * n), int(0.4 * n) + 1)))
    factor = float(rng.choice([2.2, 2.8])) if rng.random() < 0.7 else float(rng.choice([0.35, 0.5]))
    ramp = np.clip((np.arange(n) - at + 1) / ctx.samples_in(10 * 60), 0.0, 1.0)
    full = np.ones(ctx.shape)
    cpu = 1.0 + (factor - 1.0) * ramp
    memory = 1.0 + (np.sqrt(factor) - 1.0) * ramp
    markers = {"step_at": float(ctx.timestamps[at]), "step_factor": factor}
    return _Shape(cpu=full * cpu, memory=full * memory, markers=markers)


def _memory_leak(ctx: _Context) -> _Shape:
    """The first container leaks until its limit, then is OOM-killed; sidecars stay steady."""
    rng = ctx.rng
    n = ctx.samples
    period = rng.uniform(1.5, 4.0, (ctx.pods, 1, 1)) * SECONDS_PER_DAY / ctx.step_s
    phase = rng.uniform(0.0, 1.0, (ctx.pods, 1, 1)) * period
    position = np.arange(n) + phase
    cycle = np.floor(position / period)
    fraction = (position - cycle * period) / period
    restarts = np.zeros(ctx.shape, dtype=np.bool_)
    restarts[:, :1, 1:] = (np.diff(cycle, axis=-1) > 0)[:, :1, :]
    ceiling = 0.985 * ctx.memory_headroom[:, :1, :]
    memory = np.ones(ctx.shape)
    memory[:, :1, :] = 1.0 + (ceiling - 1.0) * fraction[:, :1, :]
    cpu = np.ones(ctx.shape)
    cpu[:, :1, :] = 1.0 + 0.25 * fraction[:, :1, :]
    return _Shape(cpu=cpu, memory=memory, restarts=restarts, restart_reason="OOMKilled")


def _batch(ctx: _Context) -> _Shape:
    """Jobs start every period (aligned to midnight UTC) with a little jitter per pod."""
    rng = ctx.rng
    period = float(rng.choice([1800.0, 3600.0, 7200.0]))
    first_run = int(np.floor(ctx.timestamps[0] / period))
    run = np.floor(ctx.timestamps / period).astype(np.int64) - first_run
    runs = int(run[-1]) + 1
    into_run = ctx.timestamps - (run + first_run) * period
    delay = rng.uniform(0.0, 180.0, (ctx.pods, runs))
    duration = rng.uniform(0.15, 0.35, (ctx.pods, runs)) * period
    amplitude = rng.lognormal(np.log(5.0), 0.25, (ctx.pods, runs))
    active = (into_run >= delay[:, run]) & (into_run < delay[:, run] + duration[:, run])
    cpu = np.where(active, amplitude[:, run], 0.08)[:, None, :]
    memory = np.where(active, 1.6, 0.6)[:, None, :]
    full = np.ones(ctx.shape)
    return _Shape(cpu=full * cpu, memory=full * memory, markers={"batch_period_s": period})


def _cold_start(ctx: _Context) -> _Shape:
    """Rollouts, at least 6 hours apart and 1.5 days apart on average, restart every pod."""
    rng = ctx.rng
    n = ctx.samples
    least_gap_s = 6 * 3600.0
    most_rollouts = int(np.ceil(n * ctx.step_s / least_gap_s)) + 1
    gaps_s = least_gap_s + rng.exponential(1.5 * SECONDS_PER_DAY - least_gap_s, most_rollouts)
    at = np.rint(np.cumsum(gaps_s) / ctx.step_s).astype(np.int64)
    rollouts = np.zeros(n, dtype=np.bool_)
    rollouts[at[at < n]] = True
    # A rolling update replaces pods one after another, two minutes apart.
    delayed = np.arange(n)[None, :] - np.arange(ctx.pods)[:, None] * ctx.samples_in(120.0)
    starts = (delayed >= 0) & rollouts[np.maximum(delayed, 0)]
    restarts = np.repeat(starts[:, None, :], ctx.containers, axis=1)
    first_start = np.zeros_like(restarts)
    first_start[..., 0] = True
    age_s = _age_since(restarts | first_start) * ctx.step_s
    cpu = 1.0 + 4.0 * np.exp(-age_s / 600.0)
    memory = 1.0 - 0.4 * np.exp(-age_s / 1800.0) + 0.25 * np.exp(-age_s / 300.0)
    return _Shape(
        cpu=cpu.astype(np.float64),
        memory=memory.astype(np.float64),
        restarts=restarts,
        restart_reason="Error",
        fresh_at_start=True,
    )


_SHAPES: dict[WorkloadClass, Callable[[_Context], _Shape]] = {
    WorkloadClass.STEADY: _steady,
    WorkloadClass.DIURNAL: _diurnal,
    WorkloadClass.BURSTY: _bursty,
    WorkloadClass.STEP_CHANGE: _step_change,
    WorkloadClass.MEMORY_LEAK: _memory_leak,
    WorkloadClass.BATCH: _batch,
    WorkloadClass.COLD_START: _cold_start,
}


def _random_name(rng: np.random.Generator, length: int) -> str:
    return "".join(_NAME_ALPHABET[i] for i in rng.integers(0, len(_NAME_ALPHABET), length))


def pod_names(spec: WorkloadSpec, rng: np.random.Generator) -> tuple[tuple[str, ...], str]:
    """Pod names as the workload's controller would make them, and the pods' owner name."""
    if spec.kind == "StatefulSet":
        return tuple(f"{spec.name}-{i}" for i in range(spec.replicas)), spec.name
    owner = spec.name
    if spec.kind == "Deployment":
        owner = f"{spec.name}-{_random_name(rng, _TEMPLATE_HASH_LENGTH)}"
    suffixes: list[str] = []
    while len(suffixes) < spec.replicas:  # one iteration per replica, redrawing collisions
        suffix = _random_name(rng, _POD_SUFFIX_LENGTH)
        if suffix not in suffixes:
            suffixes.append(suffix)
    return tuple(f"{owner}-{suffix}" for suffix in suffixes), owner


def _seed_sequence(spec: WorkloadSpec) -> np.random.SeedSequence:
    identity = zlib.crc32(f"{spec.namespace}/{spec.name}".encode())
    return np.random.SeedSequence([spec.seed, identity])


def sample_count(duration_s: float, step_s: float) -> int:
    """Samples in a window: one every `step_s`, the first at the window's start."""
    if step_s <= 0 or duration_s < step_s:
        raise ValueError("need step_s > 0 and duration_s >= step_s")
    return round(duration_s / step_s)


def generate(
    spec: WorkloadSpec, start: float, duration_s: float, step_s: float = 60.0
) -> WorkloadHistory:
    """Generate `duration_s` of usage from `start` (unix seconds), one sample every `step_s`.

    Deterministic: the same spec, start, duration and step give the same arrays.
    """
    samples = sample_count(duration_s, step_s)
    timestamps = start + step_s * np.arange(samples, dtype=np.float64)
    names_seed, usage_seed, noise_seed = _seed_sequence(spec).spawn(3)
    pods, owner = pod_names(spec, np.random.default_rng(names_seed))
    rng = np.random.default_rng(usage_seed)
    containers = len(spec.containers)
    scale = rng.lognormal(0.0, 0.12, (spec.replicas, 1, 1))
    cpu_base = spec.cpu_base()[None, :, None] * scale
    memory_base = spec.memory_base()[None, :, None] * scale
    limits = spec.memory_limits()
    ctx = _Context(
        rng=rng,
        timestamps=timestamps,
        step_s=float(step_s),
        pods=spec.replicas,
        containers=containers,
        memory_headroom=limits[None, :, None] / memory_base,
    )
    shape = _SHAPES[spec.workload_class](ctx)

    noise_rng = np.random.default_rng(noise_seed)
    grid = (spec.replicas, containers, samples)
    window = ctx.samples_in(15 * 60)
    cpu_noise = np.exp(
        0.10 * smooth_noise(noise_rng, grid, window) + 0.06 * noise_rng.standard_normal(grid)
    )
    memory_noise = np.exp(0.015 * smooth_noise(noise_rng, grid, ctx.samples_in(30 * 60)))
    cpu = np.maximum(cpu_base * shape.cpu * cpu_noise, 1e-4)
    memory = memory_base * shape.memory * memory_noise
    memory = np.minimum(memory, 0.995 * limits[None, :, None])
    memory = np.maximum(np.rint(memory / PAGE_BYTES), 1.0) * PAGE_BYTES

    restarts = shape.restarts if shape.restarts is not None else np.zeros(grid, dtype=np.bool_)
    uptime_s = rng.uniform(1.0, 10.0, (spec.replicas, containers)) * SECONDS_PER_DAY
    offset = np.zeros(uptime_s.shape) if shape.fresh_at_start else uptime_s * cpu_base[..., 0]
    return WorkloadHistory(
        spec=spec,
        timestamps=timestamps,
        step_s=float(step_s),
        pods=pods,
        containers=spec.containers,
        pod_owner_kind=_OWNER_KIND_OF_POD[spec.kind],
        pod_owner_name=owner,
        cpu_cores=cpu.astype(np.float64),
        memory_bytes=memory.astype(np.float64),
        restarts=restarts,
        restart_reason=shape.restart_reason if restarts.any() else None,
        cpu_counter_offset=offset.astype(np.float64),
        cpu_request_cores=spec.cpu_requests(),
        memory_request_bytes=spec.memory_requests(),
        memory_limit_bytes=limits,
        markers=shape.markers,
    )


def standard_workloads(
    namespace: str = "default", replicas: int = 3, seed: int = 0, kind: str = "Deployment"
) -> list[WorkloadSpec]:
    """One workload per class, with an app container and (for some) a proxy sidecar."""
    with_sidecar = {WorkloadClass.DIURNAL, WorkloadClass.BURSTY, WorkloadClass.STEP_CHANGE}
    specs: list[WorkloadSpec] = []
    for index, workload_class in enumerate(WorkloadClass):
        sidecar = workload_class in with_sidecar
        specs.append(
            WorkloadSpec(
                name=workload_class.value.replace("_", "-"),
                namespace=namespace,
                kind=kind,
                workload_class=workload_class,
                replicas=replicas,
                containers=("app", "proxy") if sidecar else ("app",),
                cpu_base_cores=(0.4, 0.05) if sidecar else 0.4,
                memory_base_bytes=(512.0 * MIB, 64.0 * MIB) if sidecar else 512.0 * MIB,
                seed=seed + index,
            )
        )
    return specs


def generate_all(
    specs: Sequence[WorkloadSpec], start: float, duration_s: float, step_s: float = 60.0
) -> list[WorkloadHistory]:
    """`generate` for each spec over the same window."""
    return [generate(spec, start, duration_s, step_s) for spec in specs]
