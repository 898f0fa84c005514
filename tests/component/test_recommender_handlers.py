"""The recommender's handlers against an emulated API: status, conditions, OOM kills, faults."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import kopf
import pytest

from tests.component.harness import Cluster, condition
from tests.factories import recommender_profile, vertical_scaler
from tests.fakes import FakeUsageSource
from trimtab.handlers import register
from trimtab.metrics.batch import ContainerKey
from trimtab.quantity import to_bytes
from trimtab.recommender.service import RecommenderService
from trimtab.settings import Settings

PODS = tuple(ContainerKey("shop", "Deployment", "web", "app", f"web-5d9f-{i}") for i in range(2))


@pytest.fixture
def source() -> FakeUsageSource:
    return FakeUsageSource(PODS, cpu=0.5, memory=300e6)


@pytest.fixture
async def operator(cluster: Cluster, source: FakeUsageSource) -> Cluster:
    settings = Settings(standalone=True, webhook_enabled=False, recommender_interval_s=0.5)
    service = RecommenderService(source, read_interval=0.5, clock=time.time)
    await cluster.start_operator(
        lambda registry: register(registry, settings),
        memo=kopf.Memo(settings=settings, recommender=service),
    )
    return cluster


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _recommended(obj: dict[str, Any] | None) -> bool:
    return bool(obj and obj.get("status", {}).get("recommendations"))


async def test_recommendation_and_conditions_land_in_status(operator: Cluster) -> None:
    await operator.create(vertical_scaler("web", "shop"))
    scaler = await operator.wait_for("VerticalScaler", "web", _recommended, namespace="shop")
    (entry,) = scaler["status"]["recommendations"]
    assert entry["containerName"] == "app"
    assert condition(scaler, "RecommendationProvided")["status"] == "True"
    assert condition(scaler, "NoPodsMatched")["status"] == "False"


async def test_a_missing_profile_is_named(operator: Cluster) -> None:
    await operator.create(vertical_scaler("web", "shop", profile="tuned"))
    scaler = await operator.wait_for(
        "VerticalScaler",
        "web",
        lambda o: bool(o and condition(o, "RecommendationProvided")),
        namespace="shop",
    )
    provided = condition(scaler, "RecommendationProvided")
    assert provided["status"] == "False"
    assert "spec.profile: RecommenderProfile 'tuned' does not exist" in provided["message"]
    await operator.create(recommender_profile("tuned", strategy="percentile"))
    await operator.wait_for("VerticalScaler", "web", _recommended, namespace="shop")


async def test_prometheus_failure_keeps_the_recommendation(
    operator: Cluster, source: FakeUsageSource
) -> None:
    await operator.create(vertical_scaler("web", "shop"))
    first = await operator.wait_for("VerticalScaler", "web", _recommended, namespace="shop")
    source.failing = True
    scaler = await operator.wait_for(
        "VerticalScaler",
        "web",
        lambda o: bool(o) and (condition(o, "MetricsUnavailable") or {}).get("status") == "True",
        namespace="shop",
        within=5.0,
    )
    assert scaler["status"]["recommendations"] == first["status"]["recommendations"]


async def test_status_patch_faults_are_survived(operator: Cluster) -> None:
    operator.inject_fault("VerticalScaler", 500, subresource="status", times=2)
    await operator.create(vertical_scaler("web", "shop"))
    await operator.wait_for("VerticalScaler", "web", _recommended, namespace="shop", within=8.0)


async def test_an_oom_killed_pod_raises_the_memory_target(operator: Cluster) -> None:
    await operator.create(
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": "web-5d9f",
                "namespace": "shop",
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": "web",
                        "uid": "d1",
                        "controller": True,
                    }
                ],
            },
            "spec": {"selector": {"matchLabels": {"app": "web"}}},
        }
    )
    # The ReplicaSet first: the pod's Deployment comes from an index its watch keeps.
    await operator.create(vertical_scaler("web", "shop"))
    before = await operator.wait_for("VerticalScaler", "web", _recommended, namespace="shop")
    memory_before = to_bytes(before["status"]["recommendations"][0]["target"]["memory"])
    await operator.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": PODS[0].pod,
                "namespace": "shop",
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "ReplicaSet",
                        "name": "web-5d9f",
                        "uid": "r1",
                        "controller": True,
                    }
                ],
            },
            "spec": {
                "containers": [
                    {"name": "app", "image": "app", "resources": {"requests": {"memory": "256Mi"}}}
                ]
            },
            "status": {
                "containerStatuses": [
                    {
                        "name": "app",
                        "lastState": {
                            "terminated": {
                                "reason": "OOMKilled",
                                # Now: like VPA, a kill older than the open 24 h memory
                                # interval is discarded, and the bootstrap's interval closes
                                # within a minute of the first read.
                                "finishedAt": _now(),
                            }
                        },
                    }
                ]
            },
        }
    )
    after = await operator.wait_for(
        "VerticalScaler",
        "web",
        lambda o: (
            bool(o)
            and to_bytes(o["status"]["recommendations"][0]["target"]["memory"])
            > 1.2 * memory_before
        ),
        namespace="shop",
        within=5.0,
    )
    assert after["status"]["recommendations"][0]["containerName"] == "app"


async def test_a_profile_lists_the_vertical_scalers_that_use_it(operator: Cluster) -> None:
    await operator.create(recommender_profile("tuned", strategy="percentile"))
    await operator.create(vertical_scaler("web", "shop", profile="tuned"))
    await operator.create(vertical_scaler("api", "payments", profile="tuned"))
    await operator.create(vertical_scaler("db", "shop"))
    profile = await operator.wait_for(
        "RecommenderProfile",
        "tuned",
        lambda o: bool(o) and len(o.get("status", {}).get("usedBy", [])) == 2,
    )
    assert profile["status"]["usedBy"] == ["payments/api", "shop/web"]
