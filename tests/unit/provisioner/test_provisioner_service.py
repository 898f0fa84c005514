"""The provisioning service: batches, claims created, and offerings out of capacity skipped."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tests.factories import node_pool
from trimtab.api.nodes import NodePoolSpec
from trimtab.provisioner.catalog import load_catalog
from trimtab.provisioner.model import INSTANCE_CATEGORY, INSTANCE_TYPE, PendingPod
from trimtab.provisioner.service import ICE_TTL, PoolObject, ProvisionerService

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
