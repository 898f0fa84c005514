"""NodePools and NodeClaims to and from what the simulation and the providers use."""

from __future__ import annotations

from tests.factories import node_pool
from trimtab.api.nodes import NodeClaimSpec, NodePoolSpec
from trimtab.provisioner.catalog import load_catalog
from trimtab.provisioner.claims import (
    MAX_INSTANCE_TYPES,
    claim_body,
    in_flight_node,
    in_use_by_pool,
    is_initialized,
    launch_choice,
    pool_view,
    starting_node,
)
from trimtab.provisioner.model import (
    CAPACITY_TYPE,
    INSTANCE_CATEGORY,
    INSTANCE_TYPE,
    NODE_POOL,
    ZONE,
    ClaimPlan,
    ExistingNode,
    LabelRequirement,
    Taint,
)

GI = 1024.0**3


def spec(**fields: object) -> NodePoolSpec:
    return NodePoolSpec.model_validate(node_pool(**fields)["spec"])


def test_a_pool_without_a_capacity_type_buys_on_demand_only() -> None:
    view = pool_view("general", spec(limits={"cpu": "100"}), {"cpu": 8.0})
    assert LabelRequirement(CAPACITY_TYPE, "In", ("on-demand",)) in view.requirements
    assert view.labels == {NODE_POOL: "general"}
    assert (view.limits, view.in_use) == ({"cpu": 100.0}, {"cpu": 8.0})
    spot = spec(
        template={"requirements": [{"key": CAPACITY_TYPE, "operator": "In", "values": ["spot"]}]}
    )
    assert pool_view("spot", spot, {}).requirements == (
        LabelRequirement(CAPACITY_TYPE, "In", ("spot",)),
    )


def test_claim_body_says_what_was_decided_and_round_trips() -> None:
    types = tuple(f"type-{i}" for i in range(MAX_INSTANCE_TYPES + 5))
    plan = ClaimPlan(
        pool="general",
        instance_types=types,
        requirements=(
            LabelRequirement(INSTANCE_CATEGORY, "In", ("m",)),
            LabelRequirement(ZONE, "In", ("us-east-1b",)),
        ),
        pods=("u1", "u2"),
        requests={"cpu": 1.5, "memory": 3 * GI, "pods": 2.0},
        price=0.1,
    )
    body = claim_body(plan, "general", "pool-uid", spec(), suffix="abc123")
    assert body["metadata"]["name"] == "general-abc123"
    assert body["metadata"]["ownerReferences"][0]["uid"] == "pool-uid"
    assert body["spec"]["resources"] == {"cpu": "1500m", "memory": "3Gi", "pods": "2"}
    claim = NodeClaimSpec.model_validate(body["spec"])
    choice = launch_choice(claim, {NODE_POOL: "general"})
    assert choice.instance_types == types[:MAX_INSTANCE_TYPES]
    assert choice.zones == frozenset({"us-east-1b"})
    assert choice.capacity_types == frozenset({"on-demand"})
    assert choice.labels == {
        NODE_POOL: "general",
        INSTANCE_CATEGORY: "m",
        ZONE: "us-east-1b",
    }


def test_an_unlaunched_claim_is_an_empty_node_of_its_cheapest_type() -> None:
    catalog = load_catalog()
    claim = {
        "metadata": {"name": "general-abc123", "labels": {NODE_POOL: "general"}},
        "spec": {
            "requirements": [
                {"key": INSTANCE_TYPE, "operator": "In", "values": ["m7i.large", "m7i.xlarge"]}
            ],
            "taints": [{"key": "gpu", "effect": "NoSchedule"}],
        },
    }
    node = in_flight_node(claim, catalog)
    assert node.in_flight and node.requested == {}
    assert node.labels[INSTANCE_TYPE] == "m7i.large"
    assert node.allocatable == catalog.by_name("m7i.large").allocatable
    launched = {**claim, "status": {"instanceType": "m7i.xlarge"}}
    assert in_flight_node(launched, catalog).labels[INSTANCE_TYPE] == "m7i.xlarge"


def test_a_starting_node_keeps_only_the_taints_its_claim_keeps() -> None:
    claim = {
        "metadata": {"name": "general-abc123"},
        "spec": {"taints": [{"key": "gpu", "effect": "NoSchedule"}]},
        "status": {"conditions": [{"type": "Registered", "status": "True"}]},
    }
    node = ExistingNode(
        "general-abc123",
        {NODE_POOL: "general"},
        (
            Taint("gpu", None, "NoSchedule"),
            Taint("node.kubernetes.io/not-ready", None, "NoSchedule"),
        ),
        {"cpu": 2.0},
        {"cpu": 0.5},
    )
    assert not is_initialized(claim)
    starting = starting_node(node, claim, load_catalog())
    assert starting.taints == (Taint("gpu", None, "NoSchedule"),)
    assert starting.in_flight and starting.requested == {"cpu": 0.5}
    up = {**claim, "status": {"conditions": [{"type": "Initialized", "status": "True"}]}}
    assert is_initialized(up)


def test_in_use_counts_launched_capacity_or_else_the_request() -> None:
    claims = [
        {"metadata": {"labels": {NODE_POOL: "a"}}, "status": {"capacity": {"cpu": "4"}}},
        {"metadata": {"labels": {NODE_POOL: "a"}}, "spec": {"resources": {"cpu": "1500m"}}},
        {"metadata": {"labels": {}}, "spec": {"resources": {"cpu": "9"}}},
    ]
    assert in_use_by_pool(claims) == {"a": {"cpu": 5.5}}
