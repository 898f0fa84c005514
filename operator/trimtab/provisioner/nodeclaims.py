"""The NodeClaim controller's steps: launch, register, initialise, give up, give back.

Each call looks at one claim and its Node (``lifecycle.next_step``) and does the one step that
is due through the provider and the cluster, returning the status to write and the Events to
post. Nothing but a failed launch's retry time is remembered between calls: a claim whose
launch was cut short by a restart is launched again, and the provider's idempotency (one machine
per claim uid) makes that safe. A launch the cloud refused is retried after a backoff (5 s,
doubling, at most 60 s) rather than at every call, so a broken node class or an API outage does
not hammer the cloud until the launch times out; a restart forgets the backoff, which costs one
early retry.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from trimtab.api.nodes import NodeClaimSpec
from trimtab.cloud.provider import (
    CloudError,
    CloudProvider,
    Instance,
    InstanceNotFoundError,
    InsufficientCapacityError,
    LaunchRequest,
)
from trimtab.conditions import make_condition, merge_conditions
from trimtab.provisioner.catalog import Catalog
from trimtab.provisioner.claims import launch_choice, quantities
from trimtab.provisioner.lifecycle import ClaimState, NodeState, Step, next_step
from trimtab.provisioner.model import NODE_POOL, Taint

log = logging.getLogger(__name__)

NODE_CLAIM_LABEL = "trimtab.dev/nodeclaim"
LAUNCH_RETRY_FIRST = 5.0
LAUNCH_RETRY_MOST = 60.0


class ClaimCluster(Protocol):
    """What the controller changes in the cluster (``kube.nodeclaims.ClaimClient``)."""

    def delete_claim(self, name: str) -> bool: ...

    def patch_node(self, name: str, patch: Mapping[str, Any]) -> None: ...

    def delete_node(self, name: str) -> bool: ...


@dataclass(frozen=True)
class Notice:
    """An Event to post on the NodeClaim."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass(frozen=True)
class ClaimOutcome:
    """What one step did."""

    step: Step
    status: dict[str, Any] = field(default_factory=dict)
    """Status fields to merge (conditions already merged in)."""
    events: list[Notice] = field(default_factory=list)
    out_of_capacity: tuple[tuple[str, str, str], ...] = ()
    """Offerings that answered "insufficient capacity" (for the provisioner to skip)."""


class ClaimService:
    """Runs NodeClaim steps against a provider chosen by the claim's node class."""

    def __init__(
        self,
        cluster: ClaimCluster,
        catalog: Callable[[], Catalog],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._cluster = cluster
        self._catalog = catalog
        self._clock = clock
        self._retries: dict[str, tuple[int, float]] = {}
        """Claim uid -> (launches refused in a row, when to try again)."""
        self._retries_lock = threading.Lock()

    def reconcile(
        self,
        claim: Mapping[str, Any],
        node: Mapping[str, Any] | None,
        provider: CloudProvider,
        pool_labels: Mapping[str, str],
    ) -> ClaimOutcome:
        """Do the claim's next step."""
        spec = NodeClaimSpec.model_validate(claim.get("spec") or {})
        step, why = self._next_step(claim, spec, node)
        if step is Step.LAUNCH:
            return self._launch(claim, spec, provider, pool_labels)
        # next_step asks to register or initialise only when there is a Node.
        if step is Step.REGISTER and node is not None:
            name = node["metadata"]["name"]
            return self._outcome(
                claim, step, {"nodeName": name}, ("Registered", "True", "NodeRegistered", why)
            )
        if step is Step.INITIALIZE and node is not None:
            self._initialize(node, spec, claim, pool_labels)
            return self._outcome(
                claim,
                step,
                {},
                ("Initialized", "True", "NodeInitialized", why),
                ("Ready", "True", "NodeReady", why),
            )
        if step is Step.GIVE_UP:
            self.give_back(claim, provider, node)
            self._cluster.delete_claim(claim["metadata"]["name"])
            return ClaimOutcome(step, events=[Notice("Warning", "GaveUp", why.capitalize())])
        return ClaimOutcome(step)

    def idle(self, claim: Mapping[str, Any], node: Mapping[str, Any] | None) -> bool:
        """Whether the claim's next step is only to wait (for its Node, for Ready, for a launch
        retry, or nothing at all): then ``reconcile`` would call nothing and write nothing, and
        the handler need not hand the claim to a thread every second."""
        spec = NodeClaimSpec.model_validate(claim.get("spec") or {})
        step, _ = self._next_step(claim, spec, node)
        return step in (Step.AWAIT_RETRY, Step.AWAIT_NODE, Step.AWAIT_READY, Step.DONE)

    def _next_step(
        self, claim: Mapping[str, Any], spec: NodeClaimSpec, node: Mapping[str, Any] | None
    ) -> tuple[Step, str]:
        """``lifecycle.next_step``, with a launch in its backoff as a wait."""
        now = self._clock()
        step, why = next_step(_claim_state(claim), _node_state(node, spec), now)
        if step is Step.LAUNCH and now < self._retry_at(claim):
            return Step.AWAIT_RETRY, "the last launch was refused; waiting to retry"
        return step, why

    def give_back(
        self, claim: Mapping[str, Any], provider: CloudProvider, node: Mapping[str, Any] | None
    ) -> None:
        """Terminate the claim's instance and delete its Node (the claim's finalizer)."""
        self._forget_retry(claim)
        provider_id = (claim.get("status") or {}).get("providerID")
        if provider_id:
            with contextlib.suppress(InstanceNotFoundError):  # already gone: done
                provider.delete(provider_id)
        if node is not None:
            self._cluster.delete_node(node["metadata"]["name"])

    # -- steps -------------------------------------------------------------------------------

    def _launch(
        self,
        claim: Mapping[str, Any],
        spec: NodeClaimSpec,
        provider: CloudProvider,
        pool_labels: Mapping[str, str],
    ) -> ClaimOutcome:
        meta = claim["metadata"]
        choice = launch_choice(spec, {**pool_labels, NODE_CLAIM_LABEL: meta["name"]})
        catalog = self._catalog()
        known = {t.name: t for t in catalog.types}
        types = tuple(known[name] for name in choice.instance_types if name in known)
        if not types:
            why = f"none of its instance types {list(choice.instance_types)[:5]} is in the catalog"
            return self._outcome(
                claim, Step.LAUNCH, {}, ("Launched", "False", "NoInstanceType", why)
            )
        request = LaunchRequest(
            claim_name=meta["name"],
            claim_uid=_uid(claim),
            pool=(meta.get("labels") or {}).get(NODE_POOL, ""),
            instance_types=types,
            zones=choice.zones,
            capacity_types=choice.capacity_types,
            labels=choice.labels,
            taints=tuple(Taint(t.key, t.value, t.effect) for t in spec.taints),
            startup_taints=tuple(Taint(t.key, t.value, t.effect) for t in spec.startup_taints),
        )
        try:
            instance = provider.create(request)
        except InsufficientCapacityError as error:
            # Nothing it may use is there now: drop the claim; its pods go to the next batch,
            # planned without these offerings.
            self._cluster.delete_claim(meta["name"])
            notice = Notice("Warning", "InsufficientCapacity", error.message)
            return ClaimOutcome(Step.GIVE_UP, events=[notice], out_of_capacity=error.offerings)
        except CloudError as error:
            wait = self._note_refusal(claim)
            why = f"{error.message} (retrying in {wait:.0f} s)"
            outcome = self._outcome(
                claim, Step.LAUNCH, {}, ("Launched", "False", "LaunchFailed", why)
            )
            outcome.events.append(Notice("Warning", "LaunchFailed", why))
            return outcome
        self._forget_retry(claim)
        outcome = self._outcome(
            claim,
            Step.LAUNCH,
            _launched_status(instance),
            ("Launched", "True", "Launched", _launched_message(instance)),
        )
        outcome.events.append(Notice("Normal", "Launched", _launched_message(instance)))
        return outcome

    # -- launch backoff ----------------------------------------------------------------------

    def _retry_at(self, claim: Mapping[str, Any]) -> float:
        with self._retries_lock:
            return self._retries.get(_uid(claim), (0, 0.0))[1]

    def _note_refusal(self, claim: Mapping[str, Any]) -> float:
        """Count a refused launch; the seconds until the next try."""
        with self._retries_lock:
            refusals = self._retries.get(_uid(claim), (0, 0.0))[0] + 1
            wait = min(LAUNCH_RETRY_MOST, LAUNCH_RETRY_FIRST * 2.0 ** (refusals - 1))
            self._retries[_uid(claim)] = (refusals, self._clock() + wait)
        return wait

    def _forget_retry(self, claim: Mapping[str, Any]) -> None:
        with self._retries_lock:
            self._retries.pop(_uid(claim), None)

    def _initialize(
        self,
        node: Mapping[str, Any],
        spec: NodeClaimSpec,
        claim: Mapping[str, Any],
        pool_labels: Mapping[str, str],
    ) -> None:
        """Labels and taints the claim asks for on the Node; its startup taints removed."""
        choice = launch_choice(spec, {**pool_labels, NODE_CLAIM_LABEL: claim["metadata"]["name"]})
        startup = {(t.key, t.effect) for t in spec.startup_taints}
        wanted = [t.model_dump(exclude_none=True) for t in spec.taints]
        kept = [
            t
            for t in (node.get("spec") or {}).get("taints") or []
            if (t.get("key"), t.get("effect")) not in startup and t not in wanted
        ]
        self._cluster.patch_node(
            node["metadata"]["name"],
            {"metadata": {"labels": dict(choice.labels)}, "spec": {"taints": kept + wanted}},
        )

    def _outcome(
        self,
        claim: Mapping[str, Any],
        step: Step,
        fields: Mapping[str, Any],
        *conditions: tuple[str, Any, str, str],
    ) -> ClaimOutcome:
        now = _rfc3339(self._clock())
        updates = [make_condition(t, s, r, m, now) for t, s, r, m in conditions]
        existing = (claim.get("status") or {}).get("conditions")
        status = {**fields, "conditions": merge_conditions(existing, updates)}
        return ClaimOutcome(step, status)


def _uid(claim: Mapping[str, Any]) -> str:
    meta = claim["metadata"]
    return str(meta.get("uid", meta["name"]))


def _claim_state(claim: Mapping[str, Any]) -> ClaimState:
    status = claim.get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or []}

    def true(kind: str) -> bool:
        return (conditions.get(kind) or {}).get("status") == "True"

    launched = conditions.get("Launched") if true("Launched") else None
    created = _seconds((claim.get("metadata") or {}).get("creationTimestamp"))
    return ClaimState(
        created=created if created is not None else 0.0,
        launched_at=_seconds((launched or {}).get("lastTransitionTime")),
        provider_id=status.get("providerID"),
        registered=true("Registered"),
        initialized=true("Initialized"),
    )


def _node_state(node: Mapping[str, Any] | None, spec: NodeClaimSpec) -> NodeState | None:
    if node is None:
        return None
    meta, node_spec = node.get("metadata") or {}, node.get("spec") or {}
    conditions = (node.get("status") or {}).get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    startup = {(t.key, t.effect) for t in spec.startup_taints}
    left = any((t.get("key"), t.get("effect")) in startup for t in node_spec.get("taints") or [])
    return NodeState(
        name=meta.get("name", ""),
        ready=ready,
        startup_taints_left=left,
        labels_missing=NODE_CLAIM_LABEL not in (meta.get("labels") or {}),
    )


def _launched_status(instance: Instance) -> dict[str, Any]:
    return {
        "providerID": instance.provider_id,
        "instanceType": instance.instance_type,
        "zone": instance.zone,
        "capacityType": instance.capacity_type,
        "price": round(instance.price, 6),
        "capacity": quantities(instance.capacity),
        "allocatable": quantities(instance.allocatable),
    }


def _launched_message(instance: Instance) -> str:
    return (
        f"{instance.instance_type} ({instance.capacity_type}) in {instance.zone} at "
        f"${instance.price:.4f}/h: {instance.provider_id}"
    )


def _seconds(text: Any) -> float | None:
    if not text:
        return None
    return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()


def _rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def orphans(instances: Sequence[Instance], claims: Sequence[Mapping[str, Any]]) -> list[Instance]:
    """Instances no NodeClaim knows (by provider id or by name): to be given back."""
    ids = {(c.get("status") or {}).get("providerID") for c in claims}
    names = {(c.get("metadata") or {}).get("name") for c in claims}
    return [i for i in instances if i.provider_id not in ids and i.claim_name not in names]


LOST_AFTER = 60.0
"""Seconds after its launch before a claim whose instance is not listed counts as lost (a
cloud's listing can lag a fresh launch)."""


def lost_claims(
    claims: Sequence[Mapping[str, Any]], instances: Sequence[Instance], now: float
) -> list[str]:
    """Names of launched claims whose instance the provider no longer has: to be deleted, so
    their pods get another node. ``claims`` must all use the provider that listed ``instances``."""
    ids = {instance.provider_id for instance in instances}
    lost = []
    for claim in claims:
        state = _claim_state(claim)
        launched = state.launched_at
        gone = bool(state.provider_id) and state.provider_id not in ids
        if gone and launched is not None and now - launched >= LOST_AFTER:
            lost.append(claim["metadata"]["name"])
    return lost
