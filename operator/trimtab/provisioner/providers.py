"""The cloud provider of each node class, made once and reused while its spec stays the same."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

from trimtab.api.nodes import AWSNodeClassSpec, SimulatedNodeClassSpec
from trimtab.cloud.provider import CloudProvider
from trimtab.cloud.simulated import NodeStore, SimulatedProvider
from trimtab.provisioner.catalog import Catalog

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
