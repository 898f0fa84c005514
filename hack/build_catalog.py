"""Build the provisioner's EC2 catalog for us-east-1 from the reference data.

    python -m hack.build_catalog REFERENCE_DATA_DIR [--output FILE]

REFERENCE_DATA_DIR holds ec2-instance-types.csv, ec2-offerings-us-east-1.csv and
ec2-on-demand-prices.csv (see the README there for where they come from). The result,
operator/trimtab/provisioner/data/ec2-us-east-1.csv by default, is committed: the operator reads
only that file, never the reference folder. Rerun this when the reference data changes.
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

REGION = "us-east-1"
DEFAULT_OUTPUT = (
    Path(__file__).resolve().parent.parent
    / "operator"
    / "trimtab"
    / "provisioner"
    / "data"
    / f"ec2-{REGION}.csv"
)
COLUMNS = (
    "instance_type",
    "vcpu",
    "memory_mib",
    "architecture",
    "max_pods",
    "gpus",
    "gpu_memory_mib",
    "burstable",
    "on_demand_usd_per_hour",
    "zones",
)


def read_rows(path: Path) -> list[dict[str, str]]:
    """All rows of a CSV file with a header line."""
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def read_prices(path: Path, region: str) -> dict[str, str]:
    """Instance type -> on-demand price text for one region (kept as text: no float rounding)."""
    return {
        row["instance_type"]: row["usd_per_hour"]
        for row in read_rows(path)
        if row["region"] == region
    }


def read_zones(path: Path) -> dict[str, set[str]]:
    """Instance type -> the zones it is offered in."""
    zones: dict[str, set[str]] = defaultdict(set)
    for row in read_rows(path):
        zones[row["instance_type"]].add(row["zone"])
    return zones


def architecture(architectures: str) -> str | None:
    """The Kubernetes arch label for EC2's architecture list ("i386|x86_64", "arm64", ...).

    A type that runs x86_64 is amd64 even if it lists other architectures too; Mac-only
    architectures have no Kubernetes equivalent and give None.
    """
    names = set(architectures.split("|"))
    if "x86_64" in names:
        return "amd64"
    if "arm64" in names:
        return "arm64"
    return None


MAX_PODS_SMALL, MAX_PODS_LARGE, LARGE_VCPUS = 110, 250, 30
"""EKS's recommended kubelet max-pods: 110 below 30 vCPUs, 250 from there on."""


def max_pods(interfaces: int, ipv4_per_interface: int, vcpus: int) -> int:
    """Pods the AWS VPC CNI can give an address (each interface keeps its primary IPv4 for
    itself, and the two host-network pods, aws-node and kube-proxy, need none), capped at
    EKS's recommended kubelet limit; the cap also keeps the data's count of interfaces over
    all network cards from giving multi-card types thousands of pods."""
    addresses = interfaces * (ipv4_per_interface - 1) + 2
    return min(addresses, MAX_PODS_LARGE if vcpus >= LARGE_VCPUS else MAX_PODS_SMALL)


def selected(
    spec: Mapping[str, str], prices: Mapping[str, str], zones: Mapping[str, set[str]]
) -> bool:
    """Whether a type belongs in the catalog: current generation, virtualised (bare metal boots
    too slowly and is rarely what a pod needs), priced, offered in the region, and an
    architecture Kubernetes knows."""
    name = spec["instance_type"]
    return (
        spec["current_generation"] == "true"
        and spec["bare_metal"] == "false"
        and name in prices
        and bool(zones.get(name))
        and architecture(spec["architectures"]) is not None
    )


def catalog_row(spec: Mapping[str, str], price: str, zones: Iterable[str]) -> dict[str, str]:
    """One output row from a spec row, its price and its zones."""
    return {
        "instance_type": spec["instance_type"],
        "vcpu": spec["vcpu"],
        "memory_mib": spec["memory_mib"],
        "architecture": architecture(spec["architectures"]) or "",
        "max_pods": str(
            max_pods(
                int(spec["max_network_interfaces"]),
                int(spec["ipv4_per_interface"]),
                int(spec["vcpu"]),
            )
        ),
        "gpus": spec["gpus"],
        "gpu_memory_mib": spec["gpu_memory_mib"],
        "burstable": spec["burstable"],
        "on_demand_usd_per_hour": price,
        "zones": " ".join(sorted(zones)),
    }


def build(data_dir: Path) -> list[dict[str, str]]:
    """The catalog rows, sorted by instance type so that reruns give the same file."""
    specs = read_rows(data_dir / "ec2-instance-types.csv")
    prices = read_prices(data_dir / "ec2-on-demand-prices.csv", REGION)
    zones = read_zones(data_dir / f"ec2-offerings-{REGION}.csv")
    rows = [
        catalog_row(spec, prices[spec["instance_type"]], zones[spec["instance_type"]])
        for spec in specs
        if selected(spec, prices, zones)
    ]
    return sorted(rows, key=lambda row: row["instance_type"])


def write(rows: Iterable[Mapping[str, str]], output: Path) -> None:
    """Write the rows with a header, Unix line ends."""
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("data_dir", type=Path, help="folder with the reference CSV files")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="CSV file to write")
    args = parser.parse_args(argv)
    rows = build(args.data_dir)
    write(rows, args.output)
    print(f"wrote {len(rows)} instance types to {args.output}")


if __name__ == "__main__":
    main()
