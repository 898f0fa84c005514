"""Resize in place, wait for a resize under way, or fall back to eviction."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.updater.conftest import MI, NOW, container, pod
from trimtab.updater.model import ContainerResources, ResizeState
from trimtab.updater.resize import (
    DEFERRED_LIMIT,
    FAILING_LIMIT,
    IN_PROGRESS_LIMIT,
    ResizeVerdict,
    resize_verdict,
)

GROWN = {"app": container(requests={"cpu": 0.8, "memory": 300 * MI})}
BURSTABLE = container(requests={"cpu": 0.5, "memory": 256 * MI}, limits={"memory": 256 * MI})
GUARANTEED = container(
    requests={"cpu": 0.5, "memory": 256 * MI}, limits={"cpu": 0.5, "memory": 256 * MI}
)


def pending(reason: str, since: float | None) -> ResizeState:
    return ResizeState(pending_reason=reason, pending_since=since)


@pytest.mark.parametrize(
    ("overrides", "new", "failing_since", "verdict", "why"),
    [
        pytest.param({}, GROWN, None, ResizeVerdict.RESIZE, "resize in place", id="plain"),
        pytest.param(
            {"containers": (BURSTABLE,)},
            {"app": GUARANTEED},
            None,
            ResizeVerdict.EVICT,
            "QoS class from Burstable to Guaranteed",
            id="qos-up",
        ),
        pytest.param(
            {"containers": (GUARANTEED,)},
            {"app": BURSTABLE},
            None,
            ResizeVerdict.EVICT,
            "QoS class from Guaranteed to Burstable",
            id="qos-down",
        ),
        pytest.param(
            {"containers": (container(requests={}),)},
            GROWN,
            None,
            ResizeVerdict.EVICT,
            "QoS class from BestEffort to Burstable",
            id="qos-from-best-effort",
        ),
        pytest.param(
            {"containers": (GUARANTEED,)},
            {
                "app": ContainerResources(
                    "app", {"cpu": 1.0, "memory": MI}, {"cpu": 1.0, "memory": MI}
                )
            },
            None,
            ResizeVerdict.RESIZE,
            "resize in place",
            id="qos-kept",
        ),
        pytest.param(
            {"resize": pending("Infeasible", NOW)},
            GROWN,
            None,
            ResizeVerdict.EVICT,
            "Infeasible",
            id="infeasible",
        ),
        pytest.param(
            {"resize": pending("Deferred", NOW - 200)},
            GROWN,
            None,
            ResizeVerdict.WAIT,
            "resize pending (Deferred) for 3m20s",
            id="deferred-briefly",
        ),
        pytest.param(
            {"resize": pending("Deferred", NOW - DEFERRED_LIMIT)},
            GROWN,
            None,
            ResizeVerdict.WAIT,
            "resize pending (Deferred)",
            id="deferred-at-limit",
        ),
        pytest.param(
            {"resize": pending("Deferred", NOW - DEFERRED_LIMIT - 1)},
            GROWN,
            None,
            ResizeVerdict.EVICT,
            "resize pending (Deferred) for over 5m",
            id="deferred-too-long",
        ),
        pytest.param(
            {"resize": pending("Deferred", None)},
            GROWN,
            None,
            ResizeVerdict.WAIT,
            "resize pending (Deferred)",
            id="deferred-since-unknown",
        ),
        pytest.param(
            {"resize": ResizeState(in_progress_since=NOW - 1800)},
            GROWN,
            None,
            ResizeVerdict.WAIT,
            "resize in progress for 30m",
            id="in-progress",
        ),
        pytest.param(
            {"resize": ResizeState(in_progress_since=NOW - IN_PROGRESS_LIMIT - 1)},
            GROWN,
            None,
            ResizeVerdict.EVICT,
            "resize in progress for over 1h",
            id="in-progress-too-long",
        ),
        pytest.param(
            {}, GROWN, NOW - 200, ResizeVerdict.RESIZE, "resize in place", id="failing-briefly"
        ),
        pytest.param(
            {},
            GROWN,
            NOW - FAILING_LIMIT - 1,
            ResizeVerdict.EVICT,
            "resize calls failing for over 5m",
            id="failing-too-long",
        ),
        pytest.param(
            {"resize": pending("Deferred", NOW - 10)},
            GROWN,
            NOW - FAILING_LIMIT - 1,
            ResizeVerdict.EVICT,
            "failing",
            id="failing-beats-waiting",
        ),
        pytest.param(
            {"containers": (BURSTABLE,), "resize": pending("Deferred", NOW - 10)},
            {"app": GUARANTEED},
            None,
            ResizeVerdict.EVICT,
            "QoS class",
            id="qos-beats-waiting",
        ),
    ],
)
def test_resize_verdict(
    overrides: dict[str, Any],
    new: dict[str, ContainerResources],
    failing_since: float | None,
    verdict: ResizeVerdict,
    why: str,
) -> None:
    found, reason = resize_verdict(pod(**overrides), new, NOW, failing_since)
    assert found is verdict
    assert why in reason


def test_unchanged_containers_keep_their_resources_for_the_qos_check() -> None:
    """Only the resized container is replaced; the other still decides the class."""
    two = pod(containers=(GUARANTEED, ContainerResources("sidecar", {"cpu": 0.1}, {})))
    verdict, _ = resize_verdict(two, {"app": BURSTABLE}, NOW, None)
    assert verdict is ResizeVerdict.RESIZE
