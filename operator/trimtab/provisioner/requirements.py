"""Label requirement algebra: what a node may look like, and whether a pod may go on it.

A pod's nodeSelector, one of its required node-affinity terms and its NodePool's requirements
have to be intersected, checked for a contradiction and matched against instance types many
times per batch. Each requirement list is therefore normalised once into one `KeyRequirement`
per label key (an allowed set, an excluded set, whether the label must or must not exist, and
integer bounds), which makes intersection a per-key merge and the checks cheap.

Taints are in `taints.py`, a pool's node template and which instance types its requirements
allow in `nodetemplates.py`, and the per-node rules between pods in `hostrules.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from trimtab.provisioner.model import LabelRequirement


def _integer(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _tighter(a: int | None, b: int | None, pick: Callable[[int, int], int]) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return pick(a, b)


@dataclass(frozen=True)
class KeyRequirement:
    """Everything the requirements say about one label key, ANDed together."""

    values: frozenset[str] | None = None
    """The label must have one of these values (None: any value)."""
    excluded: frozenset[str] = frozenset()
    exists: bool | None = None
    """True: the label must be present; False: it must be absent; None: either."""
    greater_than: int | None = None
    less_than: int | None = None

    @classmethod
    def of(cls, requirement: LabelRequirement) -> KeyRequirement:
        """One Kubernetes node selector requirement in normalised form."""
        values = frozenset(requirement.values)
        match requirement.operator:
            case "In":
                return cls(values=values, exists=True)
            case "NotIn":
                return cls(excluded=values)
            case "Exists":
                return cls(exists=True)
            case "DoesNotExist":
                return cls(exists=False)
        bound = _integer(requirement.values[0]) if len(requirement.values) == 1 else None
        if bound is None:  # Gt/Lt need exactly one integer; anything else matches nothing
            return cls(values=frozenset(), exists=True)
        if requirement.operator == "Gt":
            return cls(exists=True, greater_than=bound)
        return cls(exists=True, less_than=bound)

    def intersect(self, other: KeyRequirement) -> KeyRequirement:
        """Both at once; a contradiction shows up as `satisfiable() is False`."""
        if self.values is None:
            values = other.values
        else:
            values = self.values if other.values is None else self.values & other.values
        exists = self.exists if other.exists is None else other.exists
        if self.exists is not None and other.exists is not None and self.exists != other.exists:
            values, exists = frozenset(), True  # must exist and must not: nothing matches
        return KeyRequirement(
            values=values,
            excluded=self.excluded | other.excluded,
            exists=exists,
            greater_than=_tighter(self.greater_than, other.greater_than, max),
            less_than=_tighter(self.less_than, other.less_than, min),
        )

    def admits(self, value: str | None) -> bool:
        """Whether a node whose label is `value` (None: no such label) satisfies this."""
        if value is None:
            return self.exists is not True
        if self.exists is False or value in self.excluded:
            return False
        if self.values is not None and value not in self.values:
            return False
        if self.greater_than is None and self.less_than is None:
            return True
        number = _integer(value)
        return (
            number is not None
            and (self.greater_than is None or number > self.greater_than)
            and (self.less_than is None or number < self.less_than)
        )

    def satisfiable(self) -> bool:
        """Whether some label value (or its absence) satisfies this."""
        if self.exists is not True:
            return True  # absence satisfies every requirement that allows it
        if self.values is not None:
            return any(self.admits(value) for value in self.values)
        if self.greater_than is None or self.less_than is None:
            return True  # infinitely many integers (or strings) remain
        between = range(self.greater_than + 1, self.less_than)
        taken = sum(1 for text in self.excluded if _integer(text) in between)
        return len(between) > taken

    def as_label_requirements(self, key: str) -> list[LabelRequirement]:
        """An equivalent list of plain requirements (for a NodeClaim's spec)."""
        if self.exists is False:
            return [LabelRequirement(key, "DoesNotExist")]
        if self.values is not None:
            return [LabelRequirement(key, "In", tuple(sorted(filter(self.admits, self.values))))]
        found: list[LabelRequirement] = []
        if self.excluded:
            found.append(LabelRequirement(key, "NotIn", tuple(sorted(self.excluded))))
        if self.greater_than is not None:
            found.append(LabelRequirement(key, "Gt", (str(self.greater_than),)))
        if self.less_than is not None:
            found.append(LabelRequirement(key, "Lt", (str(self.less_than),)))
        if self.exists and not found:
            found.append(LabelRequirement(key, "Exists"))
        return found


@dataclass(frozen=True)
class Requirements:
    """A conjunction of requirements, one `KeyRequirement` per key (hashable, so it can key a
    cache or name a group of claims)."""

    by_key: tuple[tuple[str, KeyRequirement], ...] = ()
    """Sorted by key."""

    @classmethod
    def of(cls, requirements: Iterable[LabelRequirement]) -> Requirements:
        merged: dict[str, KeyRequirement] = {}
        for requirement in requirements:
            single = KeyRequirement.of(requirement)
            known = merged.get(requirement.key)
            merged[requirement.key] = single if known is None else known.intersect(single)
        return cls(tuple(sorted(merged.items())))

    @classmethod
    def from_labels(cls, labels: Mapping[str, str]) -> Requirements:
        """A nodeSelector (or a pool's labels): each key must have exactly that value."""
        return cls.of(LabelRequirement(key, "In", (value,)) for key, value in labels.items())

    def get(self, key: str) -> KeyRequirement | None:
        for known, requirement in self.by_key:
            if known == key:
                return requirement
        return None

    def keys(self) -> frozenset[str]:
        return frozenset(key for key, _ in self.by_key)

    def intersect(self, other: Requirements) -> Requirements:
        merged = dict(self.by_key)
        for key, requirement in other.by_key:
            known = merged.get(key)
            merged[key] = requirement if known is None else known.intersect(requirement)
        return Requirements(tuple(sorted(merged.items())))

    def conflict(self) -> str | None:
        """The first key no label value can satisfy, or None when there is none."""
        return next((key for key, req in self.by_key if not req.satisfiable()), None)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a node with exactly these labels satisfies every requirement."""
        return all(req.admits(labels.get(key)) for key, req in self.by_key)

    def admitted(self, key: str, universe: Iterable[str]) -> frozenset[str] | None:
        """The values of `universe` allowed for `key`, or None when `key` is unconstrained."""
        requirement = self.get(key)
        if requirement is None:
            return None
        return frozenset(value for value in universe if requirement.admits(value))

    def as_label_requirements(self) -> tuple[LabelRequirement, ...]:
        return tuple(plain for key, req in self.by_key for plain in req.as_label_requirements(key))


def node_terms(
    node_selector: Mapping[str, str],
    required_affinity: Sequence[Sequence[LabelRequirement]],
) -> tuple[Requirements, ...]:
    """The alternatives a pod (or DaemonSet pod) accepts: its nodeSelector ANDed with each
    required affinity term (the terms are ORed). An empty term matches nothing, as in
    Kubernetes, so a pod whose terms are all empty gets no alternative at all."""
    selector = Requirements.from_labels(node_selector)
    if not required_affinity:
        return (selector,)
    return tuple(selector.intersect(Requirements.of(term)) for term in required_affinity if term)


__all__ = ["KeyRequirement", "Requirements", "node_terms"]
