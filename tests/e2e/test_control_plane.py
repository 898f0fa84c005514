"""The control plane is real: CRDs, examples, scheduling on fake nodes, PDB-guarded eviction."""

from __future__ import annotations

from pathlib import Path

import kubernetes
import pytest

from hack.kubeobjects import deployment, fake_node, namespace, pod_disruption_budget
from hack.localcluster import ROOT, Cluster, KubectlError, wait_for
from trimtab.api import KINDS

EXAMPLES = ROOT / "deploy" / "examples"


@pytest.fixture(scope="module")
def shop(cluster: Cluster) -> str:
    cluster.apply(namespace("shop"))
    return "shop"


@pytest.mark.parametrize("info", KINDS, ids=lambda i: i.kind)
def test_crd_is_established_with_accepted_names(cluster: Cluster, info) -> None:  # type: ignore[no-untyped-def]
    crd = cluster.get("crd", info.crd_name)
    status = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert status["Established"] == "True"
    assert status["NamesAccepted"] == "True"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_example_is_accepted(cluster: Cluster, shop: str, path: Path) -> None:
    cluster.kubectl("apply", "--dry-run=server", "-f", str(path))


@pytest.mark.parametrize(
    "path", sorted((EXAMPLES / "invalid").glob("*.yaml")), ids=lambda p: p.name
)
def test_invalid_example_is_rejected_naming_the_field(
    cluster: Cluster, shop: str, path: Path
) -> None:
    expected = path.read_text().splitlines()[0].removeprefix("# expect-invalid: ").strip()
    with pytest.raises(KubectlError) as rejected:
        cluster.kubectl("apply", "--dry-run=server", "-f", str(path))
    assert expected in rejected.value.stderr


def _running_pods(cluster: Cluster, ns: str, app: str) -> list[dict]:  # type: ignore[type-arg]
    pods = cluster.list("pods", ns, f"app={app}")
    return [p for p in pods if p["status"].get("phase") == "Running" and p["spec"].get("nodeName")]


@pytest.fixture(scope="module")
def web(cluster: Cluster, shop: str) -> str:
    cluster.apply(fake_node("fake-a"), fake_node("fake-b"))
    cluster.apply(deployment("web", shop, replicas=3))
    return "web"


def test_deployment_runs_on_fake_nodes(cluster: Cluster, shop: str, web: str) -> None:
    pods = wait_for(
        "3 Running pods of web",
        lambda: len(_running_pods(cluster, shop, web)) == 3 and _running_pods(cluster, shop, web),
    )
    assert {p["spec"]["nodeName"] for p in pods} <= {"fake-a", "fake-b"}
    nodes = {n["metadata"]["name"]: n for n in cluster.list("nodes")}
    for name in ("fake-a", "fake-b"):
        ready = {c["type"]: c["status"] for c in nodes[name]["status"]["conditions"]}["Ready"]
        assert ready == "True"


def test_eviction_blocked_by_pdb_answers_429(cluster: Cluster, shop: str, web: str) -> None:
    wait_for("3 Running pods of web", lambda: len(_running_pods(cluster, shop, web)) == 3)
    cluster.apply(pod_disruption_budget(web, shop, min_available=3))
    wait_for(
        "the PDB to see 3 healthy pods",
        lambda: cluster.get("pdb", web, shop).get("status", {}).get("currentHealthy") == 3,
    )
    pod = _running_pods(cluster, shop, web)[0]["metadata"]["name"]
    api = kubernetes.client.CoreV1Api(
        kubernetes.config.new_client_from_config(str(cluster.kubeconfig))
    )
    eviction = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": pod, "namespace": shop},
    }
    with pytest.raises(kubernetes.client.ApiException) as refused:
        api.create_namespaced_pod_eviction(pod, shop, eviction)
    assert refused.value.status == 429
    assert cluster.get("pod", pod, shop)["metadata"].get("deletionTimestamp") is None
