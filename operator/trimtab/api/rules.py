"""Cross-field checks shared by the models, each paired with the CEL rule the CRD carries.

The apiserver enforces the CEL rule at admission; the pydantic check gives the operator the
same verdict for objects that reached it anyway (older CRD, `--validate=false`) and names the
field in the Invalid condition.
"""

from __future__ import annotations

from trimtab.api.common import cel_rule
from trimtab.quantity import parse_quantity


class FieldError(ValueError):
    """A problem with one field, named by its path relative to the model that found it.

    Validation turns the relative path into the full one (``spec.minReplicas``) for the
    Invalid condition.
    """

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def check_quantity_order(low: str | None, high: str | None, low_path: str, high_path: str) -> None:
    """Refuse `low` > `high` when both are set."""
    if low is not None and high is not None and parse_quantity(low) > parse_quantity(high):
        raise FieldError(low_path, f"{low} must not be greater than {high_path} ({high})")


def check_number_order(
    low: float | None, high: float | None, low_path: str, high_path: str
) -> None:
    """Refuse `low` > `high` when both are set."""
    if low is not None and high is not None and low > high:
        raise FieldError(low_path, f"{low} must not be greater than {high_path} ({high})")


def cel_quantity_order(low: str, high: str) -> dict[str, str]:
    """CEL rule: quantity field `low` <= `high` when both are set (paths relative to self)."""
    present = " && ".join(f"has(self.{path})" for path in _with_parents(low) + _with_parents(high))
    compare = f"quantity(string(self.{low})).compareTo(quantity(string(self.{high}))) <= 0"
    return cel_rule(
        f"!({present}) || {compare}", f"{low} must not be greater than {high}", f".{low}"
    )


def cel_number_order(low: str, high: str) -> dict[str, str]:
    """CEL rule: number field `low` <= `high` when both are set."""
    present = " && ".join(f"has(self.{path})" for path in _with_parents(low) + _with_parents(high))
    return cel_rule(
        f"!({present}) || self.{low} <= self.{high}",
        f"{low} must not be greater than {high}",
        f".{low}",
    )


def _with_parents(path: str) -> list[str]:
    """`a.b.c` -> `[a, a.b, a.b.c]`: CEL needs each level tested with `has`."""
    parts = path.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]
