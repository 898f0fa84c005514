"""What the webhook changes in a pod being created: its containers' recommended requests.

Pure: the webhook handler finds the pod's VerticalScaler, its capped targets and its policy, and
hands them here; what comes back is applied through kopf's ``patch``.

How the change reaches the apiserver: a mutating webhook answers with RFC 6902 JSON-patch
operations, but kopf (1.45.2) hands handlers a dict-based merge patch (``kopf.Patch``) and turns
it into operations itself, in ``kopf/_core/engines/admission.py``::

    jsonpatch=patch.as_json_patch(),

where ``Patch.as_json_patch`` (``kopf/_cogs/structs/patches.py``) applies the merge patch to a
copy of the admitted pod and diffs the two with ``jsonpatch.JsonPatch.from_diff``. A merge patch
replaces a list as a whole, so this module gives the *whole* ``spec.containers`` list, each
container copied with every other field untouched and only the changed quantities replaced;
the diff then sends the apiserver just the operations on those quantities (and on the
annotations), whatever else the pod holds.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

from trimtab.quantity import QuantityError, cores, format_cpu, format_memory, to_bytes
from trimtab.updater.model import Amounts, ContainerControl, ContainerResources
from trimtab.updater.resources import RESOURCES, new_resources

ADMITTED_ANNOTATION = "trimtab.dev/admitted"
"""Set to "true" on every pod the webhook sees, with or without a VerticalScaler: it shows that
the admission path works end to end."""
ANNOTATION_UPDATED = "trimtab.dev/updated-requests"
"""What Trimtab changed at admission and from what, for people reading the pod."""
ANNOTATION_SCALER = "trimtab.dev/vertical-scaler"
"""The VerticalScaler whose recommendation set the pod's requests."""

_PARSERS: Mapping[str, Callable[[Any], float]] = {"cpu": cores, "memory": to_bytes}
_PRINTERS: Mapping[str, Callable[[float], str]] = {"cpu": format_cpu, "memory": format_memory}
_FIELDS = (("requests", "request"), ("limits", "limit"))


def admission_annotations() -> dict[str, str]:
    """Annotations added to every pod the webhook sees."""
    return {ADMITTED_ANNOTATION: "true"}


@dataclass(frozen=True)
class PodMutation:
    """The changes to one pod being admitted."""

    containers: list[dict[str, Any]]
    """The pod's whole ``spec.containers``, in order, with the new requests and limits."""
    annotations: dict[str, str]
    """:data:`ANNOTATION_UPDATED` and :data:`ANNOTATION_SCALER`."""

    @property
    def patch(self) -> dict[str, Any]:
        """The change as a merge patch, the form kopf's ``patch`` takes (a fresh copy)."""
        return {
            "metadata": {"annotations": dict(self.annotations)},
            "spec": {"containers": copy.deepcopy(self.containers)},
        }

    def apply_to(self, patch: MutableMapping[str, Any]) -> None:
        """Merge into a merge patch that may hold other changes (kopf's ``patch``).

        Only ``spec.containers`` and these annotations are set; other keys already in
        ``patch`` (another annotation, say) stay.
        """
        metadata = patch.setdefault("metadata", {})
        metadata.setdefault("annotations", {}).update(self.annotations)
        patch.setdefault("spec", {})["containers"] = copy.deepcopy(self.containers)


def containers_of(spec: Mapping[str, Any]) -> dict[str, ContainerResources]:
    """A pod spec's containers' CPU and memory requests and limits, in cores and bytes.

    Unparseable quantities are left out (the apiserver rejects such a pod anyway, after
    admission); so are init containers, which are sized by other rules.
    """
    found: dict[str, ContainerResources] = {}
    for container in spec.get("containers") or ():
        if isinstance(container, Mapping) and isinstance(container.get("name"), str):
            found[container["name"]] = _resources(container)[0]
    return found


def pod_mutation(
    containers: Sequence[Mapping[str, Any]],
    targets: Mapping[str, Amounts],
    controls: Mapping[str, ContainerControl],
    scaler: str,
) -> PodMutation | None:
    """The new requests (and limits, by policy) of a pod's containers; None if none change.

    ``containers`` is the pod's ``spec.containers``; ``targets`` the capped recommendation per
    container (cores and bytes); ``controls`` what the policy lets Trimtab change per
    container. A container missing from either is left alone, and so is a resource whose
    request or limit cannot be parsed. Amounts are compared as they will be written (rounded
    up to a millicore or a byte), so float noise is not a change.
    """
    new_containers: list[dict[str, Any]] = []
    described: list[str] = []
    for container in containers:
        name = container.get("name")
        new = copy.deepcopy(dict(container))
        new_containers.append(new)
        if not isinstance(name, str) or name not in targets or name not in controls:
            continue
        current, unreadable = _resources(container)
        control = controls[name]
        usable = ContainerControl(
            resources=control.resources - unreadable,
            requests_and_limits=control.requests_and_limits,
        )
        wanted = new_resources(current, targets[name], usable)
        changes = _apply(new, container, current, wanted)
        if changes:
            described.append(f"{name}: {', '.join(changes)}")
    if not described:
        return None
    return PodMutation(
        containers=new_containers,
        annotations={ANNOTATION_UPDATED: "; ".join(described), ANNOTATION_SCALER: scaler},
    )


def _resources(container: Mapping[str, Any]) -> tuple[ContainerResources, frozenset[str]]:
    """The container's readable CPU and memory amounts, and the resources that had unreadable
    ones."""
    resources = container.get("resources")
    resources = resources if isinstance(resources, Mapping) else {}
    unreadable: set[str] = set()
    amounts: dict[str, dict[str, float]] = {}
    for field, _ in _FIELDS:
        given = resources.get(field)
        given = given if isinstance(given, Mapping) else {}
        amounts[field] = {}
        for resource in RESOURCES:
            if resource not in given:
                continue
            try:
                amounts[field][resource] = _PARSERS[resource](given[resource])
            except QuantityError:
                unreadable.add(resource)
    for field_amounts in amounts.values():
        for resource in unreadable:
            field_amounts.pop(resource, None)
    name = str(container.get("name", ""))
    return (
        ContainerResources(name, amounts["requests"], amounts["limits"]),
        frozenset(unreadable),
    )


def _apply(
    new: dict[str, Any],
    old: Mapping[str, Any],
    current: ContainerResources,
    wanted: ContainerResources,
) -> list[str]:
    """Write the changed amounts of ``wanted`` into the container ``new``; describe them."""
    old_resources = old.get("resources")
    old_resources = old_resources if isinstance(old_resources, Mapping) else {}
    changes: list[str] = []
    for resource in RESOURCES:
        for field, word in _FIELDS:
            if field == "requests":
                # The apiserver defaults a missing request to the limit: that is what it is.
                before = current.requests.get(resource, current.limits.get(resource))
                after = wanted.requests.get(resource)
            else:
                before, after = current.limits.get(resource), wanted.limits.get(resource)
            if after is None:
                continue
            text = _PRINTERS[resource](after)
            if before is not None and _PARSERS[resource](text) == before:
                continue
            old_field = old_resources.get(field)
            old_text = old_field.get(resource) if isinstance(old_field, Mapping) else None
            resources = new.get("resources")
            if not isinstance(resources, dict):
                resources = new["resources"] = {}
            target = resources.get(field)
            if not isinstance(target, dict):
                target = resources[field] = {}
            target[resource] = text
            was = "unset" if old_text is None else str(old_text)
            changes.append(f"{resource} {word} {was}->{text}")
    return changes


__all__ = [
    "ADMITTED_ANNOTATION",
    "ANNOTATION_SCALER",
    "ANNOTATION_UPDATED",
    "PodMutation",
    "admission_annotations",
    "containers_of",
    "pod_mutation",
]
