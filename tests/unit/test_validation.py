"""Validation names the offending field and records the verdict as conditions."""

from __future__ import annotations

import pytest

from tests.factories import VALID_OBJECTS, horizontal_scaler, node_pool, vertical_scaler
from trimtab.api import kind_info
from trimtab.validation import field_path, validate_spec, validity_status

NOW = "2026-01-01T00:00:00Z"
LATER = "2026-01-01T01:00:00Z"


@pytest.mark.parametrize("kind", sorted(VALID_OBJECTS))
def test_factory_objects_are_valid(kind: str) -> None:
    body = VALID_OBJECTS[kind]()
    verdict = validate_spec(kind_info(kind), body["spec"])
    assert verdict.valid, verdict.message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            horizontal_scaler(minReplicas=4, maxReplicas=2),
            "spec.minReplicas: 4 must not be greater",
        ),
        (horizontal_scaler(metrics=[]), "spec.metrics: List should have at least 1 item"),
        (
            horizontal_scaler(
                metrics=[{"type": "Resource", "prometheus": {"query": "up", "targetValue": 1}}]
            ),
            "spec.metrics[0].resource: type Resource needs resource set",
        ),
        (
            horizontal_scaler(metrics=[{"type": "Prometheus", "prometheus": {"query": "up"}}]),
            "spec.metrics[0].prometheus.targetValue: set exactly one",
        ),
        (
            vertical_scaler(updatePolicy={"mode": "Sometimes"}),
            "spec.updatePolicy.mode: Input should be",
        ),
        (
            vertical_scaler(updatePolicy={"evictionTolerance": 0}),
            "spec.updatePolicy.evictionTolerance",
        ),
        (vertical_scaler(profil="typo"), "spec.profil: is not a known field"),
        (vertical_scaler(targetRef=None), "spec.targetRef: Input should be"),
        (
            node_pool(
                template={"requirements": [{"key": "zone", "operator": "Gt", "values": ["a"]}]}
            ),
            "spec.template.requirements[0].values: operator Gt needs exactly one integer",
        ),
        (
            vertical_scaler(
                resourcePolicy={
                    "containerPolicies": [{"containerName": "app", "minAllowed": {"cpu": "1.5.5"}}]
                }
            ),
            "spec.resourcePolicy.containerPolicies[0].minAllowed.cpu: invalid quantity '1.5.5'",
        ),
    ],
)
def test_problem_names_the_field(body: dict[str, object], expected: str) -> None:
    verdict = validate_spec(kind_info(str(body["kind"])), body["spec"])  # type: ignore[arg-type]
    assert not verdict.valid
    assert verdict.message.startswith(expected), verdict.message


def test_missing_spec_is_invalid() -> None:
    assert validate_spec(kind_info("NodePool"), None).message == "spec: is required"


def test_many_problems_are_summarised() -> None:
    spec = {
        "targetRef": {"kind": "", "name": ""},
        "profile": "",
        "updatePolicy": {"minReplicas": 0},
    }
    verdict = validate_spec(kind_info("VerticalScaler"), spec)
    assert len(verdict.problems) == 4
    assert verdict.message.endswith("(and 1 more)")


def test_field_path_formats_indices() -> None:
    assert field_path(("metrics", 0, "resource", "name")) == "spec.metrics[0].resource.name"


def test_status_records_validity_and_keeps_transition_time() -> None:
    info = kind_info("HorizontalScaler")
    bad = validate_spec(info, horizontal_scaler(minReplicas=4, maxReplicas=2)["spec"])
    first = validity_status(bad, 1, None, NOW)
    assert first["observedGeneration"] == 1
    by_type = {c["type"]: c for c in first["conditions"]}
    assert by_type["Invalid"]["status"] == "True"
    assert by_type["Ready"]["status"] == "False"
    assert "spec.minReplicas" in by_type["Invalid"]["message"]

    again = validity_status(bad, 2, first["conditions"], LATER)
    assert {c["lastTransitionTime"] for c in again["conditions"]} == {NOW}

    good = validate_spec(info, horizontal_scaler()["spec"])
    fixed = validity_status(good, 3, again["conditions"], LATER)
    by_type = {c["type"]: c for c in fixed["conditions"]}
    assert by_type["Ready"] == {
        "type": "Ready",
        "status": "True",
        "reason": "Valid",
        "message": "the spec is valid",
        "lastTransitionTime": LATER,
        "observedGeneration": 3,
    }
