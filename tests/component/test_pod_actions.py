"""The pod actions port against the emulated API: evictions, in-place resizes and the server
version, with the apiserver's refusals and failures injected as faults.

The port is synchronous (the official client); it runs in a thread so that the emulator, on
the test's event loop, can answer it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from tests.component.emulator import TrimtabEmulator
from tests.component.harness import UNREACHABLE, Cluster, connector_to
from trimtab.kube.pods import (
    EvictionResult,
    PodActionError,
    PodActions,
    ResizeResult,
    server_version,
)
from trimtab.updater.model import ContainerResources

NS = "shop"
MI = 2**20
T = TypeVar("T")

QOS_FORBIDDEN = (
    'Pod "web-1" is invalid: spec: Forbidden: Pod QOS Class may not change as a result of resizing'
)
UID_PRECONDITION = (
    'Operation cannot be fulfilled on pods "web-1": StorageError: invalid object, Code: 4, '
    "Key: /registry/pods/shop/web-1, ResourceVersion: 0, AdditionalErrorMsg: Precondition "
    "failed: UID in precondition: 1111, UID in object meta: 2222"
)


@pytest.fixture
def actions(cluster: Cluster) -> PodActions:
    return PodActions(cluster.connector())


async def call(function: Callable[..., T], *args: Any) -> T:
    return await asyncio.to_thread(function, *args)


def pod(name: str = "web-1") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": {"app": "web"}},
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "example/web:1",
                    "resources": {
                        "requests": {"cpu": "100m", "memory": "128Mi"},
                        "limits": {"memory": "256Mi"},
                    },
                },
                {
                    "name": "sidecar",
                    "image": "example/log:1",
                    "resources": {"requests": {"cpu": "10m", "ephemeral-storage": "1Gi"}},
                },
            ]
        },
    }


# -- eviction ---------------------------------------------------------------------------------


async def test_evict_removes_the_pod(cluster: Cluster, actions: PodActions) -> None:
    created = await cluster.create(pod())

    result = await call(actions.evict, NS, "web-1", created["metadata"]["uid"])

    assert result is EvictionResult.EVICTED
    assert cluster.get("Pod", "web-1", namespace=NS) is None
    (request,) = cluster.requests("Pod", method="POST", subresource="eviction")
    assert request.data["kind"] == "Eviction"
    assert request.data["apiVersion"] == "policy/v1"
    assert request.data["metadata"] == {"name": "web-1", "namespace": NS}
    assert request.data["deleteOptions"] == {"preconditions": {"uid": created["metadata"]["uid"]}}


async def test_evict_without_uid_sends_no_precondition(
    cluster: Cluster, actions: PodActions
) -> None:
    await cluster.create(pod())

    result = await call(actions.evict, NS, "web-1")

    assert result is EvictionResult.EVICTED
    (request,) = cluster.requests("Pod", method="POST", subresource="eviction")
    assert "deleteOptions" not in request.data


async def test_evict_blocked_by_a_disruption_budget(cluster: Cluster, actions: PodActions) -> None:
    await cluster.create(pod())
    fault = cluster.inject_fault(
        "Pod",
        429,
        method="POST",
        subresource="eviction",
        message="Cannot evict pod as it would violate the pod's disruption budget.",
        retry_after=10,
    )

    result = await call(actions.evict, NS, "web-1")

    assert result is EvictionResult.BLOCKED
    assert len(fault.seen) == 1
    assert cluster.get("Pod", "web-1", namespace=NS) is not None


async def test_evict_a_missing_pod_is_gone(cluster: Cluster, actions: PodActions) -> None:
    assert await call(actions.evict, NS, "nowhere") is EvictionResult.GONE


async def test_evict_a_replaced_pod_is_gone(cluster: Cluster, actions: PodActions) -> None:
    # The apiserver refuses with 409 when the uid precondition does not hold: the pod of that
    # name is a newer one (a StatefulSet's), which must not be evicted.
    await cluster.create(pod())
    fault = cluster.inject_fault(
        "Pod", 409, method="POST", subresource="eviction", message=UID_PRECONDITION
    )

    result = await call(actions.evict, NS, "web-1", "1111")

    assert result is EvictionResult.GONE
    assert fault.seen[0].data["deleteOptions"]["preconditions"] == {"uid": "1111"}
    assert cluster.get("Pod", "web-1", namespace=NS) is not None


@pytest.mark.parametrize(
    ("status", "message", "uid"),
    [
        pytest.param(500, "etcd is unhappy", None, id="500"),
        pytest.param(403, 'pods "web-1" is forbidden: no eviction for you', None, id="403"),
        pytest.param(409, "the object has been modified", "1111", id="409-not-a-precondition"),
        pytest.param(409, UID_PRECONDITION, None, id="409-without-our-uid"),
    ],
)
async def test_evict_failures_are_errors(
    cluster: Cluster, actions: PodActions, status: int, message: str, uid: str | None
) -> None:
    await cluster.create(pod())
    cluster.inject_fault("Pod", status, method="POST", subresource="eviction", message=message)

    with pytest.raises(PodActionError) as error:
        await call(actions.evict, NS, "web-1", uid)

    assert error.value.status == status
    assert "shop/web-1" in str(error.value)
    assert message in str(error.value)
    assert cluster.get("Pod", "web-1", namespace=NS) is not None


async def test_unreachable_api_is_an_error_without_status() -> None:
    # urllib3 would retry three times by default; once is enough here.
    actions = PodActions(connector_to(UNREACHABLE, retries=0))

    with pytest.raises(PodActionError) as error:
        await call(actions.evict, NS, "web-1")

    assert error.value.status is None
    assert "shop/web-1" in str(error.value)


# -- resize -----------------------------------------------------------------------------------


NEW_APP = ContainerResources("app", {"cpu": 0.25, "memory": 300 * MI}, {"memory": 600 * MI})


async def test_resize_changes_only_the_given_resources(
    cluster: Cluster, actions: PodActions
) -> None:
    await cluster.create(pod())
    sidecar = ContainerResources("sidecar", {"cpu": 0.02, "ephemeral-storage": 2.0 * 2**30})

    result = await call(actions.resize, NS, "web-1", {"app": NEW_APP, "sidecar": sidecar})

    assert result is ResizeResult.RESIZED
    stored = cluster.get("Pod", "web-1", namespace=NS)
    assert stored is not None
    app, log = stored["spec"]["containers"]
    assert app == {
        "name": "app",
        "image": "example/web:1",
        "resources": {
            "requests": {"cpu": "250m", "memory": "300Mi"},
            "limits": {"memory": "600Mi"},
        },
    }
    # Only CPU and memory can be resized: the rest is not sent, and stays as it was.
    assert log["resources"] == {"requests": {"cpu": "20m", "ephemeral-storage": "1Gi"}}
    (request,) = cluster.requests("Pod", method="PATCH", subresource="resize")
    assert request.headers["Content-Type"].startswith("application/strategic-merge-patch+json")


async def test_resize_leaves_other_containers_alone(cluster: Cluster, actions: PodActions) -> None:
    await cluster.create(pod())

    await call(actions.resize, NS, "web-1", {"app": NEW_APP})

    stored = cluster.get("Pod", "web-1", namespace=NS)
    assert stored is not None
    assert stored["spec"]["containers"][1] == pod()["spec"]["containers"][1]


@pytest.mark.parametrize(
    ("status", "message"),
    [
        pytest.param(404, "the server could not find the requested resource", id="404"),
        pytest.param(405, "the server does not allow this method", id="405"),
        pytest.param(422, QOS_FORBIDDEN, id="422-forbidden"),
        pytest.param(
            422,
            'Pod "web-1" is invalid: spec.containers[0].resources: Forbidden: memory limits '
            "cannot be decreased unless resizePolicy is RestartContainer",
            id="422-memory-decrease",
        ),
    ],
)
async def test_resize_unsupported(
    cluster: Cluster, actions: PodActions, status: int, message: str
) -> None:
    created = await cluster.create(pod())
    fault = cluster.inject_fault(
        "Pod", status, method="PATCH", subresource="resize", message=message
    )

    result = await call(actions.resize, NS, "web-1", {"app": NEW_APP})

    assert result is ResizeResult.UNSUPPORTED
    assert len(fault.seen) == 1
    assert cluster.get("Pod", "web-1", namespace=NS) == created


async def test_resize_a_missing_pod_is_unsupported(cluster: Cluster, actions: PodActions) -> None:
    # 404 cannot tell a missing pod from a missing subresource; evicting it then says GONE.
    assert await call(actions.resize, NS, "nowhere", {"app": NEW_APP}) is ResizeResult.UNSUPPORTED


@pytest.mark.parametrize(
    ("status", "message"),
    [
        pytest.param(500, "etcd is unhappy", id="500"),
        pytest.param(409, "the object has been modified", id="409"),
        pytest.param(
            422,
            'Pod "web-1" is invalid: spec.containers[0].resources.requests: Invalid value: '
            '"300m": must be less than or equal to cpu limit of 200m',
            id="422-invalid-value",
        ),
    ],
)
async def test_resize_failures_are_errors(
    cluster: Cluster, actions: PodActions, status: int, message: str
) -> None:
    await cluster.create(pod())
    cluster.inject_fault("Pod", status, method="PATCH", subresource="resize", message=message)

    with pytest.raises(PodActionError) as error:
        await call(actions.resize, NS, "web-1", {"app": NEW_APP})

    assert error.value.status == status
    assert "resizing pod shop/web-1" in str(error.value)
    assert message in str(error.value)


# -- server version ---------------------------------------------------------------------------


# The official client reads "/version/" (the apiserver serves it with and without the slash);
# kmock's emulator serves only "/version", so each test says what the server is.
VERSION = "get /version/"


def version_requests(kmock: TrimtabEmulator) -> int:
    return sum(1 for request in kmock if request.url.path == "/version/")


async def test_1_26_cannot_resize(
    cluster: Cluster, kmock: TrimtabEmulator, actions: PodActions
) -> None:
    kmock[VERSION] << {"major": "1", "minor": "26", "gitVersion": "v1.26.4+k3s1"}

    assert await call(actions.supports_in_place_resize) is False
    assert version_requests(kmock) == 1


async def test_1_33_can_resize_and_the_answer_is_kept(
    cluster: Cluster, kmock: TrimtabEmulator, actions: PodActions
) -> None:
    kmock[VERSION] << {"major": "1", "minor": "33+", "gitVersion": "v1.33.1-eks-1"}

    first = await call(actions.supports_in_place_resize)
    second = await call(actions.supports_in_place_resize)
    other = await call(PodActions(cluster.connector()).supports_in_place_resize)

    assert (first, second, other) == (True, True, True)
    assert version_requests(kmock) == 2, "one request per instance"


async def test_version_failure_is_an_error_and_not_kept(
    cluster: Cluster, kmock: TrimtabEmulator, actions: PodActions
) -> None:
    kmock[VERSION] << {"major": "1", "minor": "34"}
    cluster.inject_fault(None, 503, method="GET", message="apiserver is starting")

    with pytest.raises(PodActionError) as error:
        await call(actions.supports_in_place_resize)
    again = await call(actions.supports_in_place_resize)

    assert error.value.status == 503
    assert "server version" in str(error.value)
    assert again is True


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        pytest.param({"major": "1", "minor": "33"}, (1, 33), id="plain"),
        pytest.param({"major": "1", "minor": "33+"}, (1, 33), id="plus"),
        pytest.param({"major": "", "minor": "", "gitVersion": "v1.34.2-gke.1"}, (1, 34), id="git"),
        pytest.param(
            {"major": "1", "minor": "34", "emulationMajor": "1", "emulationMinor": "32"},
            (1, 32),
            id="emulated",
        ),
        pytest.param({"major": "1"}, None, id="no-minor"),
        pytest.param({}, None, id="empty"),
    ],
)
def test_server_version(info: dict[str, str], expected: tuple[int, int] | None) -> None:
    assert server_version(info) == expected
