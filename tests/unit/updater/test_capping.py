"""Targets scaled down together so the pod still fits the largest node."""

from __future__ import annotations

import math

import pytest

from tests.unit.updater.conftest import MI
from trimtab.updater.capping import fit_to_allocatable
from trimtab.updater.model import Amounts

GI = 1024 * MI
TWO = {"app": {"cpu": 3.0, "memory": 6 * GI}, "sidecar": {"cpu": 1.0, "memory": 2 * GI}}


@pytest.mark.parametrize(
    ("targets", "allocatable", "expected", "capped"),
    [
        pytest.param(TWO, {"cpu": 8.0, "memory": 16 * GI}, TWO, [], id="fits"),
        pytest.param(TWO, {"cpu": 4.0, "memory": 8 * GI}, TWO, [], id="fits-exactly"),
        pytest.param(
            TWO,
            {"cpu": 2.0, "memory": 16 * GI},
            {"app": {"cpu": 1.5, "memory": 6 * GI}, "sidecar": {"cpu": 0.5, "memory": 2 * GI}},
            ["cpu"],
            id="cpu-halved",
        ),
        pytest.param(
            TWO,
            {"cpu": 2.0, "memory": 4 * GI},
            {"app": {"cpu": 1.5, "memory": 3 * GI}, "sidecar": {"cpu": 0.5, "memory": GI}},
            ["cpu", "memory"],
            id="both",
        ),
        pytest.param(TWO, {"memory": 16 * GI}, TWO, [], id="cpu-unknown"),
        pytest.param(TWO, {}, TWO, [], id="nothing-known"),
        pytest.param(TWO, {"cpu": -1.0}, TWO, [], id="negative-ignored"),
        pytest.param(TWO, {"cpu": math.nan}, TWO, [], id="nan-ignored"),
        pytest.param(
            {"app": {"cpu": 3.0}, "sidecar": {"memory": 2 * GI}},
            {"cpu": 1.5, "memory": GI},
            {"app": {"cpu": 1.5}, "sidecar": {"memory": GI}},
            ["cpu", "memory"],
            id="containers-with-one-resource",
        ),
        pytest.param({}, {"cpu": 1.0}, {}, [], id="no-containers"),
    ],
)
def test_fit_to_allocatable(
    targets: dict[str, Amounts],
    allocatable: Amounts,
    expected: dict[str, dict[str, float]],
    capped: list[str],
) -> None:
    fitted, found = fit_to_allocatable(targets, allocatable)
    assert found == capped
    assert fitted.keys() == expected.keys()
    for name, amounts in expected.items():
        assert fitted[name] == pytest.approx(amounts)


def test_capped_sum_equals_the_allocatable_amount_and_inputs_stay_unchanged() -> None:
    targets = {"a": {"cpu": 0.7}, "b": {"cpu": 1.3}, "c": {"cpu": 0.25}}
    fitted, capped = fit_to_allocatable(targets, {"cpu": 1.0})
    assert capped == ["cpu"]
    assert sum(amounts["cpu"] for amounts in fitted.values()) == pytest.approx(1.0)
    assert fitted["b"]["cpu"] / fitted["a"]["cpu"] == pytest.approx(1.3 / 0.7)
    assert targets["a"] == {"cpu": 0.7}
