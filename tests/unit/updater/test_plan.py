"""Plans for one workload: who is updated now, how, and who waits for which rule."""

from __future__ import annotations

import pytest

from tests.unit.updater.conftest import MI, NOW, container, pod, target
from trimtab.updater.model import (
    ContainerControl,
    ContainerResources,
    ContainerTarget,
    Plan,
    ResizeState,
    UpdatablePod,
    UpdateAction,
)
from trimtab.updater.plan import UpdaterPolicy, plan_updates

GROW = {"app": target(memory=512 * MI, lower={"memory": 400 * MI})}
"""Every default pod's memory request (256Mi) is below this lower bound."""
CONTROLS = {"app": ContainerControl()}
EVICT = UpdaterPolicy()
IN_PLACE = UpdaterPolicy(in_place=True)


def ready_pods(count: int) -> list[UpdatablePod]:
    return [pod(f"web-{i}") for i in range(count)]


def plan(
    pods: list[UpdatablePod],
    policy: UpdaterPolicy = EVICT,
    rate: int = 10,
    failing_since: dict[str, float] | None = None,
) -> Plan:
    return plan_updates(pods, GROW, CONTROLS, policy, NOW, rate, failing_since)


def names(result: Plan) -> list[str]:
    return [update.pod.name for update in result.updates]


def test_half_of_the_pods_are_evicted_the_rest_wait() -> None:
    result = plan(ready_pods(4))
    assert names(result) == ["web-0", "web-1"]
    assert {update.action for update in result.updates} == {UpdateAction.EVICT}
    assert result.updates[0].reason == "app memory request 256Mi is below the lower bound 400Mi"
    assert result.updates[0].resources == {}
    assert result.waiting == (
        ("web-2", "eviction tolerance: 2 of 4 pods may update at once"),
        ("web-3", "eviction tolerance: 2 of 4 pods may update at once"),
    )
    assert result.blocked is None


def test_nothing_to_do_is_an_empty_plan() -> None:
    at_target = {"app": target()}
    assert plan_updates(ready_pods(4), at_target, CONTROLS, EVICT, NOW, 10) == Plan()


def test_pods_that_must_grow_and_the_farthest_go_first() -> None:
    small = container(requests={"cpu": 0.5, "memory": 128 * MI})
    large = container(requests={"cpu": 0.5, "memory": 8192 * MI})
    pods = [
        pod("a-too-big", containers=(large,)),
        pod("b-small"),
        pod("c-smaller", containers=(small,)),
        pod("d-small"),
    ]
    result = plan(pods)
    assert names(result) == ["c-smaller", "b-small"]
    assert [name for name, _ in result.waiting] == ["d-small", "a-too-big"]


def test_the_rate_limit_caps_below_the_budget() -> None:
    result = plan(ready_pods(4), rate=1)
    assert names(result) == ["web-0"]
    assert result.waiting == (
        ("web-1", "rate limit: 1 more updates allowed now"),
        ("web-2", "eviction tolerance: 2 of 4 pods may update at once"),
        ("web-3", "eviction tolerance: 2 of 4 pods may update at once"),
    )
    assert result.blocked is None


@pytest.mark.parametrize(
    ("pods", "rate", "blocked"),
    [
        pytest.param(ready_pods(4), 0, "rate limit: 0 more updates allowed now", id="rate-zero"),
        pytest.param(
            ready_pods(1), 10, "only 1 of 1 pods are ready, minReplicas is 2", id="too-few-pods"
        ),
        pytest.param(
            [*ready_pods(1), pod("sick", ready=False)],
            10,
            "only 1 of 2 pods are ready, minReplicas is 2",
            id="too-few-ready",
        ),
        pytest.param(
            [*ready_pods(2), pod("sick-1", ready=False), pod("sick-2", ready=False)],
            10,
            "eviction tolerance: 2 of 4 pods may update at once, 2 already down or updating",
            id="tolerance-used-by-unready",
        ),
        pytest.param(
            [*ready_pods(3), *(pod(f"sick-{i}", ready=False) for i in range(3))],
            10,
            "eviction tolerance: 3 of 6 pods may update at once, 3 already down",
            id="unready-at-the-tolerance",
        ),
        pytest.param(
            [*ready_pods(3), *(pod(f"sick-{i}", ready=False) for i in range(4))],
            10,
            "4 of 7 pods are not ready and 4 are down in all, more than the 3",
            id="unready-beyond-budget",
        ),
    ],
)
def test_blocked_plans_touch_nothing(pods: list[UpdatablePod], rate: int, blocked: str) -> None:
    result = plan(pods, rate=rate)
    assert result.updates == ()
    assert result.blocked is not None
    assert blocked in result.blocked
    needing = {p.name for p in pods}
    assert {name for name, _ in result.waiting} == needing
    assert result.waiting[0][1] == result.blocked


def test_a_blocked_budget_with_nothing_to_update_is_not_reported() -> None:
    assert plan_updates(ready_pods(1), {"app": target()}, CONTROLS, EVICT, NOW, 10) == Plan()


@pytest.mark.parametrize(
    "untouchable",
    [
        pytest.param(pod("x", controller=None), id="no-controller"),
        pytest.param(pod("x", do_not_disrupt=True), id="do-not-disrupt"),
        pytest.param(pod("x", mirror=True), id="mirror"),
        pytest.param(pod("x", deleting=True), id="deleting"),
        pytest.param(pod("x", phase="Pending", ready=False), id="pending"),
    ],
)
def test_untouchable_pods_are_never_planned(untouchable: UpdatablePod) -> None:
    result = plan([untouchable, *ready_pods(4)], rate=10)
    assert "x" not in names(result)
    assert "x" not in {name for name, _ in result.waiting}


def test_untouchable_pods_still_count_in_the_budget() -> None:
    """A pod being deleted is down: with four live pods only one more may go."""
    result = plan([pod("x", deleting=True), *ready_pods(4)])
    assert names(result) == ["web-0"]


def test_in_place_resizes_only_the_changed_containers() -> None:
    sidecar = container("sidecar", requests={"cpu": 0.1, "memory": 64 * MI})
    pods = [pod(f"web-{i}", containers=(container(), sidecar)) for i in range(4)]
    targets = {**GROW, "sidecar": target("sidecar", cpu=0.1, memory=64 * MI)}
    controls = {**CONTROLS, "sidecar": ContainerControl()}
    result = plan_updates(pods, targets, controls, IN_PLACE, NOW, 10)
    assert names(result) == ["web-0", "web-1"]
    update = result.updates[0]
    assert update.action is UpdateAction.RESIZE
    assert update.reason == "app memory request 256Mi is below the lower bound 400Mi"
    assert update.resources == {
        "app": ContainerResources("app", {"cpu": 0.5, "memory": 512 * MI}, {}),
    }


def test_in_place_waits_for_a_resize_under_way_and_counts_it_as_down() -> None:
    deferred = ResizeState(pending_reason="Deferred", pending_since=NOW - 60)
    pods = [pod("web-0", resize=deferred), *(pod(f"web-{i}") for i in range(1, 4))]
    result = plan(pods, IN_PLACE)
    assert names(result) == ["web-1"]
    assert result.waiting == (
        ("web-0", "resize pending (Deferred) for 1m"),
        ("web-2", "eviction tolerance: 2 of 4 pods may update at once, 1 already down or updating"),
        ("web-3", "eviction tolerance: 2 of 4 pods may update at once, 1 already down or updating"),
    )


@pytest.mark.parametrize(
    ("resize", "why"),
    [
        pytest.param(
            ResizeState(pending_reason="Infeasible", pending_since=NOW - 10),
            "Infeasible",
            id="infeasible",
        ),
        pytest.param(
            ResizeState(pending_reason="Deferred", pending_since=NOW - 600),
            "Deferred",
            id="deferred-too-long",
        ),
        pytest.param(
            ResizeState(in_progress_since=NOW - 7200), "in progress", id="in-progress-too-long"
        ),
    ],
)
def test_in_place_evicts_a_stuck_resize_even_when_the_spec_is_right(
    resize: ResizeState, why: str
) -> None:
    """The spec already asks for the new requests (so nothing looks off); the pod runs the old."""
    at_target = container(requests={"cpu": 0.5, "memory": 512 * MI})
    pods = [pod("stuck", containers=(at_target,), resize=resize), *ready_pods(3)]
    at_spec = {"app": target(memory=512 * MI)}
    result = plan_updates(pods, at_spec, CONTROLS, IN_PLACE, NOW, 10)
    (update,) = result.updates
    assert (update.pod.name, update.action) == ("stuck", UpdateAction.EVICT)
    assert why in update.reason
    assert update.reason.startswith("the kubelet has not carried out an earlier resize; evicting: ")


def test_in_place_lets_a_settled_pod_alone_and_waits_for_a_young_resize() -> None:
    at_target = container(requests={"cpu": 0.5, "memory": 512 * MI})
    resizing = ResizeState(in_progress_since=NOW - 60)
    pods = [pod("resizing", containers=(at_target,), resize=resizing), *ready_pods(4)]
    at_spec = {"app": target(memory=512 * MI)}
    result = plan_updates(pods, at_spec, CONTROLS, IN_PLACE, NOW, 10)
    assert result.updates == ()
    assert result.waiting == (("resizing", "resize in progress for 1m"),)
    # Under eviction the updater does not look at resizes at all.
    assert plan_updates(pods, at_spec, CONTROLS, EVICT, NOW, 10) == Plan()


SHRINK_CPU = {"app": target(cpu=0.2, upper={"cpu": 0.3})}
"""Every default pod's CPU request (500m) is above this upper bound."""


@pytest.mark.parametrize(
    ("overrides", "targets", "failing_since", "why"),
    [
        pytest.param(
            {"containers": (container(limits={"cpu": 0.5, "memory": 256 * MI}),)},
            SHRINK_CPU,
            None,
            "app cpu request 500m is above the upper bound 300m; evicting: resizing would "
            "change the QoS class from Guaranteed to Burstable",
            id="qos-change",
        ),
        pytest.param(
            {},
            GROW,
            {"uid-web-0": NOW - 600},
            "app memory request 256Mi is below the lower bound 400Mi; evicting: resize calls "
            "failing for over 5m",
            id="failing",
        ),
    ],
)
def test_in_place_falls_back_to_eviction(
    overrides: dict[str, object],
    targets: dict[str, ContainerTarget],
    failing_since: dict[str, float] | None,
    why: str,
) -> None:
    pods = [pod("web-0", **overrides), *(pod(f"web-{i}") for i in range(1, 4))]
    controls = {"app": ContainerControl(requests_and_limits=False)}
    result = plan_updates(pods, targets, controls, IN_PLACE, NOW, 10, failing_since)
    first, second = result.updates
    assert (first.pod.name, first.action, first.reason) == ("web-0", UpdateAction.EVICT, why)
    assert first.resources == {}
    assert (second.pod.name, second.action) == ("web-1", UpdateAction.RESIZE)


def test_a_pod_backing_off_waits_without_holding_a_place_in_the_budget() -> None:
    pods = ready_pods(2)
    backing_off = {"uid-web-0": "a failed call is retried in 30 s"}
    result = plan_updates(pods, GROW, CONTROLS, EVICT, NOW, 10, None, backing_off)
    assert names(result) == ["web-1"]
    assert result.waiting == (("web-0", "a failed call is retried in 30 s"),)
