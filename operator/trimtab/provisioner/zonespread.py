"""Zone topology spread: a pod group split over the zones it may use, each pod into the zone
with the fewest matching pods (which never breaks maxSkew).

Apart from the rest of the simulation because it is the one step that counts pods per zone
across the whole batch and the cluster, before any pod is placed on a node.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from trimtab.provisioner.hostrules import selector_matches
from trimtab.provisioner.model import ZONE, ExistingNode
from trimtab.provisioner.podgroups import PodGroup, SelectorKey, selector_key


@dataclass
class ZoneSpread:
    """Per zone-spread selector of the batch, the matching pods per zone, counted on existing
    nodes and then as the batch's pods are split."""

    counts: dict[SelectorKey, Counter[str]]

    @classmethod
    def of(cls, groups: Sequence[PodGroup], nodes: Sequence[ExistingNode]) -> ZoneSpread:
        """Per zone-spread selector of the batch, the matching pods per zone on existing nodes."""
        counts: dict[SelectorKey, Counter[str]] = {}
        for group in groups:
            for spread in group.spreads(ZONE):
                counts.setdefault(selector_key(spread.selector), Counter())
        for key, counter in counts.items():
            selector = dict(key)
            for node in nodes:
                zone = node.labels.get(ZONE)
                if zone is not None:
                    counter[zone] += sum(selector_matches(p, selector) for p in node.pod_labels)
        return cls(counts)

    def split(
        self, group: PodGroup, zone_domains: Callable[[PodGroup], set[str]]
    ) -> list[tuple[str | None, list[str]]]:
        """The group's pods per zone under zone spread: each pod into the allowed zone with the
        fewest matching pods so far (counting every zone-spread selector it matches).
        `zone_domains` gives the zones the group could run in (asked only when it spreads)."""
        spreads = group.spreads(ZONE)
        domains = sorted(zone_domains(group)) if spreads else []
        if not domains:
            return [(None, list(group.uids))]
        own = [self.counts[selector_key(s.selector)] for s in spreads]
        bumped = [
            c for key, c in self.counts.items() if selector_matches(group.pod.labels, dict(key))
        ]
        parts: dict[str, list[str]] = {}
        for uid in group.uids:
            zone = min(domains, key=lambda z: (tuple(c[z] for c in own), z))
            parts.setdefault(zone, []).append(uid)
            for counter in bumped:
                counter[zone] += 1
        return list(parts.items())


__all__ = ["ZoneSpread"]
