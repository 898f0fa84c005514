"""Recommender decision quality: slack, OOM kills, CPU shortfall and request changes.

    .venv/bin/python benchmarks/recommender_quality.py [--quick] [--seeds tuning|held-out|both]
                                                       [--chart FILE] [--json FILE] [--jobs J]

Every strategy replays the same usage traces through trimtab.quality's harness: at each update
point (hourly, after a warm-up) it recommends from the past alone; the VPA updater's rules
decide whether the recommendation becomes the request (memory limit = request); each interval
is then scored against the usage that follows. Definitions (trimtab.quality.scores): slack =
the unused part of the request over the request; CPU shortfall minutes = minutes with usage
above the request; an OOM event = a run of minutes with memory above the limit; a change = a
workload container's request changing at an update point (its pods restart).

Strategies: `vpa` (the default profile: the VPA recommender), `percentile` configured as KRR
(CPU p95 without margin, memory peak + 15 %, 14-day window; floors and rounding as vpa), and
`adaptive` when the profile API and `strategy_for` know it (otherwise the table says it is not
available and the run goes on). `hand-set` is a fixed reference: the requests a cautious team
writes (2x the CPU level, 1.5x the memory level), never changed, with memory limits at twice
the requests as such teams write them (the strategies run with limit = request).

Traces (benchmarks/quality/traces.py): the generator's seven workload classes and four shapes
real clusters show (JVM heap that never shrinks, nightly batch, weekly cycle, slow leak with
restarts), each at three sizes with replicas that differ, over 16 days of which the first 2
are warm-up (--quick: one size, 5 days, 1 day warm-up, the first seed of each set). Two seed
sets: `tuning` (seeds 1-3) may be looked at while tuning, `held-out` (101-103) must not be.

The goal for `adaptive` (from the issue), on every trace of a seed set, against vpa: at least
25 % less total slack (CPU and memory separately), no more OOM events and no more CPU shortfall
minutes, at most twice the request changes. The verdict is printed; it never sets the exit
status. Traces run in parallel (--jobs, default up to 2 processes), one class and seed set per
task, all strategies on the same traces. --chart writes a PNG (matplotlib, Agg) of slack
against shortfall and OOM events per strategy and class. The last line printed is one
`key=value` summary.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from benchkit.grid import print_grid
from benchkit.report import machine, summary_line, write_json
from quality.reference import HAND_SET, LIMIT_RATIO, HandSet
from quality.report import (
    BASELINE,
    QUALITY_COLUMNS,
    Outcome,
    Section,
    change,
    goal,
    goal_rows,
    quality_rows,
    totals,
)
from quality.traces import (
    FULL,
    GENERATOR_CLASSES,
    GROUPS,
    QUICK,
    SEED_SETS,
    SHAPES,
    SuiteSize,
    build,
    suite,
)
from trimtab.api.profile import RecommenderProfileSpec, ResourceEstimator
from trimtab.quality import ReplayConfig, replay
from trimtab.recommender.strategies import Strategy, strategy_for

DAY_S = 86_400.0
UPDATE_EVERY_S = 3600.0
DEFAULT_CHART = Path(__file__).resolve().parent / "out" / "recommender_quality.png"
"""Under benchmarks/out/; *.png is ignored by git."""
CANDIDATE = "adaptive"
STRATEGIES = (BASELINE, "percentile", CANDIDATE)


def profile_for(name: str) -> RecommenderProfileSpec:
    """The profile each strategy is measured with (see the module doc)."""
    if name == "percentile":
        return RecommenderProfileSpec(
            strategy="percentile",
            cpu=ResourceEstimator(target_percentile=0.95, upper_percentile=0.95, margin=0.0),
            memory=ResourceEstimator(margin=0.15),
            history_window="14d",
        )
    return RecommenderProfileSpec(strategy=name)


def unavailable(name: str) -> str | None:
    """Why ``name`` cannot be measured yet, or None when it can."""
    try:
        strategy = strategy_for(profile_for(name))
    except ValueError as error:  # pydantic's ValidationError is a ValueError
        first = str(error).splitlines()[:3]
        return f"the profile API does not accept it yet ({' '.join(first)[:120]}...)"
    if strategy.name != name:
        return f"strategy_for builds {strategy.name!r} for it"
    return None


def _strategy(name: str, hand_set: tuple[np.ndarray, np.ndarray]) -> Strategy:
    if name == HAND_SET:
        return HandSet(*hand_set)
    return strategy_for(profile_for(name))


def run_task(task: tuple[str, str, tuple[int, ...], SuiteSize, tuple[str, ...]]) -> dict[str, Any]:
    """Build one class's traces of one seed set and replay them with every strategy."""
    seed_set, group, seeds, size, strategies = task
    began = time.perf_counter()
    built = [build(spec, size.days) for spec in suite([group], seeds, size)]
    built_s = time.perf_counter() - began
    traces = [b.trace for b in built]
    hand_set = (
        np.concatenate([b.hand_set_cpu for b in built]),
        np.concatenate([b.hand_set_memory for b in built]),
    )
    config = ReplayConfig(warmup_s=size.warmup_days * DAY_S, update_every_s=UPDATE_EVERY_S)
    reference = replace(config, limit_ratio=LIMIT_RATIO)
    outcomes: list[Outcome] = []
    replay_s: dict[str, float] = {}
    points = 0
    for name in strategies:
        started = time.perf_counter()
        results = replay(
            traces, _strategy(name, hand_set), reference if name == HAND_SET else config
        )
        replay_s[name] = time.perf_counter() - started
        points = results[0].update_times.size
        outcomes.extend(
            Outcome(seed_set, b.spec.group, b.spec.size, b.spec.seed, r.trace, name, r.scores)
            for b, r in zip(built, results, strict=True)
        )
    return {
        "seed_set": seed_set,
        "group": group,
        "traces": len(traces),
        "containers": sum(len(t.containers) for t in traces),
        "update_points": points,
        "build_s": built_s,
        "replay_s": replay_s,
        "seconds": time.perf_counter() - began,
        "outcomes": outcomes,
    }


def progress(message: str) -> None:
    """Progress goes to stderr: stdout ends with the summary line."""
    print(f"[recommender quality] {message}", file=sys.stderr, flush=True)


def run_all(tasks: Sequence[Any], jobs: int) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []

    def done(result: dict[str, Any]) -> None:
        results.append(result)
        progress(
            f"{result['seed_set']} {result['group']}: {result['traces']} traces in"
            f" {result['seconds']:.1f} s ({len(results)}/{len(tasks)})"
        )

    if jobs == 1:
        for task in tasks:
            done(run_task(task))
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            for result in pool.map(run_task, tasks):
                done(result)
    return results


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one size, 5 days, one seed per set")
    parser.add_argument(
        "--seeds",
        choices=("tuning", "held-out", "both"),
        default="both",
        help="which seed set(s) to run (default both)",
    )
    parser.add_argument(
        "--chart",
        type=Path,
        default=DEFAULT_CHART,
        metavar="FILE",
        help="PNG to write (default benchmarks/out/recommender_quality.png)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write every figure as JSON")
    parser.add_argument(
        "--jobs", type=int, default=min(2, os.cpu_count() or 1), help="processes (default <= 2)"
    )
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    return args


def sections(size: SuiteSize) -> list[Section]:
    """Each class, each size (when there are several), the two families, everything."""
    by_size = size.sizes if len(size.sizes) > 1 else ()
    return [
        *(Section(group, (group,)) for group in GROUPS),
        *(Section(f"size {name}", GROUPS, (name,)) for name in by_size),
        Section("generator classes", GENERATOR_CLASSES),
        Section("real-world shapes", SHAPES),
        Section("all traces", GROUPS),
    ]


def print_tables(
    outcomes: Sequence[Outcome],
    seed_sets: Sequence[str],
    strategies: Sequence[str],
    size: SuiteSize,
) -> dict[str, dict[str, Any]]:
    """The quality table of each seed set, and the goal table when the candidate ran."""
    goals: dict[str, dict[str, Any]] = {}
    for seed_set in seed_sets:
        seeds = ", ".join(
            str(s) for s in sorted({o.seed for o in outcomes if o.seed_set == seed_set})
        )
        print_grid(
            f"Recommender quality, {seed_set} seeds ({seeds}): totals per class over sizes and"
            " seeds; slack = unused share of the request, 'vs vpa' = change of total slack",
            QUALITY_COLUMNS,
            quality_rows(outcomes, seed_set, strategies, sections(size)),
            align="llrrrrrrrrr",
        )
        print(
            f"({HAND_SET}: fixed requests with memory limits at {LIMIT_RATIO:g}x them; every"
            " strategy runs with memory limit = request)\n"
        )
        if CANDIDATE in strategies:
            goals[seed_set] = goal(outcomes, seed_set, CANDIDATE)
            print_grid(
                f"Goal, {seed_set} seeds: {CANDIDATE} against vpa on every trace",
                ["condition", "vpa", CANDIDATE, "change", "limit", "verdict"],
                goal_rows(goals[seed_set]),
                align="lrrrrl",
            )
            print()
    return goals


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    size = QUICK if args.quick else FULL
    seed_sets = ["tuning", "held-out"] if args.seeds == "both" else [args.seeds]
    missing = {name: why for name in STRATEGIES if (why := unavailable(name)) is not None}
    for name, why in missing.items():
        print(f"strategy {name!r} is not available: {why}")
    strategies = tuple(s for s in STRATEGIES if s not in missing)
    if BASELINE not in strategies:
        raise SystemExit("the vpa baseline must be available")
    measured = (*strategies, HAND_SET)
    tasks = [
        (seed_set, group, SEED_SETS[seed_set][:1] if args.quick else SEED_SETS[seed_set], size,
         measured)
        for seed_set in seed_sets
        for group in GROUPS
    ]  # fmt: skip
    began = time.perf_counter()
    results = run_all(tasks, args.jobs)
    wall = time.perf_counter() - began
    outcomes = [o for r in results for o in r["outcomes"]]

    print()
    goals = print_tables(outcomes, seed_sets, measured, size)
    replay_s = {name: sum(r["replay_s"][name] for r in results) for name in measured}
    traces = sum(r["traces"] for r in results)
    points = results[0]["update_points"]
    print_grid(
        "Run:",
        ["measurement", "value", "note"],
        [
            ["wall time", f"{wall:.1f} s", f"{len(tasks)} tasks in {args.jobs} process(es)"],
            ["traces", f"{traces}", f"{size.days:g} days each, {size.warmup_days:g} warm-up,"
             f" sizes {', '.join(size.sizes)}"],
            ["update points per trace", f"{points}", f"every {UPDATE_EVERY_S / 60:g} min"],
            ["building traces", f"{sum(r['build_s'] for r in results):.1f} s", "summed"],
            *([f"replay {name}", f"{seconds:.1f} s", "summed over tasks"]
              for name, seconds in replay_s.items()),
        ],
        align="lrl",
    )  # fmt: skip

    chart = None
    try:
        from trimtab.charts import draw

        seeds_text = " + ".join(seed_sets)
        draw(
            {strategy: totals(outcomes, strategy) for strategy in measured},
            args.chart,
            f"Recommender quality, {seeds_text} seeds, {traces // max(len(seed_sets), 1)} traces"
            " per seed set (large markers: all traces; small: per class)",
            {group: {s: totals(outcomes, s, groups=[group]) for s in measured} for group in GROUPS},
        )
        chart = str(args.chart)
        print(f"\nchart written to {chart}")
    except ImportError:
        print("\nno chart: matplotlib is not installed (pip install -e '.[charts]')")

    line = summary(outcomes, strategies, goals, traces, wall)
    if args.json:
        write_json(
            args.json,
            {
                "machine": machine(),
                "suite": asdict(size),
                "seed_sets": {name: list(SEED_SETS[name]) for name in seed_sets},
                "update_every_s": UPDATE_EVERY_S,
                "strategies": list(measured),
                "unavailable": missing,
                "profiles": {
                    name: profile_for(name).model_dump(by_alias=True) for name in strategies
                },
                "outcomes": [o.as_dict() for o in outcomes],
                "totals": {
                    seed_set: {
                        name: {
                            section.label: section.totals(outcomes, name, seed_set).as_dict()
                            for section in sections(size)
                        }
                        for name in measured
                    }
                    for seed_set in seed_sets
                },
                "goals": goals,
                "chart": chart,
                "summary": line,
            },
        )
    print(summary_line(line))
    return 0


def summary(
    outcomes: Sequence[Outcome],
    strategies: Sequence[str],
    goals: dict[str, dict[str, Any]],
    traces: int,
    wall: float,
) -> dict[str, Any]:
    """Totals over every trace run, per strategy, and the candidate against vpa."""
    line: dict[str, Any] = {}
    base = totals(outcomes, BASELINE)
    for name in STRATEGIES:
        mine = totals(outcomes, name) if name in strategies else None
        key = name.replace("-", "_")
        line[f"{key}_cpu_slack"] = None if mine is None else mine.cpu_slack_share
        line[f"{key}_memory_slack"] = None if mine is None else mine.memory_slack_share
        line[f"{key}_oom_events"] = None if mine is None else mine.oom_events
        line[f"{key}_shortfall_min"] = None if mine is None else round(mine.cpu_shortfall_minutes)
        line[f"{key}_changes"] = None if mine is None else mine.changes
    candidate = totals(outcomes, CANDIDATE) if CANDIDATE in strategies else None
    for what in ("cpu_slack", "memory_slack", "changes"):
        value = None
        if candidate is not None:
            value = change(float(getattr(candidate, what)), float(getattr(base, what)))
        line[f"{CANDIDATE}_vs_vpa_{what}_pct"] = None if value is None else 100 * value
    for seed_set in ("tuning", "held-out"):
        found = goals.get(seed_set)
        verdict = None
        if found is not None:
            verdict = "met" if all(c["met"] for c in found["checks"]) else "missed"
        line[f"goal_{seed_set.replace('-', '_')}"] = verdict
    line["traces"] = traces
    line["wall_s"] = wall
    return line


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
