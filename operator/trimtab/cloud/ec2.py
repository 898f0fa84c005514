"""EC2 request and answer shapes for the AWS provider: tags, error codes, and the pure
functions that build CreateFleet requests and read their answers (no calls here)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence, Set
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from trimtab.api.nodes import AWSNodeClassSpec, SelectorTerm
from trimtab.cloud.provider import (
    CloudError,
    InstanceNotFoundError,
    InsufficientCapacityError,
    LaunchError,
    LaunchRequest,
    OfferingKey,
)
from trimtab.provisioner.model import InstanceType

CLUSTER_TAG = "trimtab.dev/cluster"
NODECLAIM_TAG = "trimtab.dev/nodeclaim"
NODEPOOL_TAG = "trimtab.dev/nodepool"
PROVIDER_SCHEME = "aws:///"

MAX_INSTANCE_TYPES = 60
"""Types offered per CreateFleet call: enough choice for EC2, a bounded request."""
NETWORK_TTL_S = 60.0
"""How long resolved subnets and security groups are reused before they are looked up again."""
TEMPLATE_DIGEST_CHARS = 16
"""Hex characters of the content hash that ends a launch template's name."""
TEMPLATE_MIN_AGE_S = 600.0
"""A launch template younger than this is never collected: a node class change the operator
has not seen yet may have just made it (or another replica may be launching with it)."""

LIVE_STATES = ("pending", "running", "stopping", "stopped", "shutting-down")
"""Instance states that still exist (and cost); "terminated" ones linger in answers a while."""
ADOPTABLE_STATES = ("pending", "running")
"""A retry adopts only a machine that can still become the claim's node."""

INSUFFICIENT_CAPACITY_CODES = frozenset(
    {
        "InsufficientInstanceCapacity",
        "MaxSpotInstanceCountExceeded",
        "UnfulfillableCapacity",
        "Unsupported",
        "InsufficientFreeAddressesInSubnet",
        "VcpuLimitExceeded",
    }
)
"""CreateFleet error codes that mean "not this offering now" rather than "this request is
wrong": the type is short in that zone, the spot or vCPU quota is used up, the type is not sold
in that zone, or the zone's subnet has no free address."""
TEMPLATE_EXISTS = "InvalidLaunchTemplateName.AlreadyExistsException"
TEMPLATE_MISSING = "InvalidLaunchTemplateName.NotFoundException"
TEMPLATE_GONE_CODES = frozenset({TEMPLATE_MISSING, "InvalidLaunchTemplateId.NotFound"})
"""Both ways EC2 says a launch template does not exist (looked up by name, by id): a deletion
answered with either has nothing left to do."""
INSTANCE_MISSING = "InvalidInstanceID.NotFound"
IDEMPOTENCY_MISMATCH = "IdempotentParameterMismatch"


class EC2Client(Protocol):
    """The calls this provider makes on a boto3 EC2 client (injected: tests pass moto's)."""

    def create_fleet(self, **params: Any) -> dict[str, Any]: ...
    def create_launch_template(self, **params: Any) -> dict[str, Any]: ...
    def delete_launch_template(self, **params: Any) -> dict[str, Any]: ...
    def describe_launch_templates(self, **params: Any) -> dict[str, Any]: ...
    def describe_instances(self, **params: Any) -> dict[str, Any]: ...
    def describe_security_groups(self, **params: Any) -> dict[str, Any]: ...
    def describe_subnets(self, **params: Any) -> dict[str, Any]: ...
    def terminate_instances(self, **params: Any) -> dict[str, Any]: ...
    def get_paginator(self, operation_name: str) -> Any: ...


@dataclass(frozen=True)
class Subnet:
    id: str
    zone: str
    free_addresses: int


@dataclass(frozen=True)
class Network:
    """Where machines are launched: one subnet per zone, and the security groups."""

    subnets: tuple[Subnet, ...]
    security_groups: tuple[str, ...]

    def subnet_zone(self, subnet_id: str | None) -> str | None:
        return next((s.zone for s in self.subnets if s.id == subnet_id), None)


def client_token(claim_uid: str) -> str:
    """CreateFleet's idempotency token for a claim (at most 64 ASCII characters)."""
    token = f"trimtab-{claim_uid}"
    if len(token) <= 64 and token.isascii():
        return token
    return "trimtab-" + hashlib.sha256(claim_uid.encode()).hexdigest()[:48]


def instance_id_of(provider_id: str) -> str:
    """The instance id in ``aws:///<zone>/<id>``; CloudError for any other provider id."""
    rest = provider_id.removeprefix(PROVIDER_SCHEME)
    instance_id = rest.rpartition("/")[2]
    if rest == provider_id or not instance_id.startswith("i-"):
        raise CloudError(
            f"providerID {provider_id!r} is not aws:///<zone>/<instance id>",
            code="InvalidProviderID",
        )
    return instance_id


def choose_capacity_type(request: LaunchRequest, zones: frozenset[str]) -> str:
    """Spot when the claim allows it and some type is offered as spot in a usable zone, else
    on-demand: one fleet buys one capacity type."""
    for capacity_type in ("spot", "on-demand"):
        if capacity_type in request.capacity_types and any(
            _offered(t, capacity_type, zones) for t in request.instance_types
        ):
            return capacity_type
    raise LaunchError(
        f"NodeClaim {request.claim_name}: no offering of its instance types as "
        f"{sorted(request.capacity_types)} in zones {sorted(zones)}",
        code="NoOffering",
    )


def fleet_overrides(
    instance_types: Sequence[InstanceType],
    capacity_type: str,
    network: Network,
    zones: frozenset[str],
    limit: int = MAX_INSTANCE_TYPES,
) -> list[dict[str, str]]:
    """One override per (type, zone) the catalog offers, for the ``limit`` cheapest types
    (``instance_types`` come cheapest first), each in its zone's subnet."""
    overrides: list[dict[str, str]] = []
    used_types = 0
    for instance_type in instance_types:
        offered = _offered(instance_type, capacity_type, zones)
        subnets = [s for s in network.subnets if s.zone in offered]
        if not subnets:
            continue
        overrides += [
            {"InstanceType": instance_type.name, "SubnetId": s.id, "AvailabilityZone": s.zone}
            for s in subnets
        ]
        used_types += 1
        if used_types == limit:
            break
    return overrides


def fleet_error(
    claim_name: str, errors: Sequence[Mapping[str, Any]], network: Network
) -> CloudError:
    """The typed error of a CreateFleet answer without an instance."""
    refused: set[OfferingKey] = set()
    codes: list[str] = []
    for error in errors:
        code = str(error.get("ErrorCode") or "Unknown")
        codes.append(f"{code}: {error.get('ErrorMessage') or ''}".rstrip(": "))
        overrides = (error.get("LaunchTemplateAndOverrides") or {}).get("Overrides") or {}
        zone = overrides.get("AvailabilityZone") or network.subnet_zone(overrides.get("SubnetId"))
        if code in INSUFFICIENT_CAPACITY_CODES and overrides.get("InstanceType") and zone:
            lifecycle = error.get("Lifecycle") or "on-demand"
            refused.add((overrides["InstanceType"], zone, lifecycle))
    text = "; ".join(sorted(set(codes))) or "no instance and no error"
    message = f"CreateFleet for NodeClaim {claim_name} launched nothing: {text}"
    if refused:
        return InsufficientCapacityError(
            message, tuple(sorted(refused)), code="InsufficientInstanceCapacity"
        )
    first = str(errors[0].get("ErrorCode")) if errors else None
    return LaunchError(message, code=first)


def best_subnet_per_zone(subnets: Iterable[Subnet]) -> tuple[Subnet, ...]:
    """The subnet with the most free addresses in each zone (ties: the smaller id)."""
    best: dict[str, Subnet] = {}
    for subnet in sorted(subnets, key=lambda s: (-s.free_addresses, s.id)):
        best.setdefault(subnet.zone, subnet)
    return tuple(sorted(best.values(), key=lambda s: s.zone))


def launch_template_data(spec: AWSNodeClassSpec, security_groups: Sequence[str]) -> dict[str, Any]:
    """What every machine of the node class boots with (the type and subnet come per fleet)."""
    data: dict[str, Any] = {
        "ImageId": spec.ami_id,
        "SecurityGroupIds": list(security_groups),
        # IMDSv2 only, one hop: pods cannot borrow the node's role through the metadata service.
        "MetadataOptions": {
            "HttpEndpoint": "enabled",
            "HttpTokens": "required",
            "HttpPutResponseHopLimit": 1,
        },
    }
    if spec.instance_profile:
        data["IamInstanceProfile"] = {"Name": spec.instance_profile}
    if spec.user_data:
        data["UserData"] = base64.b64encode(spec.user_data.encode()).decode()
    return data


def template_prefix(cluster_name: str) -> str:
    """The start of every launch template name of the cluster (see launch_template_name)."""
    return f"trimtab/{cluster_name}/"


def launch_template_name(cluster_name: str, data: Mapping[str, Any]) -> str:
    """``trimtab/<cluster>/<hash of the content>``: a changed content is a new template."""
    digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
    return f"{template_prefix(cluster_name)}{digest[:TEMPLATE_DIGEST_CHARS]}"


def is_cluster_template(name: str, cluster_name: str) -> bool:
    """Whether launch_template_name could have made that name for this cluster: the prefix and
    then exactly a digest, so cluster ``blue`` never claims the templates of ``blue/green``."""
    digest = name.removeprefix(template_prefix(cluster_name))
    return (
        digest != name
        and len(digest) == TEMPLATE_DIGEST_CHARS
        and all(c in "0123456789abcdef" for c in digest)
    )


def stale_templates(
    templates: Iterable[tuple[str, float]],
    in_use: Set[str],
    cluster_name: str,
    now: float,
    min_age: float = TEMPLATE_MIN_AGE_S,
) -> list[str]:
    """Names of the cluster's launch templates (name, creation time in epoch seconds) that no
    node class launches with and that are older than ``min_age``, sorted.

    The name is checked even when the templates were listed by the cluster tag: a template
    whose name is not one this cluster makes was not made by it, whatever its tags say."""
    return sorted(
        {
            name
            for name, created in templates
            if is_cluster_template(name, cluster_name)
            and name not in in_use
            and now - created > min_age
        }
    )


def allowed_zones(network: Network, requested: frozenset[str] | None) -> frozenset[str]:
    zones = frozenset(s.zone for s in network.subnets)
    return zones if requested is None else zones & requested


def _offered(instance_type: InstanceType, capacity_type: str, zones: frozenset[str]) -> set[str]:
    return {
        o.zone
        for o in instance_type.offerings
        if o.available and o.capacity_type == capacity_type and o.zone in zones
    }


def selector_queries(terms: Sequence[SelectorTerm], ids_param: str) -> list[dict[str, Any]]:
    """Describe parameters for selector terms: all ids in one query, one query per tags term
    (its tags ANDed; terms ORed by the union of the answers)."""
    ids = sorted({t.id for t in terms if t.id})
    queries: list[dict[str, Any]] = [{ids_param: ids}] if ids else []
    for term in terms:
        if term.tags:
            filters = [
                ec2_filter("tag-key", key) if value == "*" else ec2_filter(f"tag:{key}", value)
                for key, value in sorted(term.tags.items())
            ]
            queries.append({"Filters": filters})
    return queries


def terms_text(terms: Sequence[SelectorTerm]) -> str:
    return json.dumps([t.model_dump(exclude_none=True) for t in terms], sort_keys=True)


def ec2_filter(name: str, *values: str) -> dict[str, Any]:
    return {"Name": name, "Values": list(values)}


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]


def tags_of(description: Mapping[str, Any]) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in description.get("Tags") or []}


def instances_in(answer: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for reservation in answer.get("Reservations") or []:
        yield from reservation.get("Instances") or []


def launch_seconds(description: Mapping[str, Any]) -> float:
    launch_time = description.get("LaunchTime")
    return launch_time.timestamp() if isinstance(launch_time, datetime) else 0.0


def template_created(description: Mapping[str, Any]) -> float | None:
    """A DescribeLaunchTemplates entry's creation time in epoch seconds, None when unsaid."""
    created = description.get("CreateTime")
    return created.timestamp() if isinstance(created, datetime) else None


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code") or "Unknown")


def error_message(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message") or "")


@contextmanager
def aws_errors(what: str, error: type[CloudError] = CloudError) -> Iterator[None]:
    """Turn botocore failures into typed errors that name the step and EC2's code."""
    try:
        yield
    except ClientError as exc:
        code = error_code(exc)
        kind = InstanceNotFoundError if code == INSTANCE_MISSING else error
        raise kind(f"{what}: {code}: {error_message(exc)}", code=code) from exc
    except BotoCoreError as exc:
        raise error(f"{what}: {exc}") from exc


__all__ = [
    "CLUSTER_TAG",
    "INSUFFICIENT_CAPACITY_CODES",
    "MAX_INSTANCE_TYPES",
    "NODECLAIM_TAG",
    "NODEPOOL_TAG",
    "TEMPLATE_MIN_AGE_S",
    "EC2Client",
    "Network",
    "Subnet",
    "best_subnet_per_zone",
    "choose_capacity_type",
    "client_token",
    "fleet_error",
    "fleet_overrides",
    "instance_id_of",
    "is_cluster_template",
    "launch_template_data",
    "launch_template_name",
    "stale_templates",
]
