"""The replay harness on a hand-made trace: every score computed by hand, what the strategy is
fed (and when), OOM runs, NaN gaps, initial requests and the limit ratio."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from trimtab.quality import (
    ApplyRule,
    ReplayConfig,
    Scores,
    Trace,
    UpdaterSettings,
    replay,
    replay_trace,
    update_times,
)
from trimtab.recommender.estimators import Recommendation, Resources

NAN = np.nan


@dataclass
class Feed:
    """One call the harness made on the state."""

    kind: str
    timestamps: np.ndarray
    values: np.ndarray
    rows: np.ndarray
    series: np.ndarray | None


@dataclass
class RecordingState:
    """A usage state that only records what it is given."""

    containers: int
    calls: list[Feed] = field(default_factory=list)

    def add_cpu_grid(self, rows: Any, times: Any, values: Any, weights: Any = None) -> int:
        self.calls.append(Feed("cpu", np.array(times), np.array(values), np.array(rows), None))
        return int(np.isfinite(values).sum())

    def add_memory_grid(self, rows: Any, times: Any, values: Any, series: Any = None) -> int:
        self.calls.append(
            Feed("memory", np.array(times), np.array(values), np.array(rows), np.array(series))
        )
        return int(np.isfinite(values).sum())

    def add_oom(self, rows: Any, times: Any, requests: Any, series: Any = None) -> int:
        self.calls.append(
            Feed("oom", np.array(times), np.array(requests), np.array(rows), np.array(series))
        )
        return len(rows)

    def newest(self) -> float:
        stamps = [c.timestamps.max() for c in self.calls if c.timestamps.size]
        return max(stamps, default=-np.inf)


def _resources(values: tuple[float, float]) -> Resources:
    return Resources(np.array([values[0]]), np.array([values[1]]))


@dataclass
class Scripted:
    """A strategy that recommends from a script, one entry per update point:
    (target, lower, upper), each (cpu, memory); it checks it is never fed the future."""

    script: list[tuple[tuple[float, float], ...]]
    name: str = "scripted"
    states: list[RecordingState] = field(default_factory=list)
    asked_at: list[float] = field(default_factory=list)

    def new_state(self, containers: int) -> RecordingState:
        state = RecordingState(containers)
        self.states.append(state)
        return state

    def restore_state(self, data: bytes) -> RecordingState:
        raise NotImplementedError

    def recommend(
        self, state: Any, context: Any = None, now: float | None = None
    ) -> Recommendation:
        assert now is not None
        assert state.newest() < now, "the harness fed a sample at or after the update point"
        target, lower, upper = self.script[len(self.asked_at)]
        self.asked_at.append(now)
        return Recommendation(
            target=_resources(target),
            lower_bound=_resources(lower),
            upper_bound=_resources(upper),
            uncapped_target=_resources(target),
            history_span=np.zeros(1),
            sample_count=np.zeros(1, dtype=np.int64),
        )


# Eleven minutes, 0..600 s. Warm-up 120 s, a point every 240 s: points at 120, 360 and 600.
# Scored intervals: columns 2-5 (request 1 core / 100 B), 6-9 and 10 (2 cores / 200 B).
# Columns 0-1 are warm-up: huge values there must not be scored.
CPU = [100.0, 100.0, 0.5, 1.5, NAN, 1.0, 1.0, 2.5, 2.0, NAN, 3.0]
MEMORY = [1e6, 1e6, 50.0, 120.0, NAN, 130.0, 210.0, 90.0, 250.0, 260.0, 205.0]
SCRIPT = [
    ((1.0, 100.0), (1.0, 100.0), (1.0, 100.0)),
    ((2.0, 200.0), (1.5, 150.0), (2.5, 250.0)),  # (1, 100) is outside: applied
    ((2.2, 210.0), (1.5, 150.0), (2.5, 250.0)),  # (2, 200) is inside: kept
]
CONFIG = ReplayConfig(
    warmup_s=120.0,
    update_every_s=240.0,
    updater=UpdaterSettings(rule=ApplyRule.OUTSIDE_BOUNDS),
)


def hand_made(cpu: list[float] = CPU, memory: list[float] = MEMORY, **extra: Any) -> Trace:
    times = 60.0 * np.arange(len(cpu))
    shape = (1, 1, len(cpu))
    return Trace(
        "hand-made",
        times,
        np.array(cpu).reshape(shape),
        np.array(memory).reshape(shape),
        ("app",),
        group="test",
        **extra,
    )


def test_update_points_start_after_the_warm_up() -> None:
    assert update_times(60.0 * np.arange(11), CONFIG).tolist() == [120.0, 360.0, 600.0]
    with pytest.raises(ValueError, match="warm-up"):
        update_times(60.0 * np.arange(2), CONFIG)


def test_scores_are_exact_on_a_hand_made_trace() -> None:
    result = replay_trace(hand_made(), Scripted(list(SCRIPT)), CONFIG)
    # CPU, by interval: request 1: 0.5 (slack 0.5), 1.5 (short 0.5), gap, 1.0 (exact);
    # request 2: 1.0 (slack 1), 2.5 (short 0.5), 2.0 (exact), gap; request 2: 3.0 (short 1).
    # Memory: limit 100: 50 (slack 50), 120 (OOM run 1 starts), gap, 130 (same run);
    # limit 200, new pods: 210 (run 2: the change ended run 1), 90 (slack 110), 250 (run 3),
    # 260 (same run); no change: 205 (still run 3).
    assert result.scores == Scores(
        cpu_minutes=7.0,
        cpu_requested=3 * 1.0 + 3 * 2.0 + 1 * 2.0,
        cpu_used=0.5 + 1.5 + 1.0 + 1.0 + 2.5 + 2.0 + 3.0,
        cpu_slack=0.5 + 1.0,
        cpu_shortfall=0.5 + 0.5 + 1.0,
        cpu_shortfall_minutes=3.0,
        memory_minutes=8.0,
        memory_requested=3 * 100.0 + 4 * 200.0 + 1 * 200.0,
        memory_used=50.0 + 120.0 + 130.0 + 210.0 + 90.0 + 250.0 + 260.0 + 205.0,
        memory_slack=50.0 + 110.0,
        oom_minutes=6.0,
        oom_events=3,
        changes=1,
    )
    assert result.scores.cpu_slack_share == pytest.approx(1.5 / 11.0)
    assert result.scores.memory_slack_share == pytest.approx(160.0 / 1300.0)
    assert result.update_times.tolist() == [120.0, 360.0, 600.0]
    assert result.request.cpu[:, 0].tolist() == [1.0, 2.0, 2.0]
    assert result.request.memory[:, 0].tolist() == [100.0, 200.0, 200.0]
    assert result.target.cpu[:, 0].tolist() == [1.0, 2.0, 2.2]
    assert result.changed[:, 0].tolist() == [False, True, False]
    assert result.ooms.times.tolist() == [180.0, 360.0, 480.0]
    assert result.ooms.limits.tolist() == [100.0, 200.0, 200.0]
    assert result.ooms.pods.tolist() == [0, 0, 0]
    assert result.ooms.containers.tolist() == [0, 0, 0]


def test_the_state_is_fed_the_past_capped_at_the_limit_then_the_oom_kills() -> None:
    strategy = Scripted(list(SCRIPT))
    replay_trace(hand_made(), strategy, CONFIG)
    calls = strategy.states[0].calls
    warm_up, first, second = ["cpu", "memory"], ["cpu", "memory", "oom"], ["cpu", "memory", "oom"]
    assert [c.kind for c in calls] == [*warm_up, *first, *second]
    # Warm-up: recorded values, no limit yet.
    assert calls[1].timestamps.tolist() == [0.0, 60.0]
    assert calls[1].values.tolist() == [[1e6, 1e6]]
    # First interval, under the 100 B limit: the working set cannot show more than the limit.
    assert calls[2].timestamps.tolist() == [120.0, 180.0, 240.0, 300.0]
    np.testing.assert_array_equal(calls[2].values, [[0.5, 1.5, NAN, 1.0]])
    np.testing.assert_array_equal(calls[3].values, [[50.0, 100.0, NAN, 100.0]])
    # Its OOM kill, with the request the container had.
    assert calls[4].timestamps.tolist() == [180.0]
    assert calls[4].values.tolist() == [100.0]
    assert calls[4].rows.tolist() == [0]
    # Second interval: two kills at the 200 B limit.
    assert calls[6].timestamps.tolist() == [360.0, 420.0, 480.0, 540.0]
    np.testing.assert_array_equal(calls[6].values, [[200.0, 90.0, 200.0, 200.0]])
    assert calls[7].timestamps.tolist() == [360.0, 480.0]
    assert calls[7].values.tolist() == [200.0, 200.0]
    assert strategy.asked_at == [120.0, 360.0, 600.0]


def test_an_oom_run_spans_gaps_and_update_points_without_a_change() -> None:
    # Above the limit from minute 2 to the end, with gaps and two points that change nothing.
    cpu = [0.1] * 11
    memory = [0.0, 0.0, 150.0, NAN, NAN, 150.0, 150.0, NAN, 150.0, 150.0, 150.0]
    same = ((1.0, 100.0), (1.0, 100.0), (1.0, 100.0))
    result = replay_trace(hand_made(cpu, memory), Scripted([same] * 3), CONFIG)
    assert result.scores.oom_events == 1
    assert result.scores.oom_minutes == 6.0  # the nine scored minutes less three gaps
    assert result.scores.changes == 0


def test_quick_oom_updates_pods_inside_their_bounds() -> None:
    # The pods start at 120 s with the first target and are killed at 180 s: a quick OOM. At
    # the next point the request (1, 100) is inside the new bounds, yet the updater applies.
    script = [
        ((1.0, 100.0), (1.0, 100.0), (1.0, 100.0)),
        ((1.0, 150.0), (0.5, 50.0), (2.0, 300.0)),
        ((1.0, 150.0), (0.5, 50.0), (2.0, 300.0)),
    ]
    vpa_rule = ReplayConfig(warmup_s=120.0, update_every_s=240.0)
    quick = replay_trace(hand_made(), Scripted(list(script)), vpa_rule)
    assert quick.changed[:, 0].tolist() == [False, True, False]
    bounds_only = replay_trace(hand_made(), Scripted(list(script)), CONFIG)
    assert bounds_only.changed[:, 0].tolist() == [False, False, False]


def test_initial_requests_hold_until_the_rule_changes_them() -> None:
    inside = ((1.0, 100.0), (0.5, 50.0), (2.0, 300.0))
    trace = hand_made(initial_cpu=np.array([1.5]), initial_memory=np.array([250.0]))
    kept = replay_trace(trace, Scripted([inside] * 3), CONFIG)
    assert kept.request.cpu[:, 0].tolist() == [1.5, 1.5, 1.5]
    assert kept.scores.changes == 0
    outside = ((1.0, 100.0), (0.5, 50.0), (1.2, 300.0))  # 1.5 cores is above the upper bound
    moved = replay_trace(trace, Scripted([outside] * 3), CONFIG)
    assert moved.changed[:, 0].tolist() == [True, False, False]
    assert moved.request.cpu[:, 0].tolist() == [1.0, 1.0, 1.0]
    assert moved.scores.changes == 1


def test_a_higher_limit_ratio_moves_ooms_not_slack() -> None:
    ratio = ReplayConfig(warmup_s=120.0, update_every_s=240.0, updater=CONFIG.updater,
                         limit_ratio=2.0)  # fmt: skip
    result = replay_trace(hand_made(), Scripted(list(SCRIPT)), ratio)
    # Limits 200, then 400: no sample is above them; slack is still against the request.
    assert result.scores.oom_events == 0
    assert result.scores.memory_slack == 50.0 + 110.0
    assert result.scores.memory_requested == 1300.0


def test_missing_pods_and_containers_count_nothing() -> None:
    times = 60.0 * np.arange(11)
    cpu = np.full((2, 1, 11), NAN)
    memory = np.full((2, 1, 11), NAN)
    cpu[0, 0], memory[0, 0] = CPU, MEMORY  # the second pod never existed
    trace = Trace("two pods", times, cpu, memory, ("app",))
    alone = replay_trace(hand_made(), Scripted(list(SCRIPT)), CONFIG)
    both = replay_trace(trace, Scripted(list(SCRIPT)), CONFIG)
    assert both.scores == alone.scores


def test_traces_replayed_together_score_as_alone() -> None:
    other = hand_made([2 * v for v in CPU], [2 * v for v in MEMORY])
    script = [
        tuple(_twice(part) for part in point)  # two rows: this trace's and the other's
        for point in SCRIPT
    ]
    together = replay([hand_made(), other], Batched(script), CONFIG)
    assert together[0].scores == replay_trace(hand_made(), Scripted(list(SCRIPT)), CONFIG).scores
    assert together[0].trace == "hand-made"
    assert together[1].scores.cpu_used == 2 * together[0].scores.cpu_used


def _twice(values: tuple[float, float]) -> tuple[tuple[float, float], tuple[float, float]]:
    return (values, values)


@dataclass
class Batched(Scripted):
    """``Scripted`` for several rows: each script entry holds per-row (cpu, memory) pairs."""

    def recommend(
        self, state: Any, context: Any = None, now: float | None = None
    ) -> Recommendation:
        target, lower, upper = (
            Resources(np.array([v[0] for v in part]), np.array([v[1] for v in part]))
            for part in self.script[len(self.asked_at)]
        )
        self.asked_at.append(0.0 if now is None else now)
        rows = target.cpu.size
        return Recommendation(target, lower, upper, target, np.zeros(rows), np.zeros(rows, int))


def test_traces_must_be_well_formed() -> None:
    times = 60.0 * np.arange(5)
    good = np.ones((1, 1, 5))
    with pytest.raises(ValueError, match="constant step"):
        Trace("t", np.array([0.0, 60.0, 180.0, 240.0, 300.0]), good, good, ("app",))
    with pytest.raises(ValueError, match="shaped"):
        Trace("t", times, good, np.ones((1, 2, 5)), ("app",))
    with pytest.raises(ValueError, match="both initial"):
        Trace("t", times, good, good, ("app",), initial_cpu=np.array([1.0]))
    with pytest.raises(ValueError, match="share their timestamps"):
        replay([Trace("a", times, good, good, ("app",)), Trace("b", times + 60, good, good,
               ("app",))], Scripted([]), CONFIG)  # fmt: skip


def test_scores_add_up() -> None:
    one = Scores(cpu_requested=4.0, cpu_slack=1.0, memory_requested=10.0, oom_events=1)
    two = Scores(cpu_requested=6.0, cpu_slack=4.0, changes=2)
    total = Scores.total([one, two])
    assert total == one + two
    assert total.cpu_slack_share == 0.5
    assert total.memory_slack_share == 0.0
    assert (total.oom_events, total.changes) == (1, 2)
    assert Scores().cpu_slack_share == 0.0
    assert Scores.total([]) == Scores()
