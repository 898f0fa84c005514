from __future__ import annotations

from trimtab.conditions import find_condition, make_condition, merge_conditions


def test_merge_replaces_by_type_and_keeps_others_in_order() -> None:
    old = [
        make_condition("A", "True", "R", "m", "t0"),
        make_condition("B", "False", "R", "m", "t0"),
    ]
    merged = merge_conditions(
        old,
        [
            make_condition("B", "True", "R2", "m2", "t1"),
            make_condition("C", "True", "R", "m", "t1"),
        ],
    )
    assert [c["type"] for c in merged] == ["A", "B", "C"]
    assert merged[1]["lastTransitionTime"] == "t1"
    assert old[1]["status"] == "False"  # the input is not modified


def test_unchanged_status_keeps_transition_time() -> None:
    old = [make_condition("Ready", "True", "Valid", "ok", "t0")]
    merged = merge_conditions(old, [make_condition("Ready", "True", "Valid", "still ok", "t1")])
    assert merged[0]["lastTransitionTime"] == "t0"
    assert merged[0]["message"] == "still ok"


def test_find() -> None:
    conditions = [make_condition("Ready", "True", "Valid", "ok", "t0")]
    assert find_condition(conditions, "Ready") == conditions[0]
    assert find_condition(conditions, "Invalid") is None
    assert find_condition(None, "Ready") is None
