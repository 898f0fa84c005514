"""Existing and in-flight nodes as one batch fills them: which of them a pod group may use and
how many of its pods each still takes. They are tried before any new node is bought, and the
room left on them is the only state this step keeps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from trimtab.provisioner.hostrules import HostRules, selector_matches
from trimtab.provisioner.model import ZONE, ExistingNode
from trimtab.provisioner.nodeclasses import FloatArray, IntArray, amounts_vector
from trimtab.provisioner.podgroups import PodGroup
from trimtab.provisioner.taints import untolerated


@dataclass
class ExistingNodes:
    """Existing and in-flight nodes, with the room left on each as pods are placed."""

    nodes: Sequence[ExistingNode]
    free: FloatArray
    zones: list[str | None]
    content: IntArray
    """(N, G): pods of each group placed on it in this batch."""
    matching: IntArray
    """(N, K): its own pods matching each `HostRules` selector."""

    @classmethod
    def of(
        cls, nodes: Sequence[ExistingNode], axes: tuple[str, ...], groups: int, rules: HostRules
    ) -> ExistingNodes:
        unbounded = {"pods": np.inf}
        free = np.array(
            [
                amounts_vector({**unbounded, **n.allocatable}, axes)
                - amounts_vector(n.requested, axes)
                for n in nodes
            ]
        ).reshape(len(nodes), len(axes))
        matching = np.array([rules.matching(n.pod_labels) for n in nodes], dtype=np.int64)
        return cls(
            nodes,
            free,
            [n.labels.get(ZONE) for n in nodes],
            np.zeros((len(nodes), groups), dtype=np.int64),
            matching.reshape(len(nodes), len(rules.selectors)),
        )

    def eligible(self, group: PodGroup, zone: str | None = None) -> list[int]:
        """Existing nodes whose labels satisfy one of the group's terms, whose taints it
        tolerates and whose pods' anti-affinity does not keep it away (in the zone, when one
        is given)."""
        return [
            n
            for n, node in enumerate(self.nodes)
            if (zone is None or self.zones[n] == zone)
            and any(term.matches(node.labels) for term in group.terms)
            and not untolerated(node.taints, group.pod.tolerations)
            and not any(selector_matches(group.pod.labels, s) for s in node.repels)
        ]

    def place(
        self, group: PodGroup, eligible: Sequence[int], uids: list[str], rules: HostRules
    ) -> dict[str, str]:
        """Put as many of `uids` as fit on the eligible nodes, in node order."""
        placed: dict[str, str] = {}
        need = group.requests > 0
        for n in eligible:
            if len(placed) == len(uids):
                break
            room = np.floor(
                np.min(self.free[n, need] / group.requests[need], initial=np.inf) + 1e-9
            )
            if rules.constrained[group.index]:
                room = min(room, rules.room(self.content[n], self.matching[n])[group.index])
            count = int(min(room, len(uids) - len(placed)))
            if count < 1:
                continue
            for uid in uids[len(placed) : len(placed) + count]:
                placed[uid] = self.nodes[n].name
            self.free[n] -= count * group.requests
            self.content[n, group.index] += count
        return placed


__all__ = ["ExistingNodes"]
