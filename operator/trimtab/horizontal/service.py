"""One sync of one HorizontalScaler: read the target's scale and metrics, decide, scale.

    scale       GET the target's scale subresource (the kube port): its replica count and
                the label selector of its pods
    pods        the pods matching that selector, from the operator's in-memory pod index
                (the caller passes the namespace's pods; nothing is listed per sync)
    metrics     one reading per metric (the metrics port), at most one query each
    forecast    predictive mode only: each metric's forecast ``leadTime`` ahead, recomputed
                from its history at most every ``forecast_interval`` seconds
    decide      ``decide_replicas`` on the readings, and in predictive mode again on the
                readings raised to their forecasts; the forecast decides only when it asks
                for more replicas than the readings alone
    scale       PATCH the scale subresource only when the count changes

The result is what the handler writes into status and the Events to post; the service never
raises for a bad target or a bad metric, it reports them (InvalidMetric, NoScaleSubresource,
TargetNotFound, ...) and leaves the replica count alone.

The algorithm's memory (recent recommendations, scale events, failed reads in a row) is kept
per scaler in this process and written into ``status.scalerMemory`` on every sync; a scaler
seen for the first time (after a restart, or on a new leader) starts from what its status
holds, so the stabilisation windows and rate limits survive restarts. Forecasts are kept in
this process only: after a restart the first sync reads the history again.

The service is created once and kept in kopf's memo. ``sync`` is synchronous (the handler runs
it in a thread); each scaler has its own lock, so scalers never wait for each other.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from trimtab.api.common import TargetRef
from trimtab.api.horizontal import HorizontalScalerSpec, MetricSpec
from trimtab.horizontal.algorithm import (
    Decision,
    Reading,
    ScaleEvent,
    ScalerMemory,
    decide_replicas,
)
from trimtab.horizontal.algorithm import metric_name as name_of
from trimtab.horizontal.pods import PodFacts, pod_state, ready_count, select_pods
from trimtab.horizontal.prediction import (
    CachedForecast,
    HistorySource,
    forecast_metrics,
    readings_ahead,
)
from trimtab.horizontal.status import (
    ConditionUpdate,
    blocked_conditions,
    decision_conditions,
    memory_from_status,
    memory_to_status,
    metric_values,
)
from trimtab.kube.scale import Scale, ScaleError
from trimtab.metrics.scaling import (
    DEFAULT_CPU_WINDOW_S,
    DEFAULT_HISTORY_STEP_S,
    MetricFailure,
    TargetPod,
)

log = logging.getLogger(__name__)

Mode = Literal["Reactive", "Predictive", "Fallback"]


class ScaleTargets(Protocol):
    """What the service needs from the kube port (``trimtab.kube.scale.ScaleClient``)."""

    def get(self, namespace: str, target: TargetRef) -> Scale: ...

    def patch(self, namespace: str, target: TargetRef, replicas: int) -> Scale: ...


class MetricsSource(HistorySource, Protocol):
    """What the service needs from the metrics port (``ScalingMetricsReader``)."""

    def read(
        self, namespace: str, pods: Sequence[TargetPod], metrics: Sequence[MetricSpec], at: float
    ) -> list[Reading]: ...


@dataclass(frozen=True)
class ScalerRef:
    """The HorizontalScaler being synced."""

    namespace: str
    name: str
    uid: str


@dataclass(frozen=True)
class EventNote:
    """An Event to post on the HorizontalScaler."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass(frozen=True)
class SyncOutcome:
    """What one sync found, ready for the handler."""

    status: dict[str, Any]
    """Status fields to patch (camelCase), conditions apart."""
    conditions: list[ConditionUpdate]
    events: list[EventNote] = field(default_factory=list)
    scaled: bool = False


@dataclass
class _Tracked:
    uid: str
    memory: ScalerMemory
    synced_at: float | None = None
    forecasts: dict[str, CachedForecast] = field(default_factory=dict)
    warned: tuple[str, str] | None = None
    """The last Warning posted, so that a lasting problem is announced once."""
    lock: threading.Lock = field(default_factory=threading.Lock)


class HorizontalService:
    """Keeps every HorizontalScaler's memory and runs its syncs."""

    def __init__(
        self,
        metrics: MetricsSource,
        targets: ScaleTargets,
        *,
        forecast_interval: float = 300.0,
        history_step: float = DEFAULT_HISTORY_STEP_S,
        metric_window: float = DEFAULT_CPU_WINDOW_S,
        dry_run: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._metrics = metrics
        self._targets = targets
        self._forecast_interval = forecast_interval
        self._history_step = history_step
        self._metric_window = metric_window
        self._dry_run = dry_run
        self._clock = clock
        self._tracked: dict[tuple[str, str], _Tracked] = {}
        self._lock = threading.Lock()

    def due(self, ref: ScalerRef, interval: float, slack: float = 0.0) -> bool:
        """Whether ``interval`` seconds (less ``slack``) have passed since the last sync."""
        with self._lock:
            tracked = self._tracked.get((ref.namespace, ref.name))
        if tracked is None or tracked.uid != ref.uid or tracked.synced_at is None:
            return True
        return self._clock() - tracked.synced_at >= interval - slack

    def forget(self, namespace: str, name: str) -> None:
        """Drop a deleted HorizontalScaler."""
        with self._lock:
            self._tracked.pop((namespace, name), None)

    def sync(
        self,
        ref: ScalerRef,
        spec: HorizontalScalerSpec,
        saved_memory: Mapping[str, Any] | None,
        pods: Sequence[PodFacts],
    ) -> SyncOutcome:
        """One sync; ``saved_memory`` is ``status.scalerMemory``, ``pods`` the namespace's."""
        tracked = self._track(ref, saved_memory)
        with tracked.lock:
            now = self._clock()
            tracked.synced_at = now
            try:
                scale = self._targets.get(ref.namespace, spec.scale_target_ref)
            except ScaleError as error:
                return self._blocked(tracked, error.reason, error.message)
            return self._sync(tracked, ref, spec, scale, pods, now)

    # -- one sync ----------------------------------------------------------------------------

    def _sync(
        self,
        tracked: _Tracked,
        ref: ScalerRef,
        spec: HorizontalScalerSpec,
        scale: Scale,
        pods: Sequence[PodFacts],
        now: float,
    ) -> SyncOutcome:
        selected = select_pods(pods, scale.selector)
        targets = [
            TargetPod(
                p.name, pod_state(p, now, self._metric_window), p.cpu_request, p.memory_request
            )
            for p in selected
        ]
        readings = self._metrics.read(ref.namespace, targets, spec.metrics, now)
        invalid = _first_invalid(spec, readings)
        if invalid is not None:
            return self._invalid(tracked, scale, invalid)
        ready = ready_count(selected)
        reactive = decide_replicas(
            spec, readings, scale.replicas, tracked.memory, now, ready_pods=ready
        )
        decision, mode = reactive, _mode(reactive)
        forecasts: dict[str, float] = {}
        extra: list[ConditionUpdate] = []
        if spec.predictive.enabled:
            forecasts, note = forecast_metrics(
                self._metrics,
                tracked.forecasts,
                ref.namespace,
                spec,
                targets,
                now,
                interval=self._forecast_interval,
                step=self._history_step,
            )
            extra.append(note)
            if forecasts:
                ahead = readings_ahead(spec, readings, forecasts)
                decision = decide_replicas(
                    spec, ahead, scale.replicas, tracked.memory, now, ready_pods=ready
                )
                raised_count = decision.desired_replicas > reactive.desired_replicas
                mode = "Predictive" if raised_count else _mode(decision)
        status: dict[str, Any] = {
            "currentReplicas": scale.status_replicas,
            "desiredReplicas": decision.desired_replicas,
            "currentMetrics": metric_values(reactive.proposals, forecasts),
            "decidedBy": None if decision.source in ("hold", "disabled") else mode,
        }
        applied = self._apply(tracked, ref, spec, scale, decision, mode, now)
        status.update(applied.status)
        status["scalerMemory"] = memory_to_status(tracked.memory)
        conditions = [*decision_conditions(decision), *extra, *applied.conditions]
        return SyncOutcome(status, conditions, applied.events, applied.scaled)

    def _apply(
        self,
        tracked: _Tracked,
        ref: ScalerRef,
        spec: HorizontalScalerSpec,
        scale: Scale,
        decision: Decision,
        mode: Mode,
        now: float,
    ) -> SyncOutcome:
        """Write the new count when it changed, and remember the decision as applied."""
        desired, current = decision.desired_replicas, scale.replicas
        if desired == current:
            tracked.memory, tracked.warned = decision.memory, None
            return SyncOutcome({}, [])
        target = spec.scale_target_ref
        change = f"{target.kind} {target.name} from {current} to {desired}"
        if self._dry_run:
            # Nothing changes, so nothing counts against the rate limits.
            tracked.memory = replace(decision.memory, scale_events=_without_newest(decision))
            tracked.warned = None
            message = f"dry run: would scale {change} ({mode}): {decision.reason}"
            return SyncOutcome({}, [], [EventNote("Normal", "WouldRescale", message)])
        try:
            self._targets.patch(ref.namespace, target, desired)
        except ScaleError as error:
            # The memory stays as it was: the decision was not applied.
            log.warning("scaling %s/%s failed: %s", ref.namespace, ref.name, error.message)
            failed = f"scaling {change} failed: {error.message}"
            return SyncOutcome(
                {},
                [("AbleToScale", "False", "FailedUpdateScale", failed)],
                self._warn_once(tracked, "FailedRescale", failed),
            )
        tracked.memory, tracked.warned = decision.memory, None
        log.info("scaled %s/%s: %s (%s)", ref.namespace, ref.name, change, decision.reason)
        return SyncOutcome(
            {"lastScaleTime": _rfc3339(now)},
            [],
            [
                EventNote(
                    "Normal", "SuccessfulRescale", f"scaled {change} ({mode}): {decision.reason}"
                )
            ],
            scaled=True,
        )

    def _blocked(self, tracked: _Tracked, reason: str, message: str) -> SyncOutcome:
        """The target cannot be read: say why, change nothing."""
        return SyncOutcome(
            {"scalerMemory": memory_to_status(tracked.memory)},
            blocked_conditions(reason, message),
            self._warn_once(tracked, reason, message),
        )

    def _invalid(self, tracked: _Tracked, scale: Scale, problem: str) -> SyncOutcome:
        """A metric the spec got wrong: no scaling until the spec is fixed; the failed reads
        do not count toward the fallback, which is for outages, not for mistakes."""
        status = {
            "currentReplicas": scale.status_replicas,
            "desiredReplicas": scale.replicas,
            "decidedBy": None,
            "scalerMemory": memory_to_status(tracked.memory),
        }
        conditions = blocked_conditions("InvalidMetric", problem, able_to_scale=True)
        return SyncOutcome(status, conditions, self._warn_once(tracked, "InvalidMetric", problem))

    def _warn_once(self, tracked: _Tracked, reason: str, message: str) -> list[EventNote]:
        if tracked.warned == (reason, message):
            return []
        tracked.warned = (reason, message)
        return [EventNote("Warning", reason, message)]

    # -- tracking ----------------------------------------------------------------------------

    def _track(self, ref: ScalerRef, saved_memory: Mapping[str, Any] | None) -> _Tracked:
        key = (ref.namespace, ref.name)
        with self._lock:
            tracked = self._tracked.get(key)
            if tracked is None or tracked.uid != ref.uid:
                tracked = self._tracked[key] = _Tracked(ref.uid, memory_from_status(saved_memory))
            return tracked


def _mode(decision: Decision) -> Mode:
    return "Fallback" if decision.source == "fallback" else "Reactive"


def _first_invalid(spec: HorizontalScalerSpec, readings: Sequence[Reading]) -> str | None:
    """The first metric Prometheus refused as malformed, named by its place in the spec."""
    for index, (metric, reading) in enumerate(zip(spec.metrics, readings, strict=True)):
        if isinstance(reading, MetricFailure) and reading.invalid:
            return f"spec.metrics[{index}] ({name_of(metric)}): {reading.error}"
    return None


def _without_newest(decision: Decision) -> tuple[ScaleEvent, ...]:
    """The decision's scale events without the one it added for its own change."""
    events = decision.memory.scale_events
    if decision.desired_replicas != decision.current_replicas and events:
        return events[:-1]
    return events


def _rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = [
    "EventNote",
    "HorizontalService",
    "MetricsSource",
    "Mode",
    "ScaleTargets",
    "ScalerRef",
    "SyncOutcome",
]
