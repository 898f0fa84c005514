"""Splitting a time range into range queries Prometheus accepts (pure arithmetic).

Evaluation times lie on a grid of multiples of the step (unix seconds), whatever the range's
ends: consecutive reads and chunks then evaluate at the same instants, so an incremental read
continues exactly where the last one stopped, with nothing read twice and nothing skipped.

Two server limits bound a range query:
- 11,000 points per series (`exceeded maximum resolution`): 14 days at a 60 s step is 20,160
  points, so it takes two queries.
- `--query.max-samples` (50 million by default) on the samples held at once. For our usage
  queries Prometheus 2.42 reports a peak of about 2 x series x points (`stats=all`: the inner
  irate/max_over_time result plus the `max by` result), so a chunk is also shortened when the
  namespace has so many series that series x points x 2 would pass the configured budget.
Chunks of one range are balanced (their lengths differ by at most one point) rather than
11,000 + remainder, which keeps every query's cost about the same.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Peak samples Prometheus holds per (series x point) of a `max by (...) (irate(...))` query.
SAMPLES_PER_POINT = 2


@dataclass(frozen=True)
class Chunk:
    """Evaluation times first, first + step, ..., last (both included) of one range query."""

    first: float
    last: float
    step_s: float

    @property
    def points(self) -> int:
        return round((self.last - self.first) / self.step_s) + 1

    @property
    def end(self) -> float:
        """Exclusive end: the next grid time after `last`."""
        return self.last + self.step_s

    def split(self) -> tuple[Chunk, Chunk]:
        """Two halves (for a retry after Prometheus refused this chunk as too big)."""
        if self.points < 2:
            raise ValueError("a one-point chunk cannot be split")
        head = self.points // 2
        middle = self.first + head * self.step_s
        return Chunk(self.first, middle - self.step_s, self.step_s), Chunk(
            middle, self.last, self.step_s
        )


def check_step(step_s: float) -> float:
    """The step as a float; it must be a positive whole number of seconds, because the
    Prometheus client sends range ends as whole seconds."""
    step = float(step_s)
    if not (step >= 1 and step.is_integer()):
        raise ValueError(f"step must be a whole number of seconds >= 1, not {step_s!r}")
    return step


def grid(start: float, end: float, step_s: float) -> Chunk | None:
    """The grid times in [start, end) as one chunk, or None when there are none."""
    step = check_step(step_s)
    first_index = math.ceil(start / step)
    end_index = math.ceil(end / step)  # exclusive
    if end_index <= first_index:
        return None
    return Chunk(first_index * step, (end_index - 1) * step, step)


def points_per_query(series: int, max_points: int, max_samples: int) -> int:
    """Longest chunk, in points, for a query answering about `series` series."""
    if max_points < 1:
        raise ValueError("max_points must be at least 1")
    by_samples = max_samples // (SAMPLES_PER_POINT * max(series, 1))
    return max(1, min(max_points, by_samples))


def plan(span: Chunk, max_points: int) -> list[Chunk]:
    """`span` cut into the fewest balanced chunks of at most `max_points` points each."""
    if max_points < 1:
        raise ValueError("max_points must be at least 1")
    total = span.points
    count = math.ceil(total / max_points)
    base, longer = divmod(total, count)
    chunks = []
    first_index = round(span.first / span.step_s)
    for number in range(count):
        points = base + (1 if number < longer else 0)
        chunks.append(
            Chunk(
                first_index * span.step_s,
                (first_index + points - 1) * span.step_s,
                span.step_s,
            )
        )
        first_index += points
    return chunks


def plan_range(
    start: float,
    end: float,
    step_s: float,
    max_points: int,
    *,
    series: int = 1,
    max_samples: int | None = None,
) -> list[Chunk]:
    """Chunks covering the grid times in [start, end): each at most `max_points` points and,
    given about `series` series, within `max_samples` samples held at once."""
    span = grid(start, end, step_s)
    if span is None:
        return []
    limit = max_points if max_samples is None else points_per_query(series, max_points, max_samples)
    return plan(span, limit)
