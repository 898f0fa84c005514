"""The updater and the admission webhook on the real control plane.

The recommender is off here: each test writes the recommendation into the VerticalScaler's
status itself, as the recommender would, so what is tested is how it reaches the pods. The
ReplicaSet controller recreates evicted pods, the webhook sets their requests, the disruption
controller keeps the PodDisruptionBudget's status, and kwok runs the pods on fake nodes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import kubernetes
import pytest

from hack.kubeobjects import deployment, fake_node, namespace, pod_disruption_budget
from hack.localcluster import (
    SERVICE_ACCOUNT,
    Cluster,
    OperatorProcess,
    install_operator_rbac,
    service_account_kubeconfig,
    start_operator,
    wait_for,
)
from tests.factories import vertical_scaler
from trimtab.admission.mutation import ANNOTATION_UPDATED
from trimtab.history.prometheus_server import stop_process

NAMESPACE = "updates"
OLD = {"cpu": "100m", "memory": "128Mi"}
NEW = {"cpu": "250m", "memory": "256Mi"}
RECOMMENDATION = [
    {
        "containerName": "app",
        "target": NEW,
        "lowerBound": {"cpu": "200m", "memory": "200Mi"},
        "upperBound": {"cpu": "400m", "memory": "512Mi"},
    }
]


@pytest.fixture(scope="module")
def operator(
    cluster: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    install_operator_rbac(cluster)
    cluster.apply(namespace(NAMESPACE), fake_node("fake-updates-a"), fake_node("fake-updates-b"))
    folder = tmp_path_factory.mktemp("updater")
    kubeconfig = service_account_kubeconfig(cluster, SERVICE_ACCOUNT, folder)
    env = {
        "TRIMTAB_RECOMMENDER_ENABLED": "false",
        "TRIMTAB_HORIZONTAL_ENABLED": "false",
        "TRIMTAB_UPDATER_INTERVAL_S": "2",
    }
    running = start_operator(kubeconfig, folder / "operator.log", env)
    try:
        wait_for(
            "the webhook configuration",
            lambda: cluster.get("mutatingwebhookconfiguration", "trimtab.dev")["webhooks"][0][
                "clientConfig"
            ]["url"].startswith(f"https://127.0.0.1:{running.webhook_port}/"),
        )
        yield running
    finally:
        stop_process(running.process, timeout_s=20.0)


@dataclass
class PodWatch:
    """Follows a Deployment's pods through a watch; records the fewest Ready ones ever seen."""

    cluster: Cluster
    app: str
    ready: dict[str, bool] = field(default_factory=dict)
    fewest_ready: int | None = None
    seen: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> PodWatch:
        api = kubernetes.client.CoreV1Api(
            kubernetes.config.new_client_from_config(str(self.cluster.kubeconfig))
        )
        listed = api.list_namespaced_pod(NAMESPACE, label_selector=f"app={self.app}")
        for pod in listed.items:
            self._record("ADDED", api.api_client.sanitize_for_serialization(pod))
        self._thread = threading.Thread(
            target=self._follow, args=(api, listed.metadata.resource_version), daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=15)

    def _follow(self, api: kubernetes.client.CoreV1Api, version: str) -> None:
        watch = kubernetes.watch.Watch()
        while not self._stop.is_set():
            for event in watch.stream(
                api.list_namespaced_pod,
                NAMESPACE,
                label_selector=f"app={self.app}",
                resource_version=version,
                timeout_seconds=5,
            ):
                raw = event["raw_object"]
                version = raw["metadata"]["resourceVersion"]
                self._record(event["type"], raw)
                if self._stop.is_set():
                    break

    def _record(self, kind: str, pod: dict[str, Any]) -> None:
        name = pod["metadata"]["name"]
        if name not in self.ready:
            self.seen.append(name)
        gone = kind == "DELETED" or pod["metadata"].get("deletionTimestamp")
        self.ready[name] = not gone and _is_ready(pod)
        count = sum(self.ready.values())
        # Counted once the Deployment was whole: its start-up is not a disruption.
        if self.fewest_ready is not None or count == 4:
            self.fewest_ready = (
                count if self.fewest_ready is None else min(self.fewest_ready, count)
            )


def _is_ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def _pods(cluster: Cluster, app: str) -> list[dict[str, Any]]:
    return [
        pod
        for pod in cluster.list("pods", NAMESPACE, selector=f"app={app}")
        if not pod["metadata"].get("deletionTimestamp")
    ]


def _ready_pods(cluster: Cluster, app: str) -> list[dict[str, Any]]:
    return [pod for pod in _pods(cluster, app) if _is_ready(pod)]


def _requests(pod: dict[str, Any]) -> dict[str, str]:
    return dict(pod["spec"]["containers"][0]["resources"]["requests"])


def _write_recommendation(cluster: Cluster, name: str) -> None:
    wait_for(
        f"VerticalScaler {name} validated",
        lambda: cluster.get("vs", name, NAMESPACE).get("status", {}).get("observedGeneration"),
    )
    body = json.dumps({"status": {"recommendations": RECOMMENDATION}})
    cluster.kubectl(
        "patch", "vs", name, "-n", NAMESPACE, "--subresource=status", "--type=merge", "-p", body
    )


def _events(cluster: Cluster, kind: str) -> list[dict[str, Any]]:
    return [e for e in cluster.list("events", NAMESPACE) if e["involvedObject"]["kind"] == kind]


def test_recreate_mode_replaces_every_pod_one_at_a_time(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    cluster.apply(deployment("web", NAMESPACE, replicas=4, **OLD))
    cluster.apply(pod_disruption_budget("web", NAMESPACE, max_unavailable=1))
    wait_for("4 Ready pods of web", lambda: len(_ready_pods(cluster, "web")) == 4)
    wait_for(
        "the PDB to allow one disruption",
        lambda: (
            cluster.get("pdb", "web", NAMESPACE).get("status", {}).get("disruptionsAllowed") == 1
        ),
    )
    originals = {pod["metadata"]["name"] for pod in _pods(cluster, "web")}
    with PodWatch(cluster, "web") as watch:
        cluster.apply(vertical_scaler("web", NAMESPACE, updatePolicy={"mode": "Recreate"}))
        _write_recommendation(cluster, "web")
        wait_for(
            "4 Ready pods of web, all recreated with the recommended requests",
            lambda: (
                len(ready := _ready_pods(cluster, "web")) == 4
                and all(_requests(pod) == NEW for pod in ready)
                and not originals & {pod["metadata"]["name"] for pod in ready}
            ),
            timeout=180,
        )
        scaler = wait_for(
            "the VerticalScaler to report its pods up to date",
            lambda: (
                (obj := cluster.get("vs", "web", NAMESPACE))
                and _condition(obj, "PodsUpToDate") == "True"
                and obj
            ),
        )
    assert watch.fewest_ready == 3, (watch.fewest_ready, watch.seen)
    assert scaler["status"]["evictions"] == 4
    assert scaler["status"]["podsToUpdate"] == 0
    for pod in _ready_pods(cluster, "web"):
        assert "app: cpu request 100m->250m" in pod["metadata"]["annotations"][ANNOTATION_UPDATED]
    evicted = {
        e["involvedObject"]["name"] for e in _events(cluster, "Pod") if e["reason"] == "Evicted"
    }
    assert evicted == originals
    reasons = [e["reason"] for e in _events(cluster, "VerticalScaler")]
    assert reasons.count("PodEvicted") == 4, reasons


def test_off_mode_changes_nothing(cluster: Cluster, operator: OperatorProcess) -> None:
    cluster.apply(deployment("steady", NAMESPACE, replicas=2, **OLD))
    wait_for("2 Ready pods of steady", lambda: len(_ready_pods(cluster, "steady")) == 2)
    before = {pod["metadata"]["uid"]: _requests(pod) for pod in _pods(cluster, "steady")}
    cluster.apply(vertical_scaler("steady", NAMESPACE, updatePolicy={"mode": "Off"}))
    _write_recommendation(cluster, "steady")
    scaler = wait_for(
        "the updater to have looked at steady",
        lambda: (
            (obj := cluster.get("vs", "steady", NAMESPACE))
            and obj["status"].get("podsToUpdate") == 2
            and obj
        ),
    )
    assert _condition_reason(scaler, "PodsUpToDate") == "ModeOff"
    # A new pod is not mutated either.
    cluster.kubectl("scale", "deployment", "steady", "-n", NAMESPACE, "--replicas=3")
    wait_for("3 Ready pods of steady", lambda: len(_ready_pods(cluster, "steady")) == 3)
    pods = _pods(cluster, "steady")
    assert {
        pod["metadata"]["uid"]: _requests(pod) for pod in pods if pod["metadata"]["uid"] in before
    } == before
    assert all(_requests(pod) == OLD for pod in pods)
    assert not any(ANNOTATION_UPDATED in pod["metadata"].get("annotations", {}) for pod in pods)
    assert cluster.get("vs", "steady", NAMESPACE)["status"].get("evictions", 0) == 0


def _condition(obj: dict[str, Any], type_: str) -> str | None:
    for condition in obj.get("status", {}).get("conditions", []):
        if condition["type"] == type_:
            return str(condition["status"])
    return None


def _condition_reason(obj: dict[str, Any], type_: str) -> str | None:
    for condition in obj.get("status", {}).get("conditions", []):
        if condition["type"] == type_:
            return str(condition["reason"])
    return None
