"""The batch window: closes after a quiet second, or after ten seconds at most."""

from __future__ import annotations

import pytest

from trimtab.provisioner.batching import BatchWindow

IDLE, LONGEST = 1.0, 10.0


@pytest.mark.parametrize(
    ("pods_at", "now", "closed"),
    [
        pytest.param([0.0], 0.5, False, id="one-pod-still-quiet-for-less-than-idle"),
        pytest.param([0.0], 1.0, True, id="one-pod-quiet-for-idle"),
        pytest.param([0.0, 0.8], 1.5, False, id="a-new-pod-restarts-the-quiet-time"),
        pytest.param([0.0, 0.8], 1.8, True, id="quiet-after-the-last-pod"),
        pytest.param([0.9 * i for i in range(12)], 9.95, False, id="steady-stream-under-longest"),
        pytest.param([0.9 * i for i in range(12)], 10.0, True, id="steady-stream-capped"),
    ],
)
def test_window_closes(pods_at: list[float], now: float, closed: bool) -> None:
    window = BatchWindow.open(pods_at[0])
    for seen in pods_at[1:]:
        window = window.extended(seen)
    assert window.closed(now, IDLE, LONGEST) is closed


def test_closes_at_is_the_earlier_limit() -> None:
    assert BatchWindow.open(0.0).closes_at(IDLE, LONGEST) == 1.0
    assert BatchWindow(0.0, 9.5).closes_at(IDLE, LONGEST) == 10.0


def test_a_late_report_does_not_move_the_window_back() -> None:
    assert BatchWindow(0.0, 5.0).extended(3.0).last_pod == 5.0
