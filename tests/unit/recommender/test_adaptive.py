"""The adaptive strategy: model choice on hand-checked histories, hysteresis, the memory floor,
the OOM reaction against vpa, checkpoints, and the operator's paths that use it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fakes import FakeUsageSource, MemoryCheckpoints
from trimtab.api import kind_info
from trimtab.api.crd import crd_for
from trimtab.api.profile import RecommenderProfileSpec
from trimtab.api.vertical import VerticalScalerSpec
from trimtab.metrics.batch import ContainerKey
from trimtab.metrics.promql import Selection
from trimtab.quantity import cores, to_bytes
from trimtab.recommender.adaptive import (
    AdaptiveSettings,
    AdaptiveState,
    AdaptiveStrategy,
    Closes,
    Scores,
    bucket_percentiles,
    cpu_interval_cost,
)
from trimtab.recommender.buckets import CPU_LAYOUT, MEMORY_LAYOUT, bucket_end_percentiles
from trimtab.recommender.offline import recommend_offline
from trimtab.recommender.service import RecommenderService, ScalerRef
from trimtab.recommender.strategies import strategy_for
from trimtab.validation import validate_spec

HOUR = 3600.0
DAY = 86_400.0
MI = 2.0**20
T0 = 472_222 * HOUR  # a whole hour, like the scoring intervals
MINUTES = 60.0 * np.arange(60)


def adaptive(**block: Any) -> RecommenderProfileSpec:
    return RecommenderProfileSpec.model_validate({"strategy": "adaptive", "adaptive": block})


def strategy(**block: Any) -> AdaptiveStrategy:
    found = strategy_for(adaptive(**block))
    assert isinstance(found, AdaptiveStrategy)
    return found


def state_of(strategy_: AdaptiveStrategy, containers: int = 1) -> AdaptiveState:
    return strategy_.new_state(containers)


def end_of(value: float) -> float:
    return float(CPU_LAYOUT.ends[CPU_LAYOUT.bucket_of(np.array([value]))[0]])


def centre_of(value: float) -> float:
    bucket = CPU_LAYOUT.bucket_of(np.array([value]))[0]
    return float((CPU_LAYOUT.starts[bucket] + CPU_LAYOUT.ends[bucket]) / 2)


# -- the profile ----------------------------------------------------------------------------


def test_profile_reaches_the_strategy_in_seconds_and_sorted() -> None:
    found = strategy(halfLives=["72h", "6h"], memoryWindows=["3d", "1d"], slackWeight=0.5)
    assert found.name == "adaptive"
    assert found.settings.half_lives == (6 * HOUR, 72 * HOUR)
    assert found.settings.memory_windows == (DAY, 3 * DAY)
    assert found.settings.slack_weight == 0.5
    assert found.settings.memory_slack_weight == pytest.approx(0.1 / 2**30)
    assert found.shared.pod_memory == 250 * MI
    defaults = RecommenderProfileSpec().adaptive
    assert len(defaults.half_lives) * len(defaults.cpu_percentiles) * len(defaults.margins) <= 64


@pytest.mark.parametrize(
    ("block", "field"),
    [
        ({"halfLives": ["30m"]}, "spec.adaptive.halfLives[0]"),
        ({"memoryWindows": ["9d"]}, "spec.adaptive.memoryWindows[0]"),
        ({"cpuPercentiles": [1.5]}, "spec.adaptive.cpuPercentiles[0]"),
        ({"margins": [0.1, 0.1]}, "spec.adaptive.margins"),
        ({"switchMargin": 1.0}, "spec.adaptive.switchMargin"),
        ({"scoringInterval": "2d"}, "spec.adaptive.scoringInterval"),
        ({"slackWeight": 0}, "spec.adaptive.slackWeight"),
        (
            {
                "halfLives": ["6h", "1d", "3d"],
                "cpuPercentiles": [0.8, 0.9, 0.95, 0.99],
                "margins": [0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35],
            },
            "spec.adaptive.cpuPercentiles",
        ),
    ],
)
def test_bad_settings_name_their_field(block: dict[str, Any], field: str) -> None:
    verdict = validate_spec(kind_info("RecommenderProfile"), {"adaptive": block})
    assert not verdict.valid
    assert verdict.message.startswith(field + ":"), verdict.message


def test_the_crd_limits_the_number_of_models() -> None:
    schema = crd_for(kind_info("RecommenderProfile"))["spec"]["versions"][0]["schema"]
    block = schema["openAPIV3Schema"]["properties"]["spec"]["properties"]["adaptive"]
    rules = " ".join(rule["rule"] for rule in block["x-kubernetes-validations"])
    assert "size(self.halfLives) * size(self.cpuPercentiles) * size(self.margins)" in rules
    assert block["properties"]["halfLives"]["default"] == [
        "6h",
        "24h",
        "72h",
    ]


# -- pieces ---------------------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.lists(st.sampled_from([0.0, 0.001, 0.5, 1.0, 3.0, 1e6]), min_size=176, max_size=176),
        min_size=1,
        max_size=4,
    ),
    st.lists(st.floats(0.01, 1.0), min_size=1, max_size=3),
)
def test_bucket_percentiles_follow_the_vpa_rule(
    weights: list[list[float]], wanted: list[float]
) -> None:
    matrix = np.array(weights)
    found = bucket_percentiles(matrix, wanted)
    expected = bucket_end_percentiles(matrix, matrix.sum(axis=1), CPU_LAYOUT, wanted, 1e-4)
    values = np.where(found >= 0, CPU_LAYOUT.ends[np.maximum(found, 0)], 0.0).T
    np.testing.assert_allclose(values, expected)


def test_interval_cost_by_hand() -> None:
    # 30 samples at 0.2 cores and 30 at 1.0; a request at the end of 0.2's bucket leaves the
    # 1.0 samples above it, a request at the end of 1.0's bucket leaves none.
    counts = np.zeros((1, CPU_LAYOUT.num_buckets))
    counts[0, CPU_LAYOUT.bucket_of(np.array([0.2, 1.0]))] = 30.0
    low, high = end_of(0.2), end_of(1.0)
    found = cpu_interval_cost(counts, np.array([[low, high, np.nan]]), strategy().settings)
    slack_weight = strategy().settings.slack_weight
    low_slack = 30 * (low - centre_of(0.2))
    high_slack = 30 * (high - centre_of(0.2)) + 30 * (high - centre_of(1.0))
    assert found[0] == pytest.approx([30 + slack_weight * low_slack, slack_weight * high_slack, 0])


def close_once(scores: Scores, cost: list[float], chosen: AdaptiveSettings) -> None:
    """One close that charges ``cost`` to the models and moves no request."""
    closes = Closes(np.array([10]), np.array([[True]]), np.array([1.0]))
    scores.close(
        closes,
        np.array([[[1.0, 1.0]]]),
        lambda _m, value, _request: np.zeros(value.shape, dtype=bool),
        lambda during: np.array(cost)[None, None, :] + 0 * np.nan_to_num(during),
        chosen,
    )


def test_hysteresis_needs_the_margin() -> None:
    chosen = strategy(switchMargin=0.05).settings
    scores = Scores.empty(1, 2, first=0)
    scores.scored[:] = chosen.warm_up
    close_once(scores, [100.0, 97.0], chosen)  # 3 % cheaper: not enough
    assert scores.chosen().tolist() == [0]
    close_once(scores, [0.0, 0.0], chosen)  # without decay the sums stay: still 3 %
    assert scores.chosen().tolist() == [0]
    close_once(scores, [0.0, -4.0], chosen)  # now 100 against 93: switch
    assert scores.chosen().tolist() == [1]


def test_a_close_moves_the_requests_that_leave_their_band_and_charges_the_change() -> None:
    chosen = strategy(changeWeight=7.0).settings
    scores = Scores.empty(1, 2, first=0)
    scores.requests[:] = [[1.0, 1.0]]
    closes = Closes(np.array([3, 4]), np.array([[True], [False]]), np.array([1.0, 0.5]))
    values = np.array([[[1.05, 2.0]], [[9.0, 9.0]]])  # the second close does not touch the row
    scores.close(
        closes,
        values,
        lambda _m, value, request: value > request * 1.1,
        lambda during: np.zeros(during.shape),
        chosen,
    )
    assert scores.requests.tolist() == [[1.0, 2.0]]
    assert scores.costs.tolist() == [[0.0, 3.5]]  # 7 for the change, halved by the decay
    assert scores.values.tolist() == [[1.05, 2.0]]
    assert scores.scored.tolist() == [1]


# -- model choice on a tiny history ---------------------------------------------------------


def alternating(hours: int) -> tuple[np.ndarray, np.ndarray]:
    """Each hour, 30 minutes at 0.2 cores and 30 at 1.0."""
    times = T0 + 60.0 * np.arange(60 * hours)
    values = np.where(np.arange(times.size) % 2 == 0, 0.2, 1.0)
    return times, values


def two_models(slack_weight: float) -> AdaptiveStrategy:
    return strategy(
        halfLives=["24h"],
        cpuPercentiles=[0.5, 0.99],
        margins=[0],
        changeWeight=0,
        switchMargin=0,
        slackWeight=slack_weight,
    )


def test_the_first_scored_interval_costs_what_the_hand_says() -> None:
    chosen = two_models(0.125)
    state = state_of(chosen)
    times, values = alternating(3)  # hour 0 sets the requests, hour 1 is scored, 2 is open
    state.add_cpu_grid([0], times, values[None, :])
    low, high = end_of(0.2), end_of(1.0)  # p50 and p99 of half 0.2, half 1.0
    np.testing.assert_allclose(state.cpu.scores.requests, [[low, high]])
    low_cost = 30 + 0.125 * 30 * (low - centre_of(0.2))
    high_cost = 0.125 * (30 * (high - centre_of(0.2)) + 30 * (high - centre_of(1.0)))
    np.testing.assert_allclose(state.cpu.scores.costs, [[low_cost, high_cost]])


@pytest.mark.parametrize(("slack_weight", "expected"), [(0.125, 1), (2.0, 0)])
def test_cheap_slack_picks_the_high_model_and_dear_slack_the_low(
    slack_weight: float, expected: int
) -> None:
    # Per hour p50 costs 30 minutes short (+ a little slack), p99 about 25 core-minutes of
    # slack: p99 wins below a slack weight of about 1.2, p50 above.
    chosen = two_models(slack_weight)
    state = state_of(chosen)
    times, values = alternating(2 * 24 + 2)
    state.add_cpu_grid([0], times, values[None, :])
    assert state.cpu.scores.chosen().tolist() == [expected]
    target = chosen.recommend(state).target.cpu[0]
    assert target == pytest.approx([end_of(0.2), end_of(1.0)][expected], abs=0.001)


def test_before_a_day_is_scored_the_first_model_stays() -> None:
    chosen = two_models(2.0)
    state = state_of(chosen)
    times, values = alternating(12)
    state.add_cpu_grid([0], times, values[None, :])
    # The model nearest VPA's p90 is p99 (index 1), kept until the warm-up is over.
    assert state.cpu.scores.chosen().tolist() == [1]


def test_a_near_tie_does_not_flip_the_model() -> None:
    history: dict[float, list[int]] = {}
    for margin in (0.05, 0.0):
        chosen = strategy(
            halfLives=["24h"], cpuPercentiles=[0.9], margins=[0.0, 0.001], switchMargin=margin
        )
        state = state_of(chosen)
        rng = np.random.default_rng(5)
        picks = []
        for hour in range(72):
            times = T0 + hour * HOUR + MINUTES
            state.add_cpu_grid([0], times, rng.lognormal(-1.0, 0.3, (1, 60)))
            picks.append(int(state.cpu.scores.chosen()[0]))
        history[margin] = picks
    # Margin 0.001 is nearest VPA's 0.15, so it starts; 0 is a hair cheaper, never by 5 %.
    assert set(history[0.05]) == {1}
    assert history[0.0][-1] == 0


def test_a_level_change_moves_to_a_short_half_life() -> None:
    chosen = strategy()
    state = state_of(chosen)
    rng = np.random.default_rng(1)
    for hour in range(6 * 24):
        level = 1.0 if hour < 4 * 24 else 3.0
        times = T0 + hour * HOUR + MINUTES
        state.add_cpu_grid([0], times, level * rng.lognormal(0.0, 0.1, (1, 60)))
    h, _, _ = chosen.settings.cpu_model(state.cpu.scores.chosen())
    assert chosen.settings.half_lives[int(h[0])] < DAY
    assert chosen.recommend(state).target.cpu[0] > 3.0


# -- memory ---------------------------------------------------------------------------------


memory_histories = st.lists(
    st.tuples(st.integers(0, 5 * 24 * 6), st.integers(100, 4000)), min_size=1, max_size=60
)


@settings(max_examples=60, deadline=None)
@given(memory_histories, st.sampled_from([0.0, 0.05, 0.2]))
def test_memory_never_goes_below_the_recent_peak_plus_margin(
    samples: list[tuple[int, int]], margin: float
) -> None:
    chosen = strategy(memoryMargin=margin)
    state = state_of(chosen)
    times = T0 + 600.0 * np.array([t for t, _ in samples])
    values = MI * np.array([v for _, v in samples], dtype=np.float64)
    state.add_memory(np.zeros(times.size, dtype=int), values, times)
    recent = values[times > times.max() - DAY].max()
    assert chosen.recommend(state).target.memory[0] >= recent * (1 + margin)


@settings(max_examples=60, deadline=None)
@given(memory_histories, st.integers(0, 6000), st.integers(1, 6 * 24))
def test_after_an_oom_memory_is_at_least_what_vpa_recommends(
    samples: list[tuple[int, int]], request: int, later: int
) -> None:
    vpa = strategy_for(RecommenderProfileSpec())
    chosen = strategy()
    times = T0 + 600.0 * np.array([t for t, _ in samples])
    values = MI * np.array([v for _, v in samples], dtype=np.float64)
    killed = float(times.max()) + 600.0 * later
    targets = []
    for each in (vpa, chosen):
        state = each.new_state(1)
        state.add_cpu([0] * times.size, np.full(times.size, 0.1), times)
        state.add_memory(np.zeros(times.size, dtype=int), values, times)
        state.add_oom([0], [killed], [request * MI])
        targets.append(each.recommend(state).target.memory[0])
    assert targets[1] >= targets[0]


def test_an_oom_bumps_at_the_next_recommend_and_fades_after_a_day() -> None:
    chosen = strategy()
    state = state_of(chosen)
    times = T0 + 60.0 * np.arange(3 * 1440)
    state.add_memory_grid([0], times, np.full((1, times.size), 400 * MI))
    before = chosen.recommend(state).target.memory[0]
    state.add_oom([0], [times[-1]], [450 * MI])
    after = chosen.recommend(state).target.memory[0]
    bump = 450 * MI + 100 * MI  # max(request, peak) + max(100Mi, 20 %)
    floor = MEMORY_LAYOUT.ends[MEMORY_LAYOUT.bucket_of(np.array([bump]))[0]] * 1.15
    assert before < bump
    assert after >= floor
    later = times[-1] + 60.0 * np.arange(1, 2 * 1440)
    state.add_memory_grid([0], later, np.full((1, later.size), 400 * MI))
    assert chosen.recommend(state).target.memory[0] < floor


def test_memory_models_follow_a_drop_after_their_window() -> None:
    chosen = strategy(memoryWindows=["1d"], memoryMargins=[0.1])
    state = state_of(chosen)
    times = T0 + 60.0 * np.arange(5 * 1440)
    usage = np.where(times < T0 + 2 * DAY, 1000 * MI, 500 * MI)
    state.add_memory_grid([0], times, usage[None, :])
    assert chosen.recommend(state).target.memory[0] == pytest.approx(550 * MI, rel=0.01)


# -- properties -----------------------------------------------------------------------------


cpu_histories = st.lists(st.floats(0.001, 50.0), min_size=60, max_size=400)


@settings(max_examples=40, deadline=None)
@given(cpu_histories, st.floats(1.0, 5.0))
def test_a_sample_above_the_target_never_lowers_it(values: list[float], above: float) -> None:
    chosen = strategy()
    state = state_of(chosen)
    times = T0 + 600.0 * np.arange(len(values))
    state.add_cpu(np.zeros(len(values), dtype=int), values, times)
    state.add_memory([0], [values[-1] * 1e8], [times[-1]])
    before = chosen.recommend(state).target
    same_interval = times[-1] + min(1.0, (HOUR - times[-1] % HOUR) / 2)
    state.add_cpu([0], [before.cpu[0] * above], [same_interval])
    state.add_memory([0], [before.memory[0] * above], [same_interval])
    after = chosen.recommend(state).target
    assert after.cpu[0] >= before.cpu[0]
    assert after.memory[0] >= before.memory[0]


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 3), st.integers(2, 200), st.integers(0, 2**32 - 1))
def test_a_grid_folds_like_its_samples_in_any_order(rows: int, columns: int, seed: int) -> None:
    chosen = strategy()
    rng = np.random.default_rng(seed)
    times = T0 + 300.0 * np.arange(columns)
    cpu = rng.lognormal(-1.0, 1.0, (rows, columns))
    cpu[rng.random(cpu.shape) < 0.1] = np.nan
    memory = 4096.0 * rng.integers(1, 10**5, (rows, columns)).astype(np.float64)
    by_grid, by_samples = state_of(chosen, rows), state_of(chosen, rows)
    by_grid.add_cpu_grid(np.arange(rows), times, cpu)
    by_grid.add_memory_grid(np.arange(rows), times, memory)
    row_of, column_of = np.indices(cpu.shape)
    order = rng.permutation(cpu.size)
    keep = ~np.isnan(cpu.ravel()[order])
    by_samples.add_cpu(
        row_of.ravel()[order][keep], cpu.ravel()[order][keep], times[column_of.ravel()[order]][keep]
    )
    by_samples.add_memory(row_of.ravel(), memory.ravel(), times[column_of.ravel()])
    assert by_grid.equals(by_samples)


def feed(state: AdaptiveState, hours: int, seed: int, every: int) -> None:
    """Hours of varying usage for every row, ``every`` hours per fold."""
    rng = np.random.default_rng(seed)
    rows = state.containers
    times = T0 + 60.0 * np.arange(60 * hours)
    level = rng.choice([0.5, 1.0, 2.0], (rows, 1)) * np.where(times < T0 + hours * 1800, 1.0, 2.0)
    cpu = level * rng.lognormal(-1.0, 0.4, (rows, times.size))
    cpu[rng.random(cpu.shape) < 0.05] = np.nan
    memory = 4096.0 * np.rint(level * rng.lognormal(11.0, 0.05, (rows, times.size)))
    for start in range(0, times.size, 60 * every):
        part = slice(start, start + 60 * every)
        state.add_cpu_grid(np.arange(rows), times[part], cpu[:, part])
        state.add_memory_grid(np.arange(rows), times[part], memory[:, part])


def same_scores(one: AdaptiveState, other: AdaptiveState) -> None:
    for mine, theirs in (
        (one.cpu.scores, other.cpu.scores),
        (one.memory.scores, other.memory.scores),
    ):
        np.testing.assert_array_equal(mine.requests, theirs.requests)
        np.testing.assert_array_equal(mine.chosen(), theirs.chosen())
        np.testing.assert_allclose(mine.costs, theirs.costs, rtol=1e-12)


def test_one_fold_of_many_intervals_scores_like_a_fold_per_interval() -> None:
    chosen = strategy()
    at_once, hourly = state_of(chosen, 3), state_of(chosen, 3)
    feed(at_once, 72, seed=4, every=72)
    feed(hourly, 72, seed=4, every=1)
    same_scores(at_once, hourly)
    np.testing.assert_array_equal(
        chosen.recommend(at_once).target.cpu, chosen.recommend(hourly).target.cpu
    )


def test_walked_percentiles_are_the_searched_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    chosen = strategy()
    searched = state_of(chosen, 4)
    feed(searched, 60, seed=9, every=5)
    monkeypatch.setattr("trimtab.recommender.adaptive.cpu.TRACKING_ROWS", 1)
    walked = state_of(chosen, 4)
    feed(walked, 60, seed=9, every=5)
    same_scores(walked, searched)


# -- checkpoints ----------------------------------------------------------------------------


def busy_state(chosen: AdaptiveStrategy) -> AdaptiveState:
    state = state_of(chosen, 2)
    rng = np.random.default_rng(3)
    times = T0 + 60.0 * np.arange(2 * 1440 + 17)  # an open interval part-filled
    state.add_cpu_grid([0, 1], times, rng.lognormal(-1.0, 0.5, (2, times.size)))
    state.add_memory_grid([0, 1], times, 4096.0 * rng.integers(10**4, 10**5, (2, times.size)))
    state.add_oom([1], [times[-1]], [300 * MI])
    return state


def test_checkpoint_round_trip_is_exact_and_continues_alike() -> None:
    chosen = strategy()
    state = busy_state(chosen)
    restored = chosen.restore_state(state.to_bytes())
    assert restored.equals(state)
    np.testing.assert_array_equal(
        chosen.recommend(restored).target.memory, chosen.recommend(state).target.memory
    )
    more = T0 + 2 * DAY + 60.0 * np.arange(17, 200)
    for each in (state, restored):
        each.add_cpu_grid([0, 1], more, np.full((2, more.size), 0.3))
        each.add_memory_grid([0, 1], more, np.full((2, more.size), 200 * MI))
    assert restored.equals(state)


def test_restore_takes_the_profile_weights_only_for_the_same_family() -> None:
    state = busy_state(strategy())
    heavier = strategy(slackWeight=3.0)
    assert heavier.restore_state(state.to_bytes()).settings.slack_weight == 3.0
    other_family = strategy(halfLives=["12h"], slackWeight=3.0)
    kept = other_family.restore_state(state.to_bytes())
    assert kept.settings == state.settings
    assert kept.settings.half_lives == strategy().settings.half_lives
    assert isinstance(AdaptiveSettings.from_meta(state.settings.to_meta()), AdaptiveSettings)


def test_the_strategy_refuses_another_state() -> None:
    with pytest.raises(TypeError):
        strategy().recommend(strategy_for(RecommenderProfileSpec()).new_state(1))


# -- the operator's paths -------------------------------------------------------------------


NOW = 1_700_000_040.0
KEYS = tuple(ContainerKey("shop", "Deployment", "web", "app", f"web-abc-{i}") for i in range(2))
SPEC = VerticalScalerSpec.model_validate({"targetRef": {"kind": "Deployment", "name": "web"}})
REF = ScalerRef("shop", "web", "uid-web", "Deployment", "web")


def test_the_service_recommends_and_restores_with_the_adaptive_strategy() -> None:
    source = FakeUsageSource(KEYS)
    store = MemoryCheckpoints()
    clock = [NOW]
    first = RecommenderService(source, store, checkpoint_interval=0.0, clock=lambda: clock[0])
    (entry,) = first.recommend(REF, SPEC, adaptive()).recommendations
    assert entry["sampleCount"] == 2 * 8 * 1440
    assert 0.5 <= cores(entry["target"]["cpu"]) <= 0.7  # a constant 0.5 cores, one bucket up
    assert to_bytes(entry["target"]["memory"]) >= 300e6 * 1.05
    assert store.saved[("shop", "web")].strategy == "adaptive"
    restarted = RecommenderService(source, store, clock=lambda: clock[0])
    clock[0] += 60
    (again,) = restarted.recommend(REF, SPEC, adaptive()).recommendations
    assert source.reads[-1][1] == NOW - 60  # restored: only what is new is read
    assert again["sampleCount"] == entry["sampleCount"] + 2


class FakeReader:
    """The two calls the offline report makes of the usage reader."""

    def __init__(self, source: FakeUsageSource) -> None:
        self.source = source

    def read(self, selection: Selection, start: float, end: float) -> Any:
        return self.source.read(selection, start, end)

    def current_requests(self, selection: Selection, at: float) -> dict[Any, Any]:
        return {}


def test_the_offline_report_accepts_the_adaptive_strategy() -> None:
    reader = FakeReader(FakeUsageSource(KEYS, cpu=1.5))
    (row,) = recommend_offline(reader, [Selection("shop")], adaptive(), NOW)  # type: ignore[arg-type]
    assert row.samples == 2 * 8 * 1440
    assert 1.5 <= row.cpu_target <= 1.5 * 1.05 * 1.3
    assert row.cpu_lower <= row.cpu_target <= row.cpu_upper
    assert row.memory_lower <= row.memory_target <= row.memory_upper
