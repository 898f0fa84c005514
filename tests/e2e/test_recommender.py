"""The recommender on the real control plane, reading a real Prometheus with generated history."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hack.kubeobjects import deployment, namespace
from hack.localcluster import (
    SERVICE_ACCOUNT,
    Cluster,
    install_operator_rbac,
    service_account_kubeconfig,
    start_operator,
    wait_for,
)
from tests.factories import vertical_scaler
from trimtab.history.generator import MIB, WorkloadClass, WorkloadSpec, generate_all
from trimtab.history.openmetrics import write_openmetrics_file
from trimtab.history.prometheus_server import (
    PrometheusServer,
    backfill_openmetrics,
    stop_process,
)

NAMESPACE = "history"
DAYS = 2
READ = re.compile(r"read history from \S+ to \S+ \(([\d.]+) h\)")


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    folder = tmp_path_factory.mktemp("prometheus")
    end = float(int(time.time() // 60 * 60))
    spec = WorkloadSpec(
        name="web",
        namespace=NAMESPACE,
        workload_class=WorkloadClass.STEADY,
        replicas=2,
        containers=("app",),
        cpu_base_cores=0.4,
        memory_base_bytes=500.0 * MIB,
        seed=7,
    )
    histories = generate_all([spec], start=end - DAYS * 86_400, duration_s=DAYS * 86_400)
    write_openmetrics_file(histories, folder / "history.om", kube_state_step_s=120.0)
    backfill_openmetrics(folder / "history.om", folder / "tsdb")
    with PrometheusServer(folder / "tsdb", workdir=folder / "run") as server:
        yield server


def _operator_env(prometheus: PrometheusServer) -> dict[str, str]:
    return {
        "TRIMTAB_PROMETHEUS__URL": prometheus.url,
        "TRIMTAB_RECOMMENDER_INTERVAL_S": "5",
        "TRIMTAB_CHECKPOINT_INTERVAL_S": "5",
        "TRIMTAB_WEBHOOK_ENABLED": "false",
    }


def _reads(log: Path) -> list[float]:
    return [float(hours) for hours in READ.findall(log.read_text(errors="replace"))]


def test_recommendation_in_status_and_kept_across_a_restart(
    cluster: Cluster, prometheus: PrometheusServer, tmp_path: Path
) -> None:
    install_operator_rbac(cluster)
    cluster.apply(namespace(NAMESPACE))
    cluster.apply(deployment("web", NAMESPACE, replicas=2))
    kubeconfig = service_account_kubeconfig(cluster, SERVICE_ACCOUNT, tmp_path)
    first = start_operator(kubeconfig, tmp_path / "first.log", _operator_env(prometheus))
    try:
        cluster.apply(vertical_scaler("web", NAMESPACE))
        scaler = wait_for(
            "a recommendation in status",
            lambda: (
                (obj := cluster.get("vs", "web", NAMESPACE))
                and obj.get("status", {}).get("recommendations")
                and obj
            ),
            timeout=60,
        )
        wait_for(
            "the checkpoint ConfigMap",
            lambda: cluster.kubectl(
                "get", "configmap", "trimtab-checkpoint-web", "-n", NAMESPACE, "-o", "name"
            ),
        )
    finally:
        stop_process(first.process, timeout_s=20.0)
    (entry,) = scaler["status"]["recommendations"]
    assert entry["containerName"] == "app"
    assert entry["historySeconds"] > 0.9 * DAYS * 86_400
    conditions = {c["type"]: c["status"] for c in scaler["status"]["conditions"]}
    assert conditions["RecommendationProvided"] == "True"
    assert conditions["LowConfidence"] == "False"
    assert _reads(first.log)[0] >= 8 * 24 - 1  # the bootstrap read the profile's 8-day window

    second = start_operator(kubeconfig, tmp_path / "second.log", _operator_env(prometheus))
    try:
        wait_for("the restarted operator to read", lambda: _reads(second.log), timeout=60)
        assert "restored history/web from its checkpoint" in second.log.read_text()
        assert _reads(second.log)[0] < 1.0  # only what came after the checkpoint
        kept = cluster.get("vs", "web", NAMESPACE)["status"]["recommendations"][0]
        assert kept["sampleCount"] >= entry["sampleCount"]
        _check_checkpoint_goes_with_its_scaler(cluster)
    finally:
        stop_process(second.process, timeout_s=20.0)


def _check_checkpoint_goes_with_its_scaler(cluster: Cluster) -> None:
    """The ConfigMap is owned by the VerticalScaler, so the garbage collector removes it.
    Deleted while the operator runs: kopf's timer holds a finalizer until it stops."""
    owners = cluster.get("configmap", "trimtab-checkpoint-web", NAMESPACE)["metadata"][
        "ownerReferences"
    ]
    scaler = cluster.get("vs", "web", NAMESPACE)
    assert owners == [
        {
            "apiVersion": "trimtab.dev/v1alpha1",
            "kind": "VerticalScaler",
            "name": "web",
            "uid": scaler["metadata"]["uid"],
        }
    ]
    cluster.kubectl("delete", "vs", "web", "-n", NAMESPACE, "--timeout=60s")
    wait_for(
        "the garbage collector to delete the checkpoint",
        lambda: not cluster.list("configmaps", NAMESPACE, "trimtab.dev/checkpoint=true"),
        timeout=60,
    )
