"""The conditions an updater pass reports."""

from __future__ import annotations

from tests.unit.updater.conftest import MI
from trimtab.updater.model import Plan
from trimtab.updater.status import (
    PassResult,
    capped_condition,
    conflict_condition,
    progress_condition,
)


def test_capped_names_the_resource_and_the_node_size() -> None:
    assert capped_condition([], {}) == (
        "CappedToNode",
        "False",
        "FitsLargestNode",
        "The recommendation fits the largest node.",
    )
    _, status, reason, message = capped_condition(["memory"], {"cpu": 4.0, "memory": 512 * MI})
    assert (status, reason) == ("True", "LargerThanLargestNode")
    assert "memory exceeds the largest node's allocatable (memory 512Mi)" in message


def test_conflict_says_what_happens_to_cpu() -> None:
    scaler = "HorizontalScaler web scales Deployment web on CPU utilisation"
    assert conflict_condition(None, False)[1:3] == ("False", "NoCpuScaler")
    assert conflict_condition(scaler, False)[1:3] == ("True", "CpuLeftAlone")
    assert conflict_condition(scaler, True)[1:3] == ("True", "CpuUpdatedAnyway")
    assert conflict_condition(scaler, False)[3].startswith(scaler)


def test_progress_tells_what_was_done_and_what_holds_the_rest() -> None:
    plan = Plan(waiting=(("web-3", "eviction tolerance: 2 of 4 pods may update at once"),))
    done = PassResult(evicted=1, blocked=["web-2"])
    assert progress_condition(4, plan, done, dry_run=False) == (
        "PodsUpToDate",
        "False",
        "Updating",
        "4 pod(s) differ from the recommendation; 1 evicted and 0 resized in this pass; "
        "PodDisruptionBudget refused evicting web-2; "
        "1 waiting: eviction tolerance: 2 of 4 pods may update at once.",
    )
    failed = progress_condition(1, Plan(), PassResult(failed=["web-0"]), dry_run=False)
    assert failed[2] == "Failing"
    assert "failed for web-0 (retried with backoff)" in failed[3]
    blocked = progress_condition(2, Plan(blocked="only 1 of 2 pods are ready"), PassResult(), False)
    assert blocked[2:] == (
        "Waiting",
        "2 pod(s) differ from the recommendation; only 1 of 2 pods are ready.",
    )
    assert progress_condition(2, Plan(), PassResult(), dry_run=True)[2] == "DryRun"
