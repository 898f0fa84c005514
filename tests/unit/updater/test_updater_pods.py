"""Pod objects read into the updater's records, and which pods the updater may touch."""

from __future__ import annotations

from copy import deepcopy
from typing import Any

import pytest

from tests.unit.updater.conftest import MI, pod
from trimtab.updater.model import ContainerResources, ResizeState
from trimtab.updater.pods import (
    DO_NOT_DISRUPT_ANNOTATION,
    MIRROR_ANNOTATION,
    pod_from_body,
    touchable,
)

T0 = 1795773600.0
"""2026-11-27T10:00:00Z"""


def body(**changes: Any) -> dict[str, Any]:
    """A running, ready Deployment pod; ``changes`` maps "section.key" to a new value."""
    found: dict[str, Any] = {
        "metadata": {
            "name": "web-5d8f-abcde",
            "namespace": "shop",
            "uid": "1234",
            "creationTimestamp": "2026-11-27T10:00:00Z",
            "ownerReferences": [
                {"kind": "ReplicaSet", "name": "web-5d8f", "controller": True},
            ],
            "annotations": {},
        },
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "resources": {
                        "requests": {"cpu": "250m", "memory": "128Mi"},
                        "limits": {"cpu": "1", "memory": "256Mi"},
                    },
                },
                {"name": "proxy"},
            ]
        },
        "status": {
            "phase": "Running",
            "startTime": "2026-11-27T10:00:05Z",
            "qosClass": "Burstable",
            "conditions": [
                {"type": "Ready", "status": "True"},
            ],
            "containerStatuses": [
                {"name": "app", "restartCount": 2},
                {"name": "proxy", "restartCount": 1},
            ],
        },
    }
    for path, value in changes.items():
        section, key = path.split(".", 1)
        found[section][key] = value
    return found


def terminated(reason: str, finished: str) -> dict[str, Any]:
    return {"terminated": {"reason": reason, "finishedAt": finished}}


def test_a_running_pod_is_read_whole() -> None:
    parsed = pod_from_body(body())
    assert (parsed.namespace, parsed.name, parsed.uid) == ("shop", "web-5d8f-abcde", "1234")
    assert parsed.created == T0
    assert parsed.started == T0 + 5
    assert parsed.containers == (
        ContainerResources(
            "app", {"cpu": 0.25, "memory": 128 * MI}, {"cpu": 1.0, "memory": 256 * MI}
        ),
        ContainerResources("proxy", {}, {}),
    )
    assert (parsed.phase, parsed.ready, parsed.deleting) == ("Running", True, False)
    assert parsed.controller == ("ReplicaSet", "web-5d8f")
    assert (parsed.do_not_disrupt, parsed.mirror) == (False, False)
    assert parsed.restarts == 3
    assert parsed.last_oom is None
    assert parsed.qos_class == "Burstable"
    assert parsed.resize == ResizeState()
    assert touchable(parsed) is None


def test_unparseable_and_other_resources_are_skipped() -> None:
    containers = [
        {
            "name": "app",
            "resources": {
                "requests": {"cpu": "lots", "memory": "1Gi", "nvidia.com/gpu": "1"},
                "limits": {"cpu": "500m", "memory": None},
            },
        }
    ]
    (app,) = pod_from_body(body(**{"spec.containers": containers})).containers
    assert app == ContainerResources("app", {"memory": 1024 * MI}, {"cpu": 0.5})


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        pytest.param([{"name": "app"}], None, id="no-termination"),
        pytest.param(
            [{"name": "app", "lastState": terminated("Error", "2026-11-27T10:03:00Z")}],
            None,
            id="other-reason",
        ),
        pytest.param(
            [{"name": "app", "lastState": terminated("OOMKilled", "2026-11-27T10:03:00Z")}],
            T0 + 180,
            id="last-state",
        ),
        pytest.param(
            [{"name": "app", "state": terminated("OOMKilled", "2026-11-27T10:04:00Z")}],
            T0 + 240,
            id="current-state",
        ),
        pytest.param(
            [
                {"name": "app", "lastState": terminated("OOMKilled", "2026-11-27T10:03:00Z")},
                {
                    "name": "proxy",
                    "state": terminated("OOMKilled", "2026-11-27T10:01:00Z"),
                    "lastState": terminated("OOMKilled", "2026-11-27T10:09:00Z"),
                },
            ],
            T0 + 540,
            id="latest-of-all",
        ),
        pytest.param(
            [{"name": "app", "lastState": terminated("OOMKilled", "yesterday")}],
            None,
            id="bad-time",
        ),
    ],
)
def test_last_oom_kill(statuses: list[dict[str, Any]], expected: float | None) -> None:
    assert pod_from_body(body(**{"status.containerStatuses": statuses})).last_oom == expected


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        pytest.param([], ResizeState(), id="none"),
        pytest.param(
            [
                {
                    "type": "PodResizePending",
                    "status": "True",
                    "reason": "Deferred",
                    "lastTransitionTime": "2026-11-27T10:01:00Z",
                }
            ],
            ResizeState(pending_reason="Deferred", pending_since=T0 + 60),
            id="deferred",
        ),
        pytest.param(
            [{"type": "PodResizePending", "status": "True", "reason": "Infeasible"}],
            ResizeState(pending_reason="Infeasible"),
            id="infeasible-without-time",
        ),
        pytest.param(
            [
                {
                    "type": "PodResizeInProgress",
                    "status": "True",
                    "lastTransitionTime": "2026-11-27T10:02:00Z",
                }
            ],
            ResizeState(in_progress_since=T0 + 120),
            id="in-progress",
        ),
        pytest.param(
            [
                {"type": "PodResizePending", "status": "False", "reason": "Deferred"},
                {"type": "PodResizeInProgress", "status": "False"},
            ],
            ResizeState(),
            id="false-conditions-are-over",
        ),
    ],
)
def test_resize_state_from_conditions(
    conditions: list[dict[str, Any]], expected: ResizeState
) -> None:
    assert pod_from_body(body(**{"status.conditions": conditions})).resize == expected


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        pytest.param({}, None, id="running-controlled"),
        pytest.param({"metadata.ownerReferences": []}, "no controller", id="no-owner"),
        pytest.param(
            {"metadata.ownerReferences": [{"kind": "ReplicaSet", "name": "web-5d8f"}]},
            "no controller",
            id="owner-not-controller",
        ),
        pytest.param(
            {"metadata.annotations": {DO_NOT_DISRUPT_ANNOTATION: "true"}},
            "annotated trimtab.dev/do-not-disrupt",
            id="do-not-disrupt",
        ),
        pytest.param(
            {"metadata.annotations": {DO_NOT_DISRUPT_ANNOTATION: "false"}},
            None,
            id="do-not-disrupt-false",
        ),
        pytest.param(
            {
                "metadata.annotations": {MIRROR_ANNOTATION: "abc"},
                "metadata.ownerReferences": [{"kind": "Node", "name": "n1", "controller": True}],
            },
            "mirror pod",
            id="mirror",
        ),
        pytest.param(
            {"metadata.deletionTimestamp": "2026-11-27T11:00:00Z"},
            "being deleted",
            id="deleting",
        ),
        pytest.param({"status.phase": "Pending"}, "phase Pending", id="pending"),
        pytest.param({"status.phase": "Succeeded"}, "phase Succeeded", id="succeeded"),
    ],
)
def test_touchable(changes: dict[str, Any], reason: str | None) -> None:
    assert touchable(pod_from_body(body(**changes))) == reason


def test_not_ready_without_a_true_ready_condition() -> None:
    assert not pod_from_body(body(**{"status.conditions": []})).ready
    not_ready = [{"type": "Ready", "status": "False"}]
    assert not pod_from_body(body(**{"status.conditions": not_ready})).ready


def test_an_empty_body_gives_defaults_and_is_untouchable() -> None:
    parsed = pod_from_body({})
    assert (parsed.name, parsed.phase, parsed.containers, parsed.created) == (
        "",
        "Pending",
        (),
        0.0,
    )
    assert touchable(parsed) == "no controller"


def test_malformed_sections_never_raise() -> None:
    broken = deepcopy(body())
    broken["metadata"]["ownerReferences"] = "web"
    broken["spec"]["containers"] = [{"name": "app", "resources": "big"}]
    broken["status"]["containerStatuses"] = [{"name": "app", "restartCount": "many"}]
    broken["status"]["startTime"] = 12
    parsed = pod_from_body(broken)
    assert parsed.controller is None
    assert parsed.containers == (ContainerResources("app"),)
    assert parsed.restarts == 0
    assert parsed.started is None


def test_creation_time_falls_back_to_start_time() -> None:
    assert pod_from_body(body(**{"metadata.creationTimestamp": None})).created == T0 + 5


def test_factory_pod_is_touchable() -> None:
    assert touchable(pod()) is None
