"""When a running pod is worth updating, how far off it is, and which pods go first."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.updater.conftest import HOUR, MI, NOW, container, pod, target
from trimtab.updater.model import ContainerControl, ContainerTarget
from trimtab.updater.priority import (
    LONG_LIVED_AFTER,
    QUICK_OOM_WITHIN,
    UpdateNeed,
    by_priority,
    update_need,
)

BOTH = ContainerControl()
CPU_ONLY = ContainerControl(resources=frozenset({"cpu"}))
REQUESTS_ONLY = ContainerControl(requests_and_limits=False)
OLD: dict[str, Any] = {"started": NOW - 13 * HOUR, "created": NOW - 13 * HOUR}


@pytest.mark.parametrize(
    ("overrides", "goal", "control", "expected"),
    [
        pytest.param({}, target(), BOTH, None, id="already-at-target"),
        pytest.param({}, target(cpu=0.6), BOTH, None, id="young-within-bounds"),
        pytest.param(
            {},
            target(memory=512 * MI, lower={"memory": 400 * MI}),
            BOTH,
            (True, "app memory request 256Mi is below the lower bound 400Mi"),
            id="below-lower-bound",
        ),
        pytest.param(
            {},
            target(cpu=0.2, upper={"cpu": 0.3}),
            BOTH,
            (False, "app cpu request 500m is above the upper bound 300m"),
            id="above-upper-bound",
        ),
        pytest.param(
            OLD,
            target(cpu=0.6),
            BOTH,
            (True, "pod has run 13h and its requests are 20% off; app cpu request 500m"),
            id="long-lived-drift",
        ),
        pytest.param(OLD, target(cpu=0.52), BOTH, None, id="long-lived-small-drift"),
        pytest.param(
            {"started": NOW - 11 * HOUR}, target(cpu=0.6), BOTH, None, id="not-long-lived-yet"
        ),
        pytest.param(
            {
                "started": NOW - LONG_LIVED_AFTER,
                "containers": (container(requests={"cpu": 0.5, "memory": 1000 * MI}),),
            },
            target(memory=1100 * MI),
            BOTH,
            (True, "pod has run 12h and its requests are 10% off"),
            id="exactly-at-both-thresholds",
        ),
        pytest.param(
            {**OLD, "containers": (container(requests={"cpu": 1.0, "memory": 1000 * MI}),)},
            target(cpu=1.06, memory=1050 * MI),
            BOTH,
            (True, "requests are 11% off; app cpu request 1 would become 1060m"),
            id="drift-summed-over-resources",
        ),
        pytest.param(
            {"last_oom": NOW - HOUR + 120},
            target(memory=300 * MI),
            BOTH,
            (
                True,
                "a container was OOM-killed 2m after the pod started; "
                "app memory request 256Mi would become 300Mi",
            ),
            id="quick-oom",
        ),
        pytest.param(
            {"last_oom": NOW - HOUR + QUICK_OOM_WITHIN},
            target(memory=300 * MI),
            BOTH,
            None,
            id="oom-after-ten-minutes",
        ),
        pytest.param(
            {"last_oom": NOW - HOUR + 120}, target(), BOTH, None, id="quick-oom-nothing-to-change"
        ),
        pytest.param(
            {},
            target(lower={"cpu": 1.0, "memory": 0.0}),
            BOTH,
            None,
            id="equal-requests-outside-bounds",
        ),
        pytest.param(
            {},
            target(cpu=0.5 + 1e-12, lower={"cpu": 0.6, "memory": 0.0}),
            BOTH,
            None,
            id="equal-up-to-float-noise",
        ),
        pytest.param(
            {"containers": (container(limits={"cpu": 0.5}),)},
            target(cpu=2.0, lower={"cpu": 1.5, "memory": 0.0}),
            REQUESTS_ONLY,
            None,
            id="requests-only-already-at-limit",
        ),
        pytest.param(
            {"containers": (container(requests={"cpu": 0.25}, limits={"cpu": 0.5}),)},
            target(cpu=2.0, memory=256 * MI, lower={"cpu": 1.5}),
            REQUESTS_ONLY,
            (True, "app cpu request 250m is below the lower bound 1500m"),
            id="requests-only-up-to-limit",
        ),
        pytest.param(
            {},
            target(memory=1024 * MI, lower={"memory": 512 * MI}),
            CPU_ONLY,
            None,
            id="uncontrolled-resource",
        ),
        pytest.param(
            {"containers": (container(requests={}),)},
            target(),
            BOTH,
            (True, "app cpu request 0 is below the lower bound 50m"),
            id="no-request",
        ),
        pytest.param(
            {"containers": (container(requests={"memory": 256 * MI}, limits={"cpu": 0.1}),)},
            target(lower={"cpu": 0.2, "memory": 0.0}),
            BOTH,
            (True, "app cpu request 100m is below the lower bound 200m"),
            id="request-defaults-to-limit",
        ),
    ],
)
def test_update_need(
    overrides: dict[str, Any],
    goal: ContainerTarget,
    control: ContainerControl,
    expected: tuple[bool, str] | None,
) -> None:
    need = update_need(pod(**overrides), {"app": goal}, {"app": control}, NOW)
    if expected is None:
        assert need is None
    else:
        assert need is not None
        must_grow, reason = expected
        assert need.must_grow is must_grow
        assert reason in need.reason


@pytest.mark.parametrize(
    ("targets", "controls"),
    [
        pytest.param({}, {"app": BOTH}, id="no-target"),
        pytest.param(
            {"app": target(memory=1024 * MI, lower={"memory": 512 * MI})}, {}, id="no-control"
        ),
        pytest.param(
            {"proxy": target("proxy", memory=1024 * MI, lower={"memory": 512 * MI})},
            {"proxy": BOTH},
            id="other-container",
        ),
    ],
)
def test_containers_need_both_a_target_and_a_control(
    targets: dict[str, ContainerTarget], controls: dict[str, ContainerControl]
) -> None:
    assert update_need(pod(), targets, controls, NOW) is None


def test_distance_sums_requests_over_containers_like_vpa() -> None:
    """One container 20 % up and one 20 % down leave the pod's CPU as it is: no drift."""
    two = (container("app"), container("sidecar"))
    targets = {"app": target(cpu=0.6), "sidecar": target("sidecar", cpu=0.4)}
    controls = {"app": BOTH, "sidecar": BOTH}
    assert update_need(pod(containers=two, **OLD), targets, controls, NOW) is None
    targets["sidecar"] = target("sidecar", cpu=0.5, memory=512 * MI)
    need = update_need(pod(containers=two, **OLD), targets, controls, NOW)
    assert need is not None
    # CPU: |1.0 - 1.1| / 1.0; memory: |512Mi - 768Mi| / 512Mi.
    assert need.distance == pytest.approx(0.1 + 0.5)
    assert "sidecar memory request 256Mi would become 512Mi" in need.reason


def test_requests_and_limits_compare_the_request_not_the_limit() -> None:
    """Under RequestsAndLimits the limit scales along; only the request is compared."""
    limited = pod(containers=(container(limits={"cpu": 1.0, "memory": 512 * MI}),))
    assert update_need(limited, {"app": target()}, {"app": BOTH}, NOW) is None


def need(must_grow: bool, distance: float) -> UpdateNeed:
    return UpdateNeed(must_grow, distance, "test")


def test_by_priority_grows_first_then_farthest_then_by_name() -> None:
    items = [
        (pod("a"), need(False, 5.0)),
        (pod("b"), need(True, 0.1)),
        (pod("d"), need(True, 0.5)),
        (pod("c"), need(True, 0.5)),
        (pod("e"), need(False, 0.2)),
    ]
    ordered = by_priority(items)
    assert [p.name for p, _ in ordered] == ["c", "d", "b", "a", "e"]
    assert by_priority(reversed(items)) == ordered
