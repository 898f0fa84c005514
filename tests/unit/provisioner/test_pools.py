"""A NodePool that can never give a node says why."""

from __future__ import annotations

from trimtab.provisioner.catalog import load_catalog
from trimtab.provisioner.model import (
    INSTANCE_CATEGORY,
    INSTANCE_FAMILY,
    LabelRequirement,
    NodePoolView,
)
from trimtab.provisioner.pools import pool_problem

TYPES = load_catalog().types


def test_a_usable_pool_has_no_problem() -> None:
    pool = NodePoolView("general", (LabelRequirement(INSTANCE_CATEGORY, "In", ("m",)),))
    assert pool_problem(pool, TYPES) is None


def test_requirements_matching_no_type_are_named() -> None:
    pool = NodePoolView("odd", (LabelRequirement(INSTANCE_FAMILY, "In", ("zz9",)),))
    problem = pool_problem(pool, TYPES)
    assert problem is not None
    assert problem[0] == "NoInstanceType"
    assert problem[1].startswith("spec.template.requirements: no instance type of the")


def test_limits_below_one_node_are_named() -> None:
    pool = NodePoolView(
        "tiny", (LabelRequirement(INSTANCE_CATEGORY, "In", ("r",)),), limits={"cpu": 0.5}
    )
    problem = pool_problem(pool, TYPES)
    assert problem is not None
    assert problem[0] == "LimitsBelowOneNode"
    assert "spec.limits (cpu 0.5)" in problem[1]


def test_a_pool_at_its_limit_is_full_not_misconfigured() -> None:
    requirement = (LabelRequirement(INSTANCE_CATEGORY, "In", ("m",)),)
    full = NodePoolView("general", requirement, limits={"cpu": 100.0}, in_use={"cpu": 100.0})
    assert pool_problem(full, TYPES) is None
