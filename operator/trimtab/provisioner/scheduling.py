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

This module runs the steps in that order and routes demands between pools; the steps live in
`podgroups.py` (grouping), `zonespread.py` (1), `existingnodes.py` (2), `poolchoice.py` (3,
which pool and node class) and `newnodes.py` (3, packing into claims under the pool's limits).
"""

from __future__ import annotations

from collections.abc import Sequence

from trimtab.provisioner.existingnodes import ExistingNodes
from trimtab.provisioner.hostrules import HostRules
from trimtab.provisioner.model import (
    HOSTNAME,
    DaemonSetPod,
    ExistingNode,
    InstanceType,
    NodePoolView,
    PendingPod,
    SchedulingResult,
)
from trimtab.provisioner.newnodes import Demand, NewNodes
from trimtab.provisioner.nodeclasses import NodeClass, TypeTable, amounts_vector
from trimtab.provisioner.nodetemplates import NodeTemplate
from trimtab.provisioner.podgroups import PodGroup, group_pods
from trimtab.provisioner.poolchoice import PoolChoice
from trimtab.provisioner.requirements import Requirements, node_terms
from trimtab.provisioner.zonespread import ZoneSpread

CORE_RESOURCES = ("cpu", "memory", "pods")


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
        shapes = group_pods(pods, (s for node in nodes for s in node.repels))
        extra = {r for p, _ in shapes for r in p.requests} | {
            r for d in daemonsets for r in d.requests
        }
        self.axes = CORE_RESOURCES + tuple(sorted(extra - set(CORE_RESOURCES)))
        self.groups = self._groups(shapes)
        self.catalog = TypeTable.of(types, self.axes)
        self.pools = sorted(pools, key=lambda p: (-p.weight, p.name))
        self.templates = [NodeTemplate.of(p, self.catalog.keys) for p in self.pools]
        self.rules = HostRules.build(
            [g.pod.labels for g in self.groups],
            [g.pod.anti_affinity for g in self.groups],
            [[(s.selector, s.max_skew) for s in g.spreads(HOSTNAME)] for g in self.groups],
        )
        self.nodes = ExistingNodes.of(nodes, self.axes, len(self.groups), self.rules)
        self.zones = ZoneSpread.of(self.groups, nodes)
        self.choice = PoolChoice(self.templates, self.catalog, daemonsets, self.axes)
        self.waiting: list[dict[Requirements, tuple[NodeClass, list[Demand]]]] = [
            {} for _ in self.pools
        ]
        self.new = NewNodes(self.pools, self.catalog, self.axes, self.rules)
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

    def run(self) -> SchedulingResult:
        for group in self.groups:
            for zone, uids in self.zones.split(group, self._zone_domains):
                left = self._on_existing(group, zone, uids)
                if left:
                    self._route(Demand(group, zone, left), 0)
        for pool in range(len(self.pools)):
            for found, demands in list(self.waiting[pool].values()):
                for overflow in self.new.provision(found, demands):
                    self._route(overflow, pool + 1)
        return SchedulingResult(tuple(self.new.claims), self.on_existing, self.unschedulable)

    def _zone_domains(self, group: PodGroup) -> set[str]:
        """Zones the group could run in: offered by a pool that takes it, or of a usable node."""
        zones = {z for n in self.nodes.eligible(group) if (z := self.nodes.zones[n]) is not None}
        for pool in range(len(self.pools)):
            found = self.choice.choose(group, None, pool)
            if isinstance(found, NodeClass):
                zones |= found.zones_for(group.requests)
        return zones

    def _on_existing(self, group: PodGroup, zone: str | None, uids: list[str]) -> list[str]:
        """Place what fits on existing nodes; return the uids left over."""
        if not self.nodes.nodes:
            return uids
        placed = self.nodes.place(group, self.nodes.eligible(group, zone), uids, self.rules)
        self.on_existing.update(placed)
        return [uid for uid in uids if uid not in placed]

    def _route(self, demand: Demand, first: int) -> None:
        """Queue the demand on the first pool from `first` on that can take it, or give up."""
        for pool in range(first, len(self.pools)):
            found = self.choice.choose(demand.group, demand.zone, pool)
            if isinstance(found, str):
                demand.reasons.append(f"pool {self.pools[pool].name}: {found}")
                continue
            self.waiting[pool].setdefault(found.requirements, (found, []))[1].append(demand)
            return
        reason = "; ".join(demand.reasons) or "no NodePool"
        self.unschedulable.update(dict.fromkeys(demand.uids, reason))


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


__all__ = ["schedule"]
