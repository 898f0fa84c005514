"""The quality tables: totals per class and overall, and the adaptive-vs-vpa goal.

Totals add the sums of every trace of a group (``Scores`` are sums, see trimtab.quality.scores)
and take shares of the totals, so a large workload weighs as much as its requests do. "vs vpa"
compares total slack (core-minutes, byte-minutes) with the vpa strategy's on the same traces.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from benchkit.grid import GridRow
from trimtab.quality import Scores

BASELINE = "vpa"
SLACK_CUT = 0.25
"""The goal: at least 25 % less total slack than vpa, CPU and memory separately..."""
CHANGES_RATIO = 2.0
"""... with no more OOM events or shortfall minutes, and at most twice the changes."""


@dataclass(frozen=True)
class Outcome:
    """One strategy on one trace."""

    seed_set: str
    group: str
    size: str
    seed: int
    trace: str
    strategy: str
    scores: Scores

    def as_dict(self) -> dict[str, Any]:
        return {
            "seed_set": self.seed_set,
            "group": self.group,
            "size": self.size,
            "seed": self.seed,
            "trace": self.trace,
            "strategy": self.strategy,
            "scores": self.scores.as_dict(),
        }


def matching(
    outcomes: Sequence[Outcome],
    strategy: str,
    seed_set: str | None = None,
    groups: Sequence[str] | None = None,
    sizes: Sequence[str] | None = None,
) -> list[Outcome]:
    """The outcomes of ``strategy`` on the traces that match every filter given."""
    return [
        o
        for o in outcomes
        if o.strategy == strategy
        and (seed_set is None or o.seed_set == seed_set)
        and (groups is None or o.group in groups)
        and (sizes is None or o.size in sizes)
    ]


def totals(
    outcomes: Sequence[Outcome],
    strategy: str,
    seed_set: str | None = None,
    groups: Sequence[str] | None = None,
    sizes: Sequence[str] | None = None,
) -> Scores:
    """The summed scores of ``strategy`` over the matching traces."""
    return Scores.total(o.scores for o in matching(outcomes, strategy, seed_set, groups, sizes))


@dataclass(frozen=True)
class Section:
    """A block of the quality table: the traces of some classes (and sizes)."""

    label: str
    groups: Sequence[str]
    sizes: Sequence[str] | None = None

    def totals(self, outcomes: Sequence[Outcome], strategy: str, seed_set: str) -> Scores:
        return totals(outcomes, strategy, seed_set, self.groups, self.sizes)

    def count(self, outcomes: Sequence[Outcome], strategy: str, seed_set: str) -> int:
        return len(matching(outcomes, strategy, seed_set, self.groups, self.sizes))


def change(mine: float, base: float) -> float | None:
    """``mine / base - 1``, or None when the baseline is zero."""
    return mine / base - 1.0 if base > 0 else None


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.0%}"


def share(value: float) -> str:
    return f"{value:.1%}"


def quality_rows(
    outcomes: Sequence[Outcome],
    seed_set: str,
    strategies: Sequence[str],
    sections: Sequence[Section],
) -> list[GridRow]:
    """Per section (a class, a size, or a union of classes), one row per strategy."""
    rows: list[GridRow] = []
    for section in sections:
        base = section.totals(outcomes, BASELINE, seed_set)
        for index, strategy in enumerate(strategies):
            mine = section.totals(outcomes, strategy, seed_set)
            shortfall = mine.cpu_shortfall_minutes
            rows.append(
                [
                    section.label if index == 0 else "",
                    strategy,
                    str(section.count(outcomes, strategy, seed_set)),
                    share(mine.cpu_slack_share),
                    percent(change(mine.cpu_slack, base.cpu_slack)),
                    share(mine.memory_slack_share),
                    percent(change(mine.memory_slack, base.memory_slack)),
                    f"{mine.oom_events:,}",
                    f"{shortfall:,.0f}",
                    share(shortfall / mine.cpu_minutes) if mine.cpu_minutes else "n/a",
                    f"{mine.changes:,}",
                ]
            )
    return rows


QUALITY_COLUMNS = [
    "class",
    "strategy",
    "traces",
    "CPU slack",
    "vs vpa",
    "mem slack",
    "vs vpa",
    "OOM events",
    "CPU short min",
    "of minutes",
    "changes",
]


def goal(outcomes: Sequence[Outcome], seed_set: str, strategy: str) -> dict[str, Any]:
    """``strategy`` against vpa on every trace of ``seed_set``: each condition of the goal,
    its figures and whether it holds."""
    base = totals(outcomes, BASELINE, seed_set)
    mine = totals(outcomes, strategy, seed_set)
    checks = [
        ("CPU slack (core-min)", base.cpu_slack, mine.cpu_slack, (1 - SLACK_CUT) * base.cpu_slack),
        (
            "memory slack (GiB-min)",
            base.memory_slack / 2**30,
            mine.memory_slack / 2**30,
            (1 - SLACK_CUT) * base.memory_slack / 2**30,
        ),
        ("OOM events", base.oom_events, mine.oom_events, base.oom_events),
        (
            "CPU shortfall minutes",
            base.cpu_shortfall_minutes,
            mine.cpu_shortfall_minutes,
            base.cpu_shortfall_minutes,
        ),
        ("request changes", base.changes, mine.changes, CHANGES_RATIO * base.changes),
    ]
    found = [
        {
            "what": what,
            "vpa": float(theirs),
            strategy: float(ours),
            "limit": float(limit),
            "change": change(float(ours), float(theirs)),
            "met": float(ours) <= float(limit),
        }
        for what, theirs, ours, limit in checks
    ]
    # Not a condition of the goal, but what the minutes hide: how far usage went above the
    # request. A strategy can trade fewer short minutes for deeper ones.
    depth = {
        "what": "CPU shortfall (core-min)",
        "vpa": float(base.cpu_shortfall),
        strategy: float(mine.cpu_shortfall),
        "change": change(float(mine.cpu_shortfall), float(base.cpu_shortfall)),
    }
    return {"strategy": strategy, "seed_set": seed_set, "checks": found, "context": [depth]}


def goal_rows(found: dict[str, Any]) -> list[GridRow]:
    strategy = found["strategy"]
    return [
        [
            check["what"],
            f"{check['vpa']:,.0f}",
            f"{check[strategy]:,.0f}",
            percent(check["change"]),
            f"<= {check['limit']:,.0f}",
            "met" if check["met"] else "missed",
        ]
        for check in found["checks"]
    ] + [
        [
            info["what"],
            f"{info['vpa']:,.0f}",
            f"{info[strategy]:,.0f}",
            percent(info["change"]),
            "not in the goal",
            "",
        ]
        for info in found.get("context", [])
    ]
