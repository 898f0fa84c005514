"""Durations as people write them in Trimtab's custom resources: ``90s``, ``15m``, ``24h``, ``8d``.

Kubernetes' own Go durations stop at hours, but history windows are naturally said in days, so
Trimtab accepts days too. One parser for every duration field keeps the rule in one place.
"""

from __future__ import annotations

import re

DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h|d))+$"
"""The OpenAPI pattern of a duration field: one or more number+unit parts, e.g. ``1h30m``."""

_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)")
_SECONDS_PER_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class DurationError(ValueError):
    """A text that is not a duration; the message names the text."""


def parse_duration(text: str) -> float:
    """Return the duration ``text`` in seconds, e.g. ``"1h30m"`` -> 5400.0."""
    if not isinstance(text, str) or not re.fullmatch(DURATION_PATTERN, text):
        raise DurationError(
            f"{text!r} is not a duration: use numbers with units (ms, s, m, h, d), "
            "e.g. '90s', '1h30m' or '8d'"
        )
    return sum(float(number) * _SECONDS_PER_UNIT[unit] for number, unit in _PART.findall(text))


def format_duration(seconds: float) -> str:
    """Print ``seconds`` compactly in the largest whole units, e.g. 93600 -> ``"1d2h"``."""
    if seconds < 0:
        raise DurationError(f"{seconds!r} is negative: durations are never negative")
    whole = int(seconds)
    if whole != seconds:
        return f"{round(seconds * 1000)}ms"
    parts = []
    for unit in ("d", "h", "m", "s"):
        size = int(_SECONDS_PER_UNIT[unit])
        count, whole = divmod(whole, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
