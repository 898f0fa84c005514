"""Replay usage traces through a strategy, as the operator would have run it, and score it.

The replay walks the trace forward in time. At each update point ``t`` (the first after the
warm-up, then every ``update_every_s``):

1. the state is fed what happened before ``t`` and after the previous point: every CPU and
   memory sample with a timestamp ``< t`` (the warm-up at once, at the first point), then the
   OOM kills of that interval, with the request the container had, as the operator feeds kills
   after the usage it read (``add_oom``);
2. the strategy recommends, with ``now = t``;
3. the apply rule (``rules``) decides which containers take the new target as their request;
   the memory limit is set equal to the memory request (or to ``limit_ratio`` times it);
4. the interval from ``t`` to the next point is scored with those requests (``scores``), and
   its OOM kills are found, to be fed at the next point.

Nothing at or after ``t`` can reach the recommendation made at ``t``. Memory samples fed after
scoring starts are capped at the limit the container ran under, because a container is killed
before its working set can exceed its limit: the strategy learns about the excess only from the
OOM kill, as it would in a cluster. CPU is fed as used (no CPU limit is set). Before the first
point nothing is applied and samples are fed as recorded.

Traces sharing one time axis are replayed together in one state, one row per workload
container: the strategies work on every row at once, so a batch costs little more than one
trace. Each pod container is one memory series (``add_memory`` keeps peaks per pod, as VPA
does); CPU samples of all pods of a container are pooled into its row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from trimtab.quality.rules import UpdaterSettings, updates
from trimtab.quality.scores import Scores, SeriesTally
from trimtab.quality.trace import Trace
from trimtab.recommender.arrays import BoolArray, FloatArray, IntArray
from trimtab.recommender.estimators import Caps, Recommendation, Resources
from trimtab.recommender.states import UsageState
from trimtab.recommender.strategies import ContainerContext, Strategy

SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class ReplayConfig:
    """When the replay recommends and how it applies recommendations."""

    warmup_s: float = 2 * SECONDS_PER_DAY
    """History fed before the first recommendation; scoring starts after it."""
    update_every_s: float = 3600.0
    """Time between update points (recommend, then maybe apply)."""
    updater: UpdaterSettings = field(default_factory=UpdaterSettings)
    limit_ratio: float = 1.0
    """Memory limit / memory request. 1: the limit is the request, what the updater writes
    when it keeps limits at requests; VPA's RequestsAndLimits mode keeps a workload's own
    ratio instead (2 for a team that sets limits at twice the requests)."""

    def __post_init__(self) -> None:
        if self.warmup_s < 0 or self.update_every_s <= 0 or self.limit_ratio < 1:
            raise ValueError("need warmup_s >= 0, update_every_s > 0 and limit_ratio >= 1")


@dataclass(frozen=True, eq=False)
class OomEvents:
    """OOM kills of one trace, one entry per event (see ``scores`` for what an event is)."""

    times: FloatArray
    """Timestamp of the event's first minute above the limit."""
    pods: IntArray
    containers: IntArray
    limits: FloatArray
    """The memory limit the container had, in bytes."""


@dataclass(frozen=True, eq=False)
class ReplayResult:
    """One trace's replay: the scores and what was decided at each update point.

    The per-point arrays are shaped (update points, containers).
    """

    trace: str
    group: str
    strategy: str
    scores: Scores
    update_times: FloatArray
    target: Resources
    lower_bound: Resources
    upper_bound: Resources
    request: Resources
    """The request applied from each point on (the memory limit is ``limit_ratio`` x it)."""
    changed: BoolArray
    """Whether the point changed the request (the first point counts only when the trace
    gives initial requests)."""
    ooms: OomEvents


def update_times(timestamps: FloatArray, config: ReplayConfig) -> FloatArray:
    """The update points: the warm-up's end, then every ``update_every_s`` up to the last
    sample."""
    first = float(timestamps[0]) + config.warmup_s
    last = float(timestamps[-1])
    if first > last:
        raise ValueError("the trace is not longer than the warm-up")
    count = int(np.floor((last - first) / config.update_every_s + 1e-9)) + 1
    times: FloatArray = first + config.update_every_s * np.arange(count, dtype=np.float64)
    return times


@dataclass(frozen=True, eq=False)
class _Batch:
    """Traces flattened: one row per workload container, one series per pod container."""

    traces: tuple[Trace, ...]
    timestamps: FloatArray
    cpu: FloatArray
    """(series, samples)"""
    memory: FloatArray
    row_of_series: IntArray
    trace_of_series: IntArray
    trace_of_row: IntArray
    row_offsets: IntArray
    series_offsets: IntArray
    containers_per_pod: IntArray
    initial: Resources
    """Initial requests per row, NaN where the trace starts at the first recommendation."""

    @classmethod
    def of(cls, traces: Sequence[Trace]) -> _Batch:
        if not traces:
            raise ValueError("nothing to replay")
        times = traces[0].timestamps
        for trace in traces[1:]:
            if trace.timestamps.shape != times.shape or (trace.timestamps != times).any():
                raise ValueError("traces replayed together must share their timestamps")
        rows = np.array([len(t.containers) for t in traces], dtype=np.int64)
        series = np.array([t.pods * len(t.containers) for t in traces], dtype=np.int64)
        row_offsets = np.concatenate(([0], np.cumsum(rows)))
        series_offsets = np.concatenate(([0], np.cumsum(series)))
        row_of_series = np.concatenate(
            [
                offset + np.tile(np.arange(len(t.containers)), t.pods)
                for t, offset in zip(traces, row_offsets[:-1], strict=True)
            ]
        )
        initial_cpu = np.concatenate(
            [t.initial_cpu if t.initial_cpu is not None else _nans(t) for t in traces]
        )
        initial_memory = np.concatenate(
            [t.initial_memory if t.initial_memory is not None else _nans(t) for t in traces]
        )
        return cls(
            traces=tuple(traces),
            timestamps=times,
            cpu=np.concatenate([t.cpu.reshape(-1, times.size) for t in traces]),
            memory=np.concatenate([t.memory.reshape(-1, times.size) for t in traces]),
            row_of_series=row_of_series.astype(np.int64),
            trace_of_series=np.repeat(np.arange(len(traces)), series),
            trace_of_row=np.repeat(np.arange(len(traces)), rows),
            row_offsets=row_offsets,
            series_offsets=series_offsets,
            containers_per_pod=np.repeat(rows, rows),
            initial=Resources(initial_cpu, initial_memory),
        )

    @property
    def rows(self) -> int:
        return int(self.row_offsets[-1])

    @property
    def series(self) -> int:
        return int(self.series_offsets[-1])


def _nans(trace: Trace) -> FloatArray:
    return np.full(len(trace.containers), np.nan)


def _fold(
    state: UsageState, batch: _Batch, start: int, stop: int, limit: FloatArray | None
) -> None:
    """Feed the samples of columns ``start:stop``, memory capped at ``limit`` (per row)."""
    if stop <= start:
        return
    times = batch.timestamps[start:stop]
    memory = batch.memory[:, start:stop]
    if limit is not None:
        memory = np.minimum(memory, limit[batch.row_of_series][:, None])  # NaN stays NaN
    state.add_cpu_grid(batch.row_of_series, times, batch.cpu[:, start:stop])
    state.add_memory_grid(batch.row_of_series, times, memory, np.arange(batch.series))


@dataclass
class _Log:
    """What the loop decided, point by point (rows of (points, batch rows) arrays)."""

    points: int
    rows: int
    arrays: dict[str, FloatArray] = field(init=False)
    changed: BoolArray = field(init=False)
    oom_series: list[IntArray] = field(default_factory=list)
    oom_times: list[FloatArray] = field(default_factory=list)
    oom_limits: list[FloatArray] = field(default_factory=list)

    def __post_init__(self) -> None:
        names = ("target", "lower", "upper", "request")
        self.arrays = {
            f"{name}_{resource}": np.full((self.points, self.rows), np.nan)
            for name in names
            for resource in ("cpu", "memory")
        }
        self.changed = np.zeros((self.points, self.rows), dtype=bool)

    def point(self, k: int, recommendation: Recommendation, request: Resources) -> None:
        parts = {
            "target": recommendation.target,
            "lower": recommendation.lower_bound,
            "upper": recommendation.upper_bound,
            "request": request,
        }
        for name, value in parts.items():
            self.arrays[f"{name}_cpu"][k] = value.cpu
            self.arrays[f"{name}_memory"][k] = value.memory

    def resources(self, name: str, rows: slice) -> Resources:
        return Resources(
            self.arrays[f"{name}_cpu"][:, rows], self.arrays[f"{name}_memory"][:, rows]
        )


@dataclass(eq=False)
class _Run:
    """The replay's loop state: what the strategy was fed, what is applied, what was found."""

    batch: _Batch
    config: ReplayConfig
    state: UsageState
    points: FloatArray
    cuts: IntArray
    """First column at or after each point: the columns before it are the past."""
    tally: SeriesTally
    log: _Log
    changes: IntArray
    started: FloatArray
    """When each row's pods last started (-inf: before the trace)."""
    quick_oom: BoolArray
    oom_series: IntArray
    oom_times: FloatArray
    request: Resources | None = None

    @classmethod
    def start(cls, batch: _Batch, strategy: Strategy, config: ReplayConfig) -> _Run:
        points = update_times(batch.timestamps, config)
        rows = batch.rows
        return cls(
            batch=batch,
            config=config,
            state=strategy.new_state(rows),
            points=points,
            cuts=np.searchsorted(batch.timestamps, points, side="left").astype(np.int64),
            tally=SeriesTally.empty(batch.series),
            log=_Log(points.size, rows),
            changes=np.zeros(rows, dtype=np.int64),
            started=np.full(rows, -np.inf),
            quick_oom=np.zeros(rows, dtype=bool),
            oom_series=np.zeros(0, dtype=np.int64),
            oom_times=np.zeros(0),
        )

    def feed(self, k: int) -> None:
        """Fold what happened before point ``k`` and after the previous one: the warm-up as
        recorded, later intervals capped at their limit, then their OOM kills."""
        if self.request is None:
            _fold(self.state, self.batch, 0, int(self.cuts[0]), None)
            return
        limit = self.config.limit_ratio * self.request.memory
        _fold(self.state, self.batch, int(self.cuts[k - 1]), int(self.cuts[k]), limit)
        if self.oom_series.size:
            rows = self.batch.row_of_series[self.oom_series]
            memory = self.request.memory[rows]
            self.state.add_oom(rows, self.oom_times, memory, self.oom_series)

    def decide(self, k: int, now: float, recommendation: Recommendation) -> None:
        """Apply the rule; a changed row's pods start now (an OOM run in them ends)."""
        if self.request is None:
            self.request, changed = _first_requests(
                self.batch, recommendation, self.config, self.started, now
            )
        else:
            age = now - self.started
            changed = updates(
                self.config.updater, self.request, recommendation, age, self.quick_oom
            )
            target = recommendation.target
            self.request = Resources(
                np.where(changed, target.cpu, self.request.cpu),
                np.where(changed, target.memory, self.request.memory),
            )
        self.started[changed] = now
        self.changes += changed
        self.log.point(k, recommendation, self.request)
        self.log.changed[k] = changed
        self.tally.end_runs(np.flatnonzero(changed[self.batch.row_of_series]))

    def score(self, k: int) -> None:
        """Score the interval from point ``k`` to the next and keep its OOM kills for the next
        point (and whether they came quickly after their pods started)."""
        assert self.request is not None
        batch, rows = self.batch, self.batch.row_of_series
        start = int(self.cuts[k])
        stop = int(self.cuts[k + 1]) if k + 1 < self.cuts.size else batch.timestamps.size
        limit = self.config.limit_ratio * self.request.memory
        self.oom_series, columns = self.tally.add_block(
            batch.cpu[:, start:stop],
            batch.memory[:, start:stop],
            self.request.cpu[rows],
            self.request.memory[rows],
            limit[rows],
        )
        self.oom_times = batch.timestamps[start + columns]
        killed = rows[self.oom_series]
        quick = self.oom_times - self.started[killed] < self.config.updater.quick_oom_s
        self.quick_oom = np.zeros(batch.rows, dtype=bool)
        self.quick_oom[killed[quick]] = True
        self.log.oom_series.append(self.oom_series)
        self.log.oom_times.append(self.oom_times)
        self.log.oom_limits.append(limit[killed])

    def results(self, strategy: str) -> list[ReplayResult]:
        batch = self.batch
        count = len(batch.traces)
        changes = np.bincount(batch.trace_of_row, weights=self.changes, minlength=count)
        minutes_per_sample = float(batch.timestamps[1] - batch.timestamps[0]) / 60.0
        scores = self.tally.scores_of(
            batch.trace_of_series, count, changes.astype(np.int64), minutes_per_sample
        )
        return [
            _result(batch, index, strategy, scores[index], self.points, self.log)
            for index in range(count)
        ]


def replay(
    traces: Sequence[Trace], strategy: Strategy, config: ReplayConfig | None = None
) -> list[ReplayResult]:
    """Replay traces that share one time axis through ``strategy``; one result per trace.

    At each update point: feed the past, recommend, decide, score until the next point.
    """
    batch = _Batch.of(traces)
    run = _Run.start(batch, strategy, ReplayConfig() if config is None else config)
    context = ContainerContext(batch.containers_per_pod, Caps.none(batch.rows))
    for k, now in enumerate(run.points.tolist()):
        run.feed(k)
        run.decide(k, now, strategy.recommend(run.state, context, now))
        run.score(k)
    return run.results(strategy.name)


def _first_requests(
    batch: _Batch,
    recommendation: Recommendation,
    config: ReplayConfig,
    started: FloatArray,
    now: float,
) -> tuple[Resources, BoolArray]:
    """Requests at the first point: the target for traces without initial requests (their
    pods start now with it: not a change), else the initial requests, updated by the rule."""
    fresh = np.isnan(batch.initial.cpu)
    target = recommendation.target
    request = Resources(
        np.where(fresh, target.cpu, batch.initial.cpu),
        np.where(fresh, target.memory, batch.initial.memory),
    )
    started[fresh] = now
    no_oom = np.zeros(batch.rows, dtype=bool)
    changed = ~fresh & updates(config.updater, request, recommendation, now - started, no_oom)
    request = Resources(
        np.where(changed, target.cpu, request.cpu),
        np.where(changed, target.memory, request.memory),
    )
    return request, changed


def _result(
    batch: _Batch, index: int, strategy: str, scores: Scores, points: FloatArray, log: _Log
) -> ReplayResult:
    trace = batch.traces[index]
    rows = slice(int(batch.row_offsets[index]), int(batch.row_offsets[index + 1]))
    low, high = int(batch.series_offsets[index]), int(batch.series_offsets[index + 1])
    series = np.concatenate(log.oom_series) if log.oom_series else np.zeros(0, dtype=np.int64)
    times = np.concatenate(log.oom_times) if log.oom_times else np.zeros(0)
    limits = np.concatenate(log.oom_limits) if log.oom_limits else np.zeros(0)
    mine = (series >= low) & (series < high)
    local = series[mine] - low
    containers = len(trace.containers)
    order = np.lexsort((local, times[mine]))
    return ReplayResult(
        trace=trace.name,
        group=trace.group,
        strategy=strategy,
        scores=scores,
        update_times=points,
        target=log.resources("target", rows),
        lower_bound=log.resources("lower", rows),
        upper_bound=log.resources("upper", rows),
        request=log.resources("request", rows),
        changed=log.changed[:, rows].copy(),
        ooms=OomEvents(
            times=times[mine][order],
            pods=(local // containers)[order].astype(np.int64),
            containers=(local % containers)[order].astype(np.int64),
            limits=limits[mine][order],
        ),
    )


def replay_trace(
    trace: Trace, strategy: Strategy, config: ReplayConfig | None = None
) -> ReplayResult:
    """Replay one trace (see ``replay``)."""
    return replay([trace], strategy, config)[0]


__all__ = ["OomEvents", "ReplayConfig", "ReplayResult", "replay", "replay_trace", "update_times"]
