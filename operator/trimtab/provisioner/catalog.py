"""The EC2 instance catalog the provisioner chooses machines from.

Specs and on-demand prices are facts shipped in ``data/ec2-<region>.csv`` (see ``data/README.md``
for their sources and how ``hack/build_catalog.py`` selects them). Spot prices are NOT data:
AWS publishes no bulk spot price list, so :func:`spot_price` models them as a per-category
discount against on-demand with a small, deterministic per-zone variation. Treat spot prices as
plausible orderings, not as quotes.

Pure: reads only the package's own data file, never the network or the reference folder.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from types import MappingProxyType

from trimtab.provisioner.model import (
    ARCH,
    INSTANCE_CATEGORY,
    INSTANCE_CPU,
    INSTANCE_FAMILY,
    INSTANCE_GENERATION,
    INSTANCE_MEMORY,
    INSTANCE_TYPE,
    OS,
    REGION,
    InstanceType,
    Offering,
)

MIB = 1024.0 * 1024.0
EVICTION_THRESHOLD = 100 * MIB
"""Bytes of memory the kubelet keeps free (hard eviction at memory.available<100Mi)."""
GPU = "nvidia.com/gpu"
PACKAGE = "trimtab.provisioner"
_TYPE_NAME = re.compile(r"(?P<category>[a-z]+)(?:-\d+tb)?(?P<generation>\d+)")
"""Leading letters, the memory size of "u-<n>tb" high-memory names, then the generation."""

SPOT_DISCOUNT: Mapping[str, float] = MappingProxyType(
    {
        "t": 0.65,
        "m": 0.62,
        "c": 0.60,
        "r": 0.66,
        "x": 0.58,
        "z": 0.58,
        "u": 0.50,
        "i": 0.64,
        "im": 0.64,
        "is": 0.64,
        "d": 0.64,
        "h": 0.64,
        "g": 0.55,
        "gr": 0.55,
        "vt": 0.55,
        "f": 0.55,
        "p": 0.45,
        "inf": 0.50,
        "trn": 0.45,
        "hpc": 0.50,
    }
)
"""Modelled (assumed, not measured) fraction off the on-demand price per instance category:
large for plentiful general-purpose capacity, smaller for scarce accelerators."""
DEFAULT_SPOT_DISCOUNT = 0.55
"""Discount for a category not in SPOT_DISCOUNT."""
SPOT_ZONE_SPREAD = 0.08
"""The modelled spot price varies by up to +/- this fraction between zones, so that zones are
not interchangeable and the cheapest-offering choice is exercised."""


class UnknownRegionError(LookupError):
    """There is no catalog data for the asked region."""


@dataclass(frozen=True)
class Catalog:
    """The instance types of one region, each with its offerings (zone x capacity type)."""

    region: str
    types: tuple[InstanceType, ...]
    _index: Mapping[str, InstanceType] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Index by name once: the scheduler looks types up by name in its inner loops."""
        index = {t.name: t for t in self.types}
        if len(index) != len(self.types):
            raise ValueError(f"duplicate instance type names in the {self.region} catalog")
        object.__setattr__(self, "_index", index)

    def by_name(self, name: str) -> InstanceType:
        """The type called ``name``; KeyError naming it (and the region) when there is none."""
        try:
            return self._index[name]
        except KeyError:
            raise KeyError(f"no instance type {name!r} in the {self.region} catalog") from None

    @property
    def zones(self) -> frozenset[str]:
        """Every zone some type is offered in (available or not)."""
        return frozenset(o.zone for t in self.types for o in t.offerings)

    def without(self, blocked: Iterable[tuple[str, str, str]]) -> Catalog:
        """A copy where the offerings (instance type, zone, capacity type) in ``blocked`` are
        unavailable: the cloud answered "insufficient capacity" for them recently, so the next
        simulation must choose something else. Entries naming nothing in the catalog are
        ignored (the type may have been filtered out); with nothing blocked it is ``self``."""
        keys = frozenset(blocked)
        if not keys:
            return self
        names = {name for name, _, _ in keys}
        types = tuple(_block(t, keys) if t.name in names else t for t in self.types)
        return Catalog(region=self.region, types=types)


def _block(instance_type: InstanceType, keys: frozenset[tuple[str, str, str]]) -> InstanceType:
    """``instance_type`` with its offerings in ``keys`` marked unavailable."""
    offerings = tuple(
        replace(o, available=False) if (instance_type.name, o.zone, o.capacity_type) in keys else o
        for o in instance_type.offerings
    )
    return replace(instance_type, offerings=offerings)


def kube_reserved_cpu(vcpus: float) -> float:
    """Cores the EKS AMI reserves for the kubelet and container runtime: 6 % of the first core,
    1 % of the second, 0.5 % of the third and fourth, 0.25 % of every further one. The share
    falls because system daemons grow far slower than the machine."""
    bands = ((1.0, 0.06), (1.0, 0.01), (2.0, 0.005), (float("inf"), 0.0025))
    reserved, left = 0.0, vcpus
    for width, share in bands:
        cores = min(max(left, 0.0), width)
        reserved += cores * share
        left -= cores
    return reserved


def kube_reserved_memory(max_pods: int) -> float:
    """Bytes the EKS AMI reserves for the kubelet: 11 MiB per pod it may run plus 255 MiB. It
    scales with max pods (not memory) because per-pod bookkeeping is what grows."""
    return (11 * max_pods + 255) * MIB


def spot_price(instance_type: str, category: str, zone: str, on_demand: float) -> float:
    """MODELLED spot price (USD per hour) of ``instance_type`` in ``zone``.

    Real spot prices are not published in bulk, so this is on-demand times (1 - the category's
    discount in SPOT_DISCOUNT), moved by up to +/- SPOT_ZONE_SPREAD by a hash of type and zone.
    The hash is stable across processes (unlike ``hash()``), so runs and tests repeat. The
    result is always below on-demand: the largest factor is (1 - 0.45) * 1.08 < 1.
    """
    discount = SPOT_DISCOUNT.get(category, DEFAULT_SPOT_DISCOUNT)
    return round(on_demand * (1.0 - discount) * _zone_factor(instance_type, zone), 6)


def _zone_factor(instance_type: str, zone: str) -> float:
    """A deterministic factor in [1 - SPOT_ZONE_SPREAD, 1 + SPOT_ZONE_SPREAD)."""
    digest = hashlib.sha256(f"{instance_type}/{zone}".encode()).digest()
    unit = int.from_bytes(digest[:8], "big") / 2.0**64
    return 1.0 + SPOT_ZONE_SPREAD * (2.0 * unit - 1.0)


def name_parts(name: str) -> tuple[str, str, str]:
    """Family, category and generation of an EC2 type name, the way Karpenter labels them:
    "m7g.large" -> ("m7g", "m", "7"), "c7i-flex.xlarge" -> ("c7i-flex", "c", "7"),
    "u-6tb1.112xlarge" -> ("u-6tb1", "u", "1"). Requirements select on these (e.g. category
    In [c, m, r], generation Gt 5), so they must match what users know from Karpenter."""
    family = name.split(".", 1)[0]
    match = _TYPE_NAME.match(family)
    if match is None:
        raise ValueError(f"cannot read a category and generation from instance type {name!r}")
    return family, match["category"], match["generation"]


def instance_type(row: Mapping[str, str], region: str) -> InstanceType:
    """One catalog row as an InstanceType with an on-demand and a spot offering per zone."""
    name = row["instance_type"]
    family, category, generation = name_parts(name)
    vcpus, memory_mib, pods = int(row["vcpu"]), int(row["memory_mib"]), int(row["max_pods"])
    capacity = {"cpu": float(vcpus), "memory": memory_mib * MIB, "pods": float(pods)}
    if int(row["gpus"]) > 0:
        capacity[GPU] = float(row["gpus"])
    overhead = {
        "cpu": kube_reserved_cpu(vcpus),
        "memory": kube_reserved_memory(pods) + EVICTION_THRESHOLD,
    }
    labels = {
        INSTANCE_TYPE: name,
        ARCH: row["architecture"],
        OS: "linux",
        INSTANCE_FAMILY: family,
        INSTANCE_CATEGORY: category,
        INSTANCE_GENERATION: generation,
        INSTANCE_CPU: str(vcpus),
        INSTANCE_MEMORY: str(memory_mib),
        REGION: region,
    }
    price = float(row["on_demand_usd_per_hour"])
    offerings = tuple(
        offering
        for zone in row["zones"].split()
        for offering in (
            Offering(zone, "on-demand", price),
            Offering(zone, "spot", spot_price(name, category, zone, price)),
        )
    )
    # Read-only views: load_catalog hands the same objects to every caller.
    return InstanceType(
        name,
        MappingProxyType(capacity),
        MappingProxyType(overhead),
        MappingProxyType(labels),
        offerings,
    )


def known_regions() -> tuple[str, ...]:
    """Regions that have a data file in the package."""
    names = (p.name for p in resources.files(PACKAGE).joinpath("data").iterdir())
    return tuple(sorted(n[4:-4] for n in names if n.startswith("ec2-") and n.endswith(".csv")))


@cache
def load_catalog(region: str = "us-east-1") -> Catalog:
    """The catalog of ``region`` from the package's data. Cached: the data cannot change while
    the process runs, and parsing a thousand rows on every reconcile would be waste."""
    if region not in known_regions():
        raise UnknownRegionError(
            f"no instance catalog for region {region!r} (have: {', '.join(known_regions())})"
        )
    text = resources.files(PACKAGE).joinpath("data", f"ec2-{region}.csv").read_text()
    rows = csv.DictReader(io.StringIO(text))
    return Catalog(region=region, types=tuple(instance_type(row, region) for row in rows))
