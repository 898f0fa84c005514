"""A new pod gets its VerticalScaler's recommendation, as its mode and policy allow."""

from __future__ import annotations

from typing import Any

from tests.factories import vertical_scaler
from trimtab.admission.mutation import ANNOTATION_SCALER, ANNOTATION_UPDATED
from trimtab.admission.recommended import recommended_mutation
from trimtab.api.vertical import VerticalScalerSpec

GI = 1024.0**3
POD = {
    "containers": [
        {
            "name": "app",
            "image": "example/web:1",
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
        },
        {"name": "istio-proxy", "image": "example/proxy:1"},
    ]
}
RECOMMENDATION = [{"containerName": "app", "target": {"cpu": "250m", "memory": "256Mi"}}]
BIG_NODE = {"cpu": 8.0, "memory": 32 * GI}


def spec(mode: str = "Recreate", **update: Any) -> VerticalScalerSpec:
    body = vertical_scaler(updatePolicy={"mode": mode, **update})
    return VerticalScalerSpec.model_validate(body["spec"])


def requests(mutation: Any) -> dict[str, str]:
    return dict(mutation.containers[0]["resources"]["requests"])


def test_sets_the_recommended_requests_and_says_so() -> None:
    mutation = recommended_mutation(POD, "web", spec(), RECOMMENDATION, BIG_NODE, None)
    assert mutation is not None
    assert requests(mutation) == {"cpu": "250m", "memory": "256Mi"}
    assert mutation.containers[1] == POD["containers"][1], "the sidecar is left alone"
    assert mutation.annotations[ANNOTATION_SCALER] == "web"
    assert mutation.annotations[ANNOTATION_UPDATED] == (
        "app: cpu request 100m->250m, memory request 128Mi->256Mi"
    )


def test_off_mode_changes_nothing() -> None:
    assert recommended_mutation(POD, "web", spec("Off"), RECOMMENDATION, BIG_NODE, None) is None


def test_initial_mode_sets_requests() -> None:
    assert recommended_mutation(POD, "web", spec("Initial"), RECOMMENDATION, BIG_NODE, None)


def test_cpu_is_left_alone_under_a_cpu_scaler_unless_allowed() -> None:
    conflict = "HorizontalScaler web scales Deployment web on CPU utilisation"
    held = recommended_mutation(POD, "web", spec(), RECOMMENDATION, BIG_NODE, conflict)
    assert held is not None
    assert requests(held) == {"cpu": "100m", "memory": "256Mi"}
    allowed = spec(allowCpuWithHorizontalScaling=True)
    both = recommended_mutation(POD, "web", allowed, RECOMMENDATION, BIG_NODE, conflict)
    assert both is not None
    assert requests(both) == {"cpu": "250m", "memory": "256Mi"}


def test_requests_are_capped_to_the_largest_node() -> None:
    small = {"cpu": 0.2, "memory": 32 * GI}
    mutation = recommended_mutation(POD, "web", spec(), RECOMMENDATION, small, None)
    assert mutation is not None
    assert requests(mutation) == {"cpu": "200m", "memory": "256Mi"}


def test_no_recommendation_changes_nothing() -> None:
    assert recommended_mutation(POD, "web", spec(), [], BIG_NODE, None) is None
