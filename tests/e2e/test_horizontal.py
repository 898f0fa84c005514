"""The HorizontalScaler on the real control plane.

A Prometheus metric (served by a tiny exporter in this test and scraped every second by a real
Prometheus) scales a Deployment from 2 to the computed count; the controller-manager creates
the pods and kwok runs them on fake nodes. When the metric drops, the Deployment shrinks only
after the scale-down stabilisation window.
"""

from __future__ import annotations

import json
import math
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from hack.kubeobjects import deployment, fake_node, namespace
from hack.localcluster import (
    SERVICE_ACCOUNT,
    Cluster,
    install_operator_rbac,
    service_account_kubeconfig,
    start_operator,
    wait_for,
)
from tests.factories import horizontal_scaler
from trimtab.history.prometheus_server import PrometheusServer, stop_process

NAMESPACE = "scaling"
METRIC = "trimtab_e2e_requests_per_second"
PER_REPLICA = 100.0
STABILISATION_S = 30


class LoadExporter:
    """Serves one gauge on /metrics; tests set `value` while Prometheus scrapes it."""

    def __init__(self) -> None:
        self.value = 0.0
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = f"# TYPE {METRIC} gauge\n{METRIC} {exporter.value}\n".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    def __enter__(self) -> LoadExporter:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def load() -> Iterator[LoadExporter]:
    with LoadExporter() as exporter:
        yield exporter


@pytest.fixture(scope="module")
def prometheus(load: LoadExporter, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("prometheus-scrape")
    with PrometheusServer(workdir=workdir, scrape_targets=[load.address]) as server:
        wait_for(
            "Prometheus to scrape the load exporter",
            lambda: _scraped(server.url),
            timeout=30,
        )
        yield server.url


def _scraped(url: str) -> bool:
    query = urllib.parse.urlencode({"query": METRIC})
    with urllib.request.urlopen(f"{url}/api/v1/query?{query}", timeout=5) as answer:
        return bool(json.load(answer)["data"]["result"])


def _replicas(cluster: Cluster) -> int:
    return int(cluster.get("deployment", "api", NAMESPACE)["spec"]["replicas"])


def _running_pods(cluster: Cluster) -> int:
    pods = cluster.list("pods", NAMESPACE, selector="app=api")
    return sum(
        1
        for pod in pods
        if pod["status"].get("phase") == "Running" and not pod["metadata"].get("deletionTimestamp")
    )


def test_a_prometheus_metric_scales_a_deployment_up_and_down_after_the_window(
    cluster: Cluster, prometheus: str, load: LoadExporter, tmp_path: Path
) -> None:
    install_operator_rbac(cluster)
    cluster.apply(namespace(NAMESPACE), fake_node("fake-scaling-a"), fake_node("fake-scaling-b"))
    cluster.apply(deployment("api", NAMESPACE, replicas=2))
    load.value = 450.0
    expected = math.ceil(load.value / PER_REPLICA)
    kubeconfig = service_account_kubeconfig(cluster, SERVICE_ACCOUNT, tmp_path)
    env = {
        "TRIMTAB_PROMETHEUS__URL": prometheus,
        "TRIMTAB_RECOMMENDER_ENABLED": "false",
        "TRIMTAB_HORIZONTAL_TICK_S": "1",
        "TRIMTAB_WEBHOOK_ENABLED": "false",
    }
    operator = start_operator(kubeconfig, tmp_path / "operator.log", env)
    try:
        cluster.apply(
            horizontal_scaler(
                "api",
                NAMESPACE,
                minReplicas=2,
                maxReplicas=8,
                pollInterval="2s",
                metrics=[
                    {
                        "type": "Prometheus",
                        "prometheus": {
                            "query": f"sum({METRIC})",
                            "targetAverageValue": f"{PER_REPLICA:g}",
                        },
                    }
                ],
                behavior={"scaleDown": {"stabilizationWindowSeconds": STABILISATION_S}},
            )
        )
        wait_for(f"the Deployment scaled to {expected}", lambda: _replicas(cluster) == expected)
        wait_for(f"{expected} Running pods", lambda: _running_pods(cluster) == expected)
        status = cluster.get("horizontalscaler", "api", NAMESPACE)["status"]
        assert status["desiredReplicas"] == expected
        assert status["decidedBy"] == "Reactive"
        events = cluster.list("events", NAMESPACE)
        assert any(
            event["involvedObject"]["kind"] == "HorizontalScaler"
            and f"to {expected}" in event.get("message", "")
            for event in events
        ), [event.get("message") for event in events]

        load.value = 50.0
        dropped = time.monotonic()
        wait_for(
            "the Deployment back at minReplicas",
            lambda: _replicas(cluster) == 2,
            timeout=STABILISATION_S + 60,
        )
        waited = time.monotonic() - dropped
        # The window holds the last high recommendation for STABILISATION_S; the metric is
        # scraped every second, so the scale-down can come at most a couple of seconds early.
        assert waited >= STABILISATION_S - 3, waited
        wait_for("2 Running pods", lambda: _running_pods(cluster) == 2)
    finally:
        stop_process(operator.process, timeout_s=20.0)
