"""The admission mutation: which quantities of a new pod change, to what, and how it is said."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import jsonpatch
import kopf
import pytest

from trimtab.admission.mutation import (
    ANNOTATION_SCALER,
    ANNOTATION_UPDATED,
    PodMutation,
    containers_of,
    pod_mutation,
)
from trimtab.updater.model import ContainerControl, ContainerResources

MI = 2**20
BOTH = ContainerControl()
REQUESTS_ONLY = ContainerControl(requests_and_limits=False)
MEMORY_ONLY = ContainerControl(resources=frozenset({"memory"}))


def container(name: str, requests: Any = None, limits: Any = None, **extra: Any) -> dict[str, Any]:
    resources = {key: value for key, value in (("requests", requests), ("limits", limits)) if value}
    return {"name": name, "image": f"example/{name}:1", **extra, "resources": resources}


CASES = [
    pytest.param(
        [container("app", {"cpu": "100m", "memory": "128Mi"}, {"memory": "256Mi"})],
        {"app": {"cpu": 0.25, "memory": 300 * MI}},
        {"app": BOTH},
        {"app": ({"cpu": "250m", "memory": "300Mi"}, {"memory": "600Mi"})},
        "app: cpu request 100m->250m, memory request 128Mi->300Mi, memory limit 256Mi->600Mi",
        id="requests-and-limits-keeps-the-ratio",
    ),
    pytest.param(
        [container("app", {"cpu": "100m"}, {"cpu": "200m"})],
        {"app": {"cpu": 0.5}},
        {"app": REQUESTS_ONLY},
        {"app": ({"cpu": "200m"}, {"cpu": "200m"})},
        "app: cpu request 100m->200m",
        id="requests-only-is-capped-at-the-limit",
    ),
    pytest.param(
        [container("app", {"cpu": "100m"}, {"cpu": "1"})],
        {"app": {"cpu": 0.3}},
        {"app": REQUESTS_ONLY},
        {"app": ({"cpu": "300m"}, {"cpu": "1"})},
        "app: cpu request 100m->300m",
        id="requests-only-leaves-the-limit",
    ),
    pytest.param(
        [
            container("app", {"cpu": "100m"}),
            container("sidecar", {"cpu": "50m", "memory": "64Mi"}, {"memory": "64Mi"}),
        ],
        {"app": {"cpu": 0.2}},
        {"app": BOTH, "sidecar": BOTH},
        {"app": ({"cpu": "200m"}, {}), "sidecar": ({"cpu": "50m", "memory": "64Mi"}, None)},
        "app: cpu request 100m->200m",
        id="container-without-recommendation-untouched",
    ),
    pytest.param(
        [container("app", {"cpu": "100m"}), container("sidecar", {"cpu": "50m"})],
        {"app": {"cpu": 0.2}, "sidecar": {"cpu": 0.5}},
        {"app": BOTH},
        {"app": ({"cpu": "200m"}, {}), "sidecar": ({"cpu": "50m"}, None)},
        "app: cpu request 100m->200m",
        id="container-without-control-untouched",
    ),
    pytest.param(
        [container("app", {"cpu": "100m", "memory": "100Mi"}, {"cpu": "200m"})],
        {"app": {"cpu": 0.4, "memory": 150 * MI}},
        {"app": MEMORY_ONLY},
        {"app": ({"cpu": "100m", "memory": "150Mi"}, {"cpu": "200m"})},
        "app: memory request 100Mi->150Mi",
        id="controlled-resources-memory-keeps-cpu",
    ),
    pytest.param(
        [container("app", limits={"cpu": "500m", "memory": "1Gi"})],
        {"app": {"cpu": 0.25, "memory": 512 * MI}},
        {"app": BOTH},
        {"app": ({"cpu": "250m", "memory": "512Mi"}, {"cpu": "250m", "memory": "512Mi"})},
        "app: cpu request unset->250m, cpu limit 500m->250m, "
        "memory request unset->512Mi, memory limit 1Gi->512Mi",
        id="limit-without-request-requests-and-limits",
    ),
    pytest.param(
        [container("app", limits={"cpu": "500m"})],
        {"app": {"cpu": 0.25}},
        {"app": REQUESTS_ONLY},
        {"app": ({"cpu": "250m"}, {"cpu": "500m"})},
        "app: cpu request unset->250m",
        id="limit-without-request-requests-only",
    ),
    pytest.param(
        [container("app")],
        {"app": {"cpu": 0.1, "memory": 64 * MI}},
        {"app": BOTH},
        {"app": ({"cpu": "100m", "memory": "64Mi"}, {})},
        "app: cpu request unset->100m, memory request unset->64Mi",
        id="no-resources-at-all",
    ),
    pytest.param(
        [container("app", {"cpu": "100m", "memory": "lots"}, {"memory": "2Gi"})],
        {"app": {"cpu": 0.2, "memory": 300 * MI}},
        {"app": BOTH},
        {"app": ({"cpu": "200m", "memory": "lots"}, {"memory": "2Gi"})},
        "app: cpu request 100m->200m",
        id="unparseable-resource-left-alone",
    ),
    pytest.param(
        [container("app", {"cpu": 0.1, "memory": 134217728})],
        {"app": {"cpu": 0.25, "memory": 256 * MI}},
        {"app": BOTH},
        {"app": ({"cpu": "250m", "memory": "256Mi"}, {})},
        "app: cpu request 0.1->250m, memory request 134217728->256Mi",
        id="numbers-as-written-are-quoted-as-written",
    ),
    pytest.param(
        [
            container("web", {"cpu": "1", "memory": "1Gi"}, {"cpu": "2", "memory": "2Gi"}),
            container("log", {"memory": "32Mi"}, {"memory": "32Mi"}),
        ],
        {"web": {"cpu": 0.5, "memory": 512 * MI}, "log": {"cpu": 0.01, "memory": 48 * MI}},
        {"web": BOTH, "log": BOTH},
        {
            "web": ({"cpu": "500m", "memory": "512Mi"}, {"cpu": "1", "memory": "1Gi"}),
            "log": ({"memory": "48Mi", "cpu": "10m"}, {"memory": "48Mi"}),
        },
        "web: cpu request 1->500m, cpu limit 2->1, memory request 1Gi->512Mi, "
        "memory limit 2Gi->1Gi; log: cpu request unset->10m, memory request 32Mi->48Mi, "
        "memory limit 32Mi->48Mi",
        id="two-containers-annotation",
    ),
]


@pytest.mark.parametrize(("containers", "targets", "controls", "expected", "text"), CASES)
def test_pod_mutation(
    containers: list[dict[str, Any]],
    targets: Mapping[str, Mapping[str, float]],
    controls: Mapping[str, ContainerControl],
    expected: Mapping[str, tuple[dict[str, str], dict[str, str] | None]],
    text: str,
) -> None:
    before = copy.deepcopy(containers)

    mutation = pod_mutation(containers, targets, controls, "web-scaler")

    assert mutation is not None
    assert containers == before, "the admitted pod's containers must not be changed in place"
    assert [c["name"] for c in mutation.containers] == [c["name"] for c in containers]
    for old, new in zip(containers, mutation.containers, strict=True):
        requests, limits = expected[old["name"]]
        got = new["resources"]
        assert got.get("requests", {}) == requests, old["name"]
        if limits is None:  # untouched
            assert new == old
        else:
            assert got.get("limits", {}) == limits, old["name"]
        assert {k: v for k, v in new.items() if k != "resources"} == {
            k: v for k, v in old.items() if k != "resources"
        }
    assert mutation.annotations == {ANNOTATION_UPDATED: text, ANNOTATION_SCALER: "web-scaler"}


@pytest.mark.parametrize(
    ("containers", "targets", "controls"),
    [
        pytest.param(
            [container("app", {"cpu": "100m", "memory": "128Mi"}, {"memory": "256Mi"})],
            {"app": {"cpu": 0.1, "memory": 128 * MI}},
            {"app": BOTH},
            id="target-equals-current",
        ),
        pytest.param(
            [container("app", {"cpu": "100m"})],
            {"app": {"cpu": 0.1 + 1e-12}},
            {"app": BOTH},
            id="float-noise-is-no-change",
        ),
        pytest.param(
            [container("app", limits={"cpu": "500m"})],
            {"app": {"cpu": 0.5}},
            {"app": BOTH},
            id="missing-request-defaults-to-the-limit",
        ),
        pytest.param(
            [container("app", {"cpu": "100m"})],
            {"other": {"cpu": 0.5}},
            {"other": BOTH},
            id="no-recommended-container",
        ),
        pytest.param(
            [container("app", {"cpu": "100m"})],
            {"app": {"cpu": 0.5}},
            {"app": MEMORY_ONLY},
            id="uncontrolled-resource-only",
        ),
        pytest.param(
            [container("app", {"cpu": "a lot"})],
            {"app": {"cpu": 0.5}},
            {"app": BOTH},
            id="unparseable-only",
        ),
    ],
)
def test_no_change_is_none(
    containers: list[dict[str, Any]],
    targets: Mapping[str, Mapping[str, float]],
    controls: Mapping[str, ContainerControl],
) -> None:
    assert pod_mutation(containers, targets, controls, "s") is None


def test_other_fields_and_resources_are_kept() -> None:
    app = container(
        "app",
        {"cpu": "100m", "ephemeral-storage": "1Gi"},
        {"nvidia.com/gpu": "1"},
        env=[{"name": "A", "value": "1"}],
        ports=[{"containerPort": 80}],
    )
    app["resources"]["claims"] = [{"name": "gpu"}]

    mutation = pod_mutation([app], {"app": {"cpu": 0.2}}, {"app": BOTH}, "s")

    assert mutation is not None
    (new,) = mutation.containers
    assert new["resources"] == {
        "requests": {"cpu": "200m", "ephemeral-storage": "1Gi"},
        "limits": {"nvidia.com/gpu": "1"},
        "claims": [{"name": "gpu"}],
    }
    assert new["env"] == app["env"]
    assert new["ports"] == app["ports"]


def _pod(containers: list[dict[str, Any]], annotations: dict[str, str] | None = None) -> Any:
    metadata: dict[str, Any] = {"name": "web-1", "namespace": "shop"}
    if annotations is not None:
        metadata["annotations"] = annotations
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {"containers": containers, "restartPolicy": "Always"},
    }


@pytest.mark.parametrize("annotations", [None, {"team": "shop"}], ids=["none", "some"])
def test_kopf_turns_the_patch_into_json_patch_ops_on_the_changed_quantities_only(
    annotations: dict[str, str] | None,
) -> None:
    containers = [
        container("app", {"cpu": "100m", "memory": "128Mi"}, {"memory": "256Mi"}),
        container("sidecar", {"cpu": "50m"}),
    ]
    pod = _pod(containers, annotations)
    mutation = pod_mutation(containers, {"app": {"cpu": 0.25}}, {"app": BOTH}, "web")
    assert mutation is not None
    patch = kopf.Patch(body=kopf.Body(copy.deepcopy(pod)))
    patch.setdefault("metadata", {}).setdefault("annotations", {})["trimtab.dev/admitted"] = "true"

    mutation.apply_to(patch)
    ops = patch.as_json_patch()

    admitted = jsonpatch.apply_patch(pod, ops)
    assert admitted["spec"]["containers"] == mutation.containers
    assert admitted["metadata"]["annotations"] == {
        **(annotations or {}),
        "trimtab.dev/admitted": "true",
        **mutation.annotations,
    }
    touched = sorted(op["path"] for op in ops if not op["path"].startswith("/metadata/"))
    assert touched == ["/spec/containers/0/resources/requests/cpu"]
    assert all(op["op"] != "remove" for op in ops)


def test_patch_is_a_fresh_merge_patch() -> None:
    mutation = PodMutation(
        containers=[container("app", {"cpu": "1"})], annotations={ANNOTATION_SCALER: "s"}
    )

    patch = mutation.patch
    patch["spec"]["containers"][0]["name"] = "changed"

    assert patch["metadata"] == {"annotations": {ANNOTATION_SCALER: "s"}}
    assert mutation.containers[0]["name"] == "app"


def test_containers_of() -> None:
    spec = {
        "containers": [
            container("app", {"cpu": "250m", "memory": "1Gi", "ephemeral-storage": "1Gi"}),
            container("sidecar", {"cpu": "bad"}, {"cpu": "1", "memory": "1.5Ki"}),
            {"image": "nameless"},
        ],
        "initContainers": [container("init", {"cpu": "1"})],
    }

    assert containers_of(spec) == {
        "app": ContainerResources("app", {"cpu": 0.25, "memory": 2**30}, {}),
        "sidecar": ContainerResources("sidecar", {}, {"memory": 1536}),
    }
    assert containers_of({}) == {}
