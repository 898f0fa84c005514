"""Which node class of a NodePool a pod group would get, or why the pool cannot take it.

The pool's taints and requirements are checked against the group's tolerations and node
terms, then whether any allowed instance type has room for one of its pods. The simulation
asks again for every zone and for every pool a demand falls through to, so answers are
remembered per group, zone and pool, and node classes per pool and requirements.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from trimtab.provisioner.model import ZONE, DaemonSetPod
from trimtab.provisioner.nodeclasses import (
    FloatArray,
    NodeClass,
    TypeTable,
    fits_within,
    node_class,
)
from trimtab.provisioner.nodetemplates import NodeTemplate, undefined_key
from trimtab.provisioner.podgroups import PodGroup
from trimtab.provisioner.requirements import Requirements
from trimtab.provisioner.taints import describe_taint, untolerated

GIB = 1024.0**3


def describe_amount(resource: str, value: float, unit: bool = True) -> str:
    """A resource amount for a message: CPUs in cores, memory in GiB."""
    shown = value / GIB if resource == "memory" else value
    text = f"{shown:.0f}" if abs(shown) >= 100 else f"{shown:.3g}"
    if resource == "memory":
        return f"{text}Gi memory" if unit else f"{text}Gi"
    if resource == "cpu":
        return f"{text} CPUs" if unit else text
    return f"{text} {resource}" if unit else text


def misfit(found: NodeClass, requests: FloatArray, axes: Sequence[str]) -> str | None:
    """Why a pod with `requests` fits no type of this class (None when one fits)."""
    if found.types.size == 0:
        return "no instance type with an available offering meets the requirements"
    if fits_within(requests[None, :], found.capacity).any():
        return None
    largest = found.capacity.max(axis=0)
    for r, resource in enumerate(axes):
        if not fits_within(requests[r : r + 1], largest[r : r + 1]):
            return (
                f"no instance type has {describe_amount(resource, requests[r])} free after "
                f"overhead (largest {describe_amount(resource, largest[r], unit=False)})"
            )
    shown = ", ".join(describe_amount(r, v) for r, v in zip(axes, requests, strict=True) if v > 0)
    return f"no instance type has {shown} free together after overhead"


@dataclass
class PoolChoice:
    """The node classes of a batch's pools, each made once, and each group's choice per pool."""

    templates: Sequence[NodeTemplate]
    """Per pool, in the simulation's order (by weight)."""
    catalog: TypeTable
    daemonsets: Sequence[DaemonSetPod]
    axes: tuple[str, ...]
    classes: dict[tuple[int, Requirements], NodeClass] = field(default_factory=dict)
    choices: dict[tuple[int, str | None, int], NodeClass | str] = field(default_factory=dict)

    def choose(self, group: PodGroup, zone: str | None, pool: int) -> NodeClass | str:
        """The node class of `pool` for the group's first workable term, or why there is none."""
        key = (group.index, zone, pool)
        if key not in self.choices:
            self.choices[key] = self._first_workable(group, zone, pool)
        return self.choices[key]

    def _first_workable(self, group: PodGroup, zone: str | None, pool: int) -> NodeClass | str:
        template = self.templates[pool]
        blocking = untolerated(template.taints, group.pod.tolerations)
        if blocking:
            return f"taint {describe_taint(blocking[0])} not tolerated"
        where = Requirements.from_labels({ZONE: zone}) if zone is not None else Requirements()
        reasons: list[str] = []
        for term in group.terms:
            narrowed = template.narrow(term.intersect(where))
            if isinstance(narrowed, str):
                reasons.append(narrowed)
                continue
            missing = undefined_key(narrowed, self.catalog.keys, template.pool_keys)
            if missing is not None:
                reasons.append(f"label {missing} is not defined by the pool")
                continue
            found = self._node_class(pool, narrowed)
            problem = misfit(found, group.requests, self.axes)
            if problem is None:
                return found
            reasons.append(problem if zone is None else f"{problem} in zone {zone}")
        return reasons[0] if reasons else "required node affinity has only empty terms"

    def _node_class(self, pool: int, requirements: Requirements) -> NodeClass:
        key = (pool, requirements)
        if key not in self.classes:
            self.classes[key] = node_class(
                pool, self.templates[pool], requirements, self.catalog, self.daemonsets
            )
        return self.classes[key]


__all__ = ["PoolChoice", "describe_amount", "misfit"]
