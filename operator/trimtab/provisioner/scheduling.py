"""The provisioning simulation: pending pods in, node claims out (pure; no I/O).

Pods are grouped by everything the simulation reads (requests, node selectors, affinity,
tolerations, spread, anti-affinity and the labels those select on), so the work grows with
distinct shapes rather than with pods. Groups go largest first, as in first-fit decreasing:

1. zone topology spread splits a group over the zones it may use, each pod into the zone with
   the fewest matching pods (which never breaks maxSkew);
2. each part goes onto existing and in-flight nodes while they have room (requests, selectors,
   taints, anti-affinity and hostname spread respected);
3. the rest goes to the first NodePool by weight that can take it. A pool's pods are packed per
   node class (the pool's requirements narrowed by the pods', DaemonSet overhead taken off
   each type) by `packing.pack`, which chooses node types and contents to minimise the
   batch's total price (column generation over node patterns); each node is then listed on
   every type that holds what it got, cheapest first. A pool's limits are checked against the
   capacity of each claim's cheapest type; what a full pool turns away is packed again on the
   types still under its limits, and what is left moves on to the next pool.

Pods that fit nowhere come back as unschedulable, with the reason from every pool tried.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from trimtab.provisioner.model import (
    HOSTNAME,
    ZONE,
    ClaimPlan,
    DaemonSetPod,
    ExistingNode,
    InstanceType,
    NodePoolView,
    PendingPod,
    SchedulingResult,
    TopologySpread,
)
from trimtab.provisioner.nodeclasses import (
    FloatArray,
    IntArray,
    NodeClass,
    TypeTable,
    amounts_vector,
    fits_within,
    fitting_types,
    node_class,
)
from trimtab.provisioner.packing import PackingProblem, Pattern, pack
from trimtab.provisioner.requirements import (
    HostRules,
    NodeTemplate,
    Requirements,
    describe_taint,
    node_terms,
    selector_matches,
    undefined_key,
    untolerated,
)

CORE_RESOURCES = ("cpu", "memory", "pods")
GIB = 1024.0**3
LIMIT_ROUNDS = 8
"""Repacks of what a pool's limits turned away, each with only the types still under them."""

SelectorKey = tuple[tuple[str, str], ...]


def _selector_key(selector: Mapping[str, str]) -> SelectorKey:
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
        tuple((s.topology_key, s.max_skew, _selector_key(s.selector)) for s in pod.spread),
        tuple(_selector_key(a) for a in pod.anti_affinity),
        tuple(sorted((k, v) for k, v in pod.labels.items() if k in label_keys))
        if label_keys
        else (),
    )


def group_pods(pods: Sequence[PendingPod]) -> list[tuple[PendingPod, list[str]]]:
    """Identical pods as (one of them, all their uids), in order of first appearance. Labels
    count only where some pod's spread or anti-affinity selects on them."""
    keys = frozenset(
        key
        for pod in pods
        for selector in (*(s.selector for s in pod.spread), *pod.anti_affinity)
        for key in selector
    )
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


def _amount(resource: str, value: float, unit: bool = True) -> str:
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
                f"no instance type has {_amount(resource, requests[r])} free after "
                f"overhead (largest {_amount(resource, largest[r], unit=False)})"
            )
    shown = ", ".join(_amount(r, v) for r, v in zip(axes, requests, strict=True) if v > 0)
    return f"no instance type has {shown} free together after overhead"


@dataclass
class _Demand:
    """Pods of one group (in one zone, under zone spread) still looking for a new node."""

    group: PodGroup
    zone: str | None
    uids: list[str]
    reasons: list[str] = field(default_factory=list)
    """Why the pools tried so far did not take them."""


@dataclass
class _ExistingNodes:
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
    ) -> _ExistingNodes:
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


class _Simulation:
    """The state of one `schedule` call (nothing outlives it)."""

    def __init__(
        self,
        pods: Sequence[PendingPod],
        pools: Sequence[NodePoolView],
        types: Sequence[InstanceType],
        nodes: Sequence[ExistingNode],
        daemonsets: Sequence[DaemonSetPod],
    ) -> None:
        shapes = group_pods(pods)
        extra = {r for p, _ in shapes for r in p.requests} | {
            r for d in daemonsets for r in d.requests
        }
        self.axes = CORE_RESOURCES + tuple(sorted(extra - set(CORE_RESOURCES)))
        self.groups = self._groups(shapes)
        self.catalog = TypeTable.of(types, self.axes)
        self.pools = sorted(pools, key=lambda p: (-p.weight, p.name))
        self.templates = [NodeTemplate.of(p, self.catalog.keys) for p in self.pools]
        self.headroom = [
            {r: v - p.in_use.get(r, 0.0) for r, v in p.limits.items()} for p in self.pools
        ]
        self.daemonsets = daemonsets
        self.rules = HostRules.build(
            [g.pod.labels for g in self.groups],
            [g.pod.anti_affinity for g in self.groups],
            [[(s.selector, s.max_skew) for s in g.spreads(HOSTNAME)] for g in self.groups],
        )
        self.nodes = _ExistingNodes.of(nodes, self.axes, len(self.groups), self.rules)
        self.zone_counts = self._zone_counts(nodes)
        self.classes: dict[tuple[int, Requirements], NodeClass] = {}
        self.choices: dict[tuple[int, str | None, int], NodeClass | str] = {}
        self.waiting: list[dict[Requirements, tuple[NodeClass, list[_Demand]]]] = [
            {} for _ in self.pools
        ]
        self.claims: list[ClaimPlan] = []
        self.on_existing: dict[str, str] = {}
        self.unschedulable: dict[str, str] = {}

    def _groups(self, shapes: list[tuple[PendingPod, list[str]]]) -> list[PodGroup]:
        """Groups largest first (CPU, then memory), numbered in that order."""
        vectors = [amounts_vector(pod.requests, self.axes, pods=1.0) for pod, _ in shapes]
        order = sorted(range(len(shapes)), key=lambda k: (-vectors[k][0], -vectors[k][1], k))
        return [
            PodGroup(
                index,
                shapes[k][0],
                tuple(shapes[k][1]),
                vectors[k],
                node_terms(shapes[k][0].node_selector, shapes[k][0].required_affinity),
            )
            for index, k in enumerate(order)
        ]

    def _zone_counts(self, nodes: Sequence[ExistingNode]) -> dict[SelectorKey, Counter[str]]:
        """Per zone-spread selector of the batch, the matching pods per zone on existing nodes."""
        counts: dict[SelectorKey, Counter[str]] = {}
        for group in self.groups:
            for spread in group.spreads(ZONE):
                counts.setdefault(_selector_key(spread.selector), Counter())
        for key, counter in counts.items():
            selector = dict(key)
            for node in nodes:
                zone = node.labels.get(ZONE)
                if zone is not None:
                    counter[zone] += sum(selector_matches(p, selector) for p in node.pod_labels)
        return counts

    def run(self) -> SchedulingResult:
        for group in self.groups:
            for zone, uids in self._split_by_zone(group):
                left = self._on_existing(group, zone, uids)
                if left:
                    self._route(_Demand(group, zone, left), 0)
        for pool in range(len(self.pools)):
            for found, demands in list(self.waiting[pool].values()):
                for overflow in self._provision(found, demands):
                    self._route(overflow, pool + 1)
        return SchedulingResult(tuple(self.claims), self.on_existing, self.unschedulable)

    def _split_by_zone(self, group: PodGroup) -> list[tuple[str | None, list[str]]]:
        """The group's pods per zone under zone spread: each pod into the allowed zone with the
        fewest matching pods so far (counting every zone-spread selector it matches)."""
        spreads = group.spreads(ZONE)
        domains = sorted(self._zone_domains(group)) if spreads else []
        if not domains:
            return [(None, list(group.uids))]
        own = [self.zone_counts[_selector_key(s.selector)] for s in spreads]
        bumped = [
            c
            for key, c in self.zone_counts.items()
            if selector_matches(group.pod.labels, dict(key))
        ]
        parts: dict[str, list[str]] = {}
        for uid in group.uids:
            zone = min(domains, key=lambda z: (tuple(c[z] for c in own), z))
            parts.setdefault(zone, []).append(uid)
            for counter in bumped:
                counter[zone] += 1
        return list(parts.items())

    def _zone_domains(self, group: PodGroup) -> set[str]:
        """Zones the group could run in: offered by a pool that takes it, or of a usable node."""
        zones = {z for n in self._eligible(group) if (z := self.nodes.zones[n]) is not None}
        for pool in range(len(self.pools)):
            found = self._choose(group, None, pool)
            if isinstance(found, NodeClass):
                zones |= found.zones_for(group.requests)
        return zones

    def _eligible(self, group: PodGroup, zone: str | None = None) -> list[int]:
        """Existing nodes whose labels satisfy one of the group's terms and whose taints it
        tolerates (in the zone, when one is given)."""
        return [
            n
            for n, node in enumerate(self.nodes.nodes)
            if (zone is None or self.nodes.zones[n] == zone)
            and any(term.matches(node.labels) for term in group.terms)
            and not untolerated(node.taints, group.pod.tolerations)
        ]

    def _on_existing(self, group: PodGroup, zone: str | None, uids: list[str]) -> list[str]:
        """Place what fits on existing nodes; return the uids left over."""
        if not self.nodes.nodes:
            return uids
        placed = self.nodes.place(group, self._eligible(group, zone), uids, self.rules)
        self.on_existing.update(placed)
        return [uid for uid in uids if uid not in placed]

    def _route(self, demand: _Demand, first: int) -> None:
        """Queue the demand on the first pool from `first` on that can take it, or give up."""
        for pool in range(first, len(self.pools)):
            found = self._choose(demand.group, demand.zone, pool)
            if isinstance(found, str):
                demand.reasons.append(f"pool {self.pools[pool].name}: {found}")
                continue
            self.waiting[pool].setdefault(found.requirements, (found, []))[1].append(demand)
            return
        reason = "; ".join(demand.reasons) or "no NodePool"
        self.unschedulable.update(dict.fromkeys(demand.uids, reason))

    def _choose(self, group: PodGroup, zone: str | None, pool: int) -> NodeClass | str:
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

    def _provision(self, found: NodeClass, demands: list[_Demand]) -> list[_Demand]:
        """Claims for the demands of one node class; returns what the pool's limits turned
        away. After each pass only types still under the limits are offered to the packer."""
        requests = np.array([d.group.requests for d in demands])
        counts = np.array([len(d.uids) for d in demands], dtype=np.int64)
        taken = np.zeros_like(counts)
        rules = self.rules.subset([d.group.index for d in demands])
        for _ in range(LIMIT_ROUNDS):
            usable = self._under_limits(found, np.arange(found.types.size))
            if usable.size == 0 or not (counts - taken).any():
                break
            problem = PackingProblem(
                requests, counts - taken, found.capacity[usable], found.price[usable], rules
            )
            before = int(taken.sum())
            for pattern in pack(problem)[0]:
                self._claim(found, usable, pattern, demands, taken)
            if int(taken.sum()) == before:
                break
        reason = self._limit_reason(found)
        return [
            _Demand(d.group, d.zone, d.uids[used:], [*d.reasons, reason])
            for d, used in zip(demands, taken.tolist(), strict=True)
            if used < len(d.uids)
        ]

    def _under_limits(self, found: NodeClass, candidates: IntArray) -> IntArray:
        """Those of the class's `candidates` whose capacity fits under the pool's limits."""
        keep = np.ones(candidates.size, dtype=bool)
        for resource, room in self.headroom[found.pool].items():
            capacity = self.catalog.capacity_of(resource, found.types[candidates])
            keep &= capacity <= room + 1e-9 * max(abs(room), 1.0)
        kept: IntArray = candidates[keep]
        return kept

    def _claim(
        self,
        found: NodeClass,
        usable: IntArray,
        pattern: Pattern,
        demands: list[_Demand],
        taken: IntArray,
    ) -> None:
        """ClaimPlans for the copies of a pattern the limits allow, each listing the types
        that hold its pods (and fit under the limits), cheapest first."""
        used = pattern.content.astype(np.float64) @ np.array([d.group.requests for d in demands])
        fitting = usable[fitting_types(used, found.capacity[usable], np.arange(usable.size))]
        rows = np.flatnonzero(pattern.content)
        plan: ClaimPlan | None = None
        for _ in range(pattern.copies):
            listed = self._under_limits(found, fitting) if self.headroom[found.pool] else fitting
            if listed.size == 0:
                return
            if plan is None or len(plan.instance_types) != listed.size:
                plan = self._plan(found, listed, used)
            pods: list[str] = []
            for row in rows:
                start, count = int(taken[row]), int(pattern.content[row])
                pods += demands[row].uids[start : start + count]
                taken[row] += count
            self._book(found, int(listed[0]))
            self.claims.append(replace(plan, pods=tuple(pods)))

    def _plan(self, found: NodeClass, listed: IntArray, used: FloatArray) -> ClaimPlan:
        """A claim on the listed types of a class (its pods are filled in by the caller)."""
        cheapest = int(listed[0])
        return ClaimPlan(
            pool=self.pools[found.pool].name,
            instance_types=tuple(self.catalog.types[t].name for t in found.types[listed]),
            requirements=found.requirements.as_label_requirements(),
            pods=(),
            requests=self._amounts(used + found.overhead[cheapest]),
            price=float(found.price[cheapest]),
        )

    def _book(self, found: NodeClass, chosen: int) -> None:
        """Count a new claim's cheapest type against its pool's limits."""
        headroom = self.headroom[found.pool]
        for resource in headroom:
            headroom[resource] -= self.catalog.types[found.types[chosen]].capacity.get(
                resource, 0.0
            )

    def _limit_reason(self, found: NodeClass) -> str:
        """Names the limit with the least room left, relative to its size."""
        pool = self.pools[found.pool]
        headroom = self.headroom[found.pool]
        if not headroom:
            return f"pool {pool.name}: no room left"
        resource = min(sorted(headroom), key=lambda r: headroom[r] / max(pool.limits[r], 1e-9))
        amount = _amount(resource, pool.limits[resource], unit=False)
        return f"pool {pool.name}: limit {resource} {amount} reached"

    def _amounts(self, vector: FloatArray) -> dict[str, float]:
        return {r: float(v) for r, v in zip(self.axes, vector, strict=True) if v > 0}


def schedule(
    pods: Sequence[PendingPod],
    pools: Sequence[NodePoolView],
    types: Sequence[InstanceType],
    nodes: Sequence[ExistingNode] = (),
    daemonsets: Sequence[DaemonSetPod] = (),
) -> SchedulingResult:
    """Decide where a batch of pending pods goes: onto existing or in-flight nodes, onto new
    node claims (cheapest total price for the batch), or nowhere (with the reason)."""
    return _Simulation(pods, pools, types, nodes, daemonsets).run()


__all__ = ["PodGroup", "group_pods", "misfit", "schedule"]
