"""One updater pass over a VerticalScaler's pods: plan within budgets, then evict or resize.

The planning is pure (``plan.py``); this module adds what needs memory across passes and the
calls through the pod port:

- rate limits: one token bucket for the whole operator and one per VerticalScaler; a token is
  spent only by an action the cluster accepted (an eviction a PodDisruptionBudget refused, 429,
  spends nothing and is tried again at the next pass);
- backoff: a pod whose eviction or resize failed with an unexpected answer is not tried again
  before its backoff (15 s, doubling, at most 10 min) has passed, so nothing loops hot;
- resize failures: the time a pod's resizes started failing, which the planner turns into an
  eviction after ``resize.FAILING_LIMIT``; a cluster that answers that it cannot resize
  (404/405/422) gets the pod evicted in the same pass.

Everything kept here is an optimisation or a politeness: after a restart the counters in status
survive, and the worst that happens is one early retry.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from trimtab.api.vertical import UpdateMode, VerticalScalerSpec
from trimtab.kube.pods import EvictionResult, PodActionError, ResizeResult
from trimtab.updater.budget import TokenBucket
from trimtab.updater.model import (
    Amounts,
    ContainerResources,
    ContainerTarget,
    Plan,
    PlannedUpdate,
    UpdatablePod,
    UpdateAction,
)
from trimtab.updater.plan import UpdaterPolicy, plan_updates
from trimtab.updater.pods import touchable
from trimtab.updater.policy import capped_targets, container_controls, evicts, targets_from_status
from trimtab.updater.priority import update_need
from trimtab.updater.status import (
    ConditionUpdate,
    PassResult,
    capped_condition,
    conflict_condition,
    progress_condition,
)

log = logging.getLogger(__name__)

FIRST_BACKOFF = 15.0
MAX_BACKOFF = 600.0
FORGET_FAILURES_AFTER = 7200.0
"""Failure records of pods not seen for this long are dropped (the pod is gone)."""


class PodActionsPort(Protocol):
    """What the updater needs from the cluster (``kube.pods.PodActions``)."""

    def evict(self, namespace: str, name: str, uid: str | None = None) -> EvictionResult: ...

    def resize(
        self, namespace: str, name: str, containers: Mapping[str, ContainerResources]
    ) -> ResizeResult: ...

    def supports_in_place_resize(self) -> bool: ...


@dataclass(frozen=True)
class ScalerRef:
    """The VerticalScaler being served."""

    namespace: str
    name: str
    uid: str


@dataclass(frozen=True)
class Notice:
    """An Event to post: on a pod when ``pod`` is set, else on the VerticalScaler."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str
    pod: UpdatablePod | None = None


@dataclass(frozen=True)
class UpdateOutcome:
    """What one pass did, ready for the handler."""

    evicted: int = 0
    resized: int = 0
    pods_to_update: int | None = None
    conditions: list[ConditionUpdate] = field(default_factory=list)
    events: list[Notice] = field(default_factory=list)


@dataclass
class _Failure:
    attempts: int
    retry_at: float
    first: float
    resizing: bool
    seen: float


@dataclass
class _Pass(PassResult):
    """What one pass has done so far, and the Events to post about it."""

    events: list[Notice] = field(default_factory=list)


class UpdaterService:
    """Applies recommendations to running pods, one VerticalScaler at a time."""

    def __init__(
        self,
        actions: PodActionsPort,
        max_updates_per_minute: float,
        dry_run: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._actions = actions
        self._dry_run = dry_run
        self._clock = clock
        self._global = TokenBucket.full(
            max_updates_per_minute, _burst(max_updates_per_minute), clock()
        )
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._failures: dict[str, _Failure] = {}
        self._in_place: bool | None = None
        self._passes: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def due(self, ref: ScalerRef, interval: float) -> bool:
        """Whether the scaler's last pass is ``interval`` ago (a tick early counts as due)."""
        now = self._clock()
        with self._lock:
            last = self._passes.get((ref.namespace, ref.name))
            if last is not None and now - last < interval * 0.9:
                return False
            self._passes[(ref.namespace, ref.name)] = now
            return True

    def forget(self, namespace: str, name: str) -> None:
        """Drop a deleted VerticalScaler's rate limit and pass time."""
        with self._lock:
            self._buckets.pop((namespace, name), None)
            self._passes.pop((namespace, name), None)

    def sync(
        self,
        ref: ScalerRef,
        spec: VerticalScalerSpec,
        recommendations: Sequence[Mapping[str, Any]],
        pods: Sequence[UpdatablePod],
        allocatable: Amounts,
        cpu_conflict: str | None,
    ) -> UpdateOutcome:
        """Compare the workload's pods with the recommendation and update what the budgets allow.

        ``pods`` are exactly the workload's pods; ``allocatable`` is the largest node's
        allocatable CPU and memory (empty when unknown); ``cpu_conflict`` names a horizontal
        scaler working on the same workload's CPU utilisation.
        """
        now = self._clock()
        targets, capped = capped_targets(targets_from_status(recommendations), allocatable)
        conditions = [
            capped_condition(capped, allocatable),
            conflict_condition(cpu_conflict, spec.update_policy.allow_cpu_with_horizontal_scaling),
        ]
        if not targets:
            conditions.append(
                ("PodsUpToDate", "Unknown", "NoRecommendation", "There is no recommendation yet.")
            )
            return UpdateOutcome(conditions=conditions)
        held = cpu_conflict is not None and not spec.update_policy.allow_cpu_with_horizontal_scaling
        controls = container_controls(spec, targets, cpu_held=held)
        stale = [
            pod
            for pod in pods
            if touchable(pod) is None and update_need(pod, targets, controls, now) is not None
        ]
        if not stale:
            message = "No pod differs from the recommendation enough to be updated."
            conditions.append(("PodsUpToDate", "True", "UpToDate", message))
            return UpdateOutcome(pods_to_update=0, conditions=conditions)
        if not evicts(spec):
            mode = spec.update_policy.mode
            message = f"{len(stale)} pod(s) differ from the recommendation; mode {mode.value} "
            message += (
                "only recommends."
                if mode is UpdateMode.OFF
                else "sets requests only when pods are created."
            )
            conditions.append(("PodsUpToDate", "False", f"Mode{mode.value}", message))
            return UpdateOutcome(pods_to_update=len(stale), conditions=conditions)
        plan = self._plan(ref, spec, pods, targets, controls, now)
        done = self._carry_out(ref, spec, plan, now)
        conditions.append(progress_condition(len(stale), plan, done, self._dry_run_for(spec)))
        return UpdateOutcome(done.evicted, done.resized, len(stale), conditions, done.events)

    # -- planning ----------------------------------------------------------------------------

    def _plan(
        self,
        ref: ScalerRef,
        spec: VerticalScalerSpec,
        pods: Sequence[UpdatablePod],
        targets: Mapping[str, ContainerTarget],
        controls: Mapping[str, Any],
        now: float,
    ) -> Plan:
        policy = spec.update_policy
        in_place = policy.mode == UpdateMode.IN_PLACE_OR_RECREATE and self._supports_in_place()
        with self._lock:
            self._prune(now)
            rate = min(self._global.available(now), self._bucket(ref, spec, now).available(now))
            failing = {uid: f.first for uid, f in self._failures.items() if f.resizing}
            backing_off = {
                uid: f"a failed call is retried in {f.retry_at - now:.0f} s"
                for uid, f in self._failures.items()
                if now < f.retry_at
            }
            for pod in pods:
                if pod.uid in self._failures:
                    self._failures[pod.uid].seen = now
        return plan_updates(
            pods,
            targets,
            controls,
            UpdaterPolicy(policy.min_replicas, policy.eviction_tolerance, in_place),
            now,
            rate,
            failing,
            backing_off,
        )

    def _supports_in_place(self) -> bool:
        if self._in_place is None:
            try:
                self._in_place = self._actions.supports_in_place_resize()
            except PodActionError as error:
                log.warning("cannot tell whether pods can be resized in place: %s", error)
                return False
        return self._in_place

    def _bucket(self, ref: ScalerRef, spec: VerticalScalerSpec, now: float) -> TokenBucket:
        rate = spec.update_policy.max_updates_per_minute
        key = (ref.namespace, ref.name)
        bucket = self._buckets.get(key)
        if bucket is None or bucket.per_minute != rate:
            bucket = self._buckets[key] = TokenBucket.full(rate, _burst(rate), now)
        return bucket

    # -- acting ------------------------------------------------------------------------------

    def _carry_out(self, ref: ScalerRef, spec: VerticalScalerSpec, plan: Plan, now: float) -> _Pass:
        done = _Pass()
        dry_run = self._dry_run_for(spec)
        for update in plan.updates:
            if dry_run:
                done.events.append(_would(update))
                self._spend(ref, now)
                continue
            before = done.evicted + done.resized
            evict = update.action is UpdateAction.EVICT
            if not evict:
                evict = self._resize(update, now, done) == "evict"
            if evict:
                self._evict(update, now, done)
            if done.evicted + done.resized > before:
                self._spend(ref, now)
        return done

    def _resize(
        self, update: PlannedUpdate, now: float, done: _Pass
    ) -> Literal["resized", "evict", "failed"]:
        """Resize in place; "evict" when the cluster answers it cannot resize this pod."""
        pod = update.pod
        try:
            result = self._actions.resize(pod.namespace, pod.name, update.resources)
        except PodActionError as error:
            # Retried after the backoff; the planner evicts once it has failed for too long.
            self._failed(pod, now, resizing=True)
            done.failed.append(pod.name)
            done.events.append(Notice("Warning", "ResizeFailed", f"{pod.name}: {error}"))
            return "failed"
        with self._lock:
            self._failures.pop(pod.uid, None)
        if result is ResizeResult.UNSUPPORTED:
            message = f"{pod.name} cannot be resized in place; evicting it instead."
            done.events.append(Notice("Normal", "ResizeUnsupported", message))
            return "evict"
        done.resized += 1
        message = f"Resized in place by Trimtab: {update.reason}."
        done.events += [
            Notice("Normal", "Resized", message, pod),
            Notice("Normal", "PodResized", f"{pod.name}: {update.reason}."),
        ]
        return "resized"

    def _evict(self, update: PlannedUpdate, now: float, done: _Pass) -> None:
        pod = update.pod
        try:
            result = self._actions.evict(pod.namespace, pod.name, pod.uid)
        except PodActionError as error:
            self._failed(pod, now, resizing=False)
            done.failed.append(pod.name)
            done.events.append(Notice("Warning", "EvictionFailed", f"{pod.name}: {error}"))
            return
        if result is EvictionResult.BLOCKED:
            done.blocked.append(pod.name)
            return
        with self._lock:
            self._failures.pop(pod.uid, None)
        if result is EvictionResult.GONE:
            return
        done.evicted += 1
        message = f"Evicted by Trimtab to apply the recommendation: {update.reason}."
        done.events += [
            Notice("Normal", "Evicted", message, pod),
            Notice("Normal", "PodEvicted", f"{pod.name}: {update.reason}."),
        ]

    def _spend(self, ref: ScalerRef, now: float) -> None:
        with self._lock:
            key = (ref.namespace, ref.name)
            if key in self._buckets and self._buckets[key].available(now) >= 1:
                self._buckets[key] = self._buckets[key].take(now, 1)
            if self._global.available(now) >= 1:
                self._global = self._global.take(now, 1)

    def _failed(self, pod: UpdatablePod, now: float, resizing: bool) -> None:
        with self._lock:
            failure = self._failures.get(pod.uid)
            if failure is None or failure.resizing != resizing:
                failure = self._failures[pod.uid] = _Failure(0, now, now, resizing, now)
            failure.attempts += 1
            failure.retry_at = now + min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** (failure.attempts - 1))
            failure.seen = now

    def _prune(self, now: float) -> None:
        for uid in [u for u, f in self._failures.items() if now - f.seen > FORGET_FAILURES_AFTER]:
            del self._failures[uid]

    def _dry_run_for(self, spec: VerticalScalerSpec) -> bool:
        return self._dry_run or spec.update_policy.dry_run


def _burst(per_minute: float) -> int:
    return max(1, int(per_minute))


def _would(update: PlannedUpdate) -> Notice:
    verb = "resize" if update.action is UpdateAction.RESIZE else "evict"
    reason = "WouldResize" if update.action is UpdateAction.RESIZE else "WouldEvict"
    return Notice("Normal", reason, f"Dry run: would {verb} {update.pod.name}: {update.reason}.")
