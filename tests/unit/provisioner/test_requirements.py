"""Label requirement algebra, taints and tolerations, and which instance types a set of
requirements allows (labels for types, offerings for zone and capacity type)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.unit.provisioner.conftest import instance_type
from trimtab.provisioner.hostrules import HostRules, selector_matches
from trimtab.provisioner.model import (
    ARCH,
    CAPACITY_TYPE,
    INSTANCE_CPU,
    NODE_POOL,
    ZONE,
    LabelRequirement,
    NodePoolView,
    Taint,
    Toleration,
)
from trimtab.provisioner.nodeclasses import TypeTable
from trimtab.provisioner.nodetemplates import (
    NodeTemplate,
    labels_allow,
    type_allowed,
    undefined_key,
)
from trimtab.provisioner.requirements import KeyRequirement, Requirements, node_terms
from trimtab.provisioner.taints import describe_taint, tolerates, untolerated


def req(key: str, operator: str, *values: str) -> LabelRequirement:
    return LabelRequirement(key, operator, values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("requirement", "labels", "expected"),
    [
        (req("a", "In", "x", "y"), {"a": "y"}, True),
        (req("a", "In", "x"), {"a": "z"}, False),
        (req("a", "In", "x"), {}, False),
        (req("a", "NotIn", "x"), {"a": "z"}, True),
        (req("a", "NotIn", "x"), {"a": "x"}, False),
        (req("a", "NotIn", "x"), {}, True),
        (req("a", "Exists"), {"a": ""}, True),
        (req("a", "Exists"), {}, False),
        (req("a", "DoesNotExist"), {}, True),
        (req("a", "DoesNotExist"), {"a": "x"}, False),
        (req("a", "Gt", "4"), {"a": "5"}, True),
        (req("a", "Gt", "4"), {"a": "4"}, False),
        (req("a", "Gt", "4"), {"a": "five"}, False),
        (req("a", "Gt", "4"), {}, False),
        (req("a", "Lt", "4"), {"a": "-1"}, True),
        (req("a", "Lt", "4"), {"a": "4"}, False),
        (req("a", "Gt", "x"), {"a": "5"}, False),
        (req("a", "Gt", "1", "2"), {"a": "5"}, False),
    ],
)
def test_a_requirement_matches_labels_as_kubernetes_does(
    requirement: LabelRequirement, labels: dict[str, str], expected: bool
) -> None:
    assert Requirements.of([requirement]).matches(labels) is expected


@pytest.mark.parametrize(
    ("requirements", "conflict"),
    [
        ([req("a", "In", "x", "y"), req("a", "In", "y", "z")], None),
        ([req("a", "In", "x"), req("a", "In", "y")], "a"),
        ([req("a", "In", "x"), req("a", "NotIn", "x")], "a"),
        ([req("a", "Exists"), req("a", "DoesNotExist")], "a"),
        ([req("a", "In", "x"), req("a", "DoesNotExist")], "a"),
        ([req("a", "NotIn", "x"), req("a", "DoesNotExist")], None),
        ([req("a", "Gt", "3"), req("a", "Lt", "5")], None),
        ([req("a", "Gt", "3"), req("a", "Lt", "4")], "a"),
        ([req("a", "Gt", "3"), req("a", "Lt", "5"), req("a", "NotIn", "4")], "a"),
        ([req("a", "Gt", "3"), req("a", "Lt", "6"), req("a", "NotIn", "4")], None),
        ([req("a", "Gt", "3"), req("a", "In", "2", "9")], None),
        ([req("a", "Gt", "3"), req("a", "In", "2", "3")], "a"),
        ([req("a", "In", "x"), req("b", "Gt", "2"), req("b", "Lt", "1")], "b"),
    ],
)
def test_intersections_find_contradictions(
    requirements: list[LabelRequirement], conflict: str | None
) -> None:
    one_by_one = Requirements()
    for requirement in requirements:
        one_by_one = one_by_one.intersect(Requirements.of([requirement]))
    assert Requirements.of(requirements).conflict() == conflict
    assert one_by_one.conflict() == conflict


@pytest.mark.parametrize(
    "requirements",
    [
        [req("a", "In", "1", "2", "7"), req("a", "NotIn", "2")],
        [req("a", "Gt", "2"), req("a", "Lt", "9"), req("a", "NotIn", "5")],
        [req("a", "Exists")],
        [req("a", "DoesNotExist")],
        [req("a", "NotIn", "3")],
    ],
)
def test_plain_requirements_written_back_mean_the_same(
    requirements: list[LabelRequirement],
) -> None:
    original = Requirements.of(requirements)
    written = Requirements.of(original.as_label_requirements())
    for value in [None, *map(str, range(12)), "x"]:
        labels = {} if value is None else {"a": value}
        assert written.matches(labels) == original.matches(labels), value


def test_node_selector_and_affinity_terms_are_anded_and_terms_ored() -> None:
    terms = node_terms({ARCH: "arm64"}, ((req(ZONE, "In", "a"),), (req(ZONE, "In", "b"),)))
    assert len(terms) == 2
    assert terms[0].matches({ARCH: "arm64", ZONE: "a"})
    assert not terms[0].matches({ARCH: "amd64", ZONE: "a"})
    assert terms[1].matches({ARCH: "arm64", ZONE: "b"})
    assert not any(t.matches({ARCH: "arm64", ZONE: "c"}) for t in terms)


def test_an_empty_affinity_term_matches_nothing() -> None:
    assert node_terms({}, ((),)) == ()
    assert len(node_terms({}, ((), (req("a", "Exists"),)))) == 1
    assert node_terms({"a": "b"}, ()) == (Requirements.from_labels({"a": "b"}),)


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ({}, {"a": "1"}, True),
        ({"a": "1"}, {"a": "1", "b": "2"}, True),
        ({"a": "1", "b": "3"}, {"a": "1", "b": "2"}, False),
        ({"a": "1"}, {}, False),
    ],
)
def test_match_labels(selector: dict[str, str], labels: dict[str, str], expected: bool) -> None:
    assert selector_matches(labels, selector) is expected


GPU_TAINT = Taint("nvidia.com/gpu", "true", "NoSchedule")


@pytest.mark.parametrize(
    ("toleration", "taint", "expected"),
    [
        (Toleration("nvidia.com/gpu", "Equal", "true", "NoSchedule"), GPU_TAINT, True),
        (Toleration("nvidia.com/gpu", "Equal", "false", "NoSchedule"), GPU_TAINT, False),
        (Toleration("nvidia.com/gpu", "Exists"), GPU_TAINT, True),
        (Toleration("nvidia.com/gpu", "Exists", effect="NoExecute"), GPU_TAINT, False),
        (Toleration("other", "Exists"), GPU_TAINT, False),
        (Toleration(None, "Exists"), GPU_TAINT, True),
        (Toleration(None, "Equal", "true"), GPU_TAINT, False),
        (Toleration("k", "Equal", None), Taint("k", None, "NoSchedule"), True),
        (Toleration("k", "Equal", ""), Taint("k", None, "NoSchedule"), True),
    ],
)
def test_toleration_matching(toleration: Toleration, taint: Taint, expected: bool) -> None:
    assert tolerates(toleration, taint) is expected


def test_only_noschedule_and_noexecute_taints_must_be_tolerated() -> None:
    taints = (
        Taint("a", "1", "NoSchedule"),
        Taint("b", "1", "NoExecute"),
        Taint("c", "1", "PreferNoSchedule"),
    )
    assert untolerated(taints, ()) == taints[:2]
    assert untolerated(taints, (Toleration("a", "Exists"),)) == taints[1:2]
    assert untolerated(taints, (Toleration(None, "Exists"),)) == ()
    assert describe_taint(GPU_TAINT) == "nvidia.com/gpu=true:NoSchedule"
    assert describe_taint(Taint("k", None, "NoExecute")) == "k:NoExecute"


TYPE_KEYS = frozenset({ARCH, INSTANCE_CPU})


@pytest.mark.parametrize(
    ("requirements", "labels", "pool_keys", "expected"),
    [
        ([req(ARCH, "In", "arm64")], {ARCH: "arm64"}, frozenset(), True),
        ([req(ARCH, "In", "arm64")], {ARCH: "amd64"}, frozenset(), False),
        ([req(INSTANCE_CPU, "Gt", "8")], {INSTANCE_CPU: "16"}, frozenset(), True),
        ([req(INSTANCE_CPU, "Gt", "8")], {ARCH: "amd64"}, frozenset(), False),
        ([req("team", "In", "a")], {ARCH: "amd64"}, frozenset({"team"}), True),
        ([req("team", "In", "a")], {ARCH: "amd64"}, frozenset(), False),
        ([req("team", "NotIn", "a")], {ARCH: "amd64"}, frozenset(), True),
        ([req(ZONE, "In", "nowhere")], {ARCH: "amd64"}, frozenset(), True),
        ([req(CAPACITY_TYPE, "In", "spot")], {ARCH: "amd64"}, frozenset(), True),
    ],
)
def test_which_types_labels_allow(
    requirements: list[LabelRequirement],
    labels: dict[str, str],
    pool_keys: frozenset[str],
    expected: bool,
) -> None:
    assert type_allowed(Requirements.of(requirements), labels, TYPE_KEYS, pool_keys) is expected


def test_a_key_nobody_defines_can_only_be_asked_to_be_absent() -> None:
    asked = Requirements.of([req("team", "In", "a"), req("other", "DoesNotExist")])
    assert undefined_key(asked, TYPE_KEYS, frozenset()) == "team"
    assert undefined_key(asked, TYPE_KEYS, frozenset({"team"})) is None


def test_a_pool_template_carries_its_labels_and_name_and_narrows_by_a_pod_term() -> None:
    view = NodePoolView(
        "general", requirements=(req(ARCH, "In", "amd64", "arm64"),), labels={"team": "a"}
    )
    template = NodeTemplate.of(view, TYPE_KEYS)
    assert template.pool_keys == frozenset({"team", NODE_POOL})
    narrowed = template.narrow(Requirements.from_labels({ARCH: "arm64"}))
    assert isinstance(narrowed, Requirements)
    assert narrowed.matches({ARCH: "arm64", "team": "a", NODE_POOL: "general"})
    assert not narrowed.matches({ARCH: "amd64", "team": "a", NODE_POOL: "general"})
    assert template.narrow(Requirements.from_labels({"team": "b"})) == (
        "requirement on team conflicts with the pool's"
    )


def test_zone_and_capacity_type_pick_offerings_not_types() -> None:
    types = [
        instance_type("m.large", 2, 8, 0.10, spot=0.03, zones=("zone-a", "zone-b")),
        instance_type("m.xlarge", 4, 16, 0.20, zones=("zone-b",)),
        instance_type("a.large", 2, 8, 0.08, arch="arm64", zones=("zone-a",)),
    ]
    table = TypeTable.of(types, ("cpu", "memory", "pods"))
    template = NodeTemplate.of(NodePoolView("p"), table.keys)
    anywhere = Requirements()
    on_demand_in_a = Requirements.of(
        [req(ZONE, "In", "zone-a"), req(CAPACITY_TYPE, "In", "on-demand")]
    )
    price, where = table.offers(anywhere)
    assert price.tolist() == [0.03, 0.20, 0.08]
    assert where.tolist() == [[True, True], [False, True], [True, False]]
    price, _ = table.offers(on_demand_in_a)
    assert price.tolist() == [0.10, np.inf, 0.08]
    assert table.allowed(on_demand_in_a, template).tolist() == [True, False, True]
    amd64 = on_demand_in_a.intersect(Requirements.from_labels({ARCH: "amd64"}))
    assert table.allowed(amd64, template).tolist() == [True, False, False]
    assert labels_allow(amd64, template, types, table.keys).tolist() == [True, True, False]


def test_an_unavailable_offering_is_not_offered() -> None:
    base = instance_type("m.large", 2, 8, 0.10)
    blocked = type(base)(
        base.name,
        base.capacity,
        base.overhead,
        base.labels,
        tuple(type(o)(o.zone, o.capacity_type, o.price, available=False) for o in base.offerings),
    )
    table = TypeTable.of([blocked], ("cpu", "memory", "pods"))
    price, _ = table.offers(Requirements())
    assert price.tolist() == [np.inf]


def test_key_requirement_of_in_is_present() -> None:
    assert KeyRequirement.of(req("a", "In", "x")).admits(None) is False
    assert KeyRequirement.of(req("a", "NotIn", "x")).admits(None) is True


class TestHostRules:
    """Per-node limits from required anti-affinity and hostname topology spread."""

    def test_self_anti_affinity_allows_one_per_node(self) -> None:
        rules = HostRules.build([{"app": "db"}], [[{"app": "db"}]], [[]])
        assert rules.room(np.array([0])).tolist() == [1.0]
        assert rules.room(np.array([1])).tolist() == [0.0]

    def test_anti_affinity_against_others_only(self) -> None:
        rules = HostRules.build(
            [{"app": "db"}, {"app": "cache"}, {"app": "web"}],
            [[{"app": "cache"}], [], []],
            [[], [], []],
        )
        assert rules.room(np.array([0, 0, 0])).tolist() == [np.inf, np.inf, np.inf]
        assert rules.room(np.array([0, 1, 0])).tolist() == [0.0, np.inf, np.inf]
        # symmetric: a cache pod may not join a node that holds a db pod
        assert rules.room(np.array([3, 0, 0])).tolist() == [np.inf, 0.0, np.inf]

    def test_existing_pods_count(self) -> None:
        rules = HostRules.build([{"app": "db"}], [[{"app": "db"}]], [[]])
        existing = rules.matching([{"app": "db"}, {"app": "web"}])
        assert existing.tolist() == [1]
        assert rules.room(np.array([0]), existing).tolist() == [0.0]

    def test_hostname_spread_caps_matching_pods_per_node(self) -> None:
        rules = HostRules.build([{"app": "web"}], [[]], [[({"app": "web"}, 2)]])
        assert rules.room(np.array([0])).tolist() == [2.0]
        assert rules.room(np.array([1])).tolist() == [1.0]
        assert rules.room(np.array([2])).tolist() == [0.0]

    def test_subset_renumbers(self) -> None:
        rules = HostRules.build(
            [{"app": "a"}, {"app": "db"}], [[], [{"app": "db"}]], [[], []]
        ).subset([1])
        assert rules.room(np.array([1])).tolist() == [0.0]
