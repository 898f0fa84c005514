"""Label requirement algebra: what a node may look like, and whether a pod may go on it.

A pod's nodeSelector, one of its required node-affinity terms and its NodePool's requirements
have to be intersected, checked for a contradiction and matched against instance types many
times per batch. Each requirement list is therefore normalised once into one `KeyRequirement`
per label key (an allowed set, an excluded set, whether the label must or must not exist, and
integer bounds), which makes intersection a per-key merge and the checks cheap.

Zone and capacity type are not labels of an instance type: requirements on them pick
offerings (`offering_scope`), not types. Keys the instance types carry are checked against each
type's labels; other keys are the pool's to define (its labels and requirements), and a key the
pool does not define is absent on its nodes, so a pod may only ask for it to be absent (as
Karpenter does for labels a NodePool does not define).

Taints follow Kubernetes: NoSchedule and NoExecute taints must be tolerated, PreferNoSchedule
taints need not be, and a pool's startup taints are not matched at all (they are gone once the
node is initialised).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from trimtab.provisioner.model import (
    CAPACITY_TYPE,
    NODE_POOL,
    ZONE,
    InstanceType,
    LabelRequirement,
    NodePoolView,
    Taint,
    Toleration,
)

BLOCKING_EFFECTS = frozenset({"NoSchedule", "NoExecute"})
"""Taint effects a pod must tolerate to be scheduled on the node."""
OFFERING_KEYS = frozenset({ZONE, CAPACITY_TYPE})
"""Requirements on these keys restrict offerings, not instance types."""

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


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


def selector_matches(labels: Mapping[str, str], selector: Mapping[str, str]) -> bool:
    """matchLabels semantics: every pair of the selector is among the labels."""
    return all(labels.get(key) == value for key, value in selector.items())


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


def tolerates(toleration: Toleration, taint: Taint) -> bool:
    """Kubernetes toleration matching (an empty key with Exists tolerates every taint)."""
    if toleration.effect and toleration.effect != taint.effect:
        return False
    if not toleration.key:
        return toleration.operator == "Exists"
    if toleration.key != taint.key:
        return False
    return toleration.operator == "Exists" or (toleration.value or "") == (taint.value or "")


def untolerated(taints: Iterable[Taint], tolerations: Sequence[Toleration]) -> tuple[Taint, ...]:
    """The NoSchedule and NoExecute taints none of the tolerations tolerates."""
    return tuple(
        taint
        for taint in taints
        if taint.effect in BLOCKING_EFFECTS and not any(tolerates(t, taint) for t in tolerations)
    )


def describe_taint(taint: Taint) -> str:
    """`key=value:Effect`, as kubectl prints it."""
    value = f"={taint.value}" if taint.value else ""
    return f"{taint.key}{value}:{taint.effect}"


@dataclass(frozen=True)
class NodeTemplate:
    """What every node of a NodePool looks like before a pod narrows it."""

    pool: str
    requirements: Requirements
    """The pool's requirements, its labels (as In) and its own name label."""
    taints: tuple[Taint, ...]
    pool_keys: frozenset[str] = field(default=frozenset())
    """Keys the pool defines (requirements and labels), not counting instance-type keys."""

    @classmethod
    def of(cls, pool: NodePoolView, type_keys: frozenset[str]) -> NodeTemplate:
        requirements = (
            Requirements.of(pool.requirements)
            .intersect(Requirements.from_labels(pool.labels))
            .intersect(Requirements.from_labels({NODE_POOL: pool.name}))
        )
        return cls(pool.name, requirements, pool.taints, requirements.keys() - type_keys)

    def narrow(self, term: Requirements) -> Requirements | str:
        """The pool's requirements ANDed with a pod's term, or why they cannot hold together."""
        narrowed = self.requirements.intersect(term)
        key = narrowed.conflict()
        if key is not None:
            return f"requirement on {key} conflicts with the pool's"
        return narrowed


def type_allowed(
    requirements: Requirements,
    type_labels: Mapping[str, str],
    type_keys: frozenset[str],
    pool_keys: frozenset[str],
) -> bool:
    """Whether a node of an instance type with `type_labels` can satisfy `requirements`
    (offering keys aside). `type_keys` are the keys any instance type carries: a type without
    one of them lacks that label. Keys the pool defines are settled by the pool; any other key
    is absent on the node."""
    for key, requirement in requirements.by_key:
        if key in OFFERING_KEYS:
            continue
        if key in type_keys:
            if not requirement.admits(type_labels.get(key)):
                return False
        elif key not in pool_keys and not requirement.admits(None):
            return False
    return True


def undefined_key(
    requirements: Requirements, type_keys: frozenset[str], pool_keys: frozenset[str]
) -> str | None:
    """A key the requirements need present that neither the types nor the pool define."""
    for key, requirement in requirements.by_key:
        defined = key in OFFERING_KEYS or key in type_keys or key in pool_keys
        if not defined and not requirement.admits(None):
            return key
    return None


def labels_allow(
    requirements: Requirements,
    template: NodeTemplate,
    types: Sequence[InstanceType],
    type_keys: frozenset[str],
) -> BoolArray:
    """Per instance type, whether a node of `template` narrowed to `requirements` may be of
    that type as far as labels go (offerings are the caller's: zones and capacity types)."""
    return np.array(
        [type_allowed(requirements, t.labels, type_keys, template.pool_keys) for t in types],
        dtype=bool,
    )


@dataclass(frozen=True)
class HostRules:
    """How many pods of each group one node may still take, given what it holds.

    Selectors (matchLabels of anti-affinity and hostname spread terms) are numbered k; a node's
    state is its content per group plus, for existing nodes, how many of its own pods match
    each selector."""

    selectors: tuple[Mapping[str, str], ...]
    members: BoolArray
    """(K, G): the labels of group g match selector k."""
    anti: tuple[tuple[int, ...], ...]
    """Per group: the selectors of its required anti-affinity."""
    repelled: BoolArray
    """(G, G): [g, h] is True when h's anti-affinity matches g's labels."""
    spread: tuple[tuple[tuple[int, int], ...], ...]
    """Per group: (selector, maxSkew) of its hostname topology spread."""
    constrained: BoolArray
    """(G,): whether any rule can limit group g on a node."""

    @classmethod
    def build(
        cls,
        labels: Sequence[Mapping[str, str]],
        anti: Sequence[Sequence[Mapping[str, str]]],
        spread: Sequence[Sequence[tuple[Mapping[str, str], int]]],
    ) -> HostRules:
        numbered: dict[tuple[tuple[str, str], ...], int] = {}

        def number(selector: Mapping[str, str]) -> int:
            return numbered.setdefault(tuple(sorted(selector.items())), len(numbered))

        anti_ids = tuple(tuple(number(s) for s in group) for group in anti)
        spread_ids = tuple(tuple((number(s), skew) for s, skew in group) for group in spread)
        selectors = tuple(dict(key) for key in numbered)
        members = np.array(
            [[selector_matches(own, s) for own in labels] for s in selectors], dtype=bool
        ).reshape(len(selectors), len(labels))
        repelled = np.zeros((len(labels), len(labels)), dtype=bool)
        for h, ids in enumerate(anti_ids):
            for k in ids:
                repelled[:, h] |= members[k]
        constrained = repelled.any(axis=1) | np.array(
            [bool(a or s) for a, s in zip(anti_ids, spread_ids, strict=True)], dtype=bool
        )
        return cls(selectors, members, anti_ids, repelled, spread_ids, constrained)

    @property
    def active(self) -> bool:
        return bool(self.constrained.any())

    def subset(self, groups: Sequence[int]) -> HostRules:
        """The rules for some of the groups, renumbered 0..len(groups)-1."""
        index = np.asarray(groups, dtype=np.int64)
        return HostRules(
            self.selectors,
            self.members[:, index],
            tuple(self.anti[g] for g in groups),
            self.repelled[np.ix_(index, index)],
            tuple(self.spread[g] for g in groups),
            self.constrained[index],
        )

    def matching(self, pod_labels: Sequence[Mapping[str, str]]) -> IntArray:
        """How many of an existing node's pods match each selector."""
        return np.array(
            [sum(selector_matches(labels, s) for labels in pod_labels) for s in self.selectors],
            dtype=np.int64,
        )

    def room(self, content: IntArray, existing: IntArray | None = None) -> FloatArray:
        """Per group, how many more of its pods the node may take (inf: no limit)."""
        room = np.full(len(content), np.inf)
        if not self.active:
            return room
        present = self.members.astype(np.int64) @ content
        if existing is not None:
            present = present + existing
        room[(self.repelled.astype(np.int64) @ content) > 0] = 0.0
        for g in np.flatnonzero(self.constrained):
            for k in self.anti[g]:
                if present[k] > 0:
                    room[g] = 0.0
                elif self.members[k, g]:
                    room[g] = min(room[g], 1.0)
            for k, skew in self.spread[g]:
                if self.members[k, g]:
                    room[g] = min(room[g], float(skew - present[k]))
                elif present[k] > skew:
                    room[g] = 0.0
        bounded: FloatArray = np.maximum(room, 0.0)
        return bounded


__all__ = [
    "BLOCKING_EFFECTS",
    "OFFERING_KEYS",
    "HostRules",
    "KeyRequirement",
    "NodeTemplate",
    "Requirements",
    "describe_taint",
    "labels_allow",
    "node_terms",
    "selector_matches",
    "tolerates",
    "type_allowed",
    "undefined_key",
    "untolerated",
]
