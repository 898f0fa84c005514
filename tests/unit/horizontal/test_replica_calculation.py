"""Per-metric proposals, checked against the HPA's "Algorithm details" and its replica
calculator: the ratio, the tolerance, and the conservative rules for missing and unready pods."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import horizontal_scaler
from trimtab.api.horizontal import HorizontalScalerSpec, MetricSpec
from trimtab.horizontal import (
    FailedReading,
    PodState,
    PodUsage,
    PrometheusReading,
    Reading,
    ResourceReading,
    propose,
)


def prometheus(**fields: Any) -> MetricSpec:
    return MetricSpec.model_validate(
        {"type": "Prometheus", "prometheus": {"query": "sum(rate(requests[1m]))", **fields}}
    )


def resource(name: str = "cpu", target: int = 50) -> MetricSpec:
    return MetricSpec.model_validate(
        {"type": "Resource", "resource": {"name": name, "targetAverageUtilization": target}}
    )


def pods(*specs: tuple[float | None, PodState]) -> ResourceReading:
    """Pods with a request of 100m; usage is given in percent of it (None: no sample)."""
    return ResourceReading(
        tuple(PodUsage(None if pct is None else pct / 1000.0, 0.1, state) for pct, state in specs)
    )


def ready(*percents: float) -> list[tuple[float | None, PodState]]:
    return [(pct, "Ready") for pct in percents]


@pytest.mark.parametrize(
    ("value", "target", "current", "expected"),
    [
        pytest.param(0.2, "100m", 3, 6, id="docs: 200m for 100m doubles"),
        pytest.param(0.05, "100m", 4, 2, id="docs: 50m for 100m halves"),
        pytest.param(0.105, "100m", 4, 4, id="ratio 1.05 is within tolerance"),
        pytest.param(0.11, "100m", 4, 4, id="ratio 1.1 is still within tolerance"),
        pytest.param(0.111, "100m", 4, 5, id="ratio 1.11 scales: ceil(4.44)"),
        pytest.param(0.09, "100m", 10, 10, id="ratio 0.9 is within tolerance"),
        pytest.param(0.089, "100m", 10, 9, id="ratio 0.89 scales down: ceil(8.9)"),
        pytest.param(0.25, "100m", 0, 3, id="from zero: ceil(ratio)"),
        pytest.param(0.0, "100m", 5, 0, id="nothing to do proposes zero"),
        pytest.param(-1.0, "1", 5, 0, id="negative values never propose negative counts"),
    ],
)
def test_target_value_scales_the_ready_pods_by_the_ratio(
    value: float, target: str, current: int, expected: int
) -> None:
    proposal = propose(prometheus(targetValue=target), PrometheusReading(value), current)
    assert proposal.replicas == expected
    assert proposal.value == value
    assert proposal.error is None


def test_target_value_multiplies_ready_pods_not_replicas() -> None:
    # 6 replicas of which 4 ready; ratio 2 -> ceil(2 * 4), as the HPA's external metrics do.
    proposal = propose(prometheus(targetValue="10"), PrometheusReading(20.0), 6, ready_pods=4)
    assert proposal.replicas == 8


@pytest.mark.parametrize(
    ("value", "target", "current", "expected"),
    [
        pytest.param(30.0, "10", 2, 3, id="ceil(value / target)"),
        pytest.param(21.0, "10", 2, 2, id="10.5 per replica is within tolerance of 10"),
        pytest.param(23.0, "10", 2, 3, id="11.5 per replica is not"),
        pytest.param(0.3, "100m", 1, 3, id="0.3 / 0.1 is 3, not 4, despite float noise"),
        pytest.param(0.7, "100m", 1, 7, id="0.7 / 0.1 is 7"),
        pytest.param(5.0, "1", 0, 5, id="from zero"),
    ],
)
def test_target_average_value_divides_by_the_per_replica_target(
    value: float, target: str, current: int, expected: int
) -> None:
    proposal = propose(prometheus(targetAverageValue=target), PrometheusReading(value), current)
    assert proposal.replicas == expected


@pytest.mark.parametrize(
    ("fields", "value", "active"),
    [
        pytest.param({"activationThreshold": "5"}, 5.0, False, id="at the threshold: inactive"),
        pytest.param({"activationThreshold": "5"}, 5.01, True, id="above: active"),
        pytest.param({}, 0.0, False, id="default threshold 0: zero is inactive"),
        pytest.param({}, 0.001, True, id="default threshold 0: anything above is active"),
    ],
)
def test_activation_is_strictly_above_the_threshold(
    fields: dict[str, str], value: float, active: bool
) -> None:
    metric = prometheus(targetValue="10", **fields)
    assert propose(metric, PrometheusReading(value), 1).active is active


@pytest.mark.parametrize(
    ("fields", "reading", "replicas", "error"),
    [
        pytest.param({}, PrometheusReading(None), None, "no usable sample", id="empty fails"),
        pytest.param(
            {"treatEmptyAsZero": True}, PrometheusReading(None), 0, None, id="empty as zero"
        ),
        pytest.param({}, PrometheusReading(float("nan")), None, "no usable", id="NaN fails"),
        pytest.param({}, FailedReading("timeout"), None, "timeout", id="read failure"),
    ],
)
def test_empty_and_failed_queries(
    fields: dict[str, Any], reading: Any, replicas: int | None, error: str | None
) -> None:
    proposal = propose(prometheus(targetValue="1", **fields), reading, 4)
    assert proposal.replicas == replicas
    if error is None:
        assert proposal.error is None
    else:
        assert proposal.error is not None
        assert error in proposal.error


@pytest.mark.parametrize(
    ("pod_specs", "current", "expected", "utilization"),
    [
        pytest.param(ready(100, 100, 100, 100), 4, 8, 100, id="twice the target doubles"),
        pytest.param(ready(50, 50, 50, 50), 4, 4, 50, id="on target"),
        pytest.param(ready(54, 54, 54, 54), 4, 4, 54, id="8 % over is tolerated"),
        pytest.param(ready(56, 56, 56, 56), 4, 5, 56, id="12 % over: ceil(4.48)"),
        pytest.param(ready(10, 10, 10, 10), 4, 1, 10, id="a fifth of the target"),
        pytest.param(ready(55.9, 55.9), 2, 2, 55, id="55.9 % truncates to 55 %: within tolerance"),
        pytest.param(ready(56, 54, 55, 55), 4, 4, 55, id="the average counts, not each pod"),
    ],
)
def test_resource_utilization_over_ready_pods(
    pod_specs: list[tuple[float | None, PodState]], current: int, expected: int, utilization: int
) -> None:
    proposal = propose(resource("cpu", 50), pods(*pod_specs), current)
    assert proposal.replicas == expected
    assert proposal.value == utilization
    assert proposal.target == 50


@pytest.mark.parametrize(
    ("pod_specs", "expected"),
    [
        # Scale down: a pod without a sample counts as 100 % of its request.
        pytest.param(
            [*ready(20, 20, 20), (None, "Ready")], 4, id="missing pod at 100 % blocks scale down"
        ),
        pytest.param(
            [*ready(10, 10, 10), (None, "Ready")], 3, id="missing pod at 100 % slows scale down"
        ),
        # Scale up: a pod without a sample counts as 0 %.
        pytest.param(
            [*ready(60, 60), (None, "Ready")], 3, id="missing pod at 0 % reverses: no change"
        ),
        pytest.param(
            [*ready(80, 80), (None, "Ready")], 3, id="missing pod at 0 % lands within tolerance"
        ),
        pytest.param(
            [*ready(100, 100, 100), (None, "Ready")], 6, id="missing pod at 0 % still scales up"
        ),
        # Unready CPU pods: ignored on scale down, 0 % on scale up.
        pytest.param(
            [*ready(10, 10, 10), (90, "Unready")], 1, id="unready pod ignored on scale down"
        ),
        pytest.param(
            [*ready(100), (100, "Unready"), (100, "Unready"), (100, "Unready")],
            4,
            id="unready pods at 0 % keep one hot pod from shrinking the target",
        ),
        pytest.param(
            [*ready(100, 100, 100), (None, "Pending")], 6, id="pending pod at 0 % on scale up"
        ),
        pytest.param(
            [*ready(60, 60), (None, "Pending")], 3, id="pending pod at 0 % reverses: no change"
        ),
        pytest.param(
            [*ready(10, 10, 10), (None, "Pending")], 1, id="pending pod ignored on scale down"
        ),
    ],
)
def test_missing_and_unready_pods_count_against_the_move(
    pod_specs: list[tuple[float | None, PodState]], expected: int
) -> None:
    proposal = propose(resource("cpu", 50), pods(*pod_specs), len(pod_specs))
    assert proposal.replicas == expected


def test_unready_pods_count_for_memory() -> None:
    # Only CPU ignores unready pods (their start-up burst is not load); memory counts them.
    reading = pods((100, "Ready"), (100, "Unready"))
    assert propose(resource("memory", 50), reading, 2).replicas == 4
    assert propose(resource("cpu", 50), reading, 2).replicas == 2


@pytest.mark.parametrize(
    ("reading", "error"),
    [
        pytest.param(ResourceReading(()), "no pods", id="no pods"),
        pytest.param(pods((None, "Ready"), (None, "Ready")), "no metrics", id="no samples"),
        pytest.param(pods((50, "Pending")), "no metrics", id="only pending pods"),
        pytest.param(ResourceReading((PodUsage(0.1, 0.0),)), "no cpu request", id="no request"),
        pytest.param(FailedReading("metrics API down"), "metrics API down", id="read failure"),
    ],
)
def test_resource_metric_failures(reading: Any, error: str) -> None:
    proposal = propose(resource("cpu", 50), reading, 2)
    assert proposal.replicas is None
    assert proposal.error is not None
    assert error in proposal.error


def test_a_reading_of_the_wrong_kind_is_a_caller_bug() -> None:
    with pytest.raises(TypeError):
        propose(resource(), PrometheusReading(1.0), 1)
    with pytest.raises(TypeError):
        propose(prometheus(targetValue="1"), pods(*ready(50)), 1)


def test_metric_names_come_from_the_spec() -> None:
    spec = HorizontalScalerSpec.model_validate(
        horizontal_scaler(
            metrics=[
                {
                    "type": "Resource",
                    "resource": {"name": "memory", "targetAverageUtilization": 80},
                },
                {"type": "Prometheus", "prometheus": {"query": "up", "targetValue": "1"}},
            ]
        )["spec"]
    )
    readings: list[Reading] = [pods(*ready(80)), PrometheusReading(1.0)]
    names = [
        propose(metric, reading, 1).name
        for metric, reading in zip(spec.metrics, readings, strict=True)
    ]
    assert names == ["memory", "up"]
