"""The Node store of the simulated provider against the emulated API: the 409 and 404 answers
it turns into booleans, label selection, and failures as NodeStoreError; then the simulated
provider on top of it, as the operator wires them.

The store is synchronous (the official client); it runs in a thread so that the emulator, on
the test's event loop, can answer it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from tests.component.harness import UNREACHABLE, Cluster, connector_to
from trimtab.api.nodes import SimulatedNodeClassSpec
from trimtab.cloud.provider import InstanceNotFoundError, LaunchRequest
from trimtab.cloud.simulated import KWOK_ANNOTATION, SIMULATED_LABEL, SimulatedProvider
from trimtab.kube.nodes import KubeNodeStore, NodeStoreError
from trimtab.provisioner.model import INSTANCE_TYPE, ZONE, InstanceType, Offering

T = TypeVar("T")
GI = 2.0**30


async def call(function: Callable[..., T], *args: Any) -> T:
    return await asyncio.to_thread(function, *args)


@pytest.fixture
def store(cluster: Cluster) -> KubeNodeStore:
    return KubeNodeStore(cluster.connector())


def node(name: str = "general-x7k2p", **labels: str) -> dict[str, Any]:
    """A Node as the simulated provider writes one: labels, providerID and status included."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {SIMULATED_LABEL: "true", **labels},
            "annotations": {KWOK_ANNOTATION: "fake"},
        },
        "spec": {"providerID": f"simulated://us-east-1a/{name}"},
        "status": {"capacity": {"cpu": "2", "memory": "8Gi", "pods": "29"}},
    }


# -- the store --------------------------------------------------------------------------------


async def test_create_stores_the_node_with_its_status(
    cluster: Cluster, store: KubeNodeStore
) -> None:
    assert await call(store.create, node()) is True

    stored = cluster.get("Node", "general-x7k2p")
    assert stored is not None
    assert stored["spec"] == {"providerID": "simulated://us-east-1a/general-x7k2p"}
    assert stored["status"] == {"capacity": {"cpu": "2", "memory": "8Gi", "pods": "29"}}
    assert stored["metadata"]["annotations"] == {KWOK_ANNOTATION: "fake"}
    (request,) = cluster.requests("Node", method="POST")
    assert request.data["metadata"]["name"] == "general-x7k2p"


async def test_create_of_an_existing_node_answers_false_and_keeps_it(
    cluster: Cluster, store: KubeNodeStore
) -> None:
    await cluster.create(node(team="first"))

    assert await call(store.create, node(team="second")) is False

    stored = cluster.get("Node", "general-x7k2p")
    assert stored is not None
    assert stored["metadata"]["labels"]["team"] == "first"


async def test_delete_answers_whether_there_was_a_node(
    cluster: Cluster, store: KubeNodeStore
) -> None:
    await cluster.create(node())

    assert await call(store.delete, "general-x7k2p") is True
    assert cluster.get("Node", "general-x7k2p") is None
    assert await call(store.delete, "general-x7k2p") is False


async def test_list_selects_by_labels_and_keeps_the_apis_keys(
    cluster: Cluster, store: KubeNodeStore
) -> None:
    await cluster.create(node("a", team="web"))
    await cluster.create(node("b", team="ml"))
    await cluster.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "real"}})

    simulated = await call(store.list, f"{SIMULATED_LABEL}=true")
    web = await call(store.list, f"{SIMULATED_LABEL}=true,team=web")
    nobody = await call(store.list, "team=nobody")

    assert sorted(n["metadata"]["name"] for n in simulated) == ["a", "b"]
    assert [n["metadata"]["name"] for n in web] == ["a"]
    assert web[0]["spec"]["providerID"] == "simulated://us-east-1a/a"  # camelCase, not models
    assert nobody == []


@pytest.mark.parametrize(
    ("method", "action"),
    [
        ("POST", lambda s: s.create(node())),
        ("DELETE", lambda s: s.delete("general-x7k2p")),
        ("GET", lambda s: s.list(f"{SIMULATED_LABEL}=true")),
    ],
    ids=["create", "delete", "list"],
)
async def test_other_answers_are_errors_with_their_status(
    cluster: Cluster,
    store: KubeNodeStore,
    method: str,
    action: Callable[[KubeNodeStore], object],
) -> None:
    await cluster.create(node())
    cluster.inject_fault("Node", 403, method=method, message="nodes is forbidden")

    with pytest.raises(NodeStoreError, match="nodes is forbidden") as error:
        await call(action, store)

    assert error.value.status == 403


async def test_an_unreachable_api_is_an_error_without_status() -> None:
    store = KubeNodeStore(connector_to(UNREACHABLE, retries=0))

    with pytest.raises(NodeStoreError) as error:
        await call(store.create, node())

    assert error.value.status is None
    assert "general-x7k2p" in str(error.value)


# -- the simulated provider on the store ------------------------------------------------------


def instance_type() -> InstanceType:
    return InstanceType(
        name="m5.large",
        capacity={"cpu": 2.0, "memory": 8 * GI, "pods": 29.0},
        overhead={"cpu": 0.08, "memory": 1 * GI},
        labels={INSTANCE_TYPE: "m5.large"},
        offerings=(Offering("us-east-1a", "on-demand", 0.096),),
    )


def launch_request() -> LaunchRequest:
    return LaunchRequest(
        claim_name="general-x7k2p",
        claim_uid="uid-general-x7k2p",
        pool="general",
        instance_types=(instance_type(),),
    )


@pytest.fixture
def provider(store: KubeNodeStore) -> SimulatedProvider:
    catalog = {"m5.large": instance_type()}
    return SimulatedProvider(
        SimulatedNodeClassSpec(boot_delay="0s"), catalog, store, "demo", sleep=lambda _: None
    )


async def test_the_simulated_provider_buys_finds_and_gives_back_nodes(
    cluster: Cluster, provider: SimulatedProvider
) -> None:
    instance = await call(provider.create, launch_request())

    stored = cluster.get("Node", "general-x7k2p")
    assert stored is not None
    assert stored["metadata"]["labels"][ZONE] == "us-east-1a"
    assert stored["status"]["allocatable"] == {"cpu": "1920m", "memory": "7Gi", "pods": "29"}
    assert await call(provider.create, launch_request()) == instance
    assert len(cluster.requests("Node", method="POST")) == 1
    assert await call(provider.list) == [instance]

    await call(provider.delete, instance.provider_id)

    assert cluster.get("Node", "general-x7k2p") is None
    with pytest.raises(InstanceNotFoundError):
        await call(provider.delete, instance.provider_id)
