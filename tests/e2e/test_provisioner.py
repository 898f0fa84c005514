"""The node provisioner on the real control plane, with the simulated provider.

Pods that no node can take (they select NodePools' nodes, which do not exist yet) are marked
Unschedulable by the real scheduler; the operator batches them, creates NodeClaims, the
simulated provider creates the Nodes (kwok keeps them Ready and runs their pods), and once
the Deployments are gone the empty Nodes are given back after consolidateAfter.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hack.kubeobjects import deployment, namespace
from hack.localcluster import (
    SERVICE_ACCOUNT,
    Cluster,
    OperatorProcess,
    install_operator_rbac,
    service_account_kubeconfig,
    start_operator,
    wait_for,
)
from tests.factories import deep_merge, node_pool, simulated_node_class
from trimtab.history.prometheus_server import stop_process
from trimtab.provisioner.catalog import load_catalog
from trimtab.provisioner.model import INSTANCE_CATEGORY, INSTANCE_TYPE, NODE_POOL
from trimtab.quantity import cores

NAMESPACE = "provisioning"
CONSOLIDATE_AFTER_S = 10
MEMORY_TAINT = {"key": "workload", "value": "memory", "effect": "NoSchedule"}
OPERATOR_ENV = {
    "TRIMTAB_RECOMMENDER_ENABLED": "false",
    "TRIMTAB_HORIZONTAL_ENABLED": "false",
    "TRIMTAB_UPDATER_ENABLED": "false",
    "TRIMTAB_WEBHOOK_ENABLED": "false",
}


def _operator(cluster: Cluster, folder: Path, log: str) -> OperatorProcess:
    kubeconfig = service_account_kubeconfig(cluster, SERVICE_ACCOUNT, folder)
    return start_operator(kubeconfig, folder / log, OPERATOR_ENV)


@pytest.fixture(scope="module")
def pools(cluster: Cluster) -> Iterator[None]:
    install_operator_rbac(cluster)
    cluster.apply(
        namespace(NAMESPACE),
        simulated_node_class("sim", bootDelay="1s", zones=["us-east-1a", "us-east-1b"]),
        node_pool(
            "general",
            template={
                "nodeClassRef": {"kind": "SimulatedNodeClass", "name": "sim"},
                "requirements": [
                    {"key": INSTANCE_CATEGORY, "operator": "In", "values": ["c", "m"]},
                    {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
                ],
            },
            disruption={
                "consolidateAfter": f"{CONSOLIDATE_AFTER_S}s",
                "budgets": [{"nodes": "100%"}],
            },
            limits={"cpu": "200"},
        ),
        node_pool(
            "memory",
            template={
                "nodeClassRef": {"kind": "SimulatedNodeClass", "name": "sim"},
                "requirements": [{"key": INSTANCE_CATEGORY, "operator": "In", "values": ["r"]}],
                "taints": [MEMORY_TAINT],
            },
            disruption={
                "consolidateAfter": f"{CONSOLIDATE_AFTER_S}s",
                "budgets": [{"nodes": "100%"}],
            },
        ),
    )
    yield
    for name in ("general", "memory"):
        cluster.kubectl("delete", "nodepool", name, "--ignore-not-found", "--wait=false")


def _workload(name: str, replicas: int, cpu: str, memory: str, pool: str) -> dict[str, Any]:
    pod: dict[str, Any] = {"nodeSelector": {NODE_POOL: pool}}
    if pool == "memory":
        pod["tolerations"] = [{**MEMORY_TAINT, "operator": "Equal"}]
    return deep_merge(
        deployment(name, NAMESPACE, replicas, cpu=cpu, memory=memory),
        {"spec": {"template": {"spec": pod}}},
    )


WORKLOADS = [
    _workload("api", 20, "500m", "1Gi", "general"),
    _workload("worker", 10, "1", "2Gi", "general"),
    _workload("cache", 10, "250m", "4Gi", "memory"),
]


def _running(cluster: Cluster) -> list[dict[str, Any]]:
    return [
        pod
        for pod in cluster.list("pods", NAMESPACE)
        if pod["status"].get("phase") == "Running" and not pod["metadata"].get("deletionTimestamp")
    ]


def _pool_nodes(cluster: Cluster) -> list[dict[str, Any]]:
    return [n for n in cluster.list("nodes") if NODE_POOL in n["metadata"].get("labels", {})]


def _initialized(claim: dict[str, Any]) -> bool:
    states = _conditions(claim)
    return all(states.get(c) == "True" for c in ("Launched", "Registered", "Initialized"))


def _conditions(obj: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in obj.get("status", {}).get("conditions", [])}


def test_pending_pods_get_nodes_and_empty_nodes_are_given_back(
    cluster: Cluster, pools: None, tmp_path: Path
) -> None:
    operator = _operator(cluster, tmp_path, "operator.log")
    try:
        cluster.apply(*WORKLOADS)
        wait_for("40 Running pods", lambda: len(_running(cluster)) == 40, timeout=180)
        claims = wait_for(
            "every NodeClaim Launched, Registered and Initialized",
            lambda: (
                (found := cluster.list("nodeclaims"))
                and all(_initialized(claim) for claim in found)
                and found
            ),
        )
        nodes = {n["metadata"]["name"]: n for n in _pool_nodes(cluster)}
        catalog = load_catalog()
        for pod in _running(cluster):
            node = nodes[pod["spec"]["nodeName"]]
            labels = node["metadata"]["labels"]
            pool = pod["spec"]["nodeSelector"][NODE_POOL]
            assert labels[NODE_POOL] == pool
            category = catalog.by_name(labels[INSTANCE_TYPE]).labels[INSTANCE_CATEGORY]
            assert category in (("c", "m") if pool == "general" else ("r",)), labels
            assert _conditions(node).get("Ready") == "True"
        assert len(nodes) == len(claims)

        for workload in WORKLOADS:
            cluster.kubectl("delete", "deployment", workload["metadata"]["name"], "-n", NAMESPACE)
        emptied = time.monotonic()
        wait_for("the empty nodes removed", lambda: not _pool_nodes(cluster), timeout=120)
        assert time.monotonic() - emptied >= CONSOLIDATE_AFTER_S - 2
        wait_for("no NodeClaim left", lambda: not cluster.list("nodeclaims"), timeout=60)
    finally:
        stop_process(operator.process, timeout_s=20.0)


def test_a_restart_between_claim_and_launch_buys_no_second_machine(
    cluster: Cluster, pools: None, tmp_path: Path
) -> None:
    # Machines of this class take 20 s to boot: the operator is killed while it waits.
    cluster.apply(
        simulated_node_class("slow", bootDelay="20s", zones=["us-east-1c"]),
        node_pool(
            "slow",
            template={
                "nodeClassRef": {"kind": "SimulatedNodeClass", "name": "slow"},
                "requirements": [{"key": INSTANCE_CATEGORY, "operator": "In", "values": ["m"]}],
            },
            disruption={"consolidateAfter": "5s", "budgets": [{"nodes": "100%"}]},
        ),
    )
    operator = _operator(cluster, tmp_path, "first.log")
    try:
        cluster.apply(_workload("batch", 6, "1", "2Gi", "slow"))
        # One batch may make several claims (created one after another): wait for all of them.
        first = wait_for(
            "NodeClaims of pool slow with room for the 6 pods",
            lambda: (found := _claims_of(cluster, "slow")) and _claimed_cpu(found) >= 6 and found,
        )
        assert not any(_conditions(c).get("Launched") == "True" for c in first)
        operator.process.kill()
        operator.process.wait(timeout=10)
        operator = _operator(cluster, tmp_path, "second.log")
        wait_for("6 Running pods of batch", lambda: len(_running(cluster)) == 6, timeout=120)
        claims = _claims_of(cluster, "slow")
        assert {c["metadata"]["name"] for c in claims} == {c["metadata"]["name"] for c in first}
        nodes = [n for n in _pool_nodes(cluster) if n["metadata"]["labels"][NODE_POOL] == "slow"]
        assert sorted(n["metadata"]["name"] for n in nodes) == sorted(
            c["metadata"]["name"] for c in claims
        ), "one Node per claim: none bought twice, none left without a claim"
        cluster.kubectl("delete", "deployment", "batch", "-n", NAMESPACE)
        wait_for("the slow pool's nodes removed", lambda: not _claims_of(cluster, "slow"))
    finally:
        stop_process(operator.process, timeout_s=20.0)
        cluster.kubectl("delete", "nodepool", "slow", "--ignore-not-found", "--wait=false")


def _claims_of(cluster: Cluster, pool: str) -> list[dict[str, Any]]:
    return [c for c in cluster.list("nodeclaims") if c["metadata"]["labels"].get(NODE_POOL) == pool]


def _claimed_cpu(claims: list[dict[str, Any]]) -> float:
    """Cores the claims were made for (their pods' requests plus DaemonSet overhead)."""
    return sum(cores(c["spec"]["resources"].get("cpu", "0")) for c in claims)
