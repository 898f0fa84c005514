"""The provisioning service: batches, claims created, and offerings out of capacity skipped."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from tests.factories import node_pool
from trimtab.api.nodes import NodePoolSpec
from trimtab.provisioner.catalog import load_catalog
from trimtab.provisioner.claims import in_flight_node
from trimtab.provisioner.model import INSTANCE_CATEGORY, INSTANCE_TYPE, PendingPod
from trimtab.provisioner.service import ICE_TTL, REPLAN_AFTER, PoolObject, ProvisionerService

GI = 1024.0**3


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class Claims:
    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []

    def create_claim(self, body: Mapping[str, Any]) -> bool:
        self.created.append(dict(body))
        return True


def pool() -> PoolObject:
    requirement = {"key": INSTANCE_CATEGORY, "operator": "In", "values": ["m"]}
    spec = NodePoolSpec.model_validate(node_pool(template={"requirements": [requirement]})["spec"])
    return PoolObject("general", "uid-1", spec)


def pods(count: int) -> list[PendingPod]:
    return [
        PendingPod("shop", f"web-{i}", f"u{i}", {"cpu": 1.0, "memory": 2 * GI, "pods": 1.0})
        for i in range(count)
    ]


def first_type(body: Mapping[str, Any]) -> str:
    allowed = next(r for r in body["spec"]["requirements"] if r["key"] == INSTANCE_TYPE)
    return str(allowed["values"][0])


def test_the_window_closes_after_a_quiet_second_and_only_new_pods_reopen_it() -> None:
    clock = Clock()
    service = ProvisionerService(Claims(), load_catalog, idle=1.0, longest=10.0, clock=clock)
    assert not service.due()
    service.pod_pending("u0")
    clock.now += 0.5
    assert not service.due()
    clock.now += 0.5
    assert service.due()
    service.provision(pods(1), [pool()], [], [], [])
    service.pod_pending("u0")
    assert not service.due(), "a pod planned once opens no new window"
    service.requeue()
    clock.now += 1.0
    assert service.due()


def test_offerings_out_of_capacity_are_skipped_for_three_minutes() -> None:
    clock, claims = Clock(), Claims()
    service = ProvisionerService(claims, load_catalog, clock=clock)
    service.provision(pods(4), [pool()], [], [], [])
    chosen = first_type(claims.created[-1])
    zones = load_catalog().by_name(chosen).offerings
    service.out_of_capacity([(chosen, o.zone, o.capacity_type) for o in zones])

    service.provision(pods(4), [pool()], [], [], [])
    assert chosen not in next(
        r["values"] for r in claims.created[-1]["spec"]["requirements"] if r["key"] == INSTANCE_TYPE
    )
    clock.now += ICE_TTL
    service.provision(pods(4), [pool()], [], [], [])
    assert first_type(claims.created[-1]) == chosen


def test_pods_still_pending_after_their_batch_are_planned_again() -> None:
    """The scheduler may place pods otherwise than planned: what a batch found room for, if
    still pending REPLAN_AFTER seconds later, is planned again against what is there by then."""
    clock, claims = Clock(), Claims()
    service = ProvisionerService(claims, load_catalog, clock=clock)
    service.provision(pods(4), [pool()], [], [], [])
    bought = len(claims.created)
    assert bought >= 1
    clock.now += REPLAN_AFTER - 1
    assert not service.due()
    clock.now += 1
    assert service.due()

    # Still launching: the in-flight claims hold the pods, nothing more is bought.
    in_flight = [in_flight_node(body, load_catalog()) for body in claims.created]
    service.provision(pods(4), [pool()], in_flight, [], claims.created)
    assert len(claims.created) == bought

    # Up, but full of other pods: the one left over gets a node of its own.
    full = [replace(node, in_flight=False, requested=node.allocatable) for node in in_flight]
    clock.now += REPLAN_AFTER
    assert service.due()
    service.provision(pods(1), [pool()], full, [], claims.created)
    assert len(claims.created) == bought + 1

    # Nothing pending any more: no further passes.
    clock.now += REPLAN_AFTER
    service.provision([], [pool()], full, [], claims.created)
    clock.now += REPLAN_AFTER
    assert not service.due()


def test_a_pod_nothing_fits_is_reported_once_and_not_planned_in_a_loop() -> None:
    clock = Clock()
    service = ProvisionerService(Claims(), load_catalog, clock=clock)
    huge = PendingPod("shop", "huge", "u-huge", {"cpu": 4096.0, "memory": GI, "pods": 1.0})
    first = service.provision([huge], [pool()], [], [], [])
    assert set(first.newly_unschedulable) == {"u-huge"}
    clock.now += REPLAN_AFTER
    assert not service.due(), "no room was found, so there is nothing to plan again"
    service.requeue()
    clock.now += 1.0
    assert service.due()
    again = service.provision([huge], [pool()], [], [], [])
    assert again.result.unschedulable == first.result.unschedulable
    assert again.newly_unschedulable == {}, "the same reason is not reported twice"
