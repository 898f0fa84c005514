"""Label selectors in their text form, as a scale subresource reports them.

A Scale's ``status.selector`` is the serialised label selector of the target's pods
(``app=web,tier in (a,b),!canary``). The scaler matches the pods it already holds in memory
against it instead of asking the API server to filter, so the grammar is parsed here:

    requirement   key=value | key==value | key!=value | key in (v1,v2) | key notin (v1,v2)
                  | key | !key
    selector      requirements separated by commas (commas inside parentheses belong to a set)

The meaning is the API server's: ``!=`` and ``notin`` also match pods without the label, and
an empty selector matches every pod. The caller decides what an empty selector means for it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

Operator = Literal["=", "!=", "in", "notin", "exists", "!"]
Labels = Mapping[str, str]

_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_EQUALITY = re.compile(rf"^\s*(?P<key>{_KEY})\s*(?P<op>==|=|!=)\s*(?P<value>{_VALUE})\s*$")
_SET = re.compile(rf"^\s*(?P<key>{_KEY})\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)\s*$")
_EXISTS = re.compile(rf"^\s*(?P<neg>!?)\s*(?P<key>{_KEY})\s*$")


class SelectorError(ValueError):
    """Text that is not a label selector; the message quotes the part that failed."""


@dataclass(frozen=True)
class Requirement:
    """One condition on one label."""

    key: str
    operator: Operator
    values: frozenset[str] = frozenset()

    def matches(self, labels: Labels) -> bool:
        """Whether ``labels`` satisfy this requirement."""
        present = self.key in labels
        if self.operator == "exists":
            return present
        if self.operator == "!":
            return not present
        if self.operator in ("=", "in"):
            return present and labels[self.key] in self.values
        return not present or labels[self.key] not in self.values


@dataclass(frozen=True)
class Selector:
    """All requirements must hold; no requirement matches every set of labels."""

    requirements: tuple[Requirement, ...]

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, labels: Labels) -> bool:
        """Whether ``labels`` satisfy every requirement."""
        return all(requirement.matches(labels) for requirement in self.requirements)


def parse_selector(text: str) -> Selector:
    """Parse the text form of a label selector; raises :class:`SelectorError` if malformed."""
    return Selector(tuple(_requirement(part) for part in _split(text)))


def selector_matcher(text: str) -> Callable[[Labels], bool]:
    """``parse_selector(text).matches``, for filtering."""
    return parse_selector(text).matches


def _split(text: str) -> list[str]:
    """The requirements of ``text``: split at commas outside parentheses."""
    parts: list[str] = []
    depth, start = 0, 0
    for position, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise SelectorError(f"unbalanced ')' in selector {text!r}")
        elif char == "," and depth == 0:
            parts.append(text[start:position])
            start = position + 1
    if depth != 0:
        raise SelectorError(f"unbalanced '(' in selector {text!r}")
    parts.append(text[start:])
    if len(parts) == 1 and not parts[0].strip():
        return []
    return parts


def _requirement(part: str) -> Requirement:
    match = _SET.match(part)
    if match is not None:
        values = frozenset(value.strip() for value in match["values"].split(","))
        if any(not re.fullmatch(_VALUE, value) for value in values):
            raise SelectorError(f"bad value in requirement {part.strip()!r}")
        operator: Operator = "in" if match["op"] == "in" else "notin"
        return Requirement(match["key"], operator, values)
    match = _EQUALITY.match(part)
    if match is not None:
        operator = "!=" if match["op"] == "!=" else "="
        return Requirement(match["key"], operator, frozenset({match["value"]}))
    match = _EXISTS.match(part)
    if match is not None:
        return Requirement(match["key"], "!" if match["neg"] else "exists")
    raise SelectorError(f"{part.strip()!r} is not a label selector requirement")


__all__ = ["Requirement", "Selector", "SelectorError", "parse_selector", "selector_matcher"]
