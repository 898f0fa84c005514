"""The integration tier: a real Prometheus holding 14 days of generated history.

One Prometheus per session. The history is generated, written as OpenMetrics, backfilled with
promtool into a session temporary directory, and served from a copy of that TSDB. Missing
binaries are installed with hack/prometheus/install; if that fails the tier fails (it is
never skipped, so a CI machine without Prometheus cannot pass silently).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from trimtab.history.generator import (
    MIB,
    SECONDS_PER_DAY,
    WorkloadClass,
    WorkloadHistory,
    WorkloadSpec,
    generate_all,
)
from trimtab.history.openmetrics import write_openmetrics_file
from trimtab.history.prometheus_server import PrometheusServer, backfill_openmetrics

REPO = Path(__file__).resolve().parents[2]
INSTALL_SCRIPT = REPO / "hack" / "prometheus" / "install"

HISTORY_DAYS = 14
STEP_S = 60.0
# kube-state-metrics series every 2 minutes: half the samples, still inside the 5-minute
# lookback, so every evaluation time sees them.
KUBE_STATE_STEP_S = 120.0

WORKLOADS = (
    WorkloadSpec(
        name="web",
        namespace="shop",
        workload_class=WorkloadClass.DIURNAL,
        replicas=3,
        containers=("app", "istio-proxy"),
        cpu_base_cores=(0.5, 0.05),
        memory_base_bytes=(600.0 * MIB, 80.0 * MIB),
        seed=11,
    ),
    WorkloadSpec(
        name="cache",
        namespace="shop",
        workload_class=WorkloadClass.MEMORY_LEAK,
        replicas=2,
        containers=("redis",),
        cpu_base_cores=0.2,
        memory_base_bytes=300.0 * MIB,
        seed=12,
    ),
    WorkloadSpec(
        name="api",
        namespace="payments",
        workload_class=WorkloadClass.COLD_START,
        replicas=2,
        containers=("server",),
        cpu_base_cores=0.3,
        memory_base_bytes=400.0 * MIB,
        seed=13,
    ),
    WorkloadSpec(
        name="ledger",
        namespace="payments",
        kind="StatefulSet",
        workload_class=WorkloadClass.STEADY,
        replicas=2,
        containers=("db",),
        cpu_base_cores=0.4,
        memory_base_bytes=900.0 * MIB,
        seed=14,
    ),
    WorkloadSpec(
        name="gateway",
        namespace="payments",
        workload_class=WorkloadClass.BURSTY,
        replicas=2,
        containers=("envoy",),
        cpu_base_cores=0.25,
        memory_base_bytes=150.0 * MIB,
        seed=15,
    ),
    WorkloadSpec(
        name="search",
        namespace="shop",
        workload_class=WorkloadClass.STEP_CHANGE,
        replicas=2,
        containers=("app",),
        cpu_base_cores=0.3,
        memory_base_bytes=500.0 * MIB,
        seed=16,
    ),
    WorkloadSpec(
        name="node-agent",
        namespace="shop",
        kind="DaemonSet",
        workload_class=WorkloadClass.BATCH,
        replicas=2,
        containers=("agent",),
        cpu_base_cores=0.1,
        memory_base_bytes=120.0 * MIB,
        seed=17,
    ),
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PrometheusHistory:
    """What the `prometheus_history` fixture hands to tests."""

    url: str
    start: float
    end: float  # timestamp of the last sample: query here, not at "now"
    step_s: float
    kube_state_step_s: float
    histories: tuple[WorkloadHistory, ...]
    timings_s: dict[str, float] = field(default_factory=dict)

    def history(self, name: str) -> WorkloadHistory:
        return next(history for history in self.histories if history.name == name)


def _ensure_prometheus_installed() -> None:
    def missing() -> list[str]:
        return [name for name in ("promtool", "prometheus") if shutil.which(name) is None]

    if not missing():
        return
    done = subprocess.run(
        [str(INSTALL_SCRIPT)], capture_output=True, text=True, timeout=600, check=False
    )
    if missing():
        pytest.fail(
            f"{', '.join(missing())} not available and {INSTALL_SCRIPT.relative_to(REPO)} "
            f"could not install it (exit {done.returncode}):\n{done.stdout}{done.stderr}",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def prometheus_history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusHistory]:
    """A running Prometheus with 14 days of history for WORKLOADS, ending within the hour."""
    _ensure_prometheus_installed()
    workdir = tmp_path_factory.mktemp("prometheus-history")
    duration = HISTORY_DAYS * SECONDS_PER_DAY
    window_end = (time.time() // 3600) * 3600
    timings: dict[str, float] = {}

    began = time.monotonic()
    histories = tuple(generate_all(WORKLOADS, window_end - duration, duration, STEP_S))
    openmetrics = workdir / "history.om"
    write_openmetrics_file(histories, openmetrics, kube_state_step_s=KUBE_STATE_STEP_S)
    timings["generate_and_write"] = time.monotonic() - began

    began = time.monotonic()
    backfill_openmetrics(openmetrics, workdir / "tsdb")
    timings["backfill"] = time.monotonic() - began
    openmetrics.unlink()

    with PrometheusServer(workdir / "tsdb", workdir=workdir / "server") as prometheus:
        timings["prometheus_start"] = prometheus.startup_s
        log.info("prometheus history ready: %s", timings)
        yield PrometheusHistory(
            url=prometheus.url,
            start=histories[0].start,
            end=histories[0].end,
            step_s=STEP_S,
            kube_state_step_s=KUBE_STATE_STEP_S,
            histories=histories,
            timings_s=timings,
        )
