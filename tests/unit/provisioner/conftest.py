"""Builders for the provisioner's records: a valid object by default, overrides by keyword."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from trimtab.provisioner.model import (
    ARCH,
    INSTANCE_CATEGORY,
    INSTANCE_CPU,
    INSTANCE_FAMILY,
    INSTANCE_MEMORY,
    INSTANCE_TYPE,
    OS,
    ZONE,
    DaemonSetPod,
    ExistingNode,
    InstanceType,
    NodePoolView,
    Offering,
    PendingPod,
)

GIB = 1024.0**3
ZONES = ("zone-a", "zone-b", "zone-c")


def instance_type(
    name: str,
    cpu: float,
    memory_gib: float,
    price: float,
    *,
    pods: float = 110,
    arch: str = "amd64",
    zones: Iterable[str] = ZONES,
    spot: float | None = None,
    overhead: Mapping[str, float] | None = None,
    extra: Mapping[str, float] | None = None,
    labels: Mapping[str, str] | None = None,
) -> InstanceType:
    """A machine type with an on-demand offering at `price` in every zone (and a spot one at
    `spot` when given). Overhead defaults to 0.1 CPU and 0.5 GiB, so allocatable is easy to
    work out in a test."""
    family = name.split(".")[0]
    capacity = {"cpu": cpu, "memory": memory_gib * GIB, "pods": pods, **(extra or {})}
    offerings = [Offering(z, "on-demand", price) for z in zones]
    if spot is not None:
        offerings += [Offering(z, "spot", spot) for z in zones]
    return InstanceType(
        name,
        capacity,
        dict(overhead) if overhead is not None else {"cpu": 0.1, "memory": 0.5 * GIB},
        {
            INSTANCE_TYPE: name,
            ARCH: arch,
            OS: "linux",
            INSTANCE_FAMILY: family,
            INSTANCE_CATEGORY: family[0],
            INSTANCE_CPU: str(int(cpu)),
            INSTANCE_MEMORY: str(int(memory_gib * 1024)),
            **(labels or {}),
        },
        tuple(offerings),
    )


def pending(name: str, cpu: float = 0.5, memory_gib: float = 1.0, **fields: Any) -> PendingPod:
    """A pending pod in namespace `default` whose uid is its name."""
    requests = {"cpu": cpu, "memory": memory_gib * GIB, "pods": 1.0, **fields.pop("extra", {})}
    return PendingPod("default", name, name, requests, **fields)


def replicas(
    prefix: str, count: int, cpu: float = 0.5, memory_gib: float = 1.0, **fields: Any
) -> list[PendingPod]:
    """`count` identical pods of one workload (labelled app=prefix unless labels are given)."""
    fields.setdefault("labels", {"app": prefix})
    return [pending(f"{prefix}-{i}", cpu, memory_gib, **fields) for i in range(count)]


def pool(name: str = "general", **fields: Any) -> NodePoolView:
    return NodePoolView(name, **fields)


def daemonset(name: str, cpu: float, memory_gib: float = 0.0, **fields: Any) -> DaemonSetPod:
    return DaemonSetPod(name, {"cpu": cpu, "memory": memory_gib * GIB}, **fields)


def existing_node(
    name: str,
    cpu: float,
    memory_gib: float,
    *,
    used_cpu: float = 0.0,
    used_memory_gib: float = 0.0,
    zone: str = "zone-a",
    pods: float = 110,
    used_pods: float = 0.0,
    **fields: Any,
) -> ExistingNode:
    labels = {ZONE: zone, **fields.pop("labels", {})}
    return ExistingNode(
        name,
        labels,
        fields.pop("taints", ()),
        {"cpu": cpu, "memory": memory_gib * GIB, "pods": pods},
        {"cpu": used_cpu, "memory": used_memory_gib * GIB, "pods": used_pods},
        **fields,
    )
