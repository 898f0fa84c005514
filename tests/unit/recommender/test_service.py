"""The recommender service: reads per namespace, folds once, restores from checkpoints."""

from __future__ import annotations

import pytest

from tests.fakes import STEP, FakeUsageSource, MemoryCheckpoints
from trimtab.api.profile import RecommenderProfileSpec
from trimtab.api.vertical import VerticalScalerSpec
from trimtab.metrics.batch import ContainerKey, OomKill
from trimtab.quantity import cores, to_bytes
from trimtab.recommender.ooms import OomEvent
from trimtab.recommender.service import RecommenderService, ScalerRef
from trimtab.recommender.status import significant_moves
from trimtab.recommender.strategies import strategy_for

DAY = 86_400.0
NOW = 1_700_000_040.0  # a whole minute, like Prometheus' step grid


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def keys(workload: str, pods: int = 2, namespace: str = "shop") -> tuple[ContainerKey, ...]:
    return tuple(
        ContainerKey(namespace, "Deployment", workload, "app", f"{workload}-abc-{i}")
        for i in range(pods)
    )


def scaler(name: str, namespace: str = "shop") -> ScalerRef:
    return ScalerRef(namespace, name, f"uid-{name}", "Deployment", name)


SPEC = VerticalScalerSpec.model_validate({"targetRef": {"kind": "Deployment", "name": "web"}})
PROFILE = RecommenderProfileSpec()


def service(source: FakeUsageSource, **kwargs: object) -> tuple[RecommenderService, Clock]:
    clock = Clock(NOW)
    return RecommenderService(source, clock=clock, **kwargs), clock  # type: ignore[arg-type]


def test_bootstrap_reads_the_window_once_and_recommends() -> None:
    source = FakeUsageSource(keys("web"))
    recommender, _ = service(source)
    outcome = recommender.recommend(scaler("web"), SPEC, PROFILE)
    assert source.reads == [("shop", NOW - 8 * DAY, NOW)]
    (entry,) = outcome.recommendations
    assert entry["containerName"] == "app"
    assert entry["sampleCount"] == 2 * 8 * 1440
    # 0.5 cores lands in a bucket ending a little above; p90 of a constant times 1.15.
    assert 0.575 <= cores(entry["target"]["cpu"]) <= 0.575 * 1.05 + 0.001
    conditions = {c[0]: c[1] for c in outcome.conditions}
    assert conditions == {
        "MetricsUnavailable": "False",
        "NoPodsMatched": "False",
        "RecommendationProvided": "True",
        "LowConfidence": "False",
    }


def test_next_loop_reads_only_what_is_new() -> None:
    source = FakeUsageSource(keys("web"))
    recommender, clock = service(source)
    recommender.recommend(scaler("web"), SPEC, PROFILE)
    clock.now += 60
    outcome = recommender.recommend(scaler("web"), SPEC, PROFILE)
    assert source.reads[-1] == ("shop", NOW - STEP, NOW + 60)
    assert outcome.recommendations[0]["sampleCount"] == 2 * (8 * 1440 + 1)


def test_scalers_of_one_namespace_share_reads() -> None:
    source = FakeUsageSource(keys("web") + keys("api"))
    recommender, clock = service(source)
    spec_api = SPEC.model_copy(
        update={"target_ref": SPEC.target_ref.model_copy(update={"name": "api"})}
    )
    recommender.recommend(scaler("web"), SPEC, PROFILE)
    first = recommender.recommend(scaler("api"), spec_api, PROFILE)
    assert len(source.reads) == 1  # the second scaler bootstrapped from the first one's read
    clock.now += 60
    recommender.recommend(scaler("web"), SPEC, PROFILE)
    second = recommender.recommend(scaler("api"), spec_api, PROFILE)
    assert len(source.reads) == 2  # one incremental read served both
    assert second.recommendations[0]["sampleCount"] == first.recommendations[0]["sampleCount"] + 2


def test_a_scaler_created_later_bootstraps_with_its_own_read() -> None:
    source = FakeUsageSource(keys("web") + keys("api"))
    recommender, clock = service(source)
    spec_api = SPEC.model_copy(
        update={"target_ref": SPEC.target_ref.model_copy(update={"name": "api"})}
    )
    recommender.recommend(scaler("web"), SPEC, PROFILE)
    clock.now += 120  # the window read is no longer recent
    outcome = recommender.recommend(scaler("api"), spec_api, PROFILE)
    assert source.reads[-1] == ("shop", NOW + 120 - 8 * DAY, NOW + 120)
    assert outcome.recommendations[0]["sampleCount"] == 2 * (8 * 1440)


def test_no_pods_matched_names_the_target() -> None:
    source = FakeUsageSource(keys("other"))
    recommender, _ = service(source)
    outcome = recommender.recommend(scaler("web"), SPEC, PROFILE)
    assert outcome.recommendations == []
    conditions = {c[0]: c for c in outcome.conditions}
    assert conditions["NoPodsMatched"][1] == "True"
    assert "Deployment shop/web (spec.targetRef)" in conditions["NoPodsMatched"][3]
    assert conditions["RecommendationProvided"][1] == "False"


def test_prometheus_down_keeps_the_last_recommendation_and_backs_off() -> None:
    source = FakeUsageSource(keys("web"))
    recommender, clock = service(source)
    before = recommender.recommend(scaler("web"), SPEC, PROFILE)
    source.failing = True
    clock.now += 60
    during = recommender.recommend(scaler("web"), SPEC, PROFILE)
    assert during.recommendations == before.recommendations
    conditions = {c[0]: c for c in during.conditions}
    assert conditions["MetricsUnavailable"][1] == "True"
    assert "connection refused" in conditions["MetricsUnavailable"][3]
    source.failing = False
    clock.now += 60  # still inside the 120 s backoff: no read
    recommender.recommend(scaler("web"), SPEC, PROFILE)
    assert len(source.reads) == 1
    clock.now += 120
    after = recommender.recommend(scaler("web"), SPEC, PROFILE)
    assert len(source.reads) == 2
    assert {c[0]: c[1] for c in after.conditions}["MetricsUnavailable"] == "False"


def test_restart_restores_the_checkpoint_without_rereading_the_window() -> None:
    source = FakeUsageSource(keys("web"))
    store = MemoryCheckpoints()
    first, clock = service(source, checkpoints=store, checkpoint_interval=0.0)
    before = first.recommend(scaler("web"), SPEC, PROFILE)
    assert ("shop", "web") in store.saved
    restarted = RecommenderService(source, store, clock=clock)
    clock.now += 60
    after = restarted.recommend(scaler("web"), SPEC, PROFILE)
    assert source.reads[-1] == ("shop", NOW - STEP, NOW + 60)
    assert after.recommendations[0]["sampleCount"] == before.recommendations[0]["sampleCount"] + 2


def test_checkpoint_of_another_strategy_is_ignored() -> None:
    source = FakeUsageSource(keys("web"))
    store = MemoryCheckpoints()
    first, _ = service(source, checkpoints=store, checkpoint_interval=0.0)
    first.recommend(scaler("web"), SPEC, PROFILE)
    percentile = RecommenderProfileSpec.model_validate({"strategy": "percentile"})
    assert strategy_for(percentile).name == "percentile"
    second, _ = service(source, checkpoints=store)
    second.recommend(scaler("web"), SPEC, percentile)
    assert source.reads[-1][1] == NOW - 8 * DAY  # a full bootstrap


def test_container_policy_caps_and_off() -> None:
    source = FakeUsageSource(keys("web"), cpu=2.0)
    recommender, _ = service(source)
    capped = VerticalScalerSpec.model_validate(
        {
            "targetRef": {"kind": "Deployment", "name": "web"},
            "resourcePolicy": {
                "containerPolicies": [{"containerName": "*", "maxAllowed": {"cpu": "1"}}]
            },
        }
    )
    (entry,) = recommender.recommend(scaler("web"), capped, PROFILE).recommendations
    assert entry["target"]["cpu"] == "1"
    assert cores(entry["uncappedTarget"]["cpu"]) > 2
    off = VerticalScalerSpec.model_validate(
        {
            "targetRef": {"kind": "Deployment", "name": "web"},
            "resourcePolicy": {"containerPolicies": [{"containerName": "app", "mode": "Off"}]},
        }
    )
    assert recommender.recommend(scaler("web"), off, PROFILE).recommendations == []


@pytest.mark.parametrize(
    ("old", "new", "moved"),
    [
        ("100m", "111m", True),
        ("100m", "109m", False),
        ("1Gi", "950Mi", False),
        ("1Gi", "800Mi", True),
    ],
)
def test_significant_moves(old: str, new: str, moved: bool) -> None:
    resource = "cpu" if old.endswith("m") else "memory"
    before = [{"containerName": "app", "target": {resource: old}}]
    after = [{"containerName": "app", "target": {resource: new}}]
    assert bool(significant_moves(before, after)) is moved


def test_an_oom_kill_raises_memory_once_whichever_way_it_is_reported() -> None:
    web = keys("web")
    source = FakeUsageSource(web, memory=300e6)
    recommender, clock = service(source)
    before = recommender.recommend(scaler("web"), SPEC, PROFILE).recommendations[0]
    pod_status = OomEvent("shop", "Deployment", "web", "app", web[0].pod, NOW - 30, 256e6)
    assert recommender.record_oom(pod_status) == 1
    source.kills = [OomKill(web[0], NOW + 60, 1)]  # the same kill, as kube-state-metrics dates it
    clock.now += 60
    after = recommender.recommend(scaler("web"), SPEC, PROFILE).recommendations[0]
    # max(request, peak) + max(100Mi, 20 %) = 300e6 * 1.2 = 360e6, then p90 x 1.15.
    assert to_bytes(after["target"]["memory"]) > 1.2 * to_bytes(before["target"]["memory"])
    assert recommender.record_oom(pod_status) == 0  # already folded


def test_an_oom_kill_of_another_workload_is_ignored() -> None:
    recommender, _ = service(FakeUsageSource(keys("web")))
    recommender.recommend(scaler("web"), SPEC, PROFILE)
    other = OomEvent("shop", "Deployment", "api", "app", "api-abc-0", NOW, 0.0)
    assert recommender.record_oom(other) == 0
