"""A container's new requests and limits from its target, as the policy allows.

Shared by admission (new pods) and in-place resize (running pods), so both write the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from trimtab.updater.model import Amounts, ContainerControl, ContainerResources

RESOURCES = ("cpu", "memory")


def new_resources(
    current: ContainerResources, target: Amounts, control: ContainerControl
) -> ContainerResources:
    """``current`` with each controlled resource's request set to its target.

    RequestsAndLimits keeps a limit's ratio to its request (a request-less limit counts as a
    request equal to it, as the apiserver defaults it); RequestsOnly leaves limits alone and keeps
    the request at or below the limit, so the pod stays valid.
    """
    requests, limits = dict(current.requests), dict(current.limits)
    for resource in RESOURCES:
        if resource not in control.resources or resource not in target:
            continue
        wanted = target[resource]
        old_request = requests.get(resource, limits.get(resource))
        limit = limits.get(resource)
        if limit is None:
            requests[resource] = wanted
        elif control.requests_and_limits:
            ratio = limit / old_request if old_request else 1.0
            requests[resource], limits[resource] = wanted, wanted * ratio
        else:
            requests[resource] = min(wanted, limit)
    return ContainerResources(current.name, requests, limits)


def qos_class(containers: Sequence[ContainerResources]) -> str:
    """The pod's QoS class from its containers' CPU and memory, by the kubelet's rules (an
    amount of zero counts as unset)."""
    if not any(v for c in containers for v in (*c.requests.values(), *c.limits.values())):
        return "BestEffort"
    guaranteed = all(
        c.limits.get(resource)
        and c.requests.get(resource, c.limits[resource]) == c.limits[resource]
        for c in containers
        for resource in RESOURCES
    )
    return "Guaranteed" if guaranteed else "Burstable"


def changed_containers(
    before: Mapping[str, ContainerResources], after: Mapping[str, ContainerResources]
) -> list[str]:
    """Names of the containers whose requests or limits differ, in ``after``'s order."""
    return [
        name
        for name, new in after.items()
        if name not in before
        or dict(before[name].requests) != dict(new.requests)
        or dict(before[name].limits) != dict(new.limits)
    ]
