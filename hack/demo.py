"""`make demo`: a local cluster, a Prometheus with generated history, and Trimtab running on them.

    python -m hack.demo          bring everything up (again), apply the examples, show the result
    python -m hack.demo down     stop the operator, Prometheus and the cluster

Everything it starts keeps running after it returns, so you can look around; the state lives in
``$TRIMTAB_DEMO_DIR`` (default ``~/.cache/trimtab/demo``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from hack.kubeobjects import deployment, fake_node, namespace
from hack.localcluster import (
    ROOT,
    Cluster,
    build_binaries,
    cluster_down,
    cluster_up,
    install_operator_rbac,
    service_account_kubeconfig,
    start_operator,
    wait_for,
)
from trimtab.history.generator import standard_workloads
from trimtab.history.prometheus_server import free_port

DEMO_DIR = Path(os.environ.get("TRIMTAB_DEMO_DIR", Path.home() / ".cache" / "trimtab" / "demo"))
DEMO_NAMESPACE = "demo"
HISTORY_DAYS = 8
console = Console(width=130)


def _pid_file(name: str) -> Path:
    return DEMO_DIR / f"{name}.pid"


def _stop_recorded(name: str) -> None:
    """Stop the process whose pid the demo recorded (never one found by name)."""
    path = _pid_file(name)
    if not path.exists():
        return
    pid = int(path.read_text())
    try:
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            os.kill(pid, 0)
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    path.unlink()
    console.print(f"stopped {name} (pid {pid})")


def _history_tsdb() -> Path:
    """Eight days of history for one workload of each class, generated once and kept."""
    tsdb = DEMO_DIR / "tsdb"
    if not (tsdb / ".complete").exists():
        console.print(f"generating {HISTORY_DAYS} days of usage history into {tsdb} ...")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "trimtab.history.cli",
                "backfill",
                "--tsdb",
                str(tsdb),
                "--days",
                str(HISTORY_DAYS),
                "--namespace",
                DEMO_NAMESPACE,
                "--replicas",
                "3",
                "--kube-state-step",
                "300",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        (tsdb / ".complete").touch()
    return tsdb


def _start_prometheus(tsdb: Path) -> str:
    port = free_port()
    log = (DEMO_DIR / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trimtab.history.cli",
            "serve",
            "--tsdb",
            str(tsdb),
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    _pid_file("prometheus").write_text(str(process.pid))
    url = f"http://127.0.0.1:{port}"
    wait_for("Prometheus to be ready", lambda: _answers(f"{url}/-/ready"), timeout=60)
    return url


def _answers(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


def _apply_objects(cluster: Cluster) -> None:
    cluster.apply(namespace(DEMO_NAMESPACE), namespace("shop"))
    cluster.apply(fake_node("demo-node-a"), fake_node("demo-node-b"))
    for spec in standard_workloads(namespace=DEMO_NAMESPACE, replicas=3):
        cluster.apply(deployment(spec.name, DEMO_NAMESPACE, replicas=spec.replicas))
        cluster.apply(_vertical_scaler(spec.name))
    cluster.kubectl("apply", "-f", str(ROOT / "deploy" / "examples"))


def _vertical_scaler(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "trimtab.dev/v1alpha1",
        "kind": "VerticalScaler",
        "metadata": {"name": name, "namespace": DEMO_NAMESPACE},
        "spec": {
            "targetRef": {"kind": "Deployment", "name": name},
            "updatePolicy": {"mode": "Off"},
        },
    }


def _status_table(cluster: Cluster) -> Table:
    table = Table(title="What Trimtab made of the objects")
    for column in ("kind", "name", "ready", "what the operator says"):
        table.add_column(column)
    items = json.loads(cluster.kubectl("get", "trimtab", "-A", "-o", "json"))["items"]
    for item in sorted(items, key=lambda i: (i["kind"], i["metadata"].get("namespace", ""))):
        meta = item["metadata"]
        name = f"{meta['namespace']}/{meta['name']}" if "namespace" in meta else meta["name"]
        conditions = {c["type"]: c for c in item.get("status", {}).get("conditions", [])}
        ready = conditions.get("Ready", {})
        table.add_row(item["kind"], name, ready.get("status", "-"), ready.get("message", ""))
    return table


def _recommendation_table(cluster: Cluster) -> Table:
    table = Table(title="Recommendations the operator wrote into VerticalScaler status")
    for column in (
        "VerticalScaler",
        "container",
        "CPU target",
        "CPU bounds",
        "memory target",
        "memory bounds",
        "history",
    ):
        table.add_column(column)
    items = json.loads(cluster.kubectl("get", "vs", "-n", DEMO_NAMESPACE, "-o", "json"))["items"]
    for item in items:
        for entry in item["status"].get("recommendations", []):
            table.add_row(
                item["metadata"]["name"],
                entry["containerName"],
                entry["target"]["cpu"],
                f"{entry['lowerBound']['cpu']} - {entry['upperBound']['cpu']}",
                entry["target"]["memory"],
                f"{entry['lowerBound']['memory']} - {entry['upperBound']['memory']}",
                f"{entry['historySeconds'] / 3600:.0f} h",
            )
    return table


def up() -> int:
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    if build_binaries()[0] is None:
        console.print("[red]the control-plane binaries could not be built; see hack/cluster/build")
        return 1
    _stop_recorded("operator")
    _stop_recorded("prometheus")
    console.print("starting the local control plane ...")
    cluster_state = DEMO_DIR / "cluster"
    kubeconfig = cluster_up(cluster_state)
    cluster = Cluster(kubeconfig, build_binaries()[0] or Path(), cluster_state)
    cluster.kubectl("apply", "-k", str(ROOT / "crds"))
    cluster.kubectl("wait", "--for=condition=Established", "--all", "crd", "--timeout=60s")
    prometheus = _start_prometheus(_history_tsdb())
    console.print(f"Prometheus with generated history at {prometheus}")
    install_operator_rbac(cluster)
    operator_kubeconfig = service_account_kubeconfig(cluster, "trimtab", DEMO_DIR)
    operator = start_operator(
        operator_kubeconfig,
        DEMO_DIR / "operator.log",
        {"TRIMTAB_PROMETHEUS__URL": prometheus},
        detached=True,
    )
    _pid_file("operator").write_text(str(operator.process.pid))
    console.print(f"operator running as the trimtab ServiceAccount (log {operator.log})")
    wait_for(
        "the default service account",
        lambda: cluster.kubectl("get", "serviceaccount", "default", "-n", "default", "-o", "name"),
    )
    _apply_objects(cluster)
    wait_for(
        "every object to have a Ready condition",
        lambda: all(
            any(c["type"] == "Ready" for c in i.get("status", {}).get("conditions", []))
            for i in json.loads(cluster.kubectl("get", "trimtab", "-A", "-o", "json"))["items"]
        ),
        timeout=90,
    )
    console.print(_status_table(cluster))
    wait_for(
        "recommendations for every demo VerticalScaler",
        lambda: all(
            i.get("status", {}).get("recommendations")
            for i in json.loads(cluster.kubectl("get", "vs", "-n", DEMO_NAMESPACE, "-o", "json"))[
                "items"
            ]
        ),
        timeout=180,
    )
    console.print(_recommendation_table(cluster))
    console.print("The same from Prometheus directly, without the operator (trimtab recommend):")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "trimtab",
            "recommend",
            "--prometheus",
            prometheus,
            "-n",
            DEMO_NAMESPACE,
        ],
        check=False,
    )
    console.print(f"""
Look around:
  export KUBECONFIG={kubeconfig}
  {cluster.bin_dir / "kubectl"} get verticalscalers,horizontalscalers -A
  {cluster.bin_dir / "kubectl"} get recommenderprofiles,nodepools,nodeclaims,simulatednodeclasses
  {cluster.bin_dir / "kubectl"} get pods -n {DEMO_NAMESPACE} -o wide
  tail -f {operator.log}
  open {prometheus} in a browser (the generated history is in namespace {DEMO_NAMESPACE})
Stop everything:
  make demo-down""")
    return 0


def down() -> int:
    _stop_recorded("operator")
    _stop_recorded("prometheus")
    cluster_down(DEMO_DIR / "cluster")
    console.print("cluster stopped")
    return 0


if __name__ == "__main__":
    sys.exit(down() if sys.argv[1:] == ["down"] else up())
