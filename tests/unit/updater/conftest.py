"""Small builders of the updater's records, shared by the updater's unit tests.

Each builder gives a typical value (a ready, running pod of a Deployment's ReplicaSet, an hour
old, with one container "app" asking for 500m CPU and 256Mi memory) and takes overrides, so a
test states only what matters to it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from trimtab.updater.model import Amounts, ContainerResources, ContainerTarget, UpdatablePod

NOW = 1_800_000_000.0
"""The time every test plans at (2027-01-15)."""
MI = 1024.0**2
HOUR = 3600.0


def container(
    name: str = "app", requests: Amounts | None = None, limits: Amounts | None = None
) -> ContainerResources:
    """A container asking for 500m CPU and 256Mi memory unless told otherwise, without limits."""
    return ContainerResources(
        name,
        {"cpu": 0.5, "memory": 256 * MI} if requests is None else requests,
        {} if limits is None else limits,
    )


def pod(name: str = "web-1", **overrides: Any) -> UpdatablePod:
    """A ready, running pod of ReplicaSet web-5d8f, started an hour ago, with :func:`container`."""
    base = UpdatablePod(
        namespace="shop",
        name=name,
        uid=f"uid-{name}",
        created=NOW - HOUR,
        started=NOW - HOUR,
        containers=(container(),),
        controller=("ReplicaSet", "web-5d8f"),
    )
    return replace(base, **overrides)


def target(
    name: str = "app",
    cpu: float = 0.5,
    memory: float = 256 * MI,
    lower: Amounts | None = None,
    upper: Amounts | None = None,
) -> ContainerTarget:
    """A target with wide bounds (a tenth to ten times the target) unless told otherwise."""
    return ContainerTarget(
        name,
        {"cpu": cpu, "memory": memory},
        {"cpu": cpu / 10, "memory": memory / 10} if lower is None else lower,
        {"cpu": cpu * 10, "memory": memory * 10} if upper is None else upper,
    )
