"""The usage reader: per-container CPU and memory from Prometheus, for the recommender.

Query pattern, per namespace (or pod-regex / label-matched group within it):
- one CPU query and one memory query per time chunk (see `promql` for the PromQL and
  `chunking` for how a range is cut), never one per pod;
- at most one owner query per read, and only when a pod appears whose owner is not cached
  yet (a bootstrap always needs it; a steady-state incremental read usually does not);
- a chunk Prometheus refuses as too big (`--query.max-samples` lower than assumed) is split
  in two and retried, and later chunks are planned no longer than what succeeded.

Reads start with `read` / `iter_batches` over [start, end) (the bootstrap: the profile's whole
window) and continue with `read_since(last_evaluated)`, which fetches only grid times after the
last one read. `iter_batches` yields one batch per (namespace, chunk) so a 14-day bootstrap can
be folded and released chunk by chunk instead of being held whole.

Long reads are read at two resolutions (`PrometheusConfig.full_resolution_s`,
`coarse_step_s`): the last three days at the reader's step, everything older at 5 minutes.
Prometheus sends range answers as JSON, about 22 bytes per point, and encoding and parsing
them is most of a bootstrap's cost (1,000 containers x 14 days at 60 s: 300 MB per namespace
of 250 containers, 128 s end to end on 2 cores). The older part is where a 24 h half-life
puts little weight (12.5 % beyond three days), so it is read as the mean rate of each 5-minute
step, and each such value is spread over the step's minutes (same value, one sample per
minute): the state sees one sample per minute throughout, so sample counts, confidence and
weights are those of a full-resolution read, and only the spread of CPU within 5 minutes of
the older days is lost. Memory is read as 5-minute peaks over the whole read (the memory
histogram keeps only peaks, and `max_over_time` keeps each step's peak exactly).

Garbage (NaN, infinities, negative values, series without namespace/pod labels, cAdvisor's
pod-level series) is dropped and counted in `UsageBatch.dropped`; the caller logs one line.
Counter resets are irate's business; gaps and staleness simply leave no samples; pods that
come and go appear in the chunks they lived in.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from itertools import groupby
from typing import NamedTuple

import numpy as np

from trimtab.metrics.batch import (
    ContainerKey,
    ContainerRequests,
    DropCounts,
    OomKill,
    Samples,
    UsageBatch,
    WorkloadContainer,
)
from trimtab.metrics.chunking import Chunk, check_step, grid, plan, points_per_query
from trimtab.metrics.client import PrometheusClient, QueryClient, Series
from trimtab.metrics.config import PrometheusConfig
from trimtab.metrics.errors import QueryError
from trimtab.metrics.owners import OwnerMap
from trimtab.metrics.promql import (
    POD_LEVEL_CONTAINERS,
    Selection,
    cpu_query,
    memory_query,
    oom_query,
    owners_query,
    requests_query,
)

log = logging.getLogger(__name__)

DEFAULT_STEP_S = 60.0
DEFAULT_OOM_STEP_S = 300.0
# Chunks whose queries are out at once: the one being parsed and folded, and the next.
JOBS_IN_FLIGHT = 2
# Pods not seen for this long leave the owner cache (they are re-queried if they come back).
OWNER_CACHE_TTL_S = 2 * 86_400.0

Selections = Selection | str | Iterable[Selection | str]
QueryBuilder = Callable[[PrometheusConfig, Selection, float], str]


def _selections(selections: Selections) -> list[Selection]:
    if isinstance(selections, Selection | str):
        return [Selection.of(selections)]
    return [Selection.of(selection) for selection in selections]


def _distinct(answer: Sequence[Series]) -> int:
    """Series in an answer, counting once a series whose chunk was split in two."""
    return len({frozenset(series.labels.items()) for series in answer})


class Spread:
    """Coarse samples as fine ones: a value at coarse grid time t (the mean over (t - coarse,
    t]) becomes the same value at t - (k - 1) x fine, ..., t - fine, t, except times before
    `not_before` (the read's start)."""

    def __init__(self, coarse_s: float, fine_s: float, not_before: float = -math.inf) -> None:
        ratio = coarse_s / fine_s
        if not ratio.is_integer() or ratio < 1:
            raise ValueError(
                f"coarse_step_s ({coarse_s:g}) must be a whole multiple of the step ({fine_s:g})"
            )
        self.fine_s = fine_s
        self.factor = int(ratio)
        self.offsets = fine_s * np.arange(self.factor - 1, -1, -1, dtype=np.float64)
        self.not_before = not_before

    def apply(
        self, index: np.ndarray, stamps: np.ndarray, values: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        times = (stamps[:, None] - self.offsets[None, :]).ravel()
        index, values = np.repeat(index, self.factor), np.repeat(values, self.factor)
        if times.size and times.min() < self.not_before:  # only the read's first step can
            keep = times >= self.not_before
            return index[keep], times[keep], values[keep]
        return index, times, values


def _peaks_over(chunk: Chunk, step_s: float) -> Chunk:
    """Evaluation times `step_s` apart, ending at the chunk's last, whose peak windows
    (t - step, t] cover every interval the chunk's samples stand for. The first window may
    reach into the previous chunk's last step: a peak read twice is still the same peak."""
    covered_from = chunk.first - chunk.step_s
    steps = math.ceil((chunk.last - covered_from) / step_s)
    return Chunk(chunk.last - (steps - 1) * step_s, chunk.last, step_s)


class _Answer(NamedTuple):
    series: list[Series]
    fitted: int | None
    """When Prometheus refused the chunk as too big: points of the smallest piece it took."""
    queries: int


class _Job(NamedTuple):
    """A chunk whose queries are on their way."""

    part: _Part
    chunk: Chunk
    cpu: Future[_Answer]
    memory: Future[_Answer]

    @property
    def reach_back(self) -> float:
        """How far before the chunk's first time its spread CPU samples go."""
        return 0.0 if self.part.spread is None else float(self.part.spread.offsets[0])

    def batch(
        self, builder: _BatchBuilder, cpu: _Answer, memory: _Answer, queries: int
    ) -> UsageBatch:
        spread, chunk = self.part.spread, self.chunk
        cpu_samples = builder.samples(cpu.series, spread)
        memory_samples = builder.samples(memory.series)
        fine_s = chunk.step_s if spread is None else spread.fine_s
        not_before = chunk.first if spread is None else spread.not_before
        return UsageBatch(
            keys=tuple(builder.keys),
            cpu=cpu_samples,
            memory=memory_samples,
            start=max(chunk.first - self.reach_back, not_before),
            end=chunk.last + fine_s,
            step_s=fine_s,
            dropped=builder.dropped(),
            queries=queries,
        )


def _replan(pending: deque[tuple[_Part, Chunk]], limit: int) -> deque[tuple[_Part, Chunk]]:
    """The chunks still to send, cut again where any is longer than `limit` points."""
    if all(chunk.points <= limit for _, chunk in pending):
        return pending
    replanned: deque[tuple[_Part, Chunk]] = deque()
    for part, items in groupby(pending, key=lambda item: item[0]):
        chunks = [chunk for _, chunk in items]
        rest = Chunk(chunks[0].first, chunks[-1].last, chunks[0].step_s)
        replanned.extend((part, chunk) for chunk in plan(rest, limit))
    return replanned


class _Part(NamedTuple):
    """One span of a read: at its own step, or coarse and spread (`spread`), with memory at
    the span's step unless `memory_step_s` says otherwise."""

    span: Chunk
    spread: Spread | None = None
    memory_step_s: float | None = None


class _BatchBuilder:
    """Turns answers into a key table and flat sample arrays, dropping and counting garbage."""

    def __init__(self, config: PrometheusConfig, owners: OwnerMap, seen_at: float) -> None:
        self._labels = config.labels
        self._owners = owners
        self._seen_at = seen_at
        self.keys: dict[ContainerKey, int] = {}
        self.missing_labels = 0
        self.pod_level = 0
        self.nan = 0
        self.infinite = 0
        self.negative = 0

    def samples(self, answer: Sequence[Series], spread: Spread | None = None) -> Samples:
        """The answer's usable samples; with `spread`, each value repeated at every fine grid
        time of its coarse step (see the module docstring)."""
        labels = self._labels
        indices: list[int] = []
        timestamps = []
        values = []
        for series in answer:
            metric = series.labels
            namespace, pod = metric.get(labels.namespace), metric.get(labels.pod)
            container = metric.get(labels.container, "")
            if not namespace or not pod:
                self.missing_labels += 1
                continue
            if container in POD_LEVEL_CONTAINERS:
                self.pod_level += 1
                continue
            if not len(series):
                continue
            workload = self._owners.workload(pod, self._seen_at)
            key = ContainerKey(namespace, workload.kind, workload.name, container, pod)
            indices.append(self.keys.setdefault(key, len(self.keys)))
            timestamps.append(series.timestamps)
            values.append(series.values)
        if not indices:
            return Samples.empty()
        lengths = [len(part) for part in values]
        index = np.repeat(np.asarray(indices, dtype=np.int64), lengths)
        stamps = np.concatenate(timestamps)
        usage = np.concatenate(values)
        keep = usage >= 0  # False for NaN
        keep &= usage < np.inf
        if not keep.all():
            nan = int(np.isnan(usage).sum())
            infinite = int(np.isinf(usage).sum())
            self.nan += nan
            self.infinite += infinite
            self.negative += int(usage.size - keep.sum()) - nan - infinite
            index, stamps, usage = index[keep], stamps[keep], usage[keep]
        if spread is not None:
            index, stamps, usage = spread.apply(index, stamps, usage)
        return Samples(index, np.ascontiguousarray(stamps), np.ascontiguousarray(usage))

    def dropped(self) -> DropCounts:
        return DropCounts(
            nan=self.nan,
            infinite=self.infinite,
            negative=self.negative,
            missing_labels=self.missing_labels,
            pod_level=self.pod_level,
        )


class UsageReader:
    """Reads container usage, OOM kills and current requests for the recommender.

    Keeps per-namespace caches between reads (pod owners, the number of series seen, which
    sizes the next reads' chunks); one reader per Prometheus, reused across loops.
    """

    def __init__(
        self,
        client: QueryClient,
        config: PrometheusConfig | None = None,
        *,
        step_s: float = DEFAULT_STEP_S,
    ) -> None:
        if config is None:
            config = client.config if isinstance(client, PrometheusClient) else PrometheusConfig()
        self.client = client
        self.config = config
        self.step_s = check_step(step_s)
        if config.full_resolution_s is not None and config.coarse_step_s > self.step_s:
            Spread(check_step(config.coarse_step_s), self.step_s)  # raises when not a multiple
        self._owners: dict[str, OwnerMap] = {}
        self._series_seen: dict[str, int] = {}

    @property
    def queries_sent(self) -> int:
        return self.client.queries_sent

    # -- usage -------------------------------------------------------------------------------

    def read(
        self, selections: Selections, start: float, end: float, *, step_s: float | None = None
    ) -> UsageBatch:
        """CPU and memory samples of the grid times in [start, end), all in one batch.

        Holds everything at once (about 1 GB for 1,000 containers x 14 days at 60 s, twice
        that while joining): fold long bootstraps chunk by chunk with `iter_batches`."""
        step = check_step(step_s if step_s is not None else self.step_s)
        batches = list(self.iter_batches(selections, start, end, step_s=step))
        if batches:
            return UsageBatch.concat(batches)
        span = grid(start, end, step)
        first = span.first if span is not None else start
        return UsageBatch(
            keys=(),
            cpu=Samples.empty(),
            memory=Samples.empty(),
            start=first,
            end=span.end if span is not None else first,
            step_s=step,
            dropped=DropCounts(),
            queries=0,
        )

    def read_since(
        self,
        selections: Selections,
        last_timestamp: float,
        end: float,
        *,
        step_s: float | None = None,
        window_s: float | None = None,
    ) -> UsageBatch:
        """Samples at grid times after `last_timestamp` and before `end` (the incremental read
        after a bootstrap; pass the previous batch's `last_evaluated`). `window_s` caps how far
        back it reaches after a long pause."""
        step = check_step(step_s if step_s is not None else self.step_s)
        start = math.floor(last_timestamp / step) * step + step
        if window_s is not None:
            start = max(start, end - window_s)
        return self.read(selections, start, end, step_s=step)

    def iter_batches(
        self, selections: Selections, start: float, end: float, *, step_s: float | None = None
    ) -> Iterator[UsageBatch]:
        """One batch per (selection, time chunk), in order: fold each and let it go."""
        step = check_step(step_s if step_s is not None else self.step_s)
        parts = self._resolutions(start, end, step)
        if not parts:
            return
        for selection in _selections(selections):
            yield from self._iter_selection(selection, parts)

    def _resolutions(self, start: float, end: float, step: float) -> list[_Part]:
        """The spans to read, oldest first: a coarse one for what lies before the last
        `full_resolution_s` (when that is worth a query of its own), then the fine one,
        whose memory peaks are then read at the coarse step too (the memory histogram keeps
        only peaks, and peaks per step are exact)."""
        coarse_s, recent_s = self.config.coarse_step_s, self.config.full_resolution_s
        fine = grid(start, end, step)
        if fine is None or recent_s is None or coarse_s <= step:
            return [] if fine is None else [_Part(fine)]
        spread = Spread(coarse_s, step, not_before=fine.first)
        split = math.floor((end - recent_s) / coarse_s) * coarse_s
        coarse = grid(start, split + coarse_s, coarse_s)
        if coarse is None:
            return [_Part(fine)]
        recent = grid(coarse.last + step, end, step)
        parts = [_Part(coarse, spread)]
        return parts if recent is None else [*parts, _Part(recent, memory_step_s=coarse_s)]

    def _iter_selection(self, selection: Selection, parts: Sequence[_Part]) -> Iterator[UsageBatch]:
        """The batches of one selection, oldest first, with the next chunk's queries sent
        while this one is parsed and folded: parsing holds the interpreter, while Prometheus
        evaluates and encodes on the machine's other cores."""
        config = self.config
        namespace = selection.namespace
        owners = self._owners.setdefault(namespace, OwnerMap())
        first, last = parts[0].span.first, parts[-1].span.last
        owners.prune(first - OWNER_CACHE_TTL_S)
        limit = points_per_query(
            self._series_seen.get(namespace, 1),
            config.max_points_per_series,
            config.max_samples_per_query,
        )
        pending = deque((part, chunk) for part in parts for chunk in plan(part.span, limit))
        jobs: deque[_Job] = deque()
        owners_asked = False
        with ThreadPoolExecutor(max_workers=2 * JOBS_IN_FLIGHT) as pool:
            while pending or jobs:
                while pending and len(jobs) < JOBS_IN_FLIGHT:
                    jobs.append(self._send(pool, selection, *pending.popleft()))
                job = jobs.popleft()
                cpu, memory = job.cpu.result(), job.memory.result()
                queries = cpu.queries + memory.queries
                pods = {
                    pod
                    for series in (*cpu.series, *memory.series)
                    if (pod := series.labels.get(config.labels.pod))
                }
                if not owners_asked and any(not owners.knows(pod) for pod in pods):
                    self._ask_owners(selection, first - job.reach_back, last, owners)
                    owners_asked, queries = True, queries + 1
                yield job.batch(_BatchBuilder(config, owners, job.chunk.last), cpu, memory, queries)
                series = max(
                    _distinct(cpu.series),
                    _distinct(memory.series),
                    self._series_seen.get(namespace, 0),
                )
                self._series_seen[namespace] = series
                limit = min(
                    limit,
                    cpu.fitted or limit,
                    memory.fitted or limit,
                    points_per_query(
                        series, config.max_points_per_series, config.max_samples_per_query
                    ),
                )
                pending = _replan(pending, limit)

    def _send(
        self, pool: ThreadPoolExecutor, selection: Selection, part: _Part, chunk: Chunk
    ) -> _Job:
        """Send the chunk's CPU and memory queries; their answers come back as futures."""
        builder = cpu_query if part.spread is None else partial(cpu_query, scrape_s=self.step_s)
        peaks = chunk if part.memory_step_s is None else _peaks_over(chunk, part.memory_step_s)
        return _Job(
            part,
            chunk,
            pool.submit(self._range, builder, selection, chunk),
            pool.submit(self._range, memory_query, selection, peaks),
        )

    def _range(self, build: QueryBuilder, selection: Selection, chunk: Chunk) -> _Answer:
        """The answer for `chunk`, split in halves while Prometheus finds it too big; also,
        when it had to split, the size (points) of the smallest piece that succeeded."""
        query = build(self.config, selection, chunk.step_s)
        began = time.monotonic()
        try:
            answer = self.client.range(query, chunk.first, chunk.last, chunk.step_s)
        except QueryError as error:
            if not (error.too_many_samples or error.too_many_points) or chunk.points < 2:
                raise
            log.info(
                "splitting a %d-point query for namespace %s: %s",
                chunk.points,
                selection.namespace,
                error.reason,
            )
            head, tail = chunk.split()
            first = self._range(build, selection, head)
            second = self._range(build, selection, tail)
            fitted = min(first.fitted or head.points, second.fitted or tail.points)
            return _Answer(first.series + second.series, fitted, 1 + first.queries + second.queries)
        log.debug(
            "%d series x %d points in %.2f s: %s",
            len(answer),
            chunk.points,
            time.monotonic() - began,
            query,
        )
        return _Answer(answer, None, 1)

    def _ask_owners(
        self, selection: Selection, first: float, last: float, owners: OwnerMap
    ) -> None:
        """One owner query covering every pod alive at any time from `first` to `last`."""
        window = last - first + self.config.lookback_s
        answer = self.client.instant(owners_query(self.config, selection, window), last)
        owners.add(answer, self.config.labels, last)

    def _workloads(
        self, selection: Selection, pods: set[str], first: float, last: float
    ) -> OwnerMap:
        """The namespace's owner cache, asked once more if it lacks any of `pods`."""
        owners = self._owners.setdefault(selection.namespace, OwnerMap())
        if any(not owners.knows(pod) for pod in pods):
            self._ask_owners(selection, first, last, owners)
        return owners

    # -- OOM kills ---------------------------------------------------------------------------

    def oom_kills(
        self,
        selections: Selections,
        start: float,
        end: float,
        *,
        step_s: float = DEFAULT_OOM_STEP_S,
    ) -> list[OomKill]:
        """OOM kills seen in kube-state-metrics in [start, end), dated to the end of the
        `step_s` step they happened in; empty when kube-state-metrics is not there."""
        step = check_step(step_s)
        span = grid(start, end, step)
        if span is None:
            return []
        labels = self.config.labels
        kills: list[OomKill] = []
        for selection in _selections(selections):
            answers: list[Series] = []
            for chunk in plan(span, self.config.max_points_per_series):
                answers.extend(self._range(oom_query, selection, chunk).series)
            rows = []
            for series in answers:
                pod = series.labels.get(labels.pod)
                container = series.labels.get(labels.container)
                if not pod or not container:
                    continue
                happened = series.values > 0  # False for NaN
                happened &= series.values < np.inf
                for stamp, count in zip(
                    series.timestamps[happened].tolist(),
                    series.values[happened].tolist(),
                    strict=True,
                ):
                    rows.append((pod, container, stamp, count))
            pods = {row[0] for row in rows}
            owners = self._workloads(selection, pods, span.first - span.step_s, span.last)
            for pod, container, stamp, count in rows:
                workload = owners.workload(pod, stamp)
                key = ContainerKey(
                    selection.namespace, workload.kind, workload.name, container, pod
                )
                kills.append(OomKill(key, stamp, round(count)))
        kills.sort(key=lambda kill: (kill.timestamp, kill.key))
        return kills

    # -- current requests --------------------------------------------------------------------

    def current_requests(
        self, selections: Selections, at: float
    ) -> dict[WorkloadContainer, ContainerRequests]:
        """Requests per workload container at time `at` (the report shows them beside the
        recommendation). Pods of one workload can differ mid-rollout; the largest wins."""
        labels = self.config.labels
        found: dict[WorkloadContainer, dict[str, float]] = {}
        for selection in _selections(selections):
            answer = self.client.instant(requests_query(self.config, selection), at)
            rows = []
            for series in answer:
                metric = series.labels
                pod, container = metric.get(labels.pod), metric.get(labels.container)
                resource = metric.get(labels.resource)
                value = float(series.values[0])
                if not pod or not container or resource is None or not 0 <= value < math.inf:
                    continue
                rows.append((pod, container, resource, value))
            pods = {row[0] for row in rows}
            owners = self._workloads(selection, pods, at, at)
            for pod, container, resource, value in rows:
                workload = owners.workload(pod, at)
                target = WorkloadContainer(
                    selection.namespace, workload.kind, workload.name, container
                )
                per_resource = found.setdefault(target, {})
                per_resource[resource] = max(value, per_resource.get(resource, value))
        return {
            target: ContainerRequests(values.get("cpu"), values.get("memory"))
            for target, values in sorted(found.items())
        }
