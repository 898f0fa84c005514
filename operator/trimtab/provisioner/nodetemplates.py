"""What every node of a NodePool looks like, and which instance types a set of requirements
allows: the label requirements of `requirements.py` applied to a pool and the catalog.

Zone and capacity type are not labels of an instance type: requirements on them pick
offerings (see `OFFERING_KEYS`), not types. Keys the instance types carry are checked against each
type's labels; other keys are the pool's to define (its labels and requirements), and a key the
pool does not define is absent on its nodes, so a pod may only ask for it to be absent (as
Karpenter does for labels a NodePool does not define).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from trimtab.provisioner.model import (
    CAPACITY_TYPE,
    NODE_POOL,
    ZONE,
    InstanceType,
    NodePoolView,
    Taint,
)
from trimtab.provisioner.requirements import Requirements

OFFERING_KEYS = frozenset({ZONE, CAPACITY_TYPE})
"""Requirements on these keys restrict offerings, not instance types."""

BoolArray = npt.NDArray[np.bool_]


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


__all__ = ["OFFERING_KEYS", "NodeTemplate", "labels_allow", "type_allowed", "undefined_key"]
