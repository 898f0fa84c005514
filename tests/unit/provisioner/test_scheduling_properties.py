"""Whatever the pods, pools, nodes and DaemonSets, a simulation result is sound: every pod is
accounted for once, claims hold their pods (with overhead and DaemonSets) on every listed type,
no pool limit is exceeded, and no requirement, taint or pod-to-pod rule is broken."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from tests.unit.provisioner.conftest import (
    GIB,
    ZONES,
    daemonset,
    existing_node,
    instance_type,
    pending,
    pool,
)
from trimtab.provisioner.hostrules import selector_matches
from trimtab.provisioner.model import (
    ARCH,
    CAPACITY_TYPE,
    HOSTNAME,
    NODE_POOL,
    ZONE,
    ClaimPlan,
    DaemonSetPod,
    ExistingNode,
    InstanceType,
    LabelRequirement,
    NodePoolView,
    PendingPod,
    SchedulingResult,
    Taint,
    Toleration,
    TopologySpread,
)
from trimtab.provisioner.requirements import Requirements, node_terms
from trimtab.provisioner.scheduling import schedule
from trimtab.provisioner.taints import untolerated

SLACK = 1e-6
GPU = "nvidia.com/gpu"
GPU_TAINT = Taint(GPU, "true", "NoSchedule")
TOLERATE_GPU = (Toleration(GPU, "Exists"),)
SHAPES = [
    ("c.large", 2, 4, "amd64", 0),
    ("c.xlarge", 4, 8, "amd64", 0),
    ("m.large", 2, 8, "amd64", 0),
    ("m.2xlarge", 8, 32, "amd64", 0),
    ("r.xlarge", 4, 32, "amd64", 0),
    ("a.large", 2, 8, "arm64", 0),
    ("a.2xlarge", 8, 32, "arm64", 0),
    ("g.2xlarge", 8, 32, "amd64", 1),
]


@st.composite
def catalogs(draw: st.DrawFn) -> list[InstanceType]:
    chosen = draw(st.lists(st.sampled_from(SHAPES), min_size=1, max_size=6, unique=True))
    types = []
    for name, cpu, memory, arch, gpus in chosen:
        price = draw(st.floats(0.01, 2.0)) * cpu
        spot = draw(st.one_of(st.none(), st.floats(0.2, 0.9))) if not gpus else None
        zones = draw(st.lists(st.sampled_from(ZONES), min_size=1, max_size=3, unique=True))
        types.append(
            instance_type(
                name,
                cpu,
                memory,
                price,
                pods=draw(st.sampled_from([4, 29, 110])),
                arch=arch,
                zones=sorted(zones),
                spot=None if spot is None else price * spot,
                extra={GPU: float(gpus)} if gpus else None,
            )
        )
    return types


@st.composite
def pools(draw: st.DrawFn) -> list[NodePoolView]:
    found = []
    for index in range(draw(st.integers(1, 3))):
        requirements: list[LabelRequirement] = []
        if draw(st.booleans()):
            requirements.append(LabelRequirement(ARCH, "In", ("amd64",)))
        if draw(st.booleans()):
            requirements.append(LabelRequirement(CAPACITY_TYPE, "In", ("on-demand",)))
        if draw(st.booleans()):
            zones = draw(st.lists(st.sampled_from(ZONES), min_size=1, max_size=2, unique=True))
            requirements.append(LabelRequirement(ZONE, "In", tuple(sorted(zones))))
        limited = draw(st.booleans())
        found.append(
            pool(
                f"p{index}",
                requirements=tuple(requirements),
                labels={"team": "a"} if draw(st.booleans()) else {},
                taints=(GPU_TAINT,) if draw(st.booleans()) else (),
                limits={"cpu": float(draw(st.integers(2, 40)))} if limited else {},
                in_use={"cpu": float(draw(st.integers(0, 8)))} if limited else {},
                weight=draw(st.integers(0, 3)),
            )
        )
    return found


@st.composite
def daemonsets(draw: st.DrawFn) -> list[DaemonSetPod]:
    return [
        daemonset(
            f"ds{i}",
            draw(st.sampled_from([0.05, 0.2, 0.5])),
            draw(st.sampled_from([0.0, 0.25, 1.0])),
            node_selector={ARCH: "amd64"} if draw(st.booleans()) else {},
            tolerations=(Toleration(None, "Exists"),) if draw(st.booleans()) else (),
        )
        for i in range(draw(st.integers(0, 2)))
    ]


@st.composite
def nodes(draw: st.DrawFn) -> list[ExistingNode]:
    found = []
    for i in range(draw(st.integers(0, 3))):
        cpu = float(draw(st.sampled_from([2, 4, 8])))
        found.append(
            existing_node(
                f"n{i}",
                cpu,
                cpu * 4,
                used_cpu=cpu * draw(st.sampled_from([0.0, 0.5, 0.9])),
                zone=draw(st.sampled_from(ZONES)),
                labels={ARCH: draw(st.sampled_from(["amd64", "arm64"]))},
                taints=(GPU_TAINT,) if draw(st.booleans()) else (),
                pod_labels=tuple(
                    {"app": f"w{k}"} for k in draw(st.lists(st.integers(0, 3), max_size=3))
                ),
                in_flight=draw(st.booleans()),
                repels=tuple(
                    {"app": f"w{k}"} for k in draw(st.lists(st.integers(0, 3), max_size=2))
                ),
            )
        )
    return found


@st.composite
def workloads(draw: st.DrawFn) -> list[PendingPod]:
    pods = []
    for k in range(draw(st.integers(1, 4))):
        app = {"app": f"w{k}"}
        spread = []
        if draw(st.booleans()):
            spread.append(
                TopologySpread(
                    draw(st.sampled_from([ZONE, HOSTNAME])), draw(st.integers(1, 2)), app
                )
            )
        fields = {
            "labels": app,
            "node_selector": {ARCH: draw(st.sampled_from(["amd64", "arm64"]))}
            if draw(st.booleans())
            else {},
            "tolerations": TOLERATE_GPU if draw(st.booleans()) else (),
            "spread": tuple(spread),
            "anti_affinity": (app,) if draw(st.booleans()) else (),
            "extra": {GPU: 1.0} if draw(st.integers(0, 5)) == 0 else {},
        }
        if draw(st.booleans()):
            fields["node_selector"] = {**fields["node_selector"], "team": "a"}
        cpu = draw(st.sampled_from([0.1, 0.25, 0.5, 1.0, 1.5, 3.0, 7.5, 12.0]))
        memory = cpu * draw(st.sampled_from([0.5, 2.0, 4.0, 8.0]))
        pods += [
            pending(f"w{k}-{i}", cpu, memory, **fields) for i in range(draw(st.integers(1, 12)))
        ]
    return pods


def _node_labels(instance_type: InstanceType, view: NodePoolView) -> dict[str, str]:
    return {**instance_type.labels, **view.labels, NODE_POOL: view.name}


def _offers(claim: ClaimPlan, instance_type: InstanceType) -> set[tuple[str, str]]:
    """(zone, capacity type) of the offerings of a type that the claim allows."""
    allowed = Requirements.of(r for r in claim.requirements if r.key in (ZONE, CAPACITY_TYPE))
    return {
        (o.zone, o.capacity_type)
        for o in instance_type.offerings
        if o.available and allowed.matches({ZONE: o.zone, CAPACITY_TYPE: o.capacity_type})
    }


def _satisfies(
    requirements: Requirements, labels: dict[str, str], offers: set[tuple[str, str]]
) -> bool:
    """Whether a node with these labels meets the requirements whichever offering it gets."""
    return bool(offers) and all(
        requirements.matches({**labels, ZONE: zone, CAPACITY_TYPE: kind}) for zone, kind in offers
    )


def _daemon_requests(
    daemonsets: Sequence[DaemonSetPod], view: NodePoolView, labels: dict[str, str]
) -> np.ndarray:
    """Requests of the DaemonSets whose selector matches the node and that tolerate the pool."""
    landing = [
        d
        for d in daemonsets
        if not untolerated(view.taints, d.tolerations)
        and any(t.matches(labels) for t in node_terms(d.node_selector, d.required_affinity))
    ]
    return np.sum(
        [[d.requests.get("cpu", 0.0), d.requests.get("memory", 0.0), 0.0] for d in landing]
        or [[0.0] * 3],
        axis=0,
    )


def _requests(pod: PendingPod) -> np.ndarray:
    return np.array([pod.requests["cpu"], pod.requests["memory"], pod.requests["pods"]])


def check_accounting(result: SchedulingResult, pods: Sequence[PendingPod]) -> None:
    placed = [u for c in result.claims for u in c.pods] + [
        *result.on_existing,
        *result.unschedulable,
    ]
    assert sorted(placed) == sorted(p.uid for p in pods)


def _type_facts(
    claim: ClaimPlan, listed: InstanceType, view: NodePoolView, daemonsets: Sequence[DaemonSetPod]
) -> tuple[float, np.ndarray, float]:
    """For a type a claim lists: its price within the claim's scope, the room its pods get (after
    the DaemonSets that match it) and its GPUs; asserts the pool's requirements hold."""
    scope = _offers(claim, listed)
    assert scope, (listed.name, claim)
    labels = _node_labels(listed, view)
    assert _satisfies(Requirements.of(view.requirements), labels, scope)
    room = np.array([listed.allocatable.get(r, 0.0) for r in ("cpu", "memory", "pods")])
    price = min(o.price for o in listed.offerings if (o.zone, o.capacity_type) in scope)
    return (
        price,
        room - _daemon_requests(daemonsets, view, labels),
        listed.allocatable.get(GPU, 0.0),
    )


def check_claims(
    result: SchedulingResult,
    pods: Sequence[PendingPod],
    views: Sequence[NodePoolView],
    types: Sequence[InstanceType],
    daemonsets: Sequence[DaemonSetPod],
) -> None:
    by_uid = {p.uid: p for p in pods}
    by_name = {t.name: t for t in types}
    by_pool = {v.name: v for v in views}
    booked: dict[str, Counter[str]] = defaultdict(Counter)
    facts: dict[tuple[object, ...], tuple[float, np.ndarray, float]] = {}
    for claim in result.claims:
        view = by_pool[claim.pool]
        first = by_name[claim.instance_types[0]]
        held = sum(_requests(by_uid[u]) for u in claim.pods)
        gpus = sum(by_uid[u].requests.get(GPU, 0.0) for u in claim.pods)
        for name in claim.instance_types:
            key = (claim.pool, claim.requirements, name)
            if key not in facts:
                facts[key] = _type_facts(claim, by_name[name], view, daemonsets)
        listed = [facts[(claim.pool, claim.requirements, name)] for name in claim.instance_types]
        prices = [price for price, _, _ in listed]
        rooms = np.array([room for _, room, _ in listed])
        assert np.all(held <= rooms * (1 + SLACK) + SLACK), (claim, held)
        assert all(gpus <= gpu_room for _, _, gpu_room in listed)
        assert prices == sorted(prices)
        assert claim.price == prices[0]
        labels, scope = _node_labels(first, view), _offers(claim, first)
        for pod in {by_uid[u].name.rsplit("-", 1)[0]: by_uid[u] for u in claim.pods}.values():
            assert not untolerated(view.taints, pod.tolerations)
            terms = node_terms(pod.node_selector, pod.required_affinity)
            assert any(_satisfies(t, labels, scope) for t in terms), (pod, claim)
        booked[claim.pool] += Counter({r: first.capacity.get(r, 0.0) for r in view.limits})
    for name, used in booked.items():
        view = by_pool[name]
        for resource, limit in view.limits.items():
            assert used[resource] <= limit - view.in_use.get(resource, 0.0) + SLACK


def check_existing(
    result: SchedulingResult, pods: Sequence[PendingPod], nodes: Sequence[ExistingNode]
) -> None:
    by_uid = {p.uid: p for p in pods}
    by_node = {n.name: n for n in nodes}
    load: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(3))
    for uid, name in result.on_existing.items():
        node, pod = by_node[name], by_uid[uid]
        assert not untolerated(node.taints, pod.tolerations)
        assert any(
            t.matches(node.labels) for t in node_terms(pod.node_selector, pod.required_affinity)
        )
        load[name] += _requests(pod)
    for name, added in load.items():
        node = by_node[name]
        room = np.array(
            [node.allocatable[r] - node.requested.get(r, 0.0) for r in ("cpu", "memory", "pods")]
        )
        assert np.all(added <= room + SLACK), (name, added, room)


def check_pod_rules(
    result: SchedulingResult, pods: Sequence[PendingPod], nodes: Sequence[ExistingNode]
) -> None:
    """Anti-affinity and hostname spread on every claim and node."""
    by_uid = {p.uid: p for p in pods}
    hosts: list[tuple[list[PendingPod], tuple[dict[str, str], ...]]] = [
        ([by_uid[u] for u in c.pods], ()) for c in result.claims
    ]
    for node in nodes:
        here = [by_uid[u] for u, n in result.on_existing.items() if n == node.name]
        hosts.append((here, tuple(dict(labels) for labels in node.pod_labels)))
        for pod in here:  # its pods' anti-affinity keeps matching pods away too
            assert not any(selector_matches(pod.labels, s) for s in node.repels), (pod.uid, node)
    for batch, old in hosts:
        everyone = [p.labels for p in batch] + list(old)
        for k, pod in enumerate(batch):
            others = [p.labels for j, p in enumerate(batch) if j != k] + list(old)
            for selector in pod.anti_affinity:
                assert not any(selector_matches(o, selector) for o in others), (pod.uid, others)
            for spread in pod.spread:
                if spread.topology_key == HOSTNAME:
                    matching = sum(selector_matches(o, spread.selector) for o in everyone)
                    assert matching <= spread.max_skew, (pod.uid, matching)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(catalogs(), pools(), daemonsets(), nodes(), workloads())
def test_every_result_is_sound(
    types: list[InstanceType],
    views: list[NodePoolView],
    sets: list[DaemonSetPod],
    existing: list[ExistingNode],
    pods: list[PendingPod],
) -> None:
    result = schedule(pods, views, types, existing, sets)
    check_accounting(result, pods)
    check_claims(result, pods, views, types, sets)
    check_existing(result, pods, existing)
    check_pod_rules(result, pods, existing)
    for uid, reason in result.unschedulable.items():
        assert reason == "no NodePool" or reason.startswith("pool "), (uid, reason)


def _lp_bound(pods: Sequence[PendingPod], types: Sequence[InstanceType]) -> float:
    allocatable = np.array(
        [[t.allocatable.get(r, 0.0) for r in ("cpu", "memory", "pods")] for t in types]
    )
    price = np.array([t.cheapest().price for t in types])  # type: ignore[union-attr]
    demand = np.sum([_requests(p) for p in pods], axis=0)
    found = linprog(price, A_ub=-(allocatable / demand).T, b_ub=-np.ones(3), method="highs")
    assert found.status == 0
    return float(found.fun)


SIZES = st.sampled_from(
    [(0.05, 0.1), (0.25, 0.5), (0.5, 4.0), (1.0, 1.0), (2.0, 16.0), (4.0, 8.0), (16.0, 64.0)]
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(SIZES, st.integers(1, 300)), min_size=1, max_size=6))
def test_against_the_real_catalog_results_are_sound_and_above_the_lp_bound(
    shapes: list[tuple[tuple[float, float], int]],
) -> None:
    from trimtab.provisioner.catalog import load_catalog

    types = load_catalog().types
    pods = [
        pending(f"w{k}-{i}", cpu, memory, labels={"app": f"w{k}"})
        for k, ((cpu, memory), count) in enumerate(shapes)
        for i in range(count)
    ]
    views = [pool()]
    result = schedule(pods, views, types)
    check_accounting(result, pods)
    assert not result.unschedulable
    check_claims(result, pods, views, types, ())
    assert sum(c.price for c in result.claims) >= _lp_bound(pods, types) * (1 - 1e-9)


def test_the_checks_can_fail() -> None:
    """The checks above catch a broken result (so the properties mean something)."""
    types = [instance_type("c.large", 2, 4, 0.08)]
    pods = [pending("a", 1.5), pending("b", 1.5)]
    crowded = SchedulingResult(
        claims=(ClaimPlan("general", ("c.large",), (), ("a", "b"), {}, 0.08),)
    )
    try:
        check_claims(crowded, pods, [pool()], types, ())
    except AssertionError:
        pass
    else:
        raise AssertionError("an overfull claim passed")
    try:
        check_accounting(SchedulingResult(unschedulable={"a": "x"}), pods)
    except AssertionError:
        pass
    else:
        raise AssertionError("a lost pod passed")
    _ = GIB
