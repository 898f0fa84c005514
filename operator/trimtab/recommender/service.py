"""One recommender step per VerticalScaler: read what is new, fold it, recommend.

Reads are per namespace, never per pod or per VerticalScaler: the first VerticalScaler of a
namespace to run in a loop reads every sample since the oldest one any of the namespace's
VerticalScalers still needs, and the batch is folded into all of them. A new VerticalScaler
needs the profile's whole window once (the bootstrap), or nothing at all when its checkpoint
is found: the checkpoint remembers the state and the time of the last folded sample.

The service holds state between loops; it is created once at start-up and kept in kopf's memo.
Its methods are synchronous (the handlers run them in a thread) and serialised by one lock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from trimtab.api.profile import RecommenderProfileSpec
from trimtab.api.vertical import VerticalScalerSpec
from trimtab.conditions import ConditionStatus
from trimtab.durations import parse_duration
from trimtab.metrics.batch import OomKill, UsageBatch
from trimtab.metrics.errors import MetricsError
from trimtab.metrics.promql import Selection
from trimtab.recommender.checkpoint import Checkpoint
from trimtab.recommender.feed import KeyedSamples, fold_usage
from trimtab.recommender.ooms import SAME_KILL_WITHIN, OomEvent
from trimtab.recommender.states import UsageState
from trimtab.recommender.status import (
    caps_of,
    container_policy,
    recommendation_conditions,
    status_entry,
)
from trimtab.recommender.strategies import ContainerContext, Strategy, strategy_for

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 600.0


class UsageSource(Protocol):
    """What the service needs from the metrics port."""

    @property
    def queries_sent(self) -> int: ...

    def read(self, selections: Selection, start: float, end: float) -> UsageBatch: ...

    def oom_kills(self, selections: Selection, start: float, end: float) -> list[OomKill]: ...


class CheckpointStore(Protocol):
    """Where checkpoints live (the kube port keeps them in ConfigMaps)."""

    def load(self, namespace: str, scaler: str) -> Checkpoint | None: ...

    def save(self, namespace: str, scaler: str, owner_uid: str, checkpoint: Checkpoint) -> None: ...


@dataclass(frozen=True)
class ScalerRef:
    """The VerticalScaler and the workload it targets."""

    namespace: str
    name: str
    uid: str
    target_kind: str
    target_name: str


@dataclass
class _Tracked:
    ref: ScalerRef
    strategy: Strategy
    window: float
    states: dict[str, UsageState] = field(default_factory=dict)
    series_ids: dict[tuple[str, str], int] = field(default_factory=dict)
    last_sample: float | None = None
    saved_at: float = 0.0
    dirty: bool = False
    last_oom: dict[tuple[str, str], float] = field(default_factory=dict)
    """(pod, container) -> time of the last OOM kill folded, to fold each kill once."""


@dataclass
class _Namespace:
    read_at: float = 0.0
    failures: int = 0
    retry_at: float = 0.0
    error: str | None = None
    window_batch: UsageBatch | None = None
    """The last read that covered a whole window, kept for one read interval: VerticalScalers
    created together (or found together at start-up) then share one bootstrap read."""
    window_start: float = 0.0


@dataclass(frozen=True)
class Outcome:
    """What one step found, ready for the handler to write into status."""

    recommendations: list[dict[str, Any]]
    conditions: list[tuple[str, ConditionStatus, str, str]]
    """(type, status, reason, message) for RecommendationProvided, LowConfidence,
    NoPodsMatched and MetricsUnavailable."""
    queries: int


class RecommenderService:
    """Keeps every VerticalScaler's usage state and turns it into recommendations."""

    def __init__(
        self,
        source: UsageSource,
        checkpoints: CheckpointStore | None = None,
        *,
        read_interval: float = 60.0,
        checkpoint_interval: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._source = source
        self._checkpoints = checkpoints
        self._read_interval = read_interval
        self._checkpoint_interval = checkpoint_interval
        self._clock = clock
        self._tracked: dict[tuple[str, str], _Tracked] = {}
        self._namespaces: dict[str, _Namespace] = {}
        self._lock = threading.Lock()

    def recommend(
        self, ref: ScalerRef, spec: VerticalScalerSpec, profile: RecommenderProfileSpec
    ) -> Outcome:
        """Read and fold what is new for ``ref``'s namespace, then recommend for ``ref``."""
        with self._lock:
            now = self._clock()
            tracked = self._track(ref, profile)
            queries_before = self._source.queries_sent
            self._refresh(ref.namespace, now)
            outcome = self._outcome(tracked, spec, now, self._source.queries_sent - queries_before)
            self._maybe_checkpoint(tracked, now)
            return outcome

    def record_oom(self, event: OomEvent) -> int:
        """Fold an OOM kill into every VerticalScaler of its workload; returns how many took it.

        Reports of the same kill from the pod status and from kube-state-metrics are folded once.
        """
        with self._lock:
            return sum(
                self._fold_oom(tracked, event)
                for tracked in self._tracked.values()
                if tracked.ref.namespace == event.namespace
                and tracked.ref.target_kind == event.workload_kind
                and tracked.ref.target_name == event.workload_name
            )

    def _fold_oom(self, tracked: _Tracked, event: OomEvent) -> bool:
        key = (event.pod, event.container)
        previous = tracked.last_oom.get(key)
        if previous is not None and abs(event.timestamp - previous) < SAME_KILL_WITHIN:
            return False
        state = tracked.states.get(event.container)
        if state is None:
            state = tracked.states[event.container] = tracked.strategy.new_state(1)
        series = tracked.series_ids.setdefault(key, len(tracked.series_ids))
        state.add_oom([0], [event.timestamp], [event.memory_request], [series])
        tracked.last_oom[key] = event.timestamp
        tracked.dirty = True
        log.info(
            "OOM kill of %s/%s container %s folded into %s",
            event.namespace,
            event.pod,
            event.container,
            tracked.ref.name,
        )
        return True

    def forget(self, namespace: str, name: str) -> None:
        """Drop a deleted VerticalScaler (its checkpoint goes with it, by owner reference)."""
        with self._lock:
            self._tracked.pop((namespace, name), None)

    def save_all(self) -> None:
        """Checkpoint every VerticalScaler with unsaved samples (at shutdown)."""
        with self._lock:
            for tracked in self._tracked.values():
                if tracked.dirty:
                    self._save(tracked, self._clock())

    # -- tracking and reading --------------------------------------------------------------

    def _track(self, ref: ScalerRef, profile: RecommenderProfileSpec) -> _Tracked:
        key = (ref.namespace, ref.name)
        strategy = strategy_for(profile)
        tracked = self._tracked.get(key)
        if tracked is not None and tracked.ref == ref and tracked.strategy == strategy:
            return tracked
        tracked = _Tracked(ref, strategy, parse_duration(profile.history_window))
        self._restore(tracked)
        self._tracked[key] = tracked
        return tracked

    def _restore(self, tracked: _Tracked) -> None:
        if self._checkpoints is None:
            return
        saved = self._checkpoints.load(tracked.ref.namespace, tracked.ref.name)
        if saved is None or saved.strategy != tracked.strategy.name:
            return
        tracked.states = {
            name: tracked.strategy.restore_state(data) for name, data in saved.containers.items()
        }
        tracked.last_sample = saved.last_sample
        tracked.saved_at = self._clock()
        log.info(
            "restored %s/%s from its checkpoint (%d containers, samples up to %s)",
            tracked.ref.namespace,
            tracked.ref.name,
            len(tracked.states),
            saved.last_sample,
        )

    def _refresh(self, namespace: str, now: float) -> None:
        status = self._namespaces.setdefault(namespace, _Namespace())
        members = [t for t in self._tracked.values() if t.ref.namespace == namespace]
        self._bootstrap_from_recent_read(status, members, now)
        behind = any(t.last_sample is None for t in members)
        if now < status.retry_at or (now - status.read_at < self._read_interval and not behind):
            return
        start = min(t.last_sample if t.last_sample is not None else now - t.window for t in members)
        try:
            batch = self._source.read(Selection(namespace), start, now)
        except MetricsError as error:
            status.failures += 1
            backoff = min(self._read_interval * 2**status.failures, MAX_BACKOFF_SECONDS)
            status.retry_at, status.error = now + backoff, str(error)
            log.warning("reading %s failed (retry in %.0fs): %s", namespace, backoff, error)
            return
        status.read_at, status.failures, status.retry_at, status.error = now, 0, 0.0, None
        log.info(
            "read %s from %.0f to %.0f (%.1f h): %d series, %d queries",
            namespace,
            start,
            now,
            (now - start) / 3600,
            len(batch.keys),
            batch.queries,
        )
        if batch.dropped:
            log.info("dropped samples of %s: %s", namespace, batch.dropped.describe())
        for tracked in members:
            self._fold(tracked, batch, now)
        self._fold_reported_ooms(namespace, members, start, now)
        if any(start <= now - t.window for t in members):
            status.window_batch, status.window_start = batch, start
        else:
            status.window_batch = None

    def _fold_reported_ooms(
        self, namespace: str, members: list[_Tracked], start: float, now: float
    ) -> None:
        """OOM kills kube-state-metrics saw; missing kube-state-metrics is not an error."""
        try:
            kills = self._source.oom_kills(Selection(namespace), start, now)
        except MetricsError as error:
            log.info("no OOM kills from kube-state-metrics for %s: %s", namespace, error)
            return
        for kill in kills:
            event = OomEvent(
                namespace,
                kill.key.workload_kind,
                kill.key.workload_name,
                kill.key.container,
                kill.key.pod,
                kill.timestamp,
                0.0,
            )
            for tracked in members:
                if _belongs(kill.key, tracked.ref):
                    self._fold_oom(tracked, event)

    def _bootstrap_from_recent_read(
        self, status: _Namespace, members: list[_Tracked], now: float
    ) -> None:
        recent = status.window_batch
        if recent is None or now - status.read_at >= self._read_interval:
            status.window_batch = None
            return
        for tracked in members:
            if tracked.last_sample is None and status.window_start <= now - tracked.window:
                self._fold(tracked, recent, now)

    def _fold(self, tracked: _Tracked, batch: UsageBatch, now: float) -> None:
        ref = tracked.ref
        containers = sorted(
            {key.container for key in batch.keys if _belongs(key, ref)} | set(tracked.states)
        )
        for container in containers:
            state = tracked.states.get(container)
            if state is None:
                state = tracked.states[container] = tracked.strategy.new_state(1)
            rows = np.array(
                [0 if _belongs(k, ref) and k.container == container else -1 for k in batch.keys],
                dtype=np.int64,
            )
            series = np.array(
                [
                    tracked.series_ids.setdefault((k.pod, k.container), len(tracked.series_ids))
                    for k in batch.keys
                ],
                dtype=np.int64,
            )
            folded = fold_usage(
                state,
                rows,
                series,
                KeyedSamples(batch.cpu.index, batch.cpu.timestamps, batch.cpu.values),
                KeyedSamples(batch.memory.index, batch.memory.timestamps, batch.memory.values),
                after=tracked.last_sample,
            )
            tracked.dirty |= bool(folded.cpu or folded.memory)
        # Everything up to the end of the read is folded, whether or not this workload had
        # samples in it: the next read starts there.
        tracked.last_sample = max(batch.end - batch.step_s, tracked.last_sample or 0.0)

    # -- recommending ----------------------------------------------------------------------

    def _outcome(
        self, tracked: _Tracked, spec: VerticalScalerSpec, now: float, queries: int
    ) -> Outcome:
        error = self._namespaces[tracked.ref.namespace].error
        policies = {p.container_name: p for p in spec.resource_policy.container_policies}
        names = [n for n in sorted(tracked.states) if container_policy(policies, n).mode != "Off"]
        entries = []
        spans = []
        for name in names:
            state = tracked.states[name]
            caps = caps_of(container_policy(policies, name))
            context = ContainerContext(np.array([len(tracked.states)], dtype=np.int64), caps)
            recommendation = tracked.strategy.recommend(state, context, now)
            if int(recommendation.sample_count[0]) == 0:
                continue
            entries.append(status_entry(name, recommendation))
            spans.append(float(recommendation.history_span[0]))
        ref = tracked.ref
        target = f"{ref.target_kind} {ref.namespace}/{ref.target_name} (spec.targetRef)"
        conditions = recommendation_conditions(
            target, tracked.strategy.name, tracked.last_sample is not None, entries, spans, error
        )
        return Outcome(entries, conditions, queries)

    def _maybe_checkpoint(self, tracked: _Tracked, now: float) -> None:
        if tracked.dirty and now - tracked.saved_at >= self._checkpoint_interval:
            self._save(tracked, now)

    def _save(self, tracked: _Tracked, now: float) -> None:
        if self._checkpoints is None or tracked.last_sample is None:
            return
        checkpoint = Checkpoint(
            tracked.strategy.name,
            tracked.last_sample,
            {name: state.to_bytes() for name, state in tracked.states.items()},
        )
        ref = tracked.ref
        try:
            self._checkpoints.save(ref.namespace, ref.name, ref.uid, checkpoint)
        except Exception:  # a failed save is retried at the next interval, never fatal
            log.exception("saving the checkpoint of %s/%s failed", ref.namespace, ref.name)
            return
        tracked.saved_at, tracked.dirty = now, False


def _belongs(key: Any, ref: ScalerRef) -> bool:
    return bool(key.workload_kind == ref.target_kind and key.workload_name == ref.target_name)
