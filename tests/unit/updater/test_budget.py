"""The disruption budget of a workload and the token bucket behind the rate limits."""

from __future__ import annotations

import pytest

from tests.unit.updater.conftest import NOW, pod
from trimtab.updater.budget import TokenBucket, disruption_allowance, disruption_budget
from trimtab.updater.model import UpdatablePod


def pods(
    ready: int = 0,
    unready: int = 0,
    deleting: int = 0,
    pending: int = 0,
    finished: int = 0,
) -> list[UpdatablePod]:
    """A workload's pods by state, named after it so every pod is distinct."""
    found = [pod(f"ready-{i}") for i in range(ready)]
    found += [pod(f"unready-{i}", ready=False) for i in range(unready)]
    found += [pod(f"deleting-{i}", deleting=True) for i in range(deleting)]
    found += [pod(f"pending-{i}", phase="Pending", ready=False) for i in range(pending)]
    found += [pod(f"done-{i}", phase="Succeeded", ready=False) for i in range(finished)]
    return found


@pytest.mark.parametrize(
    ("workload", "min_replicas", "tolerance", "updating", "expected"),
    [
        pytest.param(pods(ready=4), 2, 0.5, 0, (2, None), id="half-of-four"),
        pytest.param(pods(ready=3), 2, 0.5, 0, (1, None), id="at-least-one"),
        pytest.param(pods(ready=4), 2, 0.1, 0, (1, None), id="tiny-tolerance-still-one"),
        pytest.param(pods(ready=10), 2, 1.0, 0, (10, None), id="whole-tolerance"),
        pytest.param(pods(ready=2), 2, 0.5, 0, (1, None), id="exactly-min-replicas"),
        pytest.param(
            pods(ready=1),
            2,
            0.5,
            0,
            (0, "only 1 of 1 pods are ready, minReplicas is 2"),
            id="too-few-pods",
        ),
        pytest.param(
            pods(ready=1, pending=1),
            2,
            0.5,
            0,
            (0, "only 1 of 2 pods are ready, minReplicas is 2"),
            id="too-few-ready",
        ),
        pytest.param(
            pods(), 1, 0.5, 0, (0, "only 0 of 0 pods are ready, minReplicas is 1"), id="no-pods"
        ),
        pytest.param(pods(ready=3, unready=1), 2, 0.5, 0, (1, None), id="one-unready"),
        pytest.param(
            pods(ready=3, unready=3),
            2,
            0.5,
            0,
            (0, "eviction tolerance: 3 of 6 pods may update at once, 3 already down or updating"),
            id="tolerance-used-up",
        ),
        pytest.param(
            pods(ready=1, unready=3),
            1,
            0.5,
            0,
            (
                0,
                "3 of 4 pods are not ready and 3 are down in all, "
                "more than the 2 the eviction tolerance allows",
            ),
            id="unready-beyond-budget",
        ),
        pytest.param(pods(ready=4, deleting=1), 2, 0.5, 0, (1, None), id="deleting-is-down"),
        pytest.param(pods(ready=3, pending=1), 2, 0.5, 0, (1, None), id="pending-is-live-down"),
        pytest.param(pods(ready=4, finished=2), 2, 0.5, 0, (2, None), id="finished-ignored"),
        pytest.param(pods(ready=4), 2, 0.5, 1, (1, None), id="resizing-is-down"),
        pytest.param(
            pods(ready=4),
            2,
            0.5,
            3,
            (
                0,
                "0 of 4 pods are not ready and 3 are down in all, "
                "more than the 2 the eviction tolerance allows",
            ),
            id="resizing-beyond-budget",
        ),
    ],
)
def test_disruption_allowance(
    workload: list[UpdatablePod],
    min_replicas: int,
    tolerance: float,
    updating: int,
    expected: tuple[int, str | None],
) -> None:
    assert disruption_allowance(workload, min_replicas, tolerance, updating) == expected


def test_budget_counts() -> None:
    budget = disruption_budget(pods(ready=5, unready=1, deleting=2, pending=1), 2, 0.5, 1)
    assert (budget.live, budget.ready, budget.down, budget.tolerance_count) == (7, 5, 5, 3)
    assert budget.allowance == 0


def test_a_full_bucket_holds_its_burst() -> None:
    bucket = TokenBucket.full(per_minute=6, burst=3, now=NOW)
    assert bucket.available(NOW) == 3
    assert bucket.available(NOW + 3600) == 3


def test_taking_leaves_the_original_alone_and_refills_over_time() -> None:
    bucket = TokenBucket.full(per_minute=6, burst=3, now=NOW)
    emptied = bucket.take(NOW, 3)
    assert bucket.available(NOW) == 3
    assert emptied.available(NOW) == 0
    assert emptied.available(NOW + 9.9) == 0
    assert emptied.available(NOW + 10) == 1
    assert emptied.available(NOW + 25) == 2


@pytest.mark.parametrize(
    ("now", "n"),
    [
        pytest.param(NOW, 2, id="more-than-there"),
        pytest.param(NOW + 5, 2, id="refill-not-yet-whole"),
    ],
)
def test_taking_too_much_raises(now: float, n: int) -> None:
    bucket = TokenBucket.full(per_minute=6, burst=3, now=NOW).take(NOW, 2)
    with pytest.raises(ValueError, match="available"):
        bucket.take(now, n)


def test_fractional_refills_add_up_to_whole_tokens() -> None:
    """Ten refills of a tenth of a token are 0.9999999999999999 in floats: still one token."""
    bucket = TokenBucket.full(per_minute=6, burst=3, now=NOW).take(NOW, 3)
    for step in range(1, 11):
        bucket = bucket.take(NOW + step, 0)
    assert bucket.tokens < 1.0
    assert bucket.available(NOW + 10) == 1
    assert bucket.take(NOW + 10, 1).available(NOW + 10) == 0


def test_a_clock_going_back_neither_adds_nor_removes() -> None:
    bucket = TokenBucket.full(per_minute=60, burst=5, now=NOW).take(NOW, 2)
    assert bucket.available(NOW - 100) == 3
    later = bucket.take(NOW - 100, 1)
    assert later.stamp == NOW
    assert later.available(NOW + 1) == 3


@pytest.mark.parametrize(
    ("per_minute", "burst"),
    [pytest.param(-1.0, 3, id="negative-rate"), pytest.param(6.0, -1, id="negative-burst")],
)
def test_a_bucket_needs_a_sane_rate_and_burst(per_minute: float, burst: int) -> None:
    with pytest.raises(ValueError, match="at least 0"):
        TokenBucket.full(per_minute, burst, NOW)


def test_taking_a_negative_count_raises() -> None:
    with pytest.raises(ValueError, match="cannot take"):
        TokenBucket.full(6, 3, NOW).take(NOW, -1)
