"""A container's new requests and limits, the pod's QoS class, and which containers change."""

from __future__ import annotations

import pytest

from tests.unit.updater.conftest import MI, container
from trimtab.updater.model import Amounts, ContainerControl, ContainerResources
from trimtab.updater.resources import changed_containers, new_resources, qos_class

BOTH = ContainerControl()
REQUESTS_ONLY = ContainerControl(requests_and_limits=False)
CPU_ONLY = ContainerControl(resources=frozenset({"cpu"}))


@pytest.mark.parametrize(
    ("requests", "limits", "goal", "control", "expected_requests", "expected_limits"),
    [
        pytest.param(
            {"cpu": 0.5, "memory": 256 * MI},
            {},
            {"cpu": 0.8, "memory": 300 * MI},
            BOTH,
            {"cpu": 0.8, "memory": 300 * MI},
            {},
            id="no-limits",
        ),
        pytest.param(
            {"cpu": 0.5, "memory": 256 * MI},
            {"cpu": 1.0, "memory": 256 * MI},
            {"cpu": 0.8, "memory": 300 * MI},
            BOTH,
            {"cpu": 0.8, "memory": 300 * MI},
            {"cpu": 1.6, "memory": 300 * MI},
            id="limits-keep-their-ratio",
        ),
        pytest.param(
            {},
            {"cpu": 1.0},
            {"cpu": 0.8},
            BOTH,
            {"cpu": 0.8},
            {"cpu": 0.8},
            id="request-less-limit-counts-as-request",
        ),
        pytest.param(
            {"cpu": 0.0},
            {"cpu": 1.0},
            {"cpu": 0.8},
            BOTH,
            {"cpu": 0.8},
            {"cpu": 0.8},
            id="zero-request-ratio-one",
        ),
        pytest.param(
            {"cpu": 0.5},
            {"cpu": 1.0},
            {"cpu": 2.0},
            REQUESTS_ONLY,
            {"cpu": 1.0},
            {"cpu": 1.0},
            id="requests-only-capped-at-limit",
        ),
        pytest.param(
            {"cpu": 0.5},
            {"cpu": 1.0},
            {"cpu": 0.8},
            REQUESTS_ONLY,
            {"cpu": 0.8},
            {"cpu": 1.0},
            id="requests-only-below-limit",
        ),
        pytest.param(
            {"cpu": 0.5, "memory": 256 * MI},
            {"memory": 512 * MI},
            {"cpu": 0.8, "memory": 300 * MI},
            CPU_ONLY,
            {"cpu": 0.8, "memory": 256 * MI},
            {"memory": 512 * MI},
            id="uncontrolled-resource-untouched",
        ),
        pytest.param(
            {"cpu": 0.5, "memory": 256 * MI},
            {},
            {"memory": 300 * MI},
            BOTH,
            {"cpu": 0.5, "memory": 300 * MI},
            {},
            id="resource-without-target-untouched",
        ),
    ],
)
def test_new_resources(
    requests: Amounts,
    limits: Amounts,
    goal: Amounts,
    control: ContainerControl,
    expected_requests: Amounts,
    expected_limits: Amounts,
) -> None:
    current = container(requests=requests, limits=limits)
    new = new_resources(current, goal, control)
    assert new.name == "app"
    assert dict(new.requests) == pytest.approx(expected_requests)
    assert dict(new.limits) == pytest.approx(expected_limits)
    assert current == container(requests=requests, limits=limits)


EQUAL = {"cpu": 0.5, "memory": 256 * MI}


@pytest.mark.parametrize(
    ("containers", "expected"),
    [
        pytest.param([container(requests={})], "BestEffort", id="nothing-set"),
        pytest.param([], "BestEffort", id="no-containers"),
        pytest.param([container(requests=EQUAL, limits=EQUAL)], "Guaranteed", id="equal"),
        pytest.param([container(requests={}, limits=EQUAL)], "Guaranteed", id="limits-only"),
        pytest.param(
            [container(requests={}, limits={"cpu": 0.5})], "Burstable", id="cpu-limit-only"
        ),
        pytest.param([container()], "Burstable", id="requests-only"),
        pytest.param(
            [container(requests=EQUAL, limits={"cpu": 0.5, "memory": 512 * MI})],
            "Burstable",
            id="request-below-limit",
        ),
        pytest.param(
            [container(requests=EQUAL, limits=EQUAL), container("sidecar", requests={})],
            "Burstable",
            id="one-container-without-limits",
        ),
        pytest.param(
            [container(requests={"cpu": 0.0})],
            "BestEffort",
            id="zero-request",
        ),
    ],
)
def test_qos_class(containers: list[ContainerResources], expected: str) -> None:
    assert qos_class(containers) == expected


def test_changed_containers_in_the_new_order() -> None:
    app, sidecar = container(), container("sidecar", requests={"cpu": 0.1})
    before = {"app": app, "sidecar": sidecar}
    assert changed_containers(before, dict(before)) == []
    after = {
        "sidecar": container("sidecar", requests={"cpu": 0.2}),
        "init": container("init"),
        "app": container(limits={"cpu": 1.0}),
    }
    assert changed_containers(before, after) == ["sidecar", "init", "app"]
    assert changed_containers(before, {"app": app}) == []
