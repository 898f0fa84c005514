"""The simulated provider against an in-memory Node store: which offering it buys, the faults
it injects, the Node it writes for kwok, and how it finds, lists and deletes its machines.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from trimtab.api.nodes import SimulatedNodeClassSpec
from trimtab.cloud.provider import (
    CloudError,
    Instance,
    InstanceNotFoundError,
    InsufficientCapacityError,
    LaunchError,
    LaunchRequest,
)
from trimtab.cloud.simulated import (
    KWOK_ANNOTATION,
    LAUNCHED_AT_ANNOTATION,
    SIMULATED_LABEL,
    SimulatedProvider,
    parse_insufficient_capacity,
    quantities,
)
from trimtab.provisioner.model import (
    ARCH,
    CAPACITY_TYPE,
    HOSTNAME,
    INSTANCE_FAMILY,
    INSTANCE_TYPE,
    NODE_POOL,
    OS,
    REGION,
    ZONE,
    InstanceType,
    Offering,
    Taint,
)

GI = 2.0**30
NOW = 1_800_000_000.0
"""2027-01-15T08:00:00Z, the time every test starts at."""
NOW_TEXT = "2027-01-15T08:00:00.000Z"
ZONE_A, ZONE_B = "us-east-1a", "us-east-1b"
CLUSTER = "demo"


# -- factories --------------------------------------------------------------------------------


def offering(zone: str = ZONE_A, capacity_type: str = "on-demand", price: float = 0.1) -> Offering:
    return Offering(zone=zone, capacity_type=capacity_type, price=price)  # type: ignore[arg-type]


def instance_type(
    name: str = "m5.large",
    *offerings: Offering,
    cpu: float = 2.0,
    memory: float = 8 * GI,
    extra: Mapping[str, float] | None = None,
) -> InstanceType:
    """A type with 2 cores and 8Gi (80m and 1Gi reserved), on demand in zone A unless told."""
    return InstanceType(
        name=name,
        capacity={"cpu": cpu, "memory": memory, "pods": 29.0, **(extra or {})},
        overhead={"cpu": 0.08, "memory": 1 * GI},
        labels={INSTANCE_TYPE: name, ARCH: "amd64", OS: "linux", INSTANCE_FAMILY: name[:2]},
        offerings=offerings or (offering(),),
    )


def request(*types: InstanceType, **overrides: Any) -> LaunchRequest:
    """A request of NodeClaim general-x7k2p of pool general, for :func:`instance_type`."""
    base: dict[str, Any] = {
        "claim_name": "general-x7k2p",
        "claim_uid": "uid-general-x7k2p",
        "pool": "general",
        "instance_types": types or (instance_type(),),
        "capacity_types": frozenset({"on-demand", "spot"}),
    }
    return LaunchRequest(**{**base, **overrides})


def node_class(**fields: Any) -> SimulatedNodeClassSpec:
    return SimulatedNodeClassSpec(**{"boot_delay": "5s", **fields})


@dataclass
class FakeTime:
    """A clock that the injected sleep advances, and a record of the sleeps."""

    now: float = NOW
    sleeps: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class MemoryNodeStore:
    """Nodes in a dictionary, with the apiserver's answers for duplicates and missing ones."""

    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    selectors: list[str] = field(default_factory=list)

    def create(self, body: Mapping[str, Any]) -> bool:
        name = body["metadata"]["name"]
        if name in self.nodes:
            return False
        self.nodes[name] = copy.deepcopy(dict(body))
        return True

    def delete(self, name: str) -> bool:
        return self.nodes.pop(name, None) is not None

    def list(self, label_selector: str) -> list[dict[str, Any]]:
        self.selectors.append(label_selector)
        wanted = dict(term.split("=", 1) for term in label_selector.split(","))
        return [
            copy.deepcopy(node)
            for node in self.nodes.values()
            if wanted.items() <= (node["metadata"].get("labels") or {}).items()
        ]


class RacingNodeStore(MemoryNodeStore):
    """A store where another attempt for the same claim creates its Node first: every create
    finds ``racer`` already there (409), although the provider's lookup found nothing."""

    def __init__(self, racer: dict[str, Any]) -> None:
        super().__init__()
        self.racer = racer

    def create(self, body: Mapping[str, Any]) -> bool:
        self.nodes[self.racer["metadata"]["name"]] = copy.deepcopy(self.racer)
        return False


class FailingNodeStore(MemoryNodeStore):
    """A store whose API calls all fail, as an unreachable apiserver does."""

    def create(self, body: Mapping[str, Any]) -> bool:
        raise ConnectionError("apiserver unreachable")

    def delete(self, name: str) -> bool:
        raise ConnectionError("apiserver unreachable")

    def list(self, label_selector: str) -> list[dict[str, Any]]:
        raise ConnectionError("apiserver unreachable")


@dataclass
class Rolls:
    """The injected random source: returns ``value`` and counts the rolls."""

    value: float = 0.99
    count: int = 0

    def __call__(self) -> float:
        self.count += 1
        return self.value


@dataclass
class World:
    store: MemoryNodeStore
    time: FakeTime
    rolls: Rolls
    catalog: dict[str, InstanceType]

    def provider(self, **spec: Any) -> SimulatedProvider:
        return SimulatedProvider(
            node_class(**spec),
            self.catalog,
            self.store,
            CLUSTER,
            clock=self.time.clock,
            sleep=self.time.sleep,
            random=self.rolls,
        )


def world(*types: InstanceType, store: MemoryNodeStore | None = None) -> World:
    catalog = {t.name: t for t in types or (instance_type(),)}
    return World(store or MemoryNodeStore(), FakeTime(), Rolls(), catalog)


def bought(instance: Instance) -> tuple[str, str, str, float]:
    return (instance.instance_type, instance.zone, instance.capacity_type, instance.price)


# -- choosing an offering ---------------------------------------------------------------------


CHEAP = instance_type(
    "c5.large",
    offering(ZONE_A, "on-demand", 0.085),
    offering(ZONE_B, "on-demand", 0.080),
    offering(ZONE_A, "spot", 0.031),
    offering(ZONE_B, "spot", 0.036),
)
DEAR = instance_type(
    "m5.large", offering(ZONE_A, "on-demand", 0.096), offering(ZONE_A, "spot", 0.03)
)


def test_create_buys_the_cheapest_offering_of_all_allowed_types() -> None:
    w = world(CHEAP, DEAR)

    instance = w.provider().create(request(CHEAP, DEAR))

    assert bought(instance) == ("m5.large", ZONE_A, "spot", 0.03)


@pytest.mark.parametrize(
    ("limits", "expected"),
    [
        ({"capacity_types": frozenset({"on-demand"})}, ("c5.large", ZONE_B, "on-demand", 0.080)),
        ({"zones": frozenset({ZONE_B})}, ("c5.large", ZONE_B, "spot", 0.036)),
        (
            {"zones": frozenset({ZONE_A}), "capacity_types": frozenset({"on-demand"})},
            ("c5.large", ZONE_A, "on-demand", 0.085),
        ),
    ],
)
def test_create_stays_within_the_requested_zones_and_capacity_types(
    limits: dict[str, Any], expected: tuple[str, str, str, float]
) -> None:
    w = world(CHEAP, DEAR)

    assert bought(w.provider().create(request(CHEAP, DEAR, **limits))) == expected


def test_create_stays_within_the_node_class_zones() -> None:
    w = world(CHEAP, DEAR)

    instance = w.provider(zones=[ZONE_B]).create(request(CHEAP, DEAR))

    assert bought(instance) == ("c5.large", ZONE_B, "spot", 0.036)


def test_equal_prices_go_to_the_type_listed_first() -> None:
    first = instance_type("r5.large", offering(price=0.1))
    second = instance_type("a1.large", offering(price=0.1))
    w = world(first, second)

    assert w.provider().create(request(first, second)).instance_type == "r5.large"


def test_unavailable_offerings_are_not_bought() -> None:
    sold_out = instance_type("t3.large", Offering(ZONE_A, "on-demand", 0.01, available=False))
    w = world(sold_out, DEAR)

    assert w.provider().create(request(sold_out, DEAR)).instance_type == "m5.large"


def test_insufficient_capacity_entries_are_skipped() -> None:
    w = world(CHEAP, DEAR)
    provider = w.provider(insufficient_capacity=[f"m5.large/{ZONE_A}/spot"])

    instance = provider.create(request(CHEAP, DEAR))

    assert bought(instance) == ("c5.large", ZONE_A, "spot", 0.031)


def test_insufficient_capacity_everywhere_is_reported_offering_by_offering() -> None:
    w = world(CHEAP, DEAR)
    ice = [f"c5.large/{ZONE_A}/on-demand", f"c5.large/{ZONE_B}/on-demand"]
    unrelated = f"m5.large/{ZONE_A}/on-demand"

    with pytest.raises(InsufficientCapacityError) as caught:
        w.provider(insufficient_capacity=[*ice, unrelated]).create(
            request(CHEAP, capacity_types=frozenset({"on-demand"}))
        )

    assert caught.value.offerings == (
        ("c5.large", ZONE_A, "on-demand"),
        ("c5.large", ZONE_B, "on-demand"),
    )
    assert w.store.nodes == {}
    assert w.time.sleeps == []


def test_a_request_no_offering_fits_is_a_launch_error() -> None:
    w = world(DEAR)

    with pytest.raises(LaunchError) as caught:
        w.provider().create(request(DEAR, zones=frozenset({ZONE_B})))

    assert caught.value.code == "NoOffering"
    assert ZONE_B in caught.value.message
    assert not isinstance(caught.value, InsufficientCapacityError)


def test_malformed_insufficient_capacity_entries_are_refused_by_index() -> None:
    with pytest.raises(ValueError, match=r"insufficientCapacity\[1\]: 'm5.large/us-east-1a'"):
        parse_insufficient_capacity([f"m5.large/{ZONE_A}/spot", f"m5.large/{ZONE_A}"])
    with pytest.raises(ValueError, match=r"insufficientCapacity\[0\]"):
        parse_insufficient_capacity([f"m5.large/{ZONE_A}/reserved"])


# -- injected failures and the boot delay -----------------------------------------------------


@pytest.mark.parametrize(("roll", "fails"), [(0.24, True), (0.25, False), (0.9, False)])
def test_the_failure_rate_fails_that_share_of_launches(roll: float, fails: bool) -> None:
    w = world()
    w.rolls.value = roll
    provider = w.provider(launch_failure_rate=0.25)

    if fails:
        with pytest.raises(LaunchError, match="injected failure") as caught:
            provider.create(request())
        assert caught.value.code == "InjectedFailure"
        assert w.store.nodes == {}
    else:
        provider.create(request())
        assert list(w.store.nodes) == ["general-x7k2p"]


def test_no_failure_rate_never_fails() -> None:
    w = world()
    w.rolls.value = 0.0

    w.provider(launch_failure_rate=0.0).create(request())

    assert list(w.store.nodes) == ["general-x7k2p"]


def test_the_node_appears_after_the_boot_delay() -> None:
    w = world()

    instance = w.provider(boot_delay="1m30s").create(request())

    assert w.time.sleeps == [90.0]
    assert instance.launched_at == NOW
    assert w.store.nodes["general-x7k2p"]["metadata"]["annotations"][LAUNCHED_AT_ANNOTATION] == (
        NOW_TEXT
    )


# -- idempotency ------------------------------------------------------------------------------


def test_a_second_create_for_the_claim_returns_the_same_machine() -> None:
    w = world(CHEAP, DEAR)
    provider = w.provider()
    first = provider.create(request(CHEAP, DEAR))
    w.time.now += 600
    w.rolls.value = 0.0  # would fail a new launch

    second = w.provider(launch_failure_rate=1.0).create(request(CHEAP, DEAR))

    assert second == first
    assert list(w.store.nodes) == ["general-x7k2p"]
    assert w.time.sleeps == [5.0]
    assert w.rolls.count == 1


def test_a_node_made_meanwhile_by_another_attempt_is_adopted() -> None:
    other = world(DEAR)
    other.provider().create(request(DEAR))
    racer = other.store.nodes["general-x7k2p"]
    w = world(CHEAP, DEAR, store=RacingNodeStore(racer))

    instance = w.provider().create(request(CHEAP, DEAR))

    assert bought(instance) == ("m5.large", ZONE_A, "spot", 0.03)
    assert list(w.store.nodes) == ["general-x7k2p"]


def test_a_foreign_node_of_the_claims_name_is_a_launch_error() -> None:
    foreign = {"metadata": {"name": "general-x7k2p", "labels": {HOSTNAME: "general-x7k2p"}}}
    w = world(store=RacingNodeStore(foreign))

    with pytest.raises(LaunchError, match="not a simulated node") as caught:
        w.provider().create(request())

    assert caught.value.code == "AlreadyExists"


# -- the Node ---------------------------------------------------------------------------------


def test_the_node_is_what_kwok_and_the_scheduler_need() -> None:
    gpu = instance_type(
        "g5.xlarge",
        offering(ZONE_B, "spot", 0.4),
        cpu=4.0,
        memory=16 * GI,
        extra={"nvidia.com/gpu": 1.0},
    )
    w = world(gpu)
    taint = Taint("dedicated", "gpu", "NoSchedule")
    startup = Taint("trimtab.dev/unready", None, "NoExecute")

    w.provider(region="us-east-1").create(
        request(gpu, labels={"team": "ml"}, taints=(taint,), startup_taints=(startup,))
    )

    assert w.store.nodes["general-x7k2p"] == {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": "general-x7k2p",
            "labels": {
                "team": "ml",
                INSTANCE_TYPE: "g5.xlarge",
                ARCH: "amd64",
                OS: "linux",
                INSTANCE_FAMILY: "g5",
                REGION: "us-east-1",
                ZONE: ZONE_B,
                CAPACITY_TYPE: "spot",
                HOSTNAME: "general-x7k2p",
                NODE_POOL: "general",
                SIMULATED_LABEL: "true",
            },
            "annotations": {KWOK_ANNOTATION: "fake", LAUNCHED_AT_ANNOTATION: NOW_TEXT},
        },
        "spec": {
            "providerID": f"simulated://{ZONE_B}/general-x7k2p",
            "taints": [
                {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
                {"key": "trimtab.dev/unready", "effect": "NoExecute"},
            ],
        },
        "status": {
            "capacity": {"cpu": "4", "memory": "16Gi", "pods": "29", "nvidia.com/gpu": "1"},
            "allocatable": {
                "cpu": "3920m",
                "memory": "15Gi",
                "pods": "29",
                "nvidia.com/gpu": "1",
            },
        },
    }


def test_the_pool_and_well_known_labels_win_over_the_requests_labels() -> None:
    w = world()

    w.provider().create(request(labels={ZONE: "elsewhere", NODE_POOL: "other", "team": "web"}))

    labels = w.store.nodes["general-x7k2p"]["metadata"]["labels"]
    assert (labels[ZONE], labels[NODE_POOL], labels["team"]) == (ZONE_A, "general", "web")


def test_quantities_print_cores_bytes_and_counts() -> None:
    amounts = {
        "cpu": 0.25,
        "memory": 1.5 * GI,
        "ephemeral-storage": 20 * GI,
        "hugepages-2Mi": 2**21 * 4,
        "pods": 110.0,
        "nvidia.com/gpu": 0.9999999999,
        "vpc.amazonaws.com/efa": 1.5,
    }

    assert quantities(amounts) == {
        "cpu": "250m",
        "memory": "1536Mi",
        "ephemeral-storage": "20Gi",
        "hugepages-2Mi": "8Mi",
        "pods": "110",
        "nvidia.com/gpu": "1",
        "vpc.amazonaws.com/efa": "1",
    }


# -- get, list, delete ------------------------------------------------------------------------


def test_list_rebuilds_every_simulated_machine_from_its_node() -> None:
    w = world(CHEAP, DEAR)
    provider = w.provider()
    one = provider.create(request(CHEAP))
    two = provider.create(request(DEAR, claim_name="general-b2c3d", claim_uid="uid-b2c3d"))
    w.store.nodes["control-plane"] = {"metadata": {"name": "control-plane", "labels": {}}}

    listed = sorted(provider.list(), key=lambda i: i.claim_name)

    assert listed == [two, one]
    assert listed[1] == Instance(
        provider_id=f"simulated://{ZONE_A}/general-x7k2p",
        claim_name="general-x7k2p",
        instance_type="c5.large",
        zone=ZONE_A,
        capacity_type="spot",
        price=0.031,
        launched_at=NOW,
        capacity={"cpu": 2.0, "memory": 8 * GI, "pods": 29.0},
        allocatable={"cpu": 1.92, "memory": 7 * GI, "pods": 29.0},
    )
    assert w.store.selectors[-1] == f"{SIMULATED_LABEL}=true"


def test_list_keeps_machines_of_types_the_catalog_no_longer_has() -> None:
    w = world(DEAR)
    w.provider().create(request(DEAR))
    w.catalog.clear()

    (instance,) = w.provider().list()

    assert (instance.instance_type, instance.price, instance.capacity) == ("m5.large", 0.0, {})


def test_a_catalog_function_that_raises_for_unknown_types_works_too() -> None:
    w = world(DEAR)
    w.provider().create(request(DEAR))

    def lookup(name: str) -> InstanceType:
        raise KeyError(name)

    provider = SimulatedProvider(node_class(), lookup, w.store, CLUSTER)

    assert [i.price for i in provider.list()] == [0.0]


def test_list_skips_nodes_that_lack_the_labels_it_needs(caplog: pytest.LogCaptureFixture) -> None:
    w = world()
    provider = w.provider()
    provider.create(request())
    broken = copy.deepcopy(w.store.nodes["general-x7k2p"])
    broken["metadata"]["name"] = "broken"
    del broken["metadata"]["labels"][ZONE]
    w.store.nodes["broken"] = broken

    assert [i.claim_name for i in provider.list()] == ["general-x7k2p"]
    assert "broken" in caplog.text


def test_get_finds_the_machine_by_provider_id() -> None:
    w = world()
    provider = w.provider()
    instance = provider.create(request())

    assert provider.get(instance.provider_id) == instance
    with pytest.raises(InstanceNotFoundError):
        provider.get(f"simulated://{ZONE_B}/general-x7k2p")  # same name, other zone
    with pytest.raises(InstanceNotFoundError):
        provider.get(f"simulated://{ZONE_A}/nowhere")


def test_delete_removes_the_node_once() -> None:
    w = world()
    provider = w.provider()
    instance = provider.create(request())

    provider.delete(instance.provider_id)

    assert w.store.nodes == {}
    with pytest.raises(InstanceNotFoundError):
        provider.delete(instance.provider_id)
    with pytest.raises(InstanceNotFoundError):
        provider.get(instance.provider_id)


@pytest.mark.parametrize(
    "provider_id",
    ["aws:///us-east-1a/i-0abc", "simulated://general-x7k2p", "simulated:///general-x7k2p"],
)
def test_foreign_provider_ids_are_refused_not_taken_for_gone(provider_id: str) -> None:
    w = world()
    provider = w.provider()
    provider.create(request())

    with pytest.raises(CloudError) as caught:
        provider.delete(provider_id)

    assert caught.value.code == "InvalidProviderID"
    assert not isinstance(caught.value, InstanceNotFoundError)
    assert list(w.store.nodes) == ["general-x7k2p"]


StoreCall = Callable[[SimulatedProvider], object]


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda p: p.create(request()), CloudError),
        (lambda p: p.list(), CloudError),
        (lambda p: p.delete(f"simulated://{ZONE_A}/general-x7k2p"), CloudError),
    ],
    ids=["create", "list", "delete"],
)
def test_store_failures_become_cloud_errors(call: StoreCall, error: type[CloudError]) -> None:
    w = world(store=FailingNodeStore())

    with pytest.raises(error, match="apiserver unreachable") as caught:
        call(w.provider())

    assert caught.value.code == "ConnectionError"
    assert isinstance(caught.value.__cause__, ConnectionError)


def test_a_store_failure_while_creating_is_a_launch_error() -> None:
    class CreateFails(MemoryNodeStore):
        def create(self, body: Mapping[str, Any]) -> bool:
            raise TimeoutError("read timed out")

    w = world(store=CreateFails())

    with pytest.raises(LaunchError, match="creating Node general-x7k2p: read timed out"):
        w.provider().create(request())


# -- the request ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field_name"),
    [
        ({"instance_types": ()}, "instance_types"),
        ({"capacity_types": frozenset()}, "capacity_types"),
        ({"capacity_types": frozenset({"reserved"})}, "capacity_types"),
        ({"claim_uid": ""}, "claim_uid"),
        ({"claim_name": ""}, "claim_name"),
    ],
)
def test_requests_name_the_field_they_lack(overrides: dict[str, Any], field_name: str) -> None:
    with pytest.raises(ValueError, match=f"^{field_name}: "):
        request(**overrides)
