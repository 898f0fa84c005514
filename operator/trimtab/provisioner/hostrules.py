"""Per-node rules between pods: required pod anti-affinity and hostname topology spread.

Unlike node requirements these depend on which other pods share the node, so they are kept as
`HostRules`, which say how many more pods of each group a node may take given what it holds
(used both for existing nodes and by the packer for new ones).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def selector_matches(labels: Mapping[str, str], selector: Mapping[str, str]) -> bool:
    """matchLabels semantics: every pair of the selector is among the labels."""
    return all(labels.get(key) == value for key, value in selector.items())


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


__all__ = ["HostRules", "selector_matches"]
