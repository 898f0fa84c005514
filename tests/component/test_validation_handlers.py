"""
Trimtab's validity handlers, run by kopf against the emulated API: every kind's valid example
becomes Ready, invalid ones get Invalid=True naming the field, and the operator keeps serving
through bad objects and API faults on the status write.
"""

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kopf
import pytest
import yaml

from tests.component.harness import Cluster, condition, has_condition, trimtab_kinds
from trimtab.settings import Settings

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"
EXPECT_INVALID = "# expect-invalid:"


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())  # type: ignore[no-any-return]


def expected_field(path: Path) -> str:
    for line in path.read_text().splitlines():
        if line.startswith(EXPECT_INVALID):
            return line.removeprefix(EXPECT_INVALID).strip()
    raise AssertionError(f"{path.name} has no '{EXPECT_INVALID} <field>' line")


def example_of(kind: str) -> dict[str, Any]:
    for path in sorted(EXAMPLES.glob("*.yaml")):
        obj = load(path)
        if obj["kind"] == kind:
            return obj
    raise AssertionError(f"no example of {kind} in {EXAMPLES}")


def renamed(obj: dict[str, Any], name: str) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    obj["metadata"]["name"] = name
    return obj


def where(obj: dict[str, Any]) -> dict[str, Any]:
    """The ``kind, name, namespace=`` arguments of the harness for an object."""
    meta = obj["metadata"]
    return {"kind": obj["kind"], "name": meta["name"], "namespace": meta.get("namespace")}


def observed(generation: int, type_: str) -> Callable[[dict[str, Any]], bool]:
    def predicate(obj: dict[str, Any]) -> bool:
        status = obj.get("status") or {}
        return status.get("observedGeneration") == generation and has_condition(obj, type_)

    predicate.__name__ = f"{type_}=True at observedGeneration={generation}"
    return predicate


VALID_EXAMPLES = sorted(EXAMPLES.glob("*.yaml"))
INVALID_EXAMPLES = sorted((EXAMPLES / "invalid").glob("*.yaml"))


@pytest.mark.parametrize("path", VALID_EXAMPLES, ids=lambda path: path.stem)
async def test_valid_example_becomes_ready(trimtab_operator: Cluster, path: Path) -> None:
    obj = load(path)
    await trimtab_operator.create(obj)

    stored = await trimtab_operator.wait_for(**where(obj), predicate=observed(1, "Ready"))

    assert stored["status"]["observedGeneration"] == stored["metadata"]["generation"] == 1
    invalid = condition(stored, "Invalid")
    assert invalid is not None
    assert invalid["status"] == "False"


def test_every_kind_has_a_valid_example() -> None:
    kinds = {load(path)["kind"] for path in VALID_EXAMPLES}
    assert kinds >= {kind.kind for kind in trimtab_kinds()}


@pytest.mark.parametrize("path", INVALID_EXAMPLES, ids=lambda path: path.stem)
async def test_invalid_example_names_the_field(trimtab_operator: Cluster, path: Path) -> None:
    obj, field = load(path), expected_field(path)
    await trimtab_operator.create(obj)

    stored = await trimtab_operator.wait_for(**where(obj), predicate=observed(1, "Invalid"))

    invalid = condition(stored, "Invalid")
    assert invalid is not None
    assert field in invalid["message"]
    assert has_condition(stored, "Ready", "False")


def _min_above_max(spec: dict[str, Any]) -> None:
    spec.update(minReplicas=5, maxReplicas=3)


def _unknown_mode(spec: dict[str, Any]) -> None:
    spec["updatePolicy"]["mode"] = "Sometimes"


def _bad_quantity(spec: dict[str, Any]) -> None:
    spec["resourcePolicy"]["containerPolicies"][0]["maxAllowed"]["cpu"] = "12 cores"


@pytest.mark.parametrize(
    ("kind", "spoil", "field"),
    [
        ("HorizontalScaler", _min_above_max, "spec.minReplicas"),
        ("VerticalScaler", _unknown_mode, "spec.updatePolicy.mode"),
        (
            "VerticalScaler",
            _bad_quantity,
            "spec.resourcePolicy.containerPolicies[0].maxAllowed.cpu",
        ),
    ],
    ids=["min-above-max", "unknown-mode", "bad-quantity"],
)
async def test_spoiled_example_is_invalid_and_the_operator_keeps_serving(
    trimtab_operator: Cluster, kind: str, spoil: Callable[[dict[str, Any]], None], field: str
) -> None:
    bad = renamed(example_of(kind), "spoiled")
    spoil(bad["spec"])
    await trimtab_operator.create(bad)
    stored = await trimtab_operator.wait_for(**where(bad), predicate=observed(1, "Invalid"))
    invalid = condition(stored, "Invalid")
    assert invalid is not None
    assert field in invalid["message"]

    good = renamed(example_of(kind), "afterwards")
    await trimtab_operator.create(good)

    await trimtab_operator.wait_for(**where(good), predicate=observed(1, "Ready"))
    assert trimtab_operator.operator_running


async def test_fixing_an_invalid_object_makes_it_ready(trimtab_operator: Cluster) -> None:
    bad = renamed(example_of("VerticalScaler"), "fixable")
    _unknown_mode(bad["spec"])
    await trimtab_operator.create(bad)
    first = await trimtab_operator.wait_for(**where(bad), predicate=observed(1, "Invalid"))

    await trimtab_operator.patch(
        "VerticalScaler",
        "fixable",
        {"spec": {"updatePolicy": {"mode": "Off"}}},
        namespace=bad["metadata"]["namespace"],
    )

    fixed = await trimtab_operator.wait_for(**where(bad), predicate=observed(2, "Ready"))
    assert not has_condition(fixed, "Invalid")
    ready_before, ready_after = condition(first, "Ready"), condition(fixed, "Ready")
    assert ready_before is not None
    assert ready_after is not None
    assert ready_after["status"] != ready_before["status"]


async def test_invalid_object_gets_a_warning_event(trimtab_operator: Cluster) -> None:
    bad = renamed(example_of("HorizontalScaler"), "warned")
    _min_above_max(bad["spec"])
    await trimtab_operator.create(bad)

    def warned() -> bool:
        return any(
            event.get("type") == "Warning"
            and event.get("reason") == "InvalidSpec"
            and event.get("involvedObject", {}).get("name") == "warned"
            for event in trimtab_operator.objects("Event")
        )

    await trimtab_operator.wait_until(warned, what="a Warning event InvalidSpec for 'warned'")


async def test_status_write_faults_do_not_stop_the_operator(trimtab_operator: Cluster) -> None:
    obj = renamed(example_of("VerticalScaler"), "faulty")
    namespace = obj["metadata"]["namespace"]
    conflict = trimtab_operator.inject_fault(
        "VerticalScaler", 409, subresource="status", name="faulty"
    )
    server_error = trimtab_operator.inject_fault(
        "VerticalScaler", 500, subresource="status", name="faulty"
    )
    await trimtab_operator.create(obj)
    await trimtab_operator.wait_until(lambda: bool(conflict.seen), what="the injected 409")

    # Other objects are still served while that one is throttled.
    other = renamed(obj, "healthy")
    await trimtab_operator.create(other)
    await trimtab_operator.wait_for(**where(other), predicate=observed(1, "Ready"))

    # A 409 is not retried by kopf; the next change runs the handler again, and the 500 on
    # that write is retried inside kopf's API client until it lands.
    await trimtab_operator.patch(
        "VerticalScaler", "faulty", {"spec": {"updatePolicy": {"mode": "Off"}}}, namespace=namespace
    )
    await trimtab_operator.wait_for(**where(obj), predicate=observed(2, "Ready"))
    assert len(server_error.seen) == 1
    assert trimtab_operator.operator_running


async def test_restart_writes_a_status_lost_to_a_conflict(
    trimtab_operator: Cluster, operator_settings: Settings
) -> None:
    from trimtab.handlers import register

    obj = renamed(example_of("RecommenderProfile"), "lost")
    conflict = trimtab_operator.inject_fault("RecommenderProfile", 409, subresource="status")
    await trimtab_operator.create(obj)
    await trimtab_operator.wait_until(lambda: bool(conflict.seen), what="the injected 409")

    await trimtab_operator.stop_operator()
    await trimtab_operator.start_operator(
        lambda registry: register(registry, operator_settings),
        memo=kopf.Memo(settings=operator_settings),
    )

    await trimtab_operator.wait_for(**where(obj), predicate=observed(1, "Ready"))
