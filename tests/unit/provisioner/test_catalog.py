"""The EC2 catalog: the shipped rows, the overhead model, the spot model and blocked offerings."""

from __future__ import annotations

from collections import defaultdict

import pytest

from trimtab.provisioner.catalog import (
    EVICTION_THRESHOLD,
    GPU,
    SPOT_ZONE_SPREAD,
    Catalog,
    kube_reserved_cpu,
    kube_reserved_memory,
    load_catalog,
    name_parts,
    spot_price,
)
from trimtab.provisioner.model import (
    ARCH,
    INSTANCE_CATEGORY,
    INSTANCE_CPU,
    INSTANCE_FAMILY,
    INSTANCE_GENERATION,
    INSTANCE_MEMORY,
    INSTANCE_TYPE,
    OS,
    REGION,
    InstanceType,
)

MIB = 1024.0**2
GIB = 1024.0**3
ZONES_1ABCDF = frozenset(f"us-east-1{z}" for z in "abcdf")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog("us-east-1")


def prices(t: InstanceType, capacity_type: str) -> dict[str, float]:
    """Zone -> price of the type's offerings of one capacity type."""
    return {o.zone: o.price for o in t.offerings if o.capacity_type == capacity_type}


def test_m7g_large_is_a_2_vcpu_8_gib_arm_machine(catalog: Catalog) -> None:
    m7g = catalog.by_name("m7g.large")
    assert m7g.name == "m7g.large"
    assert m7g.capacity == {"cpu": 2.0, "memory": 8 * GIB, "pods": 29.0}
    assert m7g.labels[ARCH] == "arm64"
    assert prices(m7g, "on-demand") == dict.fromkeys(ZONES_1ABCDF, 0.0816)


def test_max_pods_follow_the_vpc_cni_formula_up_to_the_eks_limit(catalog: Catalog) -> None:
    # m7g.large: 3 interfaces of 10 IPv4; t3.nano: 2 of 2; m7i.16xlarge: 15 of 50 would give
    # 737, capped at 250 (64 vCPUs); m7i.4xlarge: 8 of 30 would give 234, capped at 110.
    assert catalog.by_name("m7g.large").capacity["pods"] == 3 * (10 - 1) + 2
    assert catalog.by_name("t3.nano").capacity["pods"] == 2 * (2 - 1) + 2
    assert catalog.by_name("m7i.16xlarge").capacity["pods"] == 250
    assert catalog.by_name("m7i.4xlarge").capacity["pods"] == 110


def test_overhead_of_a_2_vcpu_type_by_hand(catalog: Catalog) -> None:
    m7g = catalog.by_name("m7g.large")
    assert m7g.overhead["cpu"] == pytest.approx(0.06 + 0.01)
    assert m7g.overhead["memory"] == (11 * 29 + 255 + 100) * MIB
    assert m7g.allocatable["memory"] == (8192 - 674) * MIB


def test_overhead_of_a_64_vcpu_type_by_hand(catalog: Catalog) -> None:
    m7i = catalog.by_name("m7i.16xlarge")
    assert m7i.capacity["cpu"] == 64
    assert m7i.overhead["cpu"] == pytest.approx(0.06 + 0.01 + 2 * 0.005 + 60 * 0.0025)
    assert m7i.overhead["memory"] == (11 * 250 + 255 + 100) * MIB


@pytest.mark.parametrize(
    ("vcpus", "cores"),
    [(1, 0.06), (2, 0.07), (3, 0.075), (4, 0.08), (5, 0.0825), (8, 0.09), (96, 0.31)],
)
def test_kube_reserved_cpu_falls_by_band(vcpus: int, cores: float) -> None:
    assert kube_reserved_cpu(vcpus) == pytest.approx(cores)


def test_kube_reserved_memory_and_eviction_threshold() -> None:
    assert kube_reserved_memory(0) == 255 * MIB
    assert kube_reserved_memory(110) == (11 * 110 + 255) * MIB
    assert EVICTION_THRESHOLD == 100 * MIB


def test_every_type_has_on_demand_and_spot_in_each_of_its_zones(catalog: Catalog) -> None:
    for t in catalog.types:
        on_demand, spot = prices(t, "on-demand"), prices(t, "spot")
        assert on_demand, t.name
        assert spot.keys() == on_demand.keys(), t.name
        assert len(t.offerings) == 2 * len(on_demand), t.name
        assert all(o.available for o in t.offerings), t.name


def test_spot_is_cheaper_than_on_demand_but_not_free(catalog: Catalog) -> None:
    for t in catalog.types:
        on_demand = prices(t, "on-demand")
        for zone, price in prices(t, "spot").items():
            assert 0 < price < on_demand[zone], (t.name, zone)


def test_spot_price_applies_the_category_discount_within_the_zone_spread() -> None:
    for zone in ZONES_1ABCDF:
        price = spot_price("m7g.large", "m", zone, 1.0)
        assert (1 - 0.62) * (1 - SPOT_ZONE_SPREAD) <= price < (1 - 0.62) * (1 + SPOT_ZONE_SPREAD)
        gpu = spot_price("p5.48xlarge", "p", zone, 1.0)
        assert (1 - 0.45) * (1 - SPOT_ZONE_SPREAD) <= gpu < (1 - 0.45) * (1 + SPOT_ZONE_SPREAD)


def test_spot_price_is_deterministic_and_differs_between_zones() -> None:
    by_zone = {z: spot_price("c7g.xlarge", "c", z, 0.145) for z in sorted(ZONES_1ABCDF)}
    assert by_zone == {z: spot_price("c7g.xlarge", "c", z, 0.145) for z in sorted(ZONES_1ABCDF)}
    assert len(set(by_zone.values())) > 1


def test_the_catalog_is_broad(catalog: Catalog) -> None:
    assert len(catalog.types) >= 300
    archs: dict[str, set[str]] = defaultdict(set)
    generations: dict[str, set[str]] = defaultdict(set)
    for t in catalog.types:
        archs[t.labels[INSTANCE_CATEGORY]].add(t.labels[ARCH])
        generations[t.labels[INSTANCE_CATEGORY]].add(t.labels[INSTANCE_GENERATION])
    for category in ("c", "m", "r"):
        assert archs[category] == {"amd64", "arm64"}, category
        assert len(generations[category]) >= 3, (category, generations[category])


def test_the_catalog_has_gpu_burstable_and_storage_types(catalog: Catalog) -> None:
    assert catalog.by_name("g6.xlarge").capacity[GPU] == 1
    assert catalog.by_name("p5.48xlarge").capacity[GPU] == 8
    assert GPU not in catalog.by_name("m7g.large").capacity
    assert catalog.by_name("t4g.micro").labels[INSTANCE_CATEGORY] == "t"
    assert catalog.by_name("i4i.large").labels[INSTANCE_CATEGORY] == "i"


def test_no_bare_metal_or_previous_generation(catalog: Catalog) -> None:
    names = {t.name for t in catalog.types}
    assert not any(n.endswith(".metal") or ".metal-" in n for n in names)
    assert "m4.large" not in names
    assert "m7g.metal" not in names


def test_labels_agree_with_capacity_and_name(catalog: Catalog) -> None:
    for t in catalog.types:
        labels = t.labels
        assert labels[INSTANCE_TYPE] == t.name
        assert labels[INSTANCE_CPU] == str(int(t.capacity["cpu"]))
        assert int(labels[INSTANCE_MEMORY]) * MIB == t.capacity["memory"]
        assert t.name.startswith(labels[INSTANCE_FAMILY] + ".")
        assert labels[INSTANCE_FAMILY].startswith(labels[INSTANCE_CATEGORY])
        assert labels[INSTANCE_GENERATION].isdigit()
        assert labels[ARCH] in {"amd64", "arm64"}
        assert labels[OS] == "linux"
        assert labels[REGION] == "us-east-1"


def test_every_type_leaves_room_for_pods(catalog: Catalog) -> None:
    for t in catalog.types:
        allocatable = t.allocatable
        assert allocatable["cpu"] > 0, t.name
        assert allocatable["memory"] > 0, t.name


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("m7g.large", ("m7g", "m", "7")),
        ("c7i-flex.xlarge", ("c7i-flex", "c", "7")),
        ("inf2.xlarge", ("inf2", "inf", "2")),
        ("hpc7g.4xlarge", ("hpc7g", "hpc", "7")),
        ("p6-b200.48xlarge", ("p6-b200", "p", "6")),
        ("u-6tb1.56xlarge", ("u-6tb1", "u", "1")),
        ("u7in-16tb.224xlarge", ("u7in-16tb", "u", "7")),
        ("x2iedn.xlarge", ("x2iedn", "x", "2")),
    ],
)
def test_name_parts(name: str, parts: tuple[str, str, str]) -> None:
    assert name_parts(name) == parts


def test_name_parts_rejects_a_name_without_generation() -> None:
    with pytest.raises(ValueError, match="weird"):
        name_parts("weird.large")


def test_without_marks_exactly_the_blocked_offerings(catalog: Catalog) -> None:
    blocked = {
        ("m7g.large", "us-east-1a", "spot"),
        ("m7g.large", "us-east-1b", "on-demand"),
        ("c7g.xlarge", "us-east-1c", "spot"),
        ("no-such.type", "us-east-1a", "spot"),
    }
    narrowed = catalog.without(blocked)
    assert narrowed.region == catalog.region
    assert [t.name for t in narrowed.types] == [t.name for t in catalog.types]
    for before, after in zip(catalog.types, narrowed.types, strict=True):
        for old, new in zip(before.offerings, after.offerings, strict=True):
            key = (before.name, old.zone, old.capacity_type)
            assert new.available is (key not in blocked), key
            assert (new.zone, new.capacity_type, new.price) == (
                old.zone,
                old.capacity_type,
                old.price,
            )
    assert all(o.available for t in catalog.types for o in t.offerings), "the original changed"


def test_blocked_offerings_are_skipped_when_choosing(catalog: Catalog) -> None:
    m7g = catalog.by_name("m7g.large")
    cheapest = m7g.cheapest()
    assert cheapest is not None
    blocked = catalog.without([("m7g.large", cheapest.zone, cheapest.capacity_type)])
    again = blocked.by_name("m7g.large").cheapest()
    assert again is not None
    assert (again.zone, again.capacity_type) != (cheapest.zone, cheapest.capacity_type)


def test_without_nothing_is_the_same_catalog(catalog: Catalog) -> None:
    assert catalog.without([]) is catalog


def test_zones(catalog: Catalog) -> None:
    assert catalog.zones == frozenset(f"us-east-1{z}" for z in "abcdef")


def test_unknown_type_error_names_it(catalog: Catalog) -> None:
    with pytest.raises(KeyError, match=r"m99z\.huge"):
        catalog.by_name("m99z.huge")


def test_unknown_region_error_names_it() -> None:
    with pytest.raises(LookupError, match="eu-west-9"):
        load_catalog("eu-west-9")


def test_catalog_values_cannot_be_changed_by_a_caller(catalog: Catalog) -> None:
    with pytest.raises(TypeError):
        catalog.by_name("m7g.large").capacity["cpu"] = 99  # type: ignore[index]


def test_duplicate_names_are_refused(catalog: Catalog) -> None:
    m7g = catalog.by_name("m7g.large")
    with pytest.raises(ValueError, match="duplicate"):
        Catalog(region="us-east-1", types=(m7g, m7g))
