"""The pure parts of a sync: label selectors, pod facts, the saved memory, the forecast rule."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trimtab.api.horizontal import Behavior
from trimtab.horizontal import (
    PodUsage,
    PrometheusReading,
    RecommendationSample,
    ResourceReading,
    ScaleEvent,
    ScalerMemory,
    direction_rules,
    stabilized_recommendation,
)
from trimtab.horizontal.lookahead import raised, utilization
from trimtab.horizontal.pods import PodFacts, facts_from_pod, pod_state, ready_count, select_pods
from trimtab.horizontal.selector import SelectorError, parse_selector
from trimtab.horizontal.status import (
    compact_memory,
    format_metric,
    memory_from_status,
    memory_to_status,
)

ROOT = Path(__file__).parents[3]
NOW = 1_700_000_000.0

# -- label selectors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("app=web", {"app": "web"}, True),
        ("app==web", {"app": "api"}, False),
        ("app=web,tier=front", {"app": "web"}, False),
        ("app!=web", {}, True),
        ("tier in (front, back),app", {"tier": "back", "app": "x"}, True),
        ("tier notin (front,back)", {"tier": "front"}, False),
        ("tier notin (front,back)", {}, True),
        ("!canary", {"canary": "true"}, False),
        ("app.kubernetes.io/name=web", {"app.kubernetes.io/name": "web"}, True),
        ("", {"anything": "x"}, True),
    ],
)
def test_selectors_mean_what_the_api_server_means(
    selector: str, labels: dict[str, str], expected: bool
) -> None:
    assert parse_selector(selector).matches(labels) is expected


@pytest.mark.parametrize("selector", ["app=", "=web", "tier in (a", "tier in a)", "a b"])
def test_malformed_selectors_are_refused(selector: str) -> None:
    if selector == "app=":  # an empty value is a value
        assert parse_selector(selector).matches({"app": ""})
        return
    with pytest.raises(SelectorError):
        parse_selector(selector)


# -- pods ------------------------------------------------------------------------------------


def pod(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "web-1", "labels": {"app": "web"}},
        "spec": {
            "containers": [
                {"name": "app", "resources": {"requests": {"cpu": "250m", "memory": "128Mi"}}},
                {"name": "proxy", "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}}},
            ],
            "initContainers": [
                {"name": "migrate", "resources": {"requests": {"cpu": "2"}}},
                {
                    "name": "log-shipper",
                    "restartPolicy": "Always",
                    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                },
            ],
        },
        "status": status,
    }


def test_facts_sum_requests_over_containers_and_sidecars() -> None:
    facts = facts_from_pod(
        pod(
            phase="Running",
            startTime="2023-11-14T22:13:20Z",
            conditions=[
                {"type": "Ready", "status": "True", "lastTransitionTime": "2023-11-14T22:14:00Z"}
            ],
        )
    )
    assert facts.cpu_request == pytest.approx(0.4)
    assert facts.memory_request == 256 * 2**20
    assert facts.start_time == NOW
    assert facts.ready is True
    assert facts.ready_changed == NOW + 40
    assert facts.running_and_ready


def test_a_container_without_request_leaves_the_request_undefined() -> None:
    body = pod(phase="Running")
    del body["spec"]["containers"][1]["resources"]["requests"]["memory"]
    facts = facts_from_pod(body)
    assert facts.memory_request is None
    assert facts.cpu_request == pytest.approx(0.4)


@pytest.mark.parametrize(
    ("facts", "now", "state"),
    [
        (PodFacts("p", phase="Pending"), NOW, "Pending"),
        (PodFacts("p", ready=None, start_time=NOW), NOW, "Unready"),
        # Young pod, ready for less than a metric window: its sample may include start-up.
        (PodFacts("p", ready=True, start_time=NOW, ready_changed=NOW + 10), NOW + 60, "Unready"),
        (PodFacts("p", ready=True, start_time=NOW, ready_changed=NOW + 10), NOW + 140, "Ready"),
        # Old pod: unready only if it never was ready.
        (PodFacts("p", ready=False, start_time=NOW, ready_changed=NOW + 5), NOW + 900, "Unready"),
        (PodFacts("p", ready=False, start_time=NOW, ready_changed=NOW + 600), NOW + 900, "Ready"),
    ],
)
def test_pod_states_follow_the_hpa(facts: PodFacts, now: float, state: str) -> None:
    assert pod_state(facts, now, metric_window=120.0) == state


def test_pods_are_selected_by_labels_and_finished_pods_left_out() -> None:
    pods = [
        PodFacts("web-b", {"app": "web"}, ready=True),
        PodFacts("web-a", {"app": "web"}, phase="Pending"),
        PodFacts("web-c", {"app": "web"}, deleting=True),
        PodFacts("web-d", {"app": "web"}, phase="Failed"),
        PodFacts("api-a", {"app": "api"}),
    ]
    selected = select_pods(pods, "app=web")
    assert [p.name for p in selected] == ["web-a", "web-b"]
    assert ready_count(selected) == 1
    assert select_pods(pods, "") == []  # a target without a selector has no pods to measure
    assert select_pods(pods, "app in (") == []


# -- the memory in status --------------------------------------------------------------------


def test_memory_round_trips_through_status() -> None:
    memory = ScalerMemory(
        (RecommendationSample(NOW - 30, 3), RecommendationSample(NOW, 4)),
        (ScaleEvent(NOW, 1),),
        (("queue", 2),),
        NOW - 5,
    )
    assert memory_from_status(memory_to_status(memory)) == memory


@pytest.mark.parametrize(
    "saved",
    [None, {}, {"recommendations": [{"time": "soon"}]}, {"failures": [{"count": 1}]}],
)
def test_unreadable_memory_is_a_fresh_start(saved: dict[str, Any] | None) -> None:
    assert memory_from_status(saved) == ScalerMemory()


samples = st.lists(
    st.builds(
        RecommendationSample,
        st.integers(min_value=-3600, max_value=0).map(lambda t: NOW + t),
        st.integers(min_value=0, max_value=8),
    ),
    max_size=40,
).map(lambda items: tuple(sorted(items, key=lambda s: s.time)))


@given(
    samples,
    st.integers(min_value=0, max_value=8),
    st.integers(min_value=0, max_value=8),
    st.integers(min_value=0, max_value=3600),
    st.integers(min_value=0, max_value=3600),
)
def test_compacting_never_changes_a_stabilised_recommendation(
    history: tuple[RecommendationSample, ...], desired: int, current: int, up: int, down: int
) -> None:
    rules = direction_rules(
        Behavior.model_validate(
            {
                "scaleUp": {"stabilizationWindowSeconds": up},
                "scaleDown": {"stabilizationWindowSeconds": down},
            }
        )
    )
    compacted = compact_memory(ScalerMemory(history)).recommendations
    assert len({s.replicas for s in compacted}) == len(compacted)
    assert stabilized_recommendation(
        desired, current, compacted, *rules, NOW
    ) == stabilized_recommendation(desired, current, history, *rules, NOW)


def test_metric_values_print_as_quantities() -> None:
    assert format_metric(140.0) == "140"
    assert format_metric(0.5) == "500m"
    assert format_metric(2500.0) == "2500"
    assert format_metric(None) is None
    assert format_metric(float("nan")) is None


# -- the forecast rule -----------------------------------------------------------------------


def test_a_higher_forecast_raises_a_prometheus_reading_and_a_lower_one_does_not() -> None:
    reading = PrometheusReading(100.0)
    assert raised(reading, 150.0, is_cpu=False, empty_is_zero=False) == PrometheusReading(150.0)
    assert raised(reading, 50.0, is_cpu=False, empty_is_zero=False) is reading
    empty = PrometheusReading(None)
    assert raised(empty, 5.0, is_cpu=False, empty_is_zero=False) is empty
    assert raised(empty, 5.0, is_cpu=False, empty_is_zero=True) == PrometheusReading(5.0)


def test_a_higher_forecast_raises_the_utilisation_of_the_counted_pods() -> None:
    reading = ResourceReading(
        (
            PodUsage(0.2, 0.5),  # 40 %
            PodUsage(0.6, 1.0),  # 60 %
            PodUsage(None, 1.0),
            PodUsage(0.9, 1.0, "Unready"),
        )
    )
    assert utilization(reading, is_cpu=True) == pytest.approx(100 * 0.8 / 1.5)
    lifted = raised(reading, 90.0, is_cpu=True, empty_is_zero=False)
    assert isinstance(lifted, ResourceReading)
    assert utilization(lifted, is_cpu=True) == pytest.approx(90.0)
    assert lifted.pods[2].usage is None
    assert raised(reading, 10.0, is_cpu=True, empty_is_zero=False) is reading


def test_every_module_of_the_horizontal_core_is_held_to_the_pure_contract() -> None:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    pure = next(c for c in contracts["contracts"] if c["name"].startswith("The pure core"))
    package = ROOT / "operator" / "trimtab" / "horizontal"
    modules = {
        f"trimtab.horizontal.{path.stem}"
        for path in package.glob("*.py")
        if path.stem not in ("__init__", "service", "prediction")
    }
    assert modules <= set(pure["source_modules"])
