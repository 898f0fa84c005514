"""The provisioner's handlers against the emulated API with the simulated provider: a pending
pod becomes a NodeClaim, a NodeClaim becomes an initialised Node, an offering out of capacity
drops the claim, and deleting a claim deletes its Node.

The emulator runs no kwok: the test marks a Node Ready itself where kwok would.
"""

from __future__ import annotations

from typing import Any

import kopf
import pytest

from tests.component.harness import Cluster
from tests.factories import node_claim, node_pool, simulated_node_class
from trimtab.handlers import register
from trimtab.handlers.common import now_rfc3339
from trimtab.provisioner.model import CAPACITY_TYPE, HOSTNAME, INSTANCE_TYPE, NODE_POOL, ZONE
from trimtab.provisioner.nodeclaims import NODE_CLAIM_LABEL
from trimtab.settings import Settings

STARTUP_TAINT = {"key": "agent.example/not-ready", "effect": "NoSchedule"}


@pytest.fixture
async def operator(cluster: Cluster) -> Cluster:
    settings = Settings(
        standalone=True,
        webhook_enabled=False,
        recommender_enabled=False,
        horizontal_enabled=False,
        updater_enabled=False,
        provisioner_batch_idle_s=0.2,
    )
    connect = cluster.connector()

    await cluster.start_operator(
        lambda registry: register(registry, settings),
        memo=kopf.Memo(settings=settings, kube_connect=connect),
    )
    return cluster


async def _pool(cluster: Cluster, **node_class: Any) -> None:
    await cluster.create(simulated_node_class("sim", bootDelay="0s", **node_class))
    await cluster.create(
        node_pool(
            "general",
            template={
                "nodeClassRef": {"kind": "SimulatedNodeClass", "name": "sim"},
                "startupTaints": [STARTUP_TAINT],
            },
        )
    )


def _claim(name: str = "general-abc123") -> dict[str, Any]:
    claim = node_claim(
        name,
        requirements=[
            {"key": INSTANCE_TYPE, "operator": "In", "values": ["m7i.large"]},
            {"key": ZONE, "operator": "In", "values": ["us-east-1a"]},
            {"key": CAPACITY_TYPE, "operator": "In", "values": ["on-demand"]},
        ],
        startupTaints=[STARTUP_TAINT],
    )
    claim["metadata"]["labels"] = {NODE_POOL: "general"}
    return claim


async def _launched(cluster: Cluster, provider_id: str) -> dict[str, Any]:
    """Play the cloud for claim general-abc123: write its launch, then wait for the operator
    to find the Node and mark the claim Registered."""
    launched = {
        "providerID": provider_id,
        "conditions": [
            {
                "type": "Launched",
                "status": "True",
                "reason": "Launched",
                "message": "",
                "lastTransitionTime": now_rfc3339(),
            }
        ],
    }
    await cluster.patch("NodeClaim", "general-abc123", {"status": launched}, subresource="status")
    return await cluster.wait_for(
        "NodeClaim",
        "general-abc123",
        lambda c: _conditions(c).get("Registered") == "True",
        what="Registered",
    )


def _conditions(obj: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in obj.get("status", {}).get("conditions", [])}


async def test_a_claim_becomes_an_initialised_node(operator: Cluster) -> None:
    await _pool(operator)
    await operator.create(_claim())

    node = await operator.wait_for("Node", "general-abc123", lambda n: True, within=5)
    assert node["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"
    assert node["metadata"]["labels"][INSTANCE_TYPE] == "m7i.large"
    assert STARTUP_TAINT in node["spec"]["taints"]
    claim = await operator.wait_for(
        "NodeClaim",
        "general-abc123",
        lambda c: _conditions(c).get("Registered") == "True",
        what="Registered",
    )
    assert claim["status"]["providerID"] == "simulated://us-east-1a/general-abc123"
    assert claim["status"]["instanceType"] == "m7i.large"
    assert claim["status"]["price"] > 0
    assert _conditions(claim).get("Initialized") != "True", "not before the Node is Ready"

    # kwok's part: the Node reports Ready.
    ready = {"conditions": [{"type": "Ready", "status": "True"}]}
    await operator.patch("Node", "general-abc123", {"status": ready}, subresource="status")
    await operator.wait_for(
        "NodeClaim",
        "general-abc123",
        lambda c: _conditions(c).get("Initialized") == "True",
        what="Initialized",
    )
    node = operator.get("Node", "general-abc123")
    assert node is not None
    assert STARTUP_TAINT not in (node["spec"].get("taints") or [])
    assert node["metadata"]["labels"][NODE_CLAIM_LABEL] == "general-abc123"

    await operator.delete("NodeClaim", "general-abc123")
    await operator.wait_until(
        lambda: operator.get("Node", "general-abc123") is None, what="the Node deleted"
    )


async def test_an_offering_out_of_capacity_drops_the_claim(operator: Cluster) -> None:
    await _pool(operator, insufficientCapacity=["m7i.large/us-east-1a/on-demand"])
    await operator.create(_claim())

    await operator.wait_until(
        lambda: operator.get("NodeClaim", "general-abc123") is None,
        within=5,
        what="the claim deleted",
    )
    reasons = [e.get("reason") for e in operator.objects("Event")]
    await operator.wait_until(
        lambda: "InsufficientCapacity" in [e.get("reason") for e in operator.objects("Event")],
        what=f"an InsufficientCapacity Event (seen {reasons})",
    )
    assert operator.get("Node", "general-abc123") is None


def _pod(name: str, app: str, **spec: Any) -> dict[str, Any]:
    """A pod of 1 CPU and 2Gi for the general pool: unschedulable unless `spec` binds it."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "shop", "labels": {"app": app}},
        "spec": {
            "nodeSelector": {NODE_POOL: "general"},
            "tolerations": [],
            "containers": [
                {"name": "app", "resources": {"requests": {"cpu": "1", "memory": "2Gi"}}}
            ],
            **spec,
        },
        "status": {
            "phase": "Running" if spec.get("nodeName") else "Pending",
            "conditions": []
            if spec.get("nodeName")
            else [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}],
        },
    }


async def test_an_unschedulable_pod_gets_a_claim(operator: Cluster) -> None:
    await _pool(operator)
    await operator.create(_pod("api-1", "api"))
    await operator.wait_until(lambda: bool(operator.objects("NodeClaim")), within=5, what="a claim")
    (claim,) = operator.objects("NodeClaim")
    assert claim["metadata"]["labels"][NODE_POOL] == "general"
    assert claim["metadata"]["ownerReferences"][0]["kind"] == "NodePool"
    allowed = next(r for r in claim["spec"]["requirements"] if r["key"] == INSTANCE_TYPE)
    assert allowed["values"], "the claim lists the types it may use"
    assert claim["spec"]["resources"]["cpu"] == "1"


async def test_a_node_whose_pods_shun_the_pending_pod_gets_no_more_pods(
    operator: Cluster,
) -> None:
    """The scheduler checks anti-affinity both ways: a db pod that keeps api pods off its node
    makes a roomy node of the pool useless to them, so the api pod gets a claim."""
    await _pool(operator)
    await operator.create(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": "roomy", "labels": {NODE_POOL: "general", ZONE: "us-east-1a"}},
            "spec": {},
            "status": {"allocatable": {"cpu": "16", "memory": "64Gi", "pods": "110"}},
        }
    )
    shun_api = {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "api"}}, "topologyKey": HOSTNAME}
        ]
    }
    await operator.create(
        _pod("db-1", "db", nodeName="roomy", affinity={"podAntiAffinity": shun_api})
    )
    await operator.create(_pod("api-1", "api"))
    await operator.wait_until(lambda: bool(operator.objects("NodeClaim")), within=5, what="a claim")
    (claim,) = operator.objects("NodeClaim")
    assert claim["spec"]["resources"]["cpu"] == "1"


async def test_a_node_named_otherwise_is_found_by_its_provider_id(operator: Cluster) -> None:
    """EC2 names a Node after the instance, not the claim: the claim finds it by provider id.
    The test plays the cloud: every launch of the simulated provider fails, and the test writes
    the launched status itself."""
    await _pool(operator, launchFailureRate=1.0)
    provider_id = "simulated://us-east-1a/i-0abc"
    await operator.create(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": "ip-10-0-0-7.ec2.internal"},
            "spec": {"providerID": provider_id},
        }
    )
    await operator.create(_claim())
    claim = await _launched(operator, provider_id)
    assert claim["status"]["nodeName"] == "ip-10-0-0-7.ec2.internal"


async def test_a_node_still_starting_holds_the_pods_it_was_bought_for(operator: Cluster) -> None:
    """Its startup taint and the not-ready taint go away by themselves: a batch in the meantime
    puts the pods it can take back on it and buys only for the rest."""
    await _pool(operator, launchFailureRate=1.0)  # the test plays the cloud
    not_ready = {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}
    await operator.create(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": "general-abc123",
                "labels": {NODE_POOL: "general", ZONE: "us-east-1a", INSTANCE_TYPE: "m7i.large"},
            },
            "spec": {"providerID": "simulated://us-east-1a/general-abc123"},
            "status": {"allocatable": {"cpu": "1930m", "memory": "7Gi", "pods": "29"}},
        }
    )
    await operator.patch("Node", "general-abc123", {"spec": {"taints": [STARTUP_TAINT, not_ready]}})
    await operator.create(_claim())
    await _launched(operator, "simulated://us-east-1a/general-abc123")

    await operator.create(_pod("api-1", "api"))
    big = _pod("batch-1", "batch")
    big["spec"]["containers"][0]["resources"]["requests"] = {"cpu": "6", "memory": "4Gi"}
    await operator.create(big)

    def others() -> list[dict[str, Any]]:
        return [
            c for c in operator.objects("NodeClaim") if c["metadata"]["name"] != "general-abc123"
        ]

    await operator.wait_until(lambda: bool(others()), within=5, what="a claim for batch-1")
    (claim,) = others()
    assert claim["spec"]["resources"]["cpu"] == "6", "api-1 waits for the starting node"
