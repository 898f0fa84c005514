"""Provisioning: batches of pending pods become NodeClaims.

The service keeps the batch window and the offerings that recently answered "insufficient
capacity" (skipped for 3 minutes); everything else comes from the cluster at each batch, so a
restart loses nothing but those. In-flight NodeClaims count as empty nodes in the simulation:
the pods still pending are the ones they were made for, so a restarted operator fills them
instead of buying again.

The scheduler does not always place pods as the simulation did (its scoring spreads pods over
nodes, and what lands where decides what is left), so a pod a batch found room for may still be
Unschedulable once the nodes are up. Such pods are planned again REPLAN_AFTER seconds after
the batch, counting what the cluster holds by then; pods the simulation found no room for wait
for a new pod or a claim given up, so their NoNodeFits Events are not repeated in a loop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from trimtab.api.nodes import NodePoolSpec
from trimtab.provisioner.batching import BatchWindow
from trimtab.provisioner.catalog import Catalog
from trimtab.provisioner.claims import claim_body, in_use_by_pool, pool_view
from trimtab.provisioner.model import (
    ZONE,
    DaemonSetPod,
    ExistingNode,
    LabelRequirement,
    NodePoolView,
    PendingPod,
    SchedulingResult,
)
from trimtab.provisioner.scheduling import schedule

log = logging.getLogger(__name__)

ICE_TTL = 180.0
"""Seconds an offering that answered "insufficient capacity" is left out of plans."""
REPLAN_AFTER = 30.0
"""Seconds after a batch when the pods it found room for, if still pending, are planned again."""


class ClaimCreator(Protocol):
    """What provisioning needs from the cluster (``kube.nodeclaims.ClaimClient``)."""

    def create_claim(self, body: Mapping[str, Any]) -> bool: ...


@dataclass(frozen=True)
class PoolObject:
    """A valid NodePool: its name, uid (owner of its claims), spec, and its node class's zones."""

    name: str
    uid: str
    spec: NodePoolSpec
    zones: tuple[str, ...] = ()
    """Zones its node class offers; every zone of the region when empty."""


@dataclass(frozen=True)
class ProvisionOutcome:
    """What one batch decided."""

    created: tuple[str, ...] = ()
    """Names of the NodeClaims created."""
    result: SchedulingResult = field(default_factory=SchedulingResult)
    newly_unschedulable: Mapping[str, str] = field(default_factory=dict)
    """The pods nothing fits, with why, that the previous batch did not report so."""


class ProvisionerService:
    """Holds the batch window and the offerings out of capacity; runs a batch when it closes."""

    def __init__(
        self,
        claims: ClaimCreator,
        catalog: Callable[[], Catalog],
        idle: float = 1.0,
        longest: float = 10.0,
        clock: Callable[[], float] = time.time,
        replan_after: float = REPLAN_AFTER,
    ) -> None:
        self._claims = claims
        self._catalog = catalog
        self._idle, self._longest = idle, longest
        self._clock = clock
        self._replan_after = replan_after
        self._window: BatchWindow | None = None
        self._seen: set[str] = set()
        self._placed_at: float | None = None
        """When the last batch found room for pods (None: it found room for none)."""
        self._unschedulable: dict[str, str] = {}
        self._out_of_capacity: dict[tuple[str, str, str], float] = {}
        self._lock = threading.Lock()

    def pod_pending(self, uid: str) -> None:
        """An unschedulable pod was seen: open the window, or keep it open if the pod is new."""
        now = self._clock()
        with self._lock:
            if uid in self._seen:
                return
            self._seen.add(uid)
            self._window = (
                BatchWindow.open(now) if self._window is None else self._window.extended(now)
            )

    def requeue(self) -> None:
        """Plan every pending pod again (a claim was given up: its pods need another)."""
        now = self._clock()
        with self._lock:
            self._seen = set()
            self._window = BatchWindow.open(now) if self._window is None else self._window

    def due(self) -> bool:
        """Whether a batch is waiting and its window has closed, or the last batch found room
        for pods REPLAN_AFTER seconds ago (those still pending are planned again)."""
        now = self._clock()
        with self._lock:
            window, placed_at = self._window, self._placed_at
        if placed_at is not None and now - placed_at >= self._replan_after:
            return True
        return window is not None and window.closed(now, self._idle, self._longest)

    def out_of_capacity(self, offerings: Iterable[tuple[str, str, str]]) -> None:
        """Leave these (type, zone, capacity type) out of plans for ICE_TTL seconds."""
        until = self._clock() + ICE_TTL
        with self._lock:
            for offering in offerings:
                self._out_of_capacity[offering] = until

    def provision(
        self,
        pending: Sequence[PendingPod],
        pools: Sequence[PoolObject],
        nodes: Sequence[ExistingNode],
        daemonsets: Sequence[DaemonSetPod],
        claims: Sequence[Mapping[str, Any]],
    ) -> ProvisionOutcome:
        """Close the batch: simulate, then create one NodeClaim per planned node."""
        with self._lock:
            # A pod planned once opens no new window while it stays pending (no hot loop for
            # pods nothing fits); requeue() plans them all again when a claim is given up.
            self._window, self._seen, self._placed_at = None, {pod.uid for pod in pending}, None
            now = self._clock()
            blocked = [key for key, until in self._out_of_capacity.items() if until > now]
            self._out_of_capacity = {k: self._out_of_capacity[k] for k in blocked}
        if not pending or not pools:
            self._unschedulable = {}
            return ProvisionOutcome()
        catalog = self._catalog().without(blocked)
        in_use = in_use_by_pool(claims)
        views = [_view(pool, in_use.get(pool.name, {})) for pool in pools]
        result = schedule(pending, views, catalog.types, nodes, daemonsets)
        by_name = {pool.name: pool for pool in pools}
        created = []
        for plan in result.claims:
            pool = by_name[plan.pool]
            body = claim_body(plan, pool.name, pool.uid, pool.spec)
            if self._claims.create_claim(body):
                created.append(body["metadata"]["name"])
        if created:
            log.info(
                "%d pending pods, %d on existing or in-flight nodes: created NodeClaims %s.",
                len(pending),
                len(result.on_existing),
                ", ".join(created),
            )
        with self._lock:
            if len(result.unschedulable) < len(pending):
                self._placed_at = now
            before, self._unschedulable = self._unschedulable, dict(result.unschedulable)
        news = {uid: why for uid, why in result.unschedulable.items() if before.get(uid) != why}
        return ProvisionOutcome(tuple(created), result, news)


def _view(pool: PoolObject, in_use: Mapping[str, float]) -> NodePoolView:
    view = pool_view(pool.name, pool.spec, in_use)
    if not pool.zones:
        return view
    zones = LabelRequirement(ZONE, "In", tuple(pool.zones))
    return replace(view, requirements=(*view.requirements, zones))
