"""The updater's handlers against the emulated API: PodDisruptionBudget refusals (429) and
failing resizes, with faults injected where a real apiserver would answer them.

The updater's clock runs 100 times faster than real time, so its 5-minute limits pass in
seconds while the emulated API answers at its own pace.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import kopf
import pytest

from tests.component.emulator import TrimtabEmulator
from tests.component.harness import Cluster
from tests.factories import vertical_scaler
from trimtab.handlers import register
from trimtab.kube.pods import PodActions
from trimtab.settings import Settings
from trimtab.updater.resize import FAILING_LIMIT
from trimtab.updater.service import UpdaterService

NS = "shop"
SPEED = 100.0
RECOMMENDATION = [
    {
        "containerName": "app",
        "target": {"cpu": "250m", "memory": "256Mi"},
        "lowerBound": {"cpu": "200m", "memory": "200Mi"},
        "upperBound": {"cpu": "400m", "memory": "512Mi"},
    }
]


class FastClock:
    """Unix seconds that pass SPEED times faster than real ones."""

    def __init__(self) -> None:
        self._start = time.time()

    def __call__(self) -> float:
        return self._start + (time.time() - self._start) * SPEED


@pytest.fixture
def clock() -> FastClock:
    return FastClock()


@pytest.fixture
async def operator(cluster: Cluster, clock: FastClock) -> Cluster:
    settings = Settings(
        standalone=True,
        webhook_enabled=False,
        recommender_enabled=False,
        horizontal_enabled=False,
        updater_interval_s=0.1,
    )
    connect = cluster.connector()

    service = UpdaterService(PodActions(connect), max_updates_per_minute=1000, clock=clock)
    await cluster.start_operator(
        lambda registry: register(registry, settings),
        memo=kopf.Memo(settings=settings, updater=service),
    )
    return cluster


def _replicaset() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": "web-5d8f",
            "namespace": NS,
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": "web",
                    "uid": "d-1",
                    "controller": True,
                }
            ],
        },
        "spec": {"replicas": 4},
    }


def _pod(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": NS,
            "labels": {"app": "web"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": "web-5d8f",
                    "uid": "rs-1",
                    "controller": True,
                }
            ],
        },
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "example/web:1",
                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                }
            ]
        },
        "status": {
            "phase": "Running",
            "startTime": "2026-01-01T00:00:00Z",
            "qosClass": "Burstable",
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


async def _workload(
    cluster: Cluster,
    mode: str,
    replicas: int = 4,
    dry_run: bool = False,
    recommendation: list[dict[str, Any]] = RECOMMENDATION,
) -> None:
    await cluster.create(_replicaset())
    for index in range(replicas):
        await cluster.create(_pod(f"web-{index}"))
    policy = {"mode": mode, "dryRun": dry_run}
    await cluster.create(vertical_scaler("web", NS, updatePolicy=policy))
    await cluster.wait_for(
        "VerticalScaler",
        "web",
        lambda obj: obj.get("status", {}).get("observedGeneration") == 1,
        namespace=NS,
        what="the validity handler's pass",
    )
    await cluster.patch(
        "VerticalScaler",
        "web",
        {"status": {"recommendations": recommendation}},
        namespace=NS,
        subresource="status",
    )


async def _replace_evicted_pods(cluster: Cluster, replicas: int) -> None:
    """The ReplicaSet controller and the webhook: new pods, with the recommended requests."""
    for serial in itertools.count():
        if len(_pods(cluster)) < replicas:
            pod = _pod(f"web-new-{serial}")
            pod["spec"]["containers"][0]["resources"]["requests"] = RECOMMENDATION[0]["target"]
            await cluster.create(pod)
        await asyncio.sleep(0.02)


def _pods(cluster: Cluster) -> set[str]:
    return {pod["metadata"]["name"] for pod in cluster.objects("Pod")}


def _condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    conditions = obj.get("status", {}).get("conditions", [])
    return next((c for c in conditions if c["type"] == type_), {"message": ""})


def _events(cluster: Cluster, reason: str) -> list[dict[str, Any]]:
    return [event for event in cluster.objects("Event") if event.get("reason") == reason]


async def test_a_refused_eviction_is_tried_again_and_not_counted(operator: Cluster) -> None:
    refusal = operator.inject_fault(
        "Pod",
        429,
        method="POST",
        subresource="eviction",
        times=None,
        message="Cannot evict pod as it would violate the pod's disruption budget.",
    )
    await _workload(operator, "Recreate")

    await operator.wait_until(lambda: len(refusal.seen) >= 6, what="refused evictions")
    scaler = await operator.wait_for(
        "VerticalScaler",
        "web",
        lambda obj: "PodDisruptionBudget refused" in _condition(obj, "PodsUpToDate")["message"],
        namespace=NS,
        what="the refusal reported",
    )
    assert scaler["status"].get("evictions", 0) == 0
    assert len(_pods(operator)) == 4
    # The tolerance lets 2 of 4 pods update at once: refused pods are the same two, asked
    # again at later passes.
    assert len({request.name for request in refusal.seen}) == 2

    # Once the budget allows it, every pod is evicted (the emulator deletes it) and counted;
    # the ReplicaSet controller's part, replacing them with pods the webhook set, is played here.
    refusal.times = len(refusal.seen)
    originals = {f"web-{i}" for i in range(4)}
    replacing = asyncio.create_task(_replace_evicted_pods(operator, replicas=4))
    try:
        await operator.wait_until(
            lambda: not originals & _pods(operator), within=10, what="every pod evicted"
        )
    finally:
        replacing.cancel()
    scaler = await operator.wait_for(
        "VerticalScaler",
        "web",
        lambda obj: obj["status"].get("evictions") == 4,
        namespace=NS,
        what="4 evictions counted",
    )
    assert scaler["status"]["lastUpdateTime"]
    # kopf posts Events in the background: wait for them, then check there is one per pod.
    await operator.wait_until(
        lambda: len(_events(operator, "PodEvicted")) == 4, what="4 PodEvicted Events"
    )
    assert {e["involvedObject"]["name"] for e in _events(operator, "Evicted")} == originals


async def test_a_failing_resize_falls_back_to_eviction_only_after_the_limit(
    operator: Cluster, kmock: TrimtabEmulator, clock: FastClock
) -> None:
    kmock["get /version/"] << {"major": "1", "minor": "34", "gitVersion": "v1.34.4"}
    failing = operator.inject_fault(
        "Pod", 500, method="PATCH", subresource="resize", name="web-0", times=None
    )
    await _workload(operator, "InPlaceOrRecreate", replicas=2)

    # web-1 resizes at once; web-0's resize keeps failing.
    await operator.wait_for(
        "Pod",
        "web-1",
        lambda pod: pod["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "250m",
        namespace=NS,
        what="web-1 resized in place",
    )
    await operator.wait_until(lambda: bool(failing.seen), what="a failed resize of web-0")
    first_failure = clock()

    await operator.wait_until(
        lambda: "web-0" not in _pods(operator), within=15, what="web-0 evicted"
    )
    evicted_at = clock()
    assert evicted_at - first_failure >= FAILING_LIMIT * 0.95
    # Retried with a doubling backoff (15 s, 30 s, ...), not at every pass.
    assert 2 <= len(failing.seen) <= 6, len(failing.seen)
    scaler = await operator.wait_for(
        "VerticalScaler",
        "web",
        lambda obj: obj["status"].get("evictions") == 1 and obj["status"].get("resizes") == 1,
        namespace=NS,
        what="1 eviction and 1 resize counted",
    )
    assert scaler["status"]["podsToUpdate"] >= 0
    assert _events(operator, "ResizeFailed")


async def test_a_failing_eviction_backs_off_and_the_other_pods_go_on(
    operator: Cluster, clock: FastClock
) -> None:
    failing = operator.inject_fault(
        "Pod", 500, method="POST", subresource="eviction", name="web-0", times=None
    )
    await _workload(operator, "Recreate")
    replacing = asyncio.create_task(_replace_evicted_pods(operator, replicas=4))
    try:
        others = {f"web-{i}" for i in range(1, 4)}
        await operator.wait_until(
            lambda: not others & _pods(operator), within=10, what="web-1..3 evicted"
        )
        started = clock()
        await operator.wait_until(lambda: clock() - started > 600, within=10, what="10 minutes")
    finally:
        replacing.cancel()
    assert "web-0" in _pods(operator)
    # 15 s, 30 s, 60 s, ... between attempts: a handful in ten minutes, not one per pass.
    assert 2 <= len(failing.seen) <= 8, len(failing.seen)
    await operator.wait_until(
        lambda: bool(_events(operator, "EvictionFailed")), what="an EvictionFailed Event"
    )
    scaler = operator.get("VerticalScaler", "web", namespace=NS)
    assert scaler is not None
    assert scaler["status"]["evictions"] == 3
    # Either the pass that failed ("retried with backoff") or one that waits for the retry.
    assert "retried" in _condition(scaler, "PodsUpToDate")["message"]


async def test_dry_run_says_what_it_would_do_and_does_nothing(operator: Cluster) -> None:
    await _workload(operator, "Recreate", dry_run=True)

    await operator.wait_until(
        lambda: len(_events(operator, "WouldEvict")) >= 2, what="WouldEvict Events"
    )
    scaler = await operator.wait_for(
        "VerticalScaler",
        "web",
        lambda obj: _condition(obj, "PodsUpToDate").get("reason") == "DryRun",
        namespace=NS,
        what="the DryRun condition",
    )
    assert len(_pods(operator)) == 4
    assert scaler["status"].get("evictions", 0) == 0
    assert not operator.requests("Pod", method="POST", subresource="eviction")


async def test_cpu_is_left_alone_when_an_hpa_scales_on_cpu(operator: Cluster) -> None:
    await operator.create(
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": NS},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 2,
                "maxReplicas": 10,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 70},
                        },
                    }
                ],
            },
        }
    )
    # CPU is far off; memory is right where the pods are.
    cpu_only = [{**RECOMMENDATION[0], "target": {"cpu": "250m", "memory": "128Mi"}}]
    cpu_only[0]["lowerBound"] = {"cpu": "200m", "memory": "100Mi"}
    await _workload(operator, "Recreate", recommendation=cpu_only)

    scaler = await operator.wait_for(
        "VerticalScaler",
        "web",
        lambda obj: _condition(obj, "PodsUpToDate").get("status") == "True",
        namespace=NS,
        what="pods up to date (CPU is not theirs to change)",
    )
    conflict = _condition(scaler, "HorizontalConflict")
    assert (conflict["status"], conflict["reason"]) == ("True", "CpuLeftAlone")
    assert "HorizontalPodAutoscaler web" in conflict["message"]
    assert len(_pods(operator)) == 4
    assert scaler["status"].get("evictions", 0) == 0


async def test_requests_beyond_the_largest_node_are_capped_to_it(operator: Cluster) -> None:
    await operator.create(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": "small"},
            "status": {"allocatable": {"cpu": "200m", "memory": "1Gi"}},
        }
    )
    await _workload(operator, "Recreate")

    scaler = await operator.wait_for(
        "VerticalScaler",
        "web",
        lambda obj: _condition(obj, "CappedToNode").get("status") == "True",
        namespace=NS,
        what="the CappedToNode condition",
    )
    assert "cpu" in _condition(scaler, "CappedToNode")["message"]
    # Evicted for the (capped) recommendation all the same: 200m is still above 100m.
    await operator.wait_until(
        lambda: bool(operator.requests("Pod", method="POST", subresource="eviction")),
        what="an eviction",
    )
