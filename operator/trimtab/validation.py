"""Validate a custom resource against its model and say, in one sentence, what is wrong.

The verdict names the offending field by its path in the object (``spec.metrics[0].type``) so
that the Invalid condition tells the user exactly what to fix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from trimtab.api.common import ApiModel
from trimtab.api.registry import KindInfo
from trimtab.api.rules import FieldError
from trimtab.conditions import make_condition, merge_conditions

MAX_ERRORS_SHOWN = 3


@dataclass(frozen=True)
class Verdict:
    """The outcome of validating one object's spec."""

    spec: ApiModel | None
    """The parsed spec when valid."""
    problems: tuple[str, ...] = ()
    """One line per problem, each starting with the field path."""

    @property
    def valid(self) -> bool:
        return self.spec is not None

    @property
    def message(self) -> str:
        if self.valid:
            return "the spec is valid"
        shown = "; ".join(self.problems[:MAX_ERRORS_SHOWN])
        hidden = len(self.problems) - MAX_ERRORS_SHOWN
        return shown + (f" (and {hidden} more)" if hidden > 0 else "")


def validate_spec(info: KindInfo, spec: Mapping[str, Any] | None) -> Verdict:
    """Parse ``spec`` with the kind's model; never raises for bad input."""
    if spec is None:
        return Verdict(None, ("spec: is required",))
    try:
        return Verdict(info.spec_model.model_validate(dict(spec)))
    except ValidationError as error:
        return Verdict(None, tuple(_describe(problem) for problem in error.errors()))


def field_path(location: Sequence[str | int], root: str = "spec") -> str:
    """``("metrics", 0, "type")`` -> ``spec.metrics[0].type``."""
    path = root
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _describe(problem: Mapping[str, Any]) -> str:
    cause = problem.get("ctx", {}).get("error")
    if isinstance(cause, FieldError):
        return f"{field_path([*problem['loc'], *cause.field.split('.')])}: {cause.problem}"
    message = str(problem["msg"]).removeprefix("Value error, ")
    if problem["type"] == "extra_forbidden":
        message = "is not a known field (check the spelling)"
    elif problem["type"] not in ("value_error", "missing") and _is_scalar(problem.get("input")):
        message += f" (got {problem['input']!r})"
    return f"{field_path(problem['loc'])}: {message}"


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def validity_status(
    verdict: Verdict,
    generation: int | None,
    existing_conditions: Sequence[Mapping[str, Any]] | None,
    now: str,
) -> dict[str, Any]:
    """The status patch that records a verdict: observedGeneration, Ready and Invalid."""
    if verdict.valid:
        updates = [
            make_condition("Ready", "True", "Valid", verdict.message, now, generation),
            make_condition("Invalid", "False", "Valid", verdict.message, now, generation),
        ]
    else:
        updates = [
            make_condition("Ready", "False", "InvalidSpec", verdict.message, now, generation),
            make_condition("Invalid", "True", "InvalidSpec", verdict.message, now, generation),
        ]
    return {
        "observedGeneration": generation,
        "conditions": merge_conditions(existing_conditions, updates),
    }
