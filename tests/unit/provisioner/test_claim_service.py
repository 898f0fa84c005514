"""The NodeClaim controller's launch step against a cloud that refuses: it backs off instead of
calling the cloud at every pass, and forgets the backoff once the claim launches or goes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.unit.provisioner.conftest import instance_type
from trimtab.cloud.provider import CloudError, Instance, LaunchRequest
from trimtab.provisioner.catalog import Catalog
from trimtab.provisioner.lifecycle import LAUNCH_TIMEOUT, Step
from trimtab.provisioner.model import INSTANCE_TYPE
from trimtab.provisioner.nodeclaims import (
    LAUNCH_RETRY_FIRST,
    LAUNCH_RETRY_MOST,
    NODE_CLAIM_LABEL,
    ClaimService,
)

CREATED = 1_800_000_000.0
TYPE = "m.large"


@dataclass
class Clock:
    now: float = CREATED

    def __call__(self) -> float:
        return self.now


@dataclass
class RefusingCloud:
    """Refuses the first ``refusals`` launches, then launches."""

    refusals: int
    calls: list[float] = field(default_factory=list)
    clock: Clock = field(default_factory=Clock)

    def create(self, request: LaunchRequest) -> Instance:
        self.calls.append(self.clock.now)
        if len(self.calls) <= self.refusals:
            raise CloudError("the API is down")
        return Instance(
            f"simulated://zone-a/{request.claim_name}",
            request.claim_name,
            TYPE,
            "zone-a",
            "on-demand",
            0.1,
            self.clock.now,
        )

    def delete(self, provider_id: str) -> None:
        return None


@dataclass
class Cluster:
    deleted: list[str] = field(default_factory=list)

    def delete_claim(self, name: str) -> bool:
        self.deleted.append(name)
        return True

    def patch_node(self, name: str, patch: Mapping[str, Any]) -> None:
        return None

    def delete_node(self, name: str) -> bool:
        return True


def claim(name: str = "general-abcde", uid: str = "uid-1") -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "uid": uid,
            "creationTimestamp": "2027-01-15T08:00:00Z",
        },
        "spec": {
            "requirements": [{"key": INSTANCE_TYPE, "operator": "In", "values": [TYPE]}],
            "nodeClassRef": {"kind": "SimulatedNodeClass", "name": "default"},
        },
    }


def service(clock: Clock) -> ClaimService:
    catalog = Catalog("test", (instance_type(TYPE, 2, 8, 0.1),))
    return ClaimService(Cluster(), lambda: catalog, clock)


def run_every_second(until: float, cloud: RefusingCloud, claims: ClaimService) -> list[Step]:
    steps = []
    while cloud.clock.now < until:
        steps.append(claims.reconcile(claim(), None, cloud, {}).step)
        cloud.clock.now += 1.0
    return steps


def test_refused_launches_are_retried_after_a_doubling_backoff() -> None:
    clock = Clock()
    cloud = RefusingCloud(refusals=100, clock=clock)
    run_every_second(CREATED + 200, cloud, service(clock))
    gaps = [b - a for a, b in zip(cloud.calls, cloud.calls[1:], strict=False)]
    assert gaps[:4] == [LAUNCH_RETRY_FIRST * 2**k for k in range(4)]
    assert set(gaps[4:]) == {LAUNCH_RETRY_MOST}
    assert len(cloud.calls) < 10  # one call a second would be 200


def test_the_refusal_and_the_retry_time_are_in_the_condition() -> None:
    clock = Clock()
    cloud = RefusingCloud(refusals=1, clock=clock)
    outcome = service(clock).reconcile(claim(), None, cloud, {})
    [launched] = outcome.status["conditions"]
    assert (launched["type"], launched["status"], launched["reason"]) == (
        "Launched",
        "False",
        "LaunchFailed",
    )
    assert launched["message"] == f"the API is down (retrying in {LAUNCH_RETRY_FIRST:.0f} s)"
    assert [(n.type, n.reason) for n in outcome.events] == [("Warning", "LaunchFailed")]


def test_a_launch_that_succeeds_clears_the_backoff() -> None:
    """The claim body here never records its instance, so every pass launches again: after
    the first success each pass reaches the cloud at once, with no backoff left over."""
    clock = Clock()
    cloud = RefusingCloud(refusals=2, clock=clock)
    run_every_second(CREATED + 20, cloud, service(clock))
    assert [t - CREATED for t in cloud.calls] == [0, 5, 15, 16, 17, 18, 19]


def test_backoff_is_per_claim() -> None:
    clock = Clock()
    cloud = RefusingCloud(refusals=1, clock=clock)
    claims = service(clock)
    claims.reconcile(claim("one", "uid-1"), None, cloud, {})
    outcome = claims.reconcile(claim("two", "uid-2"), None, cloud, {})
    assert len(cloud.calls) == 2
    assert outcome.status["providerID"] == "simulated://zone-a/two"


def test_a_claim_in_backoff_still_times_out() -> None:
    clock = Clock()
    cloud = RefusingCloud(refusals=100, clock=clock)
    claims = service(clock)
    steps = run_every_second(CREATED + LAUNCH_TIMEOUT + 1, cloud, claims)
    assert steps[-1] is Step.GIVE_UP
    assert claims._cluster.deleted == ["general-abcde"]  # type: ignore[attr-defined]


def launched(claim_body: dict[str, Any], *conditions: str) -> dict[str, Any]:
    """The claim after its launch, with these conditions True."""
    when = "2027-01-15T08:00:10Z"
    claim_body["status"] = {
        "providerID": "simulated://zone-a/general-abcde",
        "nodeName": "general-abcde",
        "conditions": [
            {"type": t, "status": "True", "reason": t, "message": "", "lastTransitionTime": when}
            for t in ("Launched", *conditions)
        ],
    }
    return claim_body


def ready_node(**labels: str) -> dict[str, Any]:
    return {
        "metadata": {"name": "general-abcde", "labels": labels},
        "spec": {"providerID": "simulated://zone-a/general-abcde"},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }


def test_idle_only_while_there_is_nothing_to_call_or_write() -> None:
    clock = Clock()
    cloud = RefusingCloud(refusals=1, clock=clock)
    claims = service(clock)
    assert not claims.idle(claim(), None)  # launch due
    claims.reconcile(claim(), None, cloud, {})
    assert claims.idle(claim(), None)  # launch refused: waiting for the retry
    clock.now += LAUNCH_RETRY_FIRST
    assert not claims.idle(claim(), None)
    assert claims.idle(launched(claim()), None)  # waiting for the Node
    assert not claims.idle(launched(claim()), ready_node())  # the Node is there: register it
    done = launched(claim(), "Registered", "Initialized")
    assert not claims.idle(done, ready_node())  # its labels are missing: initialise again
    assert claims.idle(done, ready_node(**{NODE_CLAIM_LABEL: "general-abcde"}))
