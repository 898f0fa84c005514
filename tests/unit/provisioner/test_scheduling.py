"""The provisioning simulation, rule by rule, on a small hand-made catalog."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.unit.provisioner.conftest import (
    GIB,
    ZONES,
    daemonset,
    existing_node,
    instance_type,
    pending,
    pool,
    replicas,
)
from trimtab.provisioner.model import (
    ARCH,
    CAPACITY_TYPE,
    HOSTNAME,
    INSTANCE_TYPE,
    ZONE,
    ClaimPlan,
    LabelRequirement,
    PendingPod,
    SchedulingResult,
    Taint,
    Toleration,
    TopologySpread,
)
from trimtab.provisioner.podgroups import group_pods
from trimtab.provisioner.scheduling import schedule

TYPES = (
    instance_type("c.large", 2, 4, 0.08),
    instance_type("c.xlarge", 4, 8, 0.16),
    instance_type("m.large", 2, 8, 0.10, spot=0.04),
    instance_type("m.xlarge", 4, 16, 0.20),
    instance_type("m.4xlarge", 16, 64, 0.80),
    instance_type("r.large", 2, 16, 0.13),
    instance_type("r.xlarge", 4, 32, 0.26),
    instance_type("a.large", 2, 8, 0.09, arch="arm64"),
    instance_type("g.xlarge", 4, 16, 0.50, extra={"nvidia.com/gpu": 1}),
)
"""Every type keeps 0.1 CPU and 0.5 GiB for the system: c.large offers pods 1.9 CPUs, 3.5 GiB."""
BY_NAME = {t.name: t for t in TYPES}
GPU_TAINT = Taint("nvidia.com/gpu", "true", "NoSchedule")


def run(pods: list[PendingPod], pools: list | None = None, **inputs: object) -> SchedulingResult:
    return schedule(pods, pools if pools is not None else [pool()], TYPES, **inputs)  # type: ignore[arg-type]


def only(result: SchedulingResult) -> ClaimPlan:
    assert not result.unschedulable, result.unschedulable
    assert len(result.claims) == 1, result.claims
    return result.claims[0]


def first_types(result: SchedulingResult) -> list[str]:
    return sorted(c.instance_types[0] for c in result.claims)


def total(result: SchedulingResult) -> float:
    return sum(c.price for c in result.claims)


def test_nothing_pending_buys_nothing() -> None:
    assert run([]) == SchedulingResult()


def test_a_claim_lists_every_type_that_fits_cheapest_first_and_costs_the_first() -> None:
    claim = only(run([pending("web", cpu=1.0, memory_gib=2.0)]))
    assert claim.instance_types == (
        "m.large",  # its spot offering, $0.04
        "c.large",
        "a.large",
        "r.large",
        "c.xlarge",
        "m.xlarge",
        "r.xlarge",
        "g.xlarge",
        "m.4xlarge",
    )
    assert claim.price == pytest.approx(0.04)
    assert claim.pods == ("web",)
    assert claim.pool == "general"
    assert claim.requests == {"cpu": 1.0, "memory": 2.0 * GIB, "pods": 1.0}


def test_a_capacity_type_requirement_prices_the_claim_at_an_allowed_offering() -> None:
    on_demand = pool(requirements=(LabelRequirement(CAPACITY_TYPE, "In", ("on-demand",)),))
    claim = only(run([pending("web", cpu=1.0, memory_gib=2.0)], [on_demand]))
    assert claim.instance_types[:3] == ("c.large", "a.large", "m.large")
    assert claim.price == pytest.approx(0.08)
    assert LabelRequirement(CAPACITY_TYPE, "In", ("on-demand",)) in claim.requirements


@pytest.mark.parametrize(
    ("daemonsets", "first"),
    [
        ((), "c.large"),
        ((daemonset("logs", 0.5),), "c.xlarge"),
        ((daemonset("arm-only", 0.5, node_selector={ARCH: "arm64"}),), "c.large"),
        (
            (daemonset("gpu-only", 0.5, node_selector={"nvidia.com/gpu.present": "true"}),),
            "c.large",
        ),
    ],
)
def test_daemonsets_that_land_on_a_node_take_from_what_pods_get(
    daemonsets: tuple, first: str
) -> None:
    on_demand = pool(requirements=(LabelRequirement(CAPACITY_TYPE, "In", ("on-demand",)),))
    claim = only(run([pending("web", cpu=1.5, memory_gib=1.0)], [on_demand], daemonsets=daemonsets))
    assert claim.instance_types[0] == first
    landed = sum(d.requests["cpu"] for d in daemonsets if first == "c.xlarge")
    assert claim.requests["cpu"] == pytest.approx(1.5 + landed)


def test_a_daemonset_that_does_not_tolerate_the_pools_taint_does_not_land() -> None:
    tainted = pool(
        taints=(GPU_TAINT,),
        requirements=(LabelRequirement(CAPACITY_TYPE, "In", ("on-demand",)),),
    )
    tolerant = (Toleration("nvidia.com/gpu", "Exists"),)
    pod = pending("web", cpu=1.5, tolerations=tolerant)
    assert (
        only(run([pod], [tainted], daemonsets=(daemonset("logs", 0.5),))).instance_types[0]
        == "c.large"
    )
    landing = (daemonset("logs", 0.5, tolerations=tolerant),)
    assert only(run([pod], [tainted], daemonsets=landing)).instance_types[0] == "c.xlarge"


@pytest.mark.parametrize(
    ("pod", "allowed"),
    [
        (pending("gpu", extra={"nvidia.com/gpu": 1.0}), {"g.xlarge"}),
        (pending("arm", node_selector={ARCH: "arm64"}), {"a.large"}),
        (
            pending(
                "either",
                required_affinity=(
                    (LabelRequirement(ARCH, "In", ("s390x",)),),
                    (LabelRequirement(INSTANCE_TYPE, "In", ("m.xlarge", "r.xlarge")),),
                ),
            ),
            {"m.xlarge", "r.xlarge"},
        ),
        (
            pending(
                "not-c",
                required_affinity=(
                    (LabelRequirement("trimtab.dev/instance-category", "NotIn", ("c", "m", "g")),),
                ),
                cpu=3.0,
            ),
            {"r.xlarge"},
        ),
    ],
)
def test_selectors_and_affinity_restrict_the_types(pod: PendingPod, allowed: set[str]) -> None:
    assert set(only(run([pod])).instance_types) == allowed


def test_zone_requirements_restrict_offerings() -> None:
    pod = pending("web", node_selector={ZONE: "zone-b"})
    claim = only(run([pod]))
    assert LabelRequirement(ZONE, "In", ("zone-b",)) in claim.requirements
    nowhere = pending("lost", node_selector={ZONE: "zone-x"})
    result = run([nowhere])
    assert result.unschedulable == {
        "lost": "pool general: no instance type with an available offering meets the requirements"
    }


def test_pools_are_tried_by_weight_and_taints_must_be_tolerated() -> None:
    gpu_pool = pool("gpu", taints=(GPU_TAINT,), weight=10)
    general = pool("general", weight=1)
    plain = pending("plain")
    tolerant = pending("tolerant", tolerations=(Toleration("nvidia.com/gpu", "Exists"),))
    result = run([plain, tolerant], [general, gpu_pool])
    assert {c.pods: c.pool for c in result.claims} == {("plain",): "general", ("tolerant",): "gpu"}
    alone = run([plain], [gpu_pool])
    assert alone.unschedulable == {
        "plain": "pool gpu: taint nvidia.com/gpu=true:NoSchedule not tolerated"
    }


def test_prefer_no_schedule_and_startup_taints_need_no_toleration() -> None:
    soft = pool(
        taints=(Taint("soft", "x", "PreferNoSchedule"),),
        startup_taints=(Taint("node.cilium.io/agent-not-ready", "true", "NoExecute"),),
    )
    assert only(run([pending("web")], [soft])).pool == "general"


def test_a_higher_weight_pool_that_cannot_take_a_pod_hands_it_on() -> None:
    arm = pool("arm", requirements=(LabelRequirement(ARCH, "In", ("arm64",)),), weight=5)
    amd = pending("amd", node_selector={ARCH: "amd64"})
    result = run([amd, pending("any")], [pool("general"), arm])
    assert {c.pods: c.pool for c in result.claims} == {("amd",): "general", ("any",): "arm"}


@pytest.mark.parametrize(
    ("pods", "pools", "reason"),
    [
        (
            [pending("huge", cpu=96.0)],
            [pool()],
            "pool general: no instance type has 96 CPUs free after overhead (largest 15.9)",
        ),
        (
            [pending("fat", memory_gib=100.0)],
            [pool()],
            "pool general: no instance type has 100Gi memory free after overhead (largest 63.5Gi)",
        ),
        (
            [pending("gpus", extra={"nvidia.com/gpu": 2.0})],
            [pool()],
            "pool general: no instance type has 2 nvidia.com/gpu free after overhead (largest 1)",
        ),
        (
            [pending("team", node_selector={"team": "a"})],
            [pool()],
            "pool general: label team is not defined by the pool",
        ),
        (
            [pending("arm", node_selector={ARCH: "arm64"})],
            [pool(requirements=(LabelRequirement(ARCH, "In", ("amd64",)),))],
            "pool general: requirement on kubernetes.io/arch conflicts with the pool's",
        ),
        (
            [pending("huge", cpu=96.0)],
            [pool("gpu", taints=(GPU_TAINT,), weight=2), pool()],
            "pool gpu: taint nvidia.com/gpu=true:NoSchedule not tolerated; "
            "pool general: no instance type has 96 CPUs free after overhead (largest 15.9)",
        ),
        ([pending("lonely")], [], "no NodePool"),
    ],
)
def test_pods_that_fit_nowhere_say_why_per_pool(
    pods: list[PendingPod], pools: list, reason: str
) -> None:
    result = run(pods, pools)
    assert result.claims == ()
    assert result.unschedulable == {pods[0].uid: reason}


def test_team_label_defined_by_the_pool_is_fine() -> None:
    team = pool(labels={"team": "a"})
    assert only(run([pending("team", node_selector={"team": "a"})], [team])).pool == "general"


def test_pool_limits_count_each_claims_cheapest_type_and_spill_over() -> None:
    capped = pool("capped", limits={"cpu": 8.0}, in_use={"cpu": 2.0}, weight=1)
    pods = replicas("web", 10, cpu=1.5, memory_gib=1.0)
    result = run(pods, [capped])
    capacity = sum(BY_NAME[c.instance_types[0]].capacity["cpu"] for c in result.claims)
    assert 0 < capacity <= 6.0
    placed = sum(len(c.pods) for c in result.claims)
    assert placed + len(result.unschedulable) == 10
    assert set(result.unschedulable.values()) == {"pool capped: limit cpu 8 reached"}
    spill = run(pods, [capped, pool("spare")])
    assert not spill.unschedulable
    assert {c.pool for c in spill.claims} == {"capped", "spare"}
    listed = [
        BY_NAME[t].capacity["cpu"]
        for c in spill.claims
        if c.pool == "capped"
        for t in c.instance_types
    ]
    assert max(listed) <= 6.0


def test_a_pool_already_at_its_limit_takes_nothing() -> None:
    full = pool("full", limits={"memory": 64 * GIB}, in_use={"memory": 64 * GIB})
    result = run([pending("web")], [full])
    assert result.unschedulable == {"web": "pool full: limit memory 64Gi reached"}


def test_pods_go_onto_existing_and_in_flight_nodes_first() -> None:
    nodes = (
        existing_node("busy", 4, 16, used_cpu=3.8),
        existing_node("roomy", 4, 16, used_cpu=1.0),
        existing_node("launching", 2, 8, in_flight=True),
    )
    result = run(replicas("web", 6, cpu=1.0), nodes=nodes)
    assert Counter(result.on_existing.values()) == {"roomy": 3, "launching": 2}
    assert sum(len(c.pods) for c in result.claims) == 1


def test_existing_nodes_respect_taints_and_selectors() -> None:
    nodes = (
        existing_node("tainted", 8, 32, taints=(GPU_TAINT,)),
        existing_node("arm", 8, 32, labels={ARCH: "arm64"}),
    )
    result = run([pending("plain", node_selector={ARCH: "amd64"})], nodes=nodes)
    assert result.on_existing == {}
    tolerant = pending("tolerant", tolerations=(Toleration("nvidia.com/gpu", "Exists"),))
    assert run([tolerant], nodes=nodes[:1]).on_existing == {"tolerant": "tainted"}
    arm = pending("arm", node_selector={ARCH: "arm64"})
    assert run([arm], nodes=nodes).on_existing == {"arm": "arm"}


def test_zone_spread_keeps_max_skew_counting_existing_pods() -> None:
    spread = (TopologySpread(ZONE, 1, {"app": "web"}),)
    full = existing_node(
        "old",
        1,
        1,
        used_cpu=1.0,
        zone="zone-a",
        pod_labels=({"app": "web"}, {"app": "web"}, {"app": "x"}),
    )
    result = run(replicas("web", 6, spread=spread), nodes=(full,))
    counts = Counter({"zone-a": 2})
    for claim in result.claims:
        zone = [r.values for r in claim.requirements if r.key == ZONE]
        assert len(zone) == 1 and len(zone[0]) == 1, claim.requirements
        counts[zone[0][0]] += len(claim.pods)
    assert sum(counts.values()) == 8
    assert max(counts.values()) - min(counts[z] for z in ZONES) <= 1
    assert counts["zone-a"] == 3


def test_hostname_spread_and_anti_affinity_separate_pods() -> None:
    spread = replicas("web", 4, spread=(TopologySpread(HOSTNAME, 1, {"app": "web"}),))
    result = run(spread)
    assert sorted(len(c.pods) for c in result.claims) == [1, 1, 1, 1]
    db = replicas("db", 3, anti_affinity=({"app": "db"},))
    with_others = run(db + replicas("cache", 3, cpu=0.1))
    per_claim = [Counter(uid.split("-")[0] for uid in c.pods) for c in with_others.claims]
    assert all(c["db"] <= 1 for c in per_claim)
    assert sum(c["db"] for c in per_claim) == 3


def test_anti_affinity_keeps_pods_off_existing_nodes_with_matching_pods() -> None:
    node = existing_node("old", 8, 32, pod_labels=({"app": "db"},))
    result = run(
        [pending("db-1", labels={"app": "db"}, anti_affinity=({"app": "db"},))], nodes=(node,)
    )
    assert result.on_existing == {}
    assert len(result.claims) == 1


def test_existing_pods_anti_affinity_keeps_matching_pods_off_their_node() -> None:
    # The scheduler checks anti-affinity both ways: a db pod that shuns web pods keeps
    # them off its node, though the web pods say nothing about db.
    node = existing_node("old", 8, 32, pod_labels=({"app": "db"},), repels=({"app": "web"},))
    result = run(
        [pending("web-1", labels={"app": "web"}), pending("cache-1", labels={"app": "cache"})],
        nodes=(node,),
    )
    assert result.on_existing == {"cache-1": "old"}
    assert [list(c.pods) for c in result.claims] == [["web-1"]]


def test_hostname_spread_counts_existing_pods() -> None:
    spread = (TopologySpread(HOSTNAME, 2, {"app": "web"}),)
    node = existing_node("old", 8, 32, pod_labels=({"app": "web"},))
    result = run(replicas("web", 3, spread=spread), nodes=(node,))
    assert Counter(result.on_existing.values()) == {"old": 1}


def test_the_cheapest_fleet_is_bought_not_the_biggest_node() -> None:
    result = run(
        replicas("web", 4, cpu=1.5, memory_gib=1.0),
        [pool(requirements=(LabelRequirement(CAPACITY_TYPE, "In", ("on-demand",)),))],
    )
    assert total(result) == pytest.approx(0.32)
    assert "m.4xlarge" not in first_types(result)


def test_cpu_heavy_and_memory_heavy_pods_share_balanced_nodes() -> None:
    on_demand = pool(requirements=(LabelRequirement(CAPACITY_TYPE, "In", ("on-demand",)),))
    pods = replicas("cpu", 4, cpu=1.8, memory_gib=0.5) + replicas("mem", 4, cpu=0.1, memory_gib=7.0)
    result = run(pods, [on_demand])
    assert total(result) == pytest.approx(0.36)
    assert first_types(result) == ["a.large"] * 4


def test_claims_shrink_to_the_cheapest_type_that_holds_what_they_got() -> None:
    on_demand = pool(requirements=(LabelRequirement(CAPACITY_TYPE, "In", ("on-demand",)),))
    result = run(replicas("web", 3, cpu=1.2, memory_gib=1.0), [on_demand])
    for claim in result.claims:
        used = sum(1.2 for _ in claim.pods)
        fitting = sorted(
            (t.cheapest(capacity_types=frozenset({"on-demand"})).price, t.name)  # type: ignore[union-attr]
            for t in TYPES
            if t.allocatable["cpu"] >= used and t.allocatable["memory"] >= len(claim.pods) * GIB
        )
        assert list(claim.instance_types) == [name for _, name in fitting]
        assert claim.price == pytest.approx(fitting[0][0])


class TestGrouping:
    def test_identical_pods_form_one_group(self) -> None:
        groups = group_pods(replicas("web", 50) + replicas("api", 20, cpu=1.0))
        assert [len(uids) for _, uids in groups] == [50, 20]

    def test_labels_matter_only_where_something_selects_on_them(self) -> None:
        plain = [pending(f"p{i}", labels={"app": f"a{i}"}) for i in range(5)]
        assert len(group_pods(plain)) == 1
        picky = pending("picky", anti_affinity=({"app": "a1"},))
        assert (
            len(group_pods([*plain, picky])) == 6 + 0 - 0
        )  # five label values now differ, plus picky

    def test_constraints_split_groups(self) -> None:
        pods = [
            pending("a"),
            pending("b", node_selector={ARCH: "arm64"}),
            pending("c", tolerations=(Toleration("x", "Exists"),)),
            pending("d", spread=(TopologySpread(ZONE, 1, {"app": "x"}),)),
            pending("e", cpu=0.6),
            pending("f"),
        ]
        assert [uids for _, uids in group_pods(pods)] == [["a", "f"], ["b"], ["c"], ["d"], ["e"]]
