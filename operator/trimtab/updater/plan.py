"""The updater's plan for one workload: which pods to update now, how, and who waits.

Pure: given the workload's pods, the recommendation, the policy, the time and how many updates
the global rate limit still allows, it returns a :class:`Plan` and touches nothing.

1. Pods the updater may touch and that :func:`update_need` finds off are ordered by priority.
2. Under an in-place policy each gets a :func:`resize_verdict`: pods whose resize is already
   under way wait (and count as updating for the budget), the rest are resized or evicted.
   A pod whose earlier resize got stuck (Infeasible, deferred or in progress too long) is
   evicted even when its spec already holds the new requests: the spec is then right but the
   running containers are not, and only a new pod gets them.
3. The disruption budget over all of the workload's pods and the rate allowance cap how many
   go now; the rest wait, with the rule that held them back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from trimtab.updater.budget import DisruptionBudget, disruption_budget
from trimtab.updater.model import (
    ContainerControl,
    ContainerResources,
    ContainerTarget,
    Plan,
    PlannedUpdate,
    UpdatablePod,
    UpdateAction,
)
from trimtab.updater.pods import touchable
from trimtab.updater.priority import UpdateNeed, by_priority, update_need
from trimtab.updater.resize import ResizeVerdict, resize_verdict
from trimtab.updater.resources import changed_containers, new_resources


@dataclass(frozen=True)
class UpdaterPolicy:
    """The VerticalScaler's update settings that shape a plan."""

    min_replicas: int = 2
    """Never fewer ready pods than this; a workload with fewer live pods is not updated."""
    tolerance: float = 0.5
    """Share of the live pods (at least one) that may be down or updating at once."""
    in_place: bool = False
    """InPlaceOrRecreate: resize running pods where possible, evict where not."""


@dataclass(frozen=True)
class _Decisions:
    """The outcome of step 2: updates that could go, in priority order, and pods told to wait."""

    actionable: tuple[PlannedUpdate, ...]
    waiting: tuple[tuple[str, str], ...]
    updating: int
    """Pods in an in-place resize already under way (down, for the budget)."""


def plan_updates(
    pods: Sequence[UpdatablePod],
    targets: Mapping[str, ContainerTarget],
    controls: Mapping[str, ContainerControl],
    policy: UpdaterPolicy,
    now: float,
    rate_allowance: int,
    failing_since: Mapping[str, float] | None = None,
    backing_off: Mapping[str, str] | None = None,
) -> Plan:
    """The plan for a workload whose pods are exactly ``pods``.

    ``rate_allowance`` is how many updates the rate limit lets through now; ``failing_since``
    maps a pod's uid to when resize calls for it started failing; ``backing_off`` maps the uid
    of a pod whose last update call failed to why it waits (it takes no place in the budget:
    the failed call disrupted nothing, and the pods behind it should not wait for it).
    """
    needs = by_priority(_needs(pods, targets, controls, policy, now))
    decided = _decide(needs, targets, controls, policy, now, failing_since or {}, backing_off or {})
    budget = disruption_budget(pods, policy.min_replicas, policy.tolerance, decided.updating)
    limit = max(0, min(budget.allowance, rate_allowance))
    held = [
        (update.pod.name, _held_reason(index, budget, rate_allowance))
        for index, update in enumerate(decided.actionable[limit:], start=limit)
    ]
    blocked = None
    if decided.actionable and limit == 0:
        blocked = _held_reason(0, budget, rate_allowance)
    return Plan(
        updates=decided.actionable[:limit],
        waiting=decided.waiting + tuple(held),
        blocked=blocked,
    )


def _needs(
    pods: Sequence[UpdatablePod],
    targets: Mapping[str, ContainerTarget],
    controls: Mapping[str, ContainerControl],
    policy: UpdaterPolicy,
    now: float,
) -> list[tuple[UpdatablePod, UpdateNeed]]:
    """Touchable pods that should be updated, with why; under in place also stuck resizes."""
    found = []
    for pod in pods:
        if touchable(pod) is not None:
            continue
        need = update_need(pod, targets, controls, now)
        if need is None and policy.in_place and _resizing(pod):
            # Spec already right, containers not yet: the verdict below decides wait or evict.
            need = UpdateNeed(
                must_grow=pod.resize.pending_reason is not None,
                distance=0.0,
                reason="the kubelet has not carried out an earlier resize",
            )
        if need is not None:
            found.append((pod, need))
    return found


def _decide(
    needs: Sequence[tuple[UpdatablePod, UpdateNeed]],
    targets: Mapping[str, ContainerTarget],
    controls: Mapping[str, ContainerControl],
    policy: UpdaterPolicy,
    now: float,
    failing_since: Mapping[str, float],
    backing_off: Mapping[str, str],
) -> _Decisions:
    """How each pod would be updated; under in place, which must wait for a resize instead."""
    actionable: list[PlannedUpdate] = []
    waiting: list[tuple[str, str]] = []
    retrying: list[tuple[str, str]] = []
    for pod, need in needs:
        if pod.uid in backing_off:
            retrying.append((pod.name, backing_off[pod.uid]))
        elif not policy.in_place:
            actionable.append(PlannedUpdate(pod, UpdateAction.EVICT, need.reason))
        else:
            resources = _new_containers(pod, targets, controls)
            verdict, why = resize_verdict(pod, resources, now, failing_since.get(pod.uid))
            if verdict is ResizeVerdict.WAIT:
                waiting.append((pod.name, why))
            elif verdict is ResizeVerdict.EVICT:
                actionable.append(
                    PlannedUpdate(pod, UpdateAction.EVICT, f"{need.reason}; evicting: {why}")
                )
            else:
                actionable.append(PlannedUpdate(pod, UpdateAction.RESIZE, need.reason, resources))
    return _Decisions(tuple(actionable), (*waiting, *retrying), updating=len(waiting))


def _new_containers(
    pod: UpdatablePod,
    targets: Mapping[str, ContainerTarget],
    controls: Mapping[str, ContainerControl],
) -> dict[str, ContainerResources]:
    """The new requests and limits of each container the update changes."""
    current = {container.name: container for container in pod.containers}
    new = {
        container.name: new_resources(
            container, targets[container.name].target, controls[container.name]
        )
        for container in pod.containers
        if container.name in targets and container.name in controls
    }
    return {name: new[name] for name in changed_containers(current, new)}


def _resizing(pod: UpdatablePod) -> bool:
    """The kubelet reports a resize of this pod as pending or in progress."""
    return pod.resize.pending_reason is not None or pod.resize.in_progress_since is not None


def _held_reason(index: int, budget: DisruptionBudget, rate_allowance: int) -> str:
    """Why the update at ``index`` in priority order cannot go now."""
    if index >= budget.allowance:
        return budget.blocked_reason or budget.exhausted_reason
    return f"rate limit: {max(0, rate_allowance)} more updates allowed now"


__all__ = ["UpdaterPolicy", "plan_updates"]
