"""The cloud provider of each node class, made once and reused while its spec stays the same,
and the collection of the launch templates no node class uses any more."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from trimtab.api.nodes import AWSNodeClassSpec, SimulatedNodeClassSpec
from trimtab.cloud.provider import CloudError, CloudProvider
from trimtab.cloud.simulated import NodeStore, SimulatedProvider
from trimtab.provisioner.catalog import Catalog

log = logging.getLogger(__name__)

SIMULATED = "SimulatedNodeClass"
AWS = "AWSNodeClass"


class UnknownNodeClassError(LookupError):
    """A NodePool or NodeClaim names a node class kind Trimtab has no provider for."""


class Providers:
    """Node class (kind, name, spec) -> provider; a changed spec makes a new provider."""

    def __init__(
        self,
        catalog: Callable[[], Catalog],
        nodes: NodeStore,
        cluster_name: str,
        ec2_client: Callable[[str], Any] | None = None,
    ) -> None:
        self._catalog = catalog
        self._nodes = nodes
        self._cluster = cluster_name
        self._ec2_client = ec2_client
        self._made: dict[tuple[str, str], tuple[str, CloudProvider]] = {}
        self._lock = threading.Lock()

    def for_class(self, kind: str, name: str, spec: Mapping[str, Any]) -> CloudProvider:
        """The provider for a node class; UnknownNodeClassError for a kind without one."""
        fingerprint = json.dumps(spec, sort_keys=True, default=str)
        with self._lock:
            made = self._made.get((kind, name))
            if made is not None and made[0] == fingerprint:
                return made[1]
            provider = self._make(kind, spec)
            self._made[(kind, name)] = (fingerprint, provider)
            return provider

    def _make(self, kind: str, spec: Mapping[str, Any]) -> CloudProvider:
        catalog = self._catalog()
        lookup = catalog.by_name
        if kind == SIMULATED:
            simulated = SimulatedNodeClassSpec.model_validate(spec)
            return SimulatedProvider(simulated, lookup, self._nodes, self._cluster)
        if kind == AWS:
            from trimtab.cloud.aws import AWSProvider  # boto3 is only needed on AWS

            aws = AWSNodeClassSpec.model_validate(spec)
            if self._ec2_client is None:
                raise UnknownNodeClassError(
                    "the aws provider needs boto3 (pip install trimtab[aws])"
                )
            return AWSProvider(aws, lookup, self._cluster, self._ec2_client(aws.region))
        raise UnknownNodeClassError(f"nodeClassRef.kind: no provider for {kind!r}")


class LaunchTemplates(Protocol):
    """The launch template calls of a provider that makes templates (``cloud.aws.AWSProvider``)."""

    @property
    def region(self) -> str: ...
    def current_template(self) -> str: ...
    def cluster_templates(self) -> list[tuple[str, float]]: ...
    def delete_template(self, name: str) -> None: ...


def collect_templates(
    classes: Mapping[str, Mapping[str, Any]],
    provider_of: Callable[[str, Mapping[str, Any]], LaunchTemplates],
    cluster_name: str,
    now: float,
) -> list[str]:
    """Delete the cluster's launch templates that no AWSNodeClass (name -> spec: all of them)
    launches with now and that are old enough; the names deleted.

    Templates are regional, so each region of the classes is listed once. A failed listing or
    deletion is logged and left to the next round."""
    resolved = _templates_in_use(classes, provider_of)
    if resolved is None:
        return []
    in_use, by_region = resolved
    deleted: list[str] = []
    for region, provider in sorted(by_region.items()):
        deleted += _delete_stale(region, provider, in_use, cluster_name, now)
    return deleted


def _templates_in_use(
    classes: Mapping[str, Mapping[str, Any]],
    provider_of: Callable[[str, Mapping[str, Any]], LaunchTemplates],
) -> tuple[set[str], dict[str, LaunchTemplates]] | None:
    """The current template of every class, and one provider per region; None when any class
    cannot say (its spec is invalid, its security groups cannot be looked up): its template
    might be any of those listed, so none may be deleted."""
    in_use: set[str] = set()
    by_region: dict[str, LaunchTemplates] = {}
    for name in sorted(classes):
        try:
            provider = provider_of(name, classes[name])
            in_use.add(provider.current_template())
            region = provider.region
        except Exception as error:  # whatever it is, that class's template is unknown
            log.warning("Launch templates not collected: AWSNodeClass %s: %s", name, error)
            return None
        by_region.setdefault(region, provider)
    return in_use, by_region


def _delete_stale(
    region: str, provider: LaunchTemplates, in_use: set[str], cluster_name: str, now: float
) -> list[str]:
    """Delete the region's templates that are neither in use nor young; the names deleted."""
    from trimtab.cloud.ec2 import stale_templates  # botocore is only installed for AWS

    try:
        stale = stale_templates(provider.cluster_templates(), in_use, cluster_name, now)
    except CloudError as error:
        log.warning("Launch templates of %s not collected: %s", region, error)
        return []
    deleted = []
    for name in stale:
        try:
            provider.delete_template(name)
        except CloudError as error:
            log.warning("Launch template %s in %s not deleted: %s", name, region, error)
            continue
        deleted.append(name)
    return deleted
