"""Identical pending pods as one group, so the simulation's work grows with distinct pod shapes
rather than with pods: the shape key (everything the simulation reads about a pod) and the
group record every later step works on."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from trimtab.provisioner.model import PendingPod, TopologySpread
from trimtab.provisioner.nodeclasses import FloatArray
from trimtab.provisioner.requirements import Requirements

SelectorKey = tuple[tuple[str, str], ...]


def selector_key(selector: Mapping[str, str]) -> SelectorKey:
    return tuple(sorted(selector.items()))


def _sorted_items(mapping: Mapping[str, str] | Mapping[str, float]) -> tuple[object, ...]:
    return tuple(sorted(mapping.items())) if mapping else ()


def _shape(pod: PendingPod, label_keys: frozenset[str]) -> tuple[object, ...]:
    """Everything about a pod the simulation reads, as a hashable key."""
    return (
        _sorted_items(pod.requests),
        _sorted_items(pod.node_selector),
        pod.required_affinity,
        pod.tolerations,
        tuple((s.topology_key, s.max_skew, selector_key(s.selector)) for s in pod.spread),
        tuple(selector_key(a) for a in pod.anti_affinity),
        tuple(sorted((k, v) for k, v in pod.labels.items() if k in label_keys))
        if label_keys
        else (),
    )


def group_pods(
    pods: Sequence[PendingPod], selectors: Iterable[Mapping[str, str]] = ()
) -> list[tuple[PendingPod, list[str]]]:
    """Identical pods as (one of them, all their uids), in order of first appearance. Labels
    count only where some pod's spread or anti-affinity, or one of `selectors` (existing pods'
    anti-affinity), selects on them."""
    own = (
        selector
        for pod in pods
        for selector in (*(s.selector for s in pod.spread), *pod.anti_affinity)
    )
    keys = frozenset(key for selector in (*own, *selectors) for key in selector)
    shapes: dict[tuple[object, ...], tuple[PendingPod, list[str]]] = {}
    for pod in pods:
        found = shapes.setdefault(_shape(pod, keys), (pod, []))
        found[1].append(pod.uid)
    return list(shapes.values())


@dataclass(frozen=True)
class PodGroup:
    """Identical pending pods."""

    index: int
    pod: PendingPod
    """One of them, for the constraints they share."""
    uids: tuple[str, ...]
    requests: FloatArray
    terms: tuple[Requirements, ...]
    """The node requirements it accepts (ORed)."""

    def spreads(self, topology_key: str) -> tuple[TopologySpread, ...]:
        return tuple(s for s in self.pod.spread if s.topology_key == topology_key)


__all__ = ["PodGroup", "SelectorKey", "group_pods", "selector_key"]
