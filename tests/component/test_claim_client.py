"""The provisioner's NodeClaim and Node calls against the emulated API: "already done" answers
(409 on create, 404 on delete) as False, every other failure as ClaimApiError naming the object,
an unreachable API included. The client is synchronous; it runs in a thread so that the
emulator, on the test's event loop, can answer it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from tests.component.harness import UNREACHABLE, Cluster, connector_to
from trimtab.api import GROUP, VERSION
from trimtab.kube.nodeclaims import ClaimApiError, ClaimClient

T = TypeVar("T")
NAME = "general-abc12"


async def call(function: Callable[..., T], *args: Any) -> T:
    return await asyncio.to_thread(function, *args)


@pytest.fixture
def client(cluster: Cluster) -> ClaimClient:
    return ClaimClient(cluster.connector())


def claim(name: str = NAME) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "NodeClaim",
        "metadata": {"name": name},
        "spec": {"nodeClassRef": {"kind": "SimulatedNodeClass", "name": "default"}},
    }


async def test_create_answers_false_when_the_claim_exists(
    cluster: Cluster, client: ClaimClient
) -> None:
    assert await call(client.create_claim, claim()) is True
    assert await call(client.create_claim, claim()) is False
    assert cluster.get("NodeClaim", NAME) is not None


async def test_status_is_merged_into_the_claim(cluster: Cluster, client: ClaimClient) -> None:
    await call(client.create_claim, claim())

    await call(client.patch_claim_status, NAME, {"instanceType": "m7g.large"})

    stored = cluster.get("NodeClaim", NAME)
    assert stored is not None
    assert stored["status"]["instanceType"] == "m7g.large"


async def test_deletes_answer_whether_there_was_something_to_delete(
    cluster: Cluster, client: ClaimClient
) -> None:
    await call(client.create_claim, claim())
    await cluster.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": NAME}})

    assert await call(client.delete_claim, NAME) is True
    assert await call(client.delete_claim, NAME) is False
    assert await call(client.delete_node, NAME) is True
    assert await call(client.delete_node, NAME) is False


async def test_node_patch_sets_labels_and_replaces_taints(
    cluster: Cluster, client: ClaimClient
) -> None:
    startup = {"key": "example.com/booting", "effect": "NoSchedule"}
    await cluster.create(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": NAME},
            "spec": {"taints": [startup]},
        }
    )

    await call(
        client.patch_node, NAME, {"metadata": {"labels": {"team": "web"}}, "spec": {"taints": []}}
    )

    stored = cluster.get("Node", NAME)
    assert stored is not None
    assert stored["metadata"]["labels"] == {"team": "web"}
    assert stored["spec"]["taints"] == []


@pytest.mark.parametrize(
    ("kind", "method", "action"),
    [
        ("NodeClaim", "POST", lambda c: c.create_claim(claim())),
        ("NodeClaim", "DELETE", lambda c: c.delete_claim(NAME)),
        ("Node", "PATCH", lambda c: c.patch_node(NAME, {"spec": {"unschedulable": True}})),
        ("Node", "DELETE", lambda c: c.delete_node(NAME)),
    ],
    ids=["create claim", "delete claim", "patch node", "delete node"],
)
async def test_other_answers_are_errors_naming_the_object(
    cluster: Cluster,
    client: ClaimClient,
    kind: str,
    method: str,
    action: Callable[[ClaimClient], object],
) -> None:
    cluster.inject_fault(kind, 500, method=method, message="etcd is on fire")

    with pytest.raises(ClaimApiError, match=NAME) as error:
        await call(action, client)

    assert error.value.status == 500
    assert "etcd is on fire" in str(error.value), "the apiserver's own words"


async def test_an_unreachable_api_is_an_error_without_status() -> None:
    client = ClaimClient(connector_to(UNREACHABLE, retries=0))

    with pytest.raises(ClaimApiError, match=NAME) as error:
        await call(client.delete_claim, NAME)

    assert error.value.status is None
