"""A VerticalScaler's status and policy as the updater and the webhook both apply them."""

from __future__ import annotations

import pytest

from tests.factories import vertical_scaler
from tests.unit.updater.conftest import MI
from trimtab.api.vertical import VerticalScalerSpec
from trimtab.updater.model import ContainerControl, ContainerTarget
from trimtab.updater.policy import (
    admits,
    capped_targets,
    container_controls,
    evicts,
    targets_from_status,
)


def spec(**fields: object) -> VerticalScalerSpec:
    return VerticalScalerSpec.model_validate(vertical_scaler(**fields)["spec"])


def entry(name: str, cpu: str, memory: str) -> dict[str, object]:
    return {
        "containerName": name,
        "target": {"cpu": cpu, "memory": memory},
        "lowerBound": {"cpu": "100m", "memory": "100Mi"},
        "upperBound": {"cpu": "4", "memory": "8Gi"},
    }


def test_targets_come_from_status_in_cores_and_bytes() -> None:
    targets = targets_from_status([entry("app", "250m", "256Mi"), {"containerName": "bad"}])
    assert targets == {
        "app": ContainerTarget(
            "app",
            {"cpu": 0.25, "memory": 256 * MI},
            {"cpu": 0.1, "memory": 100 * MI},
            {"cpu": 4.0, "memory": 8192 * MI},
        )
    }


def test_a_pod_larger_than_the_largest_node_is_scaled_down_to_fit() -> None:
    targets = targets_from_status([entry("app", "6", "1Gi"), entry("sidecar", "2", "1Gi")])
    capped, resources = capped_targets(targets, {"cpu": 4.0, "memory": 64 * 1024 * MI})
    assert resources == ["cpu"]
    assert capped["app"].target == {"cpu": 3.0, "memory": 1024 * MI}
    assert capped["sidecar"].target["cpu"] == 1.0
    assert capped["app"].upper_bound["cpu"] == 3.0, "the upper bound cannot stay above the node"
    assert capped["app"].upper_bound["memory"] == 8192 * MI


def test_targets_that_fit_are_left_alone() -> None:
    targets = targets_from_status([entry("app", "1", "1Gi")])
    assert capped_targets(targets, {"cpu": 4.0, "memory": 8192 * MI}) == (targets, [])
    assert capped_targets(targets, {}) == (targets, [])


@pytest.mark.parametrize(
    ("policies", "cpu_held", "expected"),
    [
        pytest.param(
            [], False, {"app": ContainerControl(), "sidecar": ContainerControl()}, id="default"
        ),
        pytest.param(
            [{"containerName": "sidecar", "mode": "Off"}],
            False,
            {"app": ContainerControl()},
            id="sidecar-off",
        ),
        pytest.param(
            [{"containerName": "*", "controlledValues": "RequestsOnly"}],
            False,
            {
                "app": ContainerControl(requests_and_limits=False),
                "sidecar": ContainerControl(requests_and_limits=False),
            },
            id="star-requests-only",
        ),
        pytest.param(
            [],
            True,
            {
                "app": ContainerControl(frozenset({"memory"})),
                "sidecar": ContainerControl(frozenset({"memory"})),
            },
            id="cpu-held",
        ),
        pytest.param(
            [{"containerName": "app", "controlledResources": ["cpu"]}],
            True,
            {"sidecar": ContainerControl(frozenset({"memory"}))},
            id="cpu-only-container-with-cpu-held",
        ),
    ],
)
def test_container_controls(
    policies: list[dict[str, object]], cpu_held: bool, expected: dict[str, ContainerControl]
) -> None:
    scaler = spec(resourcePolicy={"containerPolicies": policies})
    assert container_controls(scaler, ["app", "sidecar"], cpu_held) == expected


@pytest.mark.parametrize(
    ("mode", "admitted", "evicted"),
    [
        ("Off", False, False),
        ("Initial", True, False),
        ("Recreate", True, True),
        ("InPlaceOrRecreate", True, True),
    ],
)
def test_modes(mode: str, admitted: bool, evicted: bool) -> None:
    scaler = spec(updatePolicy={"mode": mode})
    assert (admits(scaler), evicts(scaler)) == (admitted, evicted)
