from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trimtab.durations import DurationError, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("15m", 900),
        ("24h", 86400),
        ("8d", 691200),
        ("1h30m", 5400),
        ("250ms", 0.25),
        ("1.5h", 5400),
        ("0s", 0),
    ],
)
def test_parse(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "1w", "-5s", "1 h", "h", "1h-5m"])
def test_bad_duration_names_the_text(text: str) -> None:
    with pytest.raises(DurationError, match=repr(text).replace("(", r"\(")):
        parse_duration(text)


@given(st.integers(min_value=0, max_value=10**8))
def test_format_round_trips(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


def test_format_uses_largest_units() -> None:
    assert format_duration(93600) == "1d2h"
    assert format_duration(0.25) == "250ms"
