"""The AWS provider: EC2 machines bought with CreateFleet, found and given back by tag.

One launch is one ``CreateFleet`` call of type ``instant`` (synchronous: the answer names the
instance or says why there is none) for a target capacity of 1, with one launch template and an
override for each of the N cheapest fitting instance types in each allowed zone. EC2 then picks
among them: the cheapest for on-demand (``lowest-price``), the cheapest of the pools least likely
to be interrupted for spot (``price-capacity-optimized``). Offering many types is what makes a
launch succeed when one type is short: an answer with no instance and "insufficient capacity"
errors becomes an :class:`~trimtab.cloud.provider.InsufficientCapacityError` that names each
(type, zone, capacity type) that refused, so the controller can stop asking for them a while.

Every instance, its volumes and the fleet are tagged ``trimtab.dev/cluster``,
``trimtab.dev/nodeclaim`` and ``trimtab.dev/nodepool`` (plus the node class's own tags): the
cluster tag is how :meth:`AWSProvider.list` finds every machine the cluster owns, including
those whose NodeClaim was lost, so that they can be collected.

Idempotency has two layers. ``ClientToken`` is derived from the NodeClaim's uid, so EC2 itself
answers a repeated request (a retry after a timeout) with the first answer instead of a second
machine. And before launching, the provider looks for a live instance tagged with the claim and
adopts it: that covers a retry after the token has expired or with different parameters (the
catalog or subnets changed), and emulators that ignore client tokens.

Subnets and security groups come from the node class's selector terms (by id, or by tags, where
the value ``*`` means "has this tag"); the subnet with the most free addresses stands for its
zone. Launch templates are named after a hash of their content, so a changed AMI, user data or
security group makes a new template instead of changing one that running machines came from.
The templates no node class launches with any more are listed and deleted through
:meth:`AWSProvider.cluster_templates` and :meth:`AWSProvider.delete_template`; which ones is
decided by the caller, who knows every node class (see ``ec2.stale_templates``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from trimtab.api.nodes import AWSNodeClassSpec
from trimtab.cloud.ec2 import (
    ADOPTABLE_STATES,
    CLUSTER_TAG,
    IDEMPOTENCY_MISMATCH,
    INSTANCE_MISSING,
    LIVE_STATES,
    NETWORK_TTL_S,
    NODECLAIM_TAG,
    NODEPOOL_TAG,
    PROVIDER_SCHEME,
    TEMPLATE_EXISTS,
    TEMPLATE_GONE_CODES,
    TEMPLATE_MISSING,
    EC2Client,
    Network,
    Subnet,
    allowed_zones,
    aws_errors,
    best_subnet_per_zone,
    choose_capacity_type,
    client_token,
    ec2_filter,
    error_code,
    error_message,
    fleet_error,
    fleet_overrides,
    instance_id_of,
    instances_in,
    is_cluster_template,
    launch_seconds,
    launch_template_data,
    launch_template_name,
    selector_queries,
    tag_list,
    tags_of,
    template_created,
    terms_text,
)
from trimtab.cloud.provider import (
    CloudError,
    Instance,
    InstanceNotFoundError,
    InstanceTypeLookup,
    LaunchError,
    LaunchRequest,
    capacity_of,
    lookup_instance_type,
    offering_price,
)


class AWSProvider:
    """Buys EC2 machines for NodeClaims; see the module docstring."""

    def __init__(
        self,
        spec: AWSNodeClassSpec,
        catalog: InstanceTypeLookup,
        cluster_name: str,
        ec2_client: EC2Client,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        region = getattr(getattr(ec2_client, "meta", None), "region_name", None)
        if region is not None and region != spec.region:
            raise ValueError(
                f"region: the node class says {spec.region!r} but the EC2 client is for {region!r}"
            )
        if not cluster_name:
            raise ValueError(
                "cluster_name: instances are found by a cluster tag; it cannot be empty"
            )
        self._spec = spec
        self._catalog = catalog
        self._cluster = cluster_name
        self._ec2 = ec2_client
        self._clock = clock
        self._network: tuple[float, Network] | None = None
        self._templates: set[str] = set()

    # -- CloudProvider -----------------------------------------------------------------------

    def create(self, request: LaunchRequest) -> Instance:
        """Launch one instance for the claim with CreateFleet, or adopt the one it has."""
        existing = self._claim_instance(request.claim_name)
        if existing is not None:
            return existing
        network = self._resolve_network()
        template = self._launch_template(network)
        zones = allowed_zones(network, request.zones)
        capacity_type = choose_capacity_type(request, zones)
        overrides = fleet_overrides(request.instance_types, capacity_type, network, zones)
        if not overrides:
            raise LaunchError(
                f"NodeClaim {request.claim_name}: none of its instance types is offered as "
                f"{capacity_type} in the zones of the subnets ({sorted(zones)})",
                code="NoOffering",
            )
        params = self._fleet_request(request, template, capacity_type, overrides)
        try:
            answer = self._ec2.create_fleet(**params)
        except ClientError as error:
            return self._after_refusal(request, template, error)
        except BotoCoreError as error:
            raise LaunchError(f"CreateFleet for NodeClaim {request.claim_name}: {error}") from error
        return self._launched(request, answer, network)

    def delete(self, provider_id: str) -> None:
        """Terminate the instance; InstanceNotFoundError when it is gone or not the cluster's."""
        self.get(provider_id)  # checks that it exists and that the cluster owns it
        instance_id = instance_id_of(provider_id)
        with aws_errors(f"terminating {instance_id}"):
            answer = self._ec2.terminate_instances(InstanceIds=[instance_id])
        for change in answer.get("TerminatingInstances") or []:
            if (change.get("PreviousState") or {}).get("Name") == "terminated":
                raise InstanceNotFoundError(f"instance {instance_id} is already terminated")

    def get(self, provider_id: str) -> Instance:
        """The instance of a provider id; InstanceNotFoundError when it is terminated, unknown,
        or not tagged as this cluster's."""
        return self._owned(instance_id_of(provider_id))

    # -- launch templates ----------------------------------------------------------------------

    @property
    def region(self) -> str:
        """The region of the node class: launch templates are regional."""
        return self._spec.region

    def current_template(self) -> str:
        """The name of the launch template the node class launches with now, without making it:
        what garbage collection must keep."""
        return self._template_content(self._resolve_network())[0]

    def cluster_templates(self) -> list[tuple[str, float]]:
        """(name, creation time in epoch seconds) of every launch template of the region tagged
        as this cluster's and named like the ones it makes; templates whose creation time EC2
        does not say are left out, so they are never collected."""
        params = {"Filters": [self._cluster_filter()]}
        found: dict[str, float] = {}
        for page in self._pages(
            "describe_launch_templates", params, "listing launch templates", CloudError
        ):
            for description in page.get("LaunchTemplates") or []:
                name = str(description.get("LaunchTemplateName") or "")
                created = template_created(description)
                if created is not None and is_cluster_template(name, self._cluster):
                    found[name] = created
        return sorted(found.items())

    def delete_template(self, name: str) -> None:
        """Delete a launch template of this cluster; one already gone is deleted too."""
        if not is_cluster_template(name, self._cluster):
            raise ValueError(f"launch template {name!r} is not one of cluster {self._cluster}")
        self._templates.discard(name)  # a later launch that needs it again makes it again
        try:
            with aws_errors(f"deleting launch template {name}"):
                self._ec2.delete_launch_template(LaunchTemplateName=name)
        except CloudError as error:
            if error.code not in TEMPLATE_GONE_CODES:
                raise

    # -- launching ---------------------------------------------------------------------------

    def _owned(self, instance_id: str) -> Instance:
        """The live instance of that id if the cluster owns it, else InstanceNotFoundError."""
        with aws_errors(f"describing {instance_id}"):
            answer = self._ec2.describe_instances(InstanceIds=[instance_id])
        for description in instances_in(answer):
            state = (description.get("State") or {}).get("Name")
            if state in LIVE_STATES and tags_of(description).get(CLUSTER_TAG) == self._cluster:
                return self._instance(description)
        raise InstanceNotFoundError(
            f"instance {instance_id} is terminated or not tagged {CLUSTER_TAG}={self._cluster}",
            code=INSTANCE_MISSING,
        )

    def _claim_instance(self, claim_name: str) -> Instance | None:
        filters = [
            self._cluster_filter(),
            ec2_filter(f"tag:{NODECLAIM_TAG}", claim_name),
            ec2_filter("instance-state-name", *ADOPTABLE_STATES),
        ]
        found = self._describe(
            filters, f"looking up NodeClaim {claim_name}'s instance", LaunchError
        )
        found.sort(key=lambda d: (launch_seconds(d), d.get("InstanceId", "")))
        return self._instance(found[0]) if found else None

    def _fleet_request(
        self,
        request: LaunchRequest,
        template: str,
        capacity_type: str,
        overrides: list[dict[str, str]],
    ) -> dict[str, Any]:
        tags = tag_list(
            {
                **self._spec.tags,
                CLUSTER_TAG: self._cluster,
                NODECLAIM_TAG: request.claim_name,
                NODEPOOL_TAG: request.pool,
            }
        )
        params: dict[str, Any] = {
            "Type": "instant",
            "ClientToken": client_token(request.claim_uid),
            "LaunchTemplateConfigs": [
                {
                    "LaunchTemplateSpecification": {
                        "LaunchTemplateName": template,
                        "Version": "$Latest",
                    },
                    "Overrides": overrides,
                }
            ],
            "TargetCapacitySpecification": {
                "TotalTargetCapacity": 1,
                "DefaultTargetCapacityType": capacity_type,
            },
            "TagSpecifications": [
                {"ResourceType": kind, "Tags": tags} for kind in ("instance", "volume", "fleet")
            ],
        }
        if capacity_type == "spot":
            params["SpotOptions"] = {"AllocationStrategy": "price-capacity-optimized"}
        else:
            params["OnDemandOptions"] = {"AllocationStrategy": "lowest-price"}
        return params

    def _after_refusal(self, request: LaunchRequest, template: str, error: ClientError) -> Instance:
        """Adopt the machine of an earlier request with the same token, or raise LaunchError."""
        code = error_code(error)
        if code == TEMPLATE_MISSING:
            self._templates.discard(template)  # deleted behind our back: make it again next time
        if code == IDEMPOTENCY_MISMATCH:
            # The token's first request (with other overrides) launched: its machine is ours.
            adopted = self._claim_instance(request.claim_name)
            if adopted is not None:
                return adopted
        raise LaunchError(
            f"CreateFleet for NodeClaim {request.claim_name}: {code}: {error_message(error)}",
            code=code,
        ) from error

    def _launched(
        self, request: LaunchRequest, answer: Mapping[str, Any], network: Network
    ) -> Instance:
        """The instance a CreateFleet answer names, or the typed error of its Errors."""
        for launched in answer.get("Instances") or []:
            ids = launched.get("InstanceIds") or []
            if ids:
                return self._instance_from_fleet(request, launched, ids[0], network)
        raise fleet_error(request.claim_name, answer.get("Errors") or [], network)

    def _instance_from_fleet(
        self,
        request: LaunchRequest,
        launched: Mapping[str, Any],
        instance_id: str,
        network: Network,
    ) -> Instance:
        overrides = (launched.get("LaunchTemplateAndOverrides") or {}).get("Overrides") or {}
        zone = overrides.get("AvailabilityZone") or network.subnet_zone(overrides.get("SubnetId"))
        if not zone:  # the answer does not say where: ask (DescribeInstances may lag a little)
            return self._owned(instance_id)
        type_name = launched.get("InstanceType") or overrides.get("InstanceType") or ""
        capacity_type = "spot" if launched.get("Lifecycle") == "spot" else "on-demand"
        instance_type = next((t for t in request.instance_types if t.name == type_name), None)
        instance_type = instance_type or lookup_instance_type(self._catalog, type_name)
        capacity, allocatable = capacity_of(instance_type)
        return Instance(
            provider_id=f"{PROVIDER_SCHEME}{zone}/{instance_id}",
            claim_name=request.claim_name,
            instance_type=type_name,
            zone=zone,
            capacity_type=capacity_type,
            price=offering_price(instance_type, zone, capacity_type),
            launched_at=self._clock(),
            capacity=capacity,
            allocatable=allocatable,
        )

    # -- network and launch template ---------------------------------------------------------

    def _resolve_network(self) -> Network:
        """Subnets (one per zone) and security groups of the node class, cached a minute."""
        now = self._clock()
        if self._network is not None and now - self._network[0] < NETWORK_TTL_S:
            return self._network[1]
        network = Network(
            subnets=best_subnet_per_zone(self._subnets()),
            security_groups=tuple(sorted(self._security_groups())),
        )
        self._network = (now, network)
        return network

    def _subnets(self) -> list[Subnet]:
        found: dict[str, Subnet] = {}
        for params in selector_queries(self._spec.subnet_selector_terms, "SubnetIds"):
            what = f"resolving spec.subnetSelectorTerms {params}"
            for page in self._pages("describe_subnets", params, what):
                for item in page.get("Subnets") or []:
                    subnet = Subnet(
                        item["SubnetId"],
                        item["AvailabilityZone"],
                        int(item.get("AvailableIpAddressCount") or 0),
                    )
                    found[subnet.id] = subnet
        if not found:
            raise LaunchError(
                "spec.subnetSelectorTerms: no subnet matches "
                f"{terms_text(self._spec.subnet_selector_terms)}",
                code="NoSubnet",
            )
        return list(found.values())

    def _security_groups(self) -> set[str]:
        found: set[str] = set()
        for params in selector_queries(self._spec.security_group_selector_terms, "GroupIds"):
            what = f"resolving spec.securityGroupSelectorTerms {params}"
            for page in self._pages("describe_security_groups", params, what):
                found.update(g["GroupId"] for g in page.get("SecurityGroups") or [])
        if not found:
            raise LaunchError(
                "spec.securityGroupSelectorTerms: no security group matches "
                f"{terms_text(self._spec.security_group_selector_terms)}",
                code="NoSecurityGroup",
            )
        return found

    def _launch_template(self, network: Network) -> str:
        """The name of the launch template for this node class, created when missing."""
        name, data = self._template_content(network)
        if name in self._templates:
            return name
        tags = tag_list({**self._spec.tags, CLUSTER_TAG: self._cluster})
        try:
            self._ec2.create_launch_template(
                LaunchTemplateName=name,
                LaunchTemplateData=data,
                TagSpecifications=[{"ResourceType": "launch-template", "Tags": tags}],
            )
        except ClientError as error:
            if error_code(error) != TEMPLATE_EXISTS:  # another replica (or an earlier run) made it
                raise LaunchError(
                    f"creating launch template {name}: {error_code(error)}: {error_message(error)}",
                    code=error_code(error),
                ) from error
        except BotoCoreError as error:
            raise LaunchError(f"creating launch template {name}: {error}") from error
        self._templates.add(name)
        return name

    def _template_content(self, network: Network) -> tuple[str, dict[str, Any]]:
        """The name and content of the node class's launch template, computed in one place so
        that the template collection keeps is the one launches use."""
        data = launch_template_data(self._spec, network.security_groups)
        return launch_template_name(self._cluster, data), data

    # -- describing --------------------------------------------------------------------------

    def _cluster_filter(self) -> dict[str, Any]:
        return ec2_filter(f"tag:{CLUSTER_TAG}", self._cluster)

    def _describe(
        self,
        filters: list[dict[str, Any]],
        what: str,
        error: type[CloudError] = CloudError,
    ) -> list[dict[str, Any]]:
        pages = self._pages("describe_instances", {"Filters": filters}, what, error)
        return [d for page in pages for d in instances_in(page)]

    def _pages(
        self,
        operation: str,
        params: Mapping[str, Any],
        what: str,
        error: type[CloudError] = LaunchError,
    ) -> list[dict[str, Any]]:
        with aws_errors(what, error):
            return list(self._ec2.get_paginator(operation).paginate(**params))

    def _instance(self, description: Mapping[str, Any]) -> Instance:
        """An Instance from a DescribeInstances entry, sized and priced by the catalog."""
        zone = (description.get("Placement") or {}).get("AvailabilityZone") or ""
        type_name = description.get("InstanceType") or ""
        capacity_type = "spot" if description.get("InstanceLifecycle") == "spot" else "on-demand"
        instance_type = lookup_instance_type(self._catalog, type_name)
        capacity, allocatable = capacity_of(instance_type)
        return Instance(
            provider_id=f"{PROVIDER_SCHEME}{zone}/{description['InstanceId']}",
            claim_name=tags_of(description).get(NODECLAIM_TAG, ""),
            instance_type=type_name,
            zone=zone,
            capacity_type=capacity_type,
            price=offering_price(instance_type, zone, capacity_type),
            launched_at=launch_seconds(description),
            capacity=capacity,
            allocatable=allocatable,
        )

    # Last in the class: below it, the name ``list`` would mean this method in annotations.
    def list(self) -> list[Instance]:
        """Every live instance tagged as this cluster's."""
        filters = [self._cluster_filter(), ec2_filter("instance-state-name", *LIVE_STATES)]
        return [self._instance(d) for d in self._describe(filters, "listing instances")]


# -- pure helpers (no calls) ------------------------------------------------------------------


__all__ = ["AWSProvider"]
