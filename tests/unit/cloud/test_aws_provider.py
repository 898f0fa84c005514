"""The AWS provider against moto's EC2, and against botocore's Stubber where moto cannot answer.

What moto 5.2.5 does and does not do for these calls (read in ``moto/ec2/models/fleets.py``):

- CreateFleet ``instant`` launches at once and answers with the instance ids; it takes the
  *first* override (it has no prices to compare), puts the instance in that override's subnet,
  and honours both capacity types (spot through a spot request, so DescribeInstances says
  ``InstanceLifecycle: spot``).
- It applies the request's ``instance`` tags, not its ``volume`` tags (volumes get only the
  launch template's), so the volume tags are checked on the request that was sent.
- It ignores ``ClientToken``: a repeated request launches a second instance. The provider's
  own look-up by the NodeClaim tag is what keeps a retry from buying twice here.
- It never answers with ``Errors`` (no insufficient capacity, no IdempotentParameterMismatch):
  those answers come from a Stubber.
- DeleteLaunchTemplate of a name it does not know answers ``MissingParameter`` where EC2
  answers ``InvalidLaunchTemplateName.NotFoundException``: that answer comes from a Stubber.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from trimtab.api.nodes import AWSNodeClassSpec
from trimtab.cloud.aws import AWSProvider
from trimtab.cloud.ec2 import (
    CLUSTER_TAG,
    MAX_INSTANCE_TYPES,
    NODECLAIM_TAG,
    NODEPOOL_TAG,
    TEMPLATE_MIN_AGE_S,
    Network,
    Subnet,
    best_subnet_per_zone,
    client_token,
    fleet_overrides,
    instance_id_of,
    stale_templates,
)
from trimtab.cloud.provider import (
    CloudError,
    Instance,
    InstanceNotFoundError,
    InsufficientCapacityError,
    LaunchError,
    LaunchRequest,
)
from trimtab.provisioner.model import INSTANCE_TYPE, InstanceType, Offering

REGION = "us-east-1"
ZONE_A, ZONE_B, ZONE_C = "us-east-1a", "us-east-1b", "us-east-1c"
ZONES = (ZONE_A, ZONE_B, ZONE_C)
CLUSTER = "blue"
DISCOVERY = "trimtab.dev/discovery"
GI = 2.0**30
NOW = 1_800_000_000.0


# -- factories --------------------------------------------------------------------------------


def instance_type(
    name: str, price: float, *, zones: tuple[str, ...] = ZONES, spot: bool = True
) -> InstanceType:
    """A 2-core 8Gi type sold on demand at ``price`` in ``zones``, and as spot at a third."""
    offerings = [Offering(z, "on-demand", price) for z in zones]
    if spot:
        offerings += [Offering(z, "spot", round(price / 3, 4)) for z in zones]
    return InstanceType(
        name=name,
        capacity={"cpu": 2.0, "memory": 8 * GI, "pods": 29.0},
        overhead={"cpu": 0.08, "memory": 1 * GI},
        labels={INSTANCE_TYPE: name},
        offerings=tuple(offerings),
    )


C5 = instance_type("c5.large", 0.085)
M5 = instance_type("m5.large", 0.096)
R5_ONLY_IN_C = instance_type("r5.large", 0.126, zones=(ZONE_C,))
CATALOG = {t.name: t for t in (C5, M5, R5_ONLY_IN_C)}


def request(*types: InstanceType, **overrides: Any) -> LaunchRequest:
    """NodeClaim general-x7k2p of pool general, for c5 then m5, on demand."""
    base: dict[str, Any] = {
        "claim_name": "general-x7k2p",
        "claim_uid": "0b6f1c4e-7f7e-4c3a-9d55-1f2a3b4c5d6e",
        "pool": "general",
        "instance_types": types or (C5, M5),
        "capacity_types": frozenset({"on-demand"}),
    }
    return LaunchRequest(**{**base, **overrides})


def node_class(ami: str = "ami-12345678", **fields: Any) -> AWSNodeClassSpec:
    """Subnets and security groups tagged for discovery by the cluster, and one extra tag."""
    base: dict[str, Any] = {
        "region": REGION,
        "subnet_selector_terms": [{"tags": {DISCOVERY: CLUSTER}}],
        "security_group_selector_terms": [{"tags": {DISCOVERY: CLUSTER}}],
        "ami_id": ami,
        "tags": {"team": "platform"},
    }
    return AWSNodeClassSpec.model_validate({**base, **fields})


def tags_of(resource: Mapping[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags") or []}


def tag_spec(tags: Mapping[str, str], *kinds: str) -> list[dict[str, Any]]:
    return [
        {"ResourceType": kind, "Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]}
        for kind in kinds
    ]


def register_image(ec2: Any, name: str) -> str:
    return ec2.register_image(Name=name, RootDeviceName="/dev/xvda")["ImageId"]  # type: ignore[no-any-return]


@dataclass
class Clock:
    now: float = NOW

    def __call__(self) -> float:
        return self.now


@dataclass
class Account:
    """A moto EC2 account with a VPC: tagged subnets in zones A and B (two in A, the larger
    one with more free addresses), an untagged one in C, and a tagged security group."""

    ec2: Any
    ami: str
    subnets: dict[str, str]
    security_group: str
    calls: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    clock: Clock = field(default_factory=Clock)

    def provider(self, cluster: str = CLUSTER, **spec: Any) -> AWSProvider:
        return AWSProvider(
            node_class(self.ami, **spec), CATALOG, cluster, self.ec2, clock=self.clock
        )

    def sent(self, operation: str) -> list[dict[str, Any]]:
        """The parameters of every call of that operation so far (e.g. "CreateFleet")."""
        return self.calls.get(operation, [])

    def describe(self, instance: Instance) -> dict[str, Any]:
        answer = self.ec2.describe_instances(InstanceIds=[instance_id_of(instance.provider_id)])
        return answer["Reservations"][0]["Instances"][0]  # type: ignore[no-any-return]

    def live_instances(self) -> list[dict[str, Any]]:
        answer = self.ec2.describe_instances(
            Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}]
        )
        return [i for r in answer["Reservations"] for i in r["Instances"]]


@pytest.fixture(scope="module")
def ec2_client() -> Any:
    """One client for the module: making one takes most of a second. moto answers its calls
    whenever a mock is active, and each test starts its own, empty one."""
    with mock_aws():
        return boto3.client("ec2", region_name=REGION)


@pytest.fixture
def account(ec2_client: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Account]:
    # Loading moto's thousands of public AMIs takes seconds per test; one image of our own will do.
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    with mock_aws():
        ec2 = ec2_client
        ami = register_image(ec2, "node-image")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]

        def subnet(cidr: str, zone: str, tagged: bool = True) -> str:
            tags = tag_spec({DISCOVERY: CLUSTER}, "subnet") if tagged else []
            return ec2.create_subnet(  # type: ignore[no-any-return]
                VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone, TagSpecifications=tags
            )["Subnet"]["SubnetId"]

        subnets = {
            "a-small": subnet("10.0.1.0/26", ZONE_A),
            "a": subnet("10.0.2.0/24", ZONE_A),
            "b": subnet("10.0.3.0/24", ZONE_B),
            "c-untagged": subnet("10.0.4.0/24", ZONE_C, tagged=False),
        }
        group = ec2.create_security_group(
            GroupName="nodes",
            Description="nodes",
            VpcId=vpc,
            TagSpecifications=tag_spec({DISCOVERY: CLUSTER}, "security-group"),
        )["GroupId"]
        world = Account(ec2, ami, subnets, group)

        def record(params: dict[str, Any], model: Any, **_: Any) -> None:
            world.calls.setdefault(model.name, []).append(dict(params))

        ec2.meta.events.register("provide-client-params.ec2.*", record)
        try:
            yield world
        finally:
            ec2.meta.events.unregister("provide-client-params.ec2.*", record)


# -- launching --------------------------------------------------------------------------------


def test_create_launches_one_tagged_instance_in_an_allowed_subnet(account: Account) -> None:
    instance = account.provider().create(request())

    (described,) = account.live_instances()
    assert described["InstanceId"] == instance_id_of(instance.provider_id)
    assert described["InstanceType"] == "c5.large"  # moto takes the first (cheapest) override
    assert described["SubnetId"] == account.subnets["a"]
    assert (
        tags_of(described).items()
        >= {
            CLUSTER_TAG: CLUSTER,
            NODECLAIM_TAG: "general-x7k2p",
            NODEPOOL_TAG: "general",
            "team": "platform",
        }.items()
    )
    assert instance == Instance(
        provider_id=f"aws:///{ZONE_A}/{described['InstanceId']}",
        claim_name="general-x7k2p",
        instance_type="c5.large",
        zone=ZONE_A,
        capacity_type="on-demand",
        price=0.085,
        launched_at=NOW,
        capacity={"cpu": 2.0, "memory": 8 * GI, "pods": 29.0},
        allocatable={"cpu": 1.92, "memory": 7 * GI, "pods": 29.0},
    )


def test_the_fleet_request_is_instant_for_one_machine_with_every_tag(account: Account) -> None:
    account.provider().create(request())

    (sent,) = account.sent("CreateFleet")
    tags = {
        "team": "platform",
        CLUSTER_TAG: CLUSTER,
        NODECLAIM_TAG: "general-x7k2p",
        NODEPOOL_TAG: "general",
    }
    assert sent["Type"] == "instant"
    assert sent["ClientToken"] == "trimtab-0b6f1c4e-7f7e-4c3a-9d55-1f2a3b4c5d6e"
    assert sent["TargetCapacitySpecification"] == {
        "TotalTargetCapacity": 1,
        "DefaultTargetCapacityType": "on-demand",
    }
    assert sent["OnDemandOptions"] == {"AllocationStrategy": "lowest-price"}
    assert "SpotOptions" not in sent
    assert sent["TagSpecifications"] == tag_spec(tags, "instance", "volume", "fleet")


def test_overrides_are_each_type_in_each_allowed_zones_roomiest_subnet(account: Account) -> None:
    account.provider().create(request(C5, M5, R5_ONLY_IN_C))

    (config,) = account.sent("CreateFleet")[0]["LaunchTemplateConfigs"]
    a, b = account.subnets["a"], account.subnets["b"]
    # r5 is only sold in zone C, where no tagged subnet is: it is left out.
    assert config["Overrides"] == [
        {"InstanceType": "c5.large", "SubnetId": a, "AvailabilityZone": ZONE_A},
        {"InstanceType": "c5.large", "SubnetId": b, "AvailabilityZone": ZONE_B},
        {"InstanceType": "m5.large", "SubnetId": a, "AvailabilityZone": ZONE_A},
        {"InstanceType": "m5.large", "SubnetId": b, "AvailabilityZone": ZONE_B},
    ]


def test_requested_zones_narrow_the_overrides(account: Account) -> None:
    instance = account.provider().create(request(zones=frozenset({ZONE_B})))

    overrides = account.sent("CreateFleet")[0]["LaunchTemplateConfigs"][0]["Overrides"]
    assert {o["AvailabilityZone"] for o in overrides} == {ZONE_B}
    assert instance.zone == ZONE_B
    assert account.describe(instance)["SubnetId"] == account.subnets["b"]


def test_spot_is_bought_when_the_claim_allows_it(account: Account) -> None:
    instance = account.provider().create(request(capacity_types=frozenset({"spot", "on-demand"})))

    (sent,) = account.sent("CreateFleet")
    assert sent["TargetCapacitySpecification"]["DefaultTargetCapacityType"] == "spot"
    assert sent["SpotOptions"] == {"AllocationStrategy": "price-capacity-optimized"}
    assert "OnDemandOptions" not in sent
    assert account.describe(instance)["InstanceLifecycle"] == "spot"
    assert (instance.capacity_type, instance.price) == ("spot", round(0.085 / 3, 4))


def test_on_demand_is_bought_when_no_type_is_sold_as_spot(account: Account) -> None:
    no_spot = instance_type("c6i.large", 0.085, spot=False)

    instance = account.provider().create(
        request(no_spot, capacity_types=frozenset({"spot", "on-demand"}))
    )

    assert instance.capacity_type == "on-demand"


def test_a_claim_no_subnet_zone_can_serve_fails_without_launching(account: Account) -> None:
    with pytest.raises(LaunchError) as caught:
        account.provider().create(request(R5_ONLY_IN_C))

    assert caught.value.code == "NoOffering"
    assert account.sent("CreateFleet") == []
    assert account.live_instances() == []


def test_the_launch_template_is_made_once_and_reused(account: Account) -> None:
    provider = account.provider(instance_profile="nodes", user_data="#!/bin/bash\necho hi\n")

    provider.create(request())
    provider.create(request(claim_name="general-b2c3d", claim_uid="uid-b2c3d"))
    account.provider(instance_profile="nodes", user_data="#!/bin/bash\necho hi\n").create(
        request(claim_name="general-c3d4e", claim_uid="uid-c3d4e")
    )

    (template,) = account.ec2.describe_launch_templates()["LaunchTemplates"]
    assert template["LaunchTemplateName"].startswith(f"trimtab/{CLUSTER}/")
    assert tags_of(template) == {CLUSTER_TAG: CLUSTER, "team": "platform"}
    assert len(account.sent("CreateLaunchTemplate")) == 2  # the second provider found it taken
    (version,) = account.ec2.describe_launch_template_versions(
        LaunchTemplateId=template["LaunchTemplateId"]
    )["LaunchTemplateVersions"]
    data = version["LaunchTemplateData"]
    assert data["ImageId"] == account.ami
    assert data["SecurityGroupIds"] == [account.security_group]
    assert data["IamInstanceProfile"] == {"Name": "nodes"}
    assert base64.b64decode(data["UserData"]) == b"#!/bin/bash\necho hi\n"
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    for sent in account.sent("CreateFleet"):
        spec = sent["LaunchTemplateConfigs"][0]["LaunchTemplateSpecification"]
        assert spec == {"LaunchTemplateName": template["LaunchTemplateName"], "Version": "$Latest"}


def test_a_changed_ami_makes_a_new_launch_template(account: Account) -> None:
    other_ami = register_image(account.ec2, "node-image-v2")

    account.provider().create(request())
    AWSProvider(node_class(other_ami), CATALOG, CLUSTER, account.ec2).create(
        request(claim_name="general-b2c3d", claim_uid="uid-b2c3d")
    )

    names = [
        t["LaunchTemplateName"] for t in account.ec2.describe_launch_templates()["LaunchTemplates"]
    ]
    assert len(set(names)) == 2


def test_subnets_and_groups_are_resolved_again_only_after_a_minute(account: Account) -> None:
    provider = account.provider()

    provider.create(request())
    account.clock.now += 59
    provider.create(request(claim_name="general-b2c3d", claim_uid="uid-b2c3d"))
    assert len(account.sent("DescribeSubnets")) == 1
    account.clock.now += 2
    provider.create(request(claim_name="general-c3d4e", claim_uid="uid-c3d4e"))

    assert len(account.sent("DescribeSubnets")) == 2
    assert len(account.sent("DescribeSecurityGroups")) == 2


# -- selector terms ---------------------------------------------------------------------------


def test_selector_terms_by_id_and_by_tag_key(account: Account) -> None:
    provider = account.provider(
        subnet_selector_terms=[{"id": account.subnets["b"]}],
        security_group_selector_terms=[{"tags": {DISCOVERY: "*"}}],
    )

    instance = provider.create(request())

    assert instance.zone == ZONE_B
    assert account.sent("DescribeSubnets")[0] == {"SubnetIds": [account.subnets["b"]]}
    assert account.sent("DescribeSecurityGroups")[0] == {
        "Filters": [{"Name": "tag-key", "Values": [DISCOVERY]}]
    }


def test_a_selector_matching_nothing_names_the_field(account: Account) -> None:
    provider = account.provider(subnet_selector_terms=[{"tags": {DISCOVERY: "green"}}])

    with pytest.raises(LaunchError, match=r"^spec\.subnetSelectorTerms: no subnet matches") as e:
        provider.create(request())

    assert e.value.code == "NoSubnet"


def test_an_unknown_subnet_id_is_a_launch_error_with_ec2s_code(account: Account) -> None:
    provider = account.provider(subnet_selector_terms=[{"id": "subnet-0123456789abcdef0"}])

    with pytest.raises(LaunchError, match="subnetSelectorTerms") as caught:
        provider.create(request())

    assert caught.value.code == "InvalidSubnetID.NotFound"


def test_a_client_for_another_region_is_refused(account: Account) -> None:
    with pytest.raises(ValueError, match=r"^region: "):
        AWSProvider(node_class(region="eu-west-1"), CATALOG, CLUSTER, account.ec2)


# -- idempotency ------------------------------------------------------------------------------


def test_a_retry_for_the_same_claim_does_not_launch_a_second_instance(account: Account) -> None:
    first = account.provider().create(request())
    account.clock.now += 30

    again = account.provider().create(request())  # e.g. after a restart

    assert again.provider_id == first.provider_id
    assert len(account.live_instances()) == 1
    assert len(account.sent("CreateFleet")) == 1


def test_a_terminated_instance_of_the_claim_is_not_adopted(account: Account) -> None:
    provider = account.provider()
    first = provider.create(request())
    provider.delete(first.provider_id)

    second = provider.create(request())

    assert second.provider_id != first.provider_id
    assert len(account.live_instances()) == 1


def test_client_tokens_follow_the_uid_and_fit_ec2s_limit() -> None:
    assert client_token("abc") == "trimtab-abc"
    assert client_token("abc") != client_token("abd")
    long = client_token("x" * 100)
    assert len(long) <= 64
    assert long == client_token("x" * 100)
    assert long != client_token("x" * 99 + "y")


# -- get, list, delete ------------------------------------------------------------------------


def test_delete_terminates_the_instance_once(account: Account) -> None:
    provider = account.provider()
    instance = provider.create(request())

    provider.delete(instance.provider_id)

    assert account.describe(instance)["State"]["Name"] in ("shutting-down", "terminated")
    assert provider.list() == []
    with pytest.raises(InstanceNotFoundError):
        provider.get(instance.provider_id)
    with pytest.raises(InstanceNotFoundError):
        provider.delete(instance.provider_id)


def test_an_unknown_instance_is_not_found(account: Account) -> None:
    provider = account.provider()

    with pytest.raises(InstanceNotFoundError) as caught:
        provider.delete(f"aws:///{ZONE_A}/i-0123456789abcdef0")

    assert caught.value.code == "InvalidInstanceID.NotFound"


@pytest.mark.parametrize(
    "provider_id", ["simulated://us-east-1a/general-x7k2p", "aws:///us-east-1a/", "i-0abc"]
)
def test_foreign_provider_ids_are_refused(account: Account, provider_id: str) -> None:
    with pytest.raises(CloudError) as caught:
        account.provider().delete(provider_id)

    assert caught.value.code == "InvalidProviderID"
    assert not isinstance(caught.value, InstanceNotFoundError)


def test_list_returns_only_this_clusters_live_instances(account: Account) -> None:
    blue = account.provider()
    green = account.provider(cluster="green")
    mine = [
        blue.create(request()),
        blue.create(request(claim_name="general-b2c3d", claim_uid="uid-b2c3d")),
    ]
    theirs = green.create(request(claim_name="green-x", claim_uid="uid-green-x"))
    account.ec2.run_instances(ImageId=account.ami, MinCount=1, MaxCount=1)  # untagged

    listed = blue.list()

    assert sorted(i.provider_id for i in listed) == sorted(i.provider_id for i in mine)
    assert {i.claim_name for i in listed} == {"general-x7k2p", "general-b2c3d"}
    assert all(i.price == 0.085 and i.capacity["cpu"] == 2.0 for i in listed)
    with pytest.raises(InstanceNotFoundError):
        blue.get(theirs.provider_id)
    with pytest.raises(InstanceNotFoundError):
        blue.delete(theirs.provider_id)
    assert account.describe(theirs)["State"]["Name"] == "running"


def test_get_rebuilds_the_instance_from_ec2(account: Account) -> None:
    provider = account.provider()
    launched = provider.create(request(capacity_types=frozenset({"spot"})))

    found = provider.get(launched.provider_id)

    launch_time = account.describe(launched)["LaunchTime"]
    assert found == Instance(
        provider_id=launched.provider_id,
        claim_name="general-x7k2p",
        instance_type="c5.large",
        zone=ZONE_A,
        capacity_type="spot",
        price=round(0.085 / 3, 4),
        launched_at=launch_time.timestamp(),
        capacity=launched.capacity,
        allocatable=launched.allocatable,
    )


# -- launch template collection ---------------------------------------------------------------


def template_names(provider: AWSProvider) -> list[str]:
    return [name for name, _ in provider.cluster_templates()]


def test_current_template_names_the_template_without_making_it(account: Account) -> None:
    provider = account.provider()

    name = provider.current_template()

    assert account.sent("CreateLaunchTemplate") == []
    provider.create(request())
    spec = account.sent("CreateFleet")[0]["LaunchTemplateConfigs"][0]
    assert spec["LaunchTemplateSpecification"]["LaunchTemplateName"] == name


def test_after_an_ami_change_both_templates_are_listed_and_the_old_one_deleted(
    account: Account,
) -> None:
    old = account.provider()
    old.create(request())
    new = AWSProvider(
        node_class(register_image(account.ec2, "node-image-v2")),
        CATALOG,
        CLUSTER,
        account.ec2,
        clock=account.clock,
    )
    new.create(request(claim_name="general-b2c3d", claim_uid="uid-b2c3d"))

    listed = dict(new.cluster_templates())
    current, previous = new.current_template(), old.current_template()
    assert current != previous
    assert sorted(listed) == sorted([current, previous])
    assert all(abs(created - time.time()) < 600 for created in listed.values())
    sent = account.sent("CreateFleet")[-1]["LaunchTemplateConfigs"][0]
    assert sent["LaunchTemplateSpecification"]["LaunchTemplateName"] == current

    new.delete_template(previous)

    assert template_names(new) == [current]


def test_a_deleted_template_is_made_again_by_the_next_launch(account: Account) -> None:
    provider = account.provider()
    provider.create(request())

    provider.delete_template(provider.current_template())
    provider.create(request(claim_name="general-b2c3d", claim_uid="uid-b2c3d"))

    assert len(account.sent("CreateLaunchTemplate")) == 2
    assert template_names(provider) == [provider.current_template()]


def test_templates_of_other_clusters_are_never_listed_nor_deleted(account: Account) -> None:
    ours = account.provider()
    ours.create(request())
    foreign = {
        "trimtab/green/0123456789abcdef": "green",  # another cluster's
        "trimtab/green/fedcba9876543210": CLUSTER,  # our tag, another cluster's name
        f"trimtab/{CLUSTER}/0123456789abcdef": "green",  # our name, another cluster's tag
        f"trimtab/{CLUSTER}/hand-made": CLUSTER,  # our tag and prefix, not a name we make
        f"trimtab/{CLUSTER}/green/0123456789abcdef": CLUSTER,  # cluster "blue/green"'s
    }
    for name, cluster in foreign.items():
        account.ec2.create_launch_template(
            LaunchTemplateName=name,
            LaunchTemplateData={"ImageId": account.ami},
            TagSpecifications=tag_spec({CLUSTER_TAG: cluster}, "launch-template"),
        )

    assert template_names(ours) == [ours.current_template()]
    with pytest.raises(ValueError, match="not one of cluster"):
        ours.delete_template("trimtab/green/fedcba9876543210")
    everything = account.ec2.describe_launch_templates()["LaunchTemplates"]
    assert len(everything) == len(foreign) + 1


def test_a_refused_listing_is_a_cloud_error_naming_the_code(ec2_client: Any) -> None:
    with Stubber(ec2_client) as stubber:
        stubber.add_client_error(
            "describe_launch_templates", service_error_code="UnauthorizedOperation"
        )
        provider = AWSProvider(node_class(), CATALOG, CLUSTER, stubber.client)

        with pytest.raises(CloudError) as caught:
            provider.cluster_templates()

    assert not isinstance(caught.value, LaunchError)
    assert caught.value.code == "UnauthorizedOperation"


@pytest.mark.parametrize(
    "code", ["InvalidLaunchTemplateName.NotFoundException", "InvalidLaunchTemplateId.NotFound"]
)
def test_deleting_a_template_already_gone_succeeds(ec2_client: Any, code: str) -> None:
    name = f"trimtab/{CLUSTER}/0123456789abcdef"
    with Stubber(ec2_client) as stubber:
        stubber.add_client_error(
            "delete_launch_template",
            service_error_code=code,
            expected_params={"LaunchTemplateName": name},
        )

        AWSProvider(node_class(), CATALOG, CLUSTER, stubber.client).delete_template(name)

        stubber.assert_no_pending_responses()


def test_a_refused_deletion_is_a_cloud_error(ec2_client: Any) -> None:
    name = f"trimtab/{CLUSTER}/0123456789abcdef"
    with Stubber(ec2_client) as stubber:
        stubber.add_client_error(
            "delete_launch_template", service_error_code="UnauthorizedOperation"
        )
        provider = AWSProvider(node_class(), CATALOG, CLUSTER, stubber.client)

        with pytest.raises(CloudError) as caught:
            provider.delete_template(name)

    assert caught.value.code == "UnauthorizedOperation"


# -- answers moto cannot give: a Stubber ------------------------------------------------------


SUBNET_A, SUBNET_B = "subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"
GROUP = "sg-0123456789abcdef0"


@pytest.fixture
def stubbed(ec2_client: Any) -> Iterator[Stubber]:
    """The client answering only what the test queues (moto is not active: nothing else
    answers): the look-up of the claim's instance, the network and the launch template, then
    whatever the test adds."""
    with Stubber(ec2_client) as stubber:
        stubber.add_response("describe_instances", {"Reservations": []})
        stubber.add_response(
            "describe_subnets",
            {
                "Subnets": [
                    {
                        "SubnetId": SUBNET_A,
                        "AvailabilityZone": ZONE_A,
                        "AvailableIpAddressCount": 9,
                    },
                    {
                        "SubnetId": SUBNET_B,
                        "AvailabilityZone": ZONE_B,
                        "AvailableIpAddressCount": 9,
                    },
                ]
            },
        )
        stubber.add_response("describe_security_groups", {"SecurityGroups": [{"GroupId": GROUP}]})
        stubber.add_response("create_launch_template", {"LaunchTemplate": {}})
        yield stubber
        stubber.assert_no_pending_responses()


def stubbed_provider(stubber: Stubber) -> AWSProvider:
    return AWSProvider(node_class(), CATALOG, CLUSTER, stubber.client, clock=Clock())


def fleet_error(
    type_name: str, subnet: str, code: str, lifecycle: str = "on-demand"
) -> dict[str, Any]:
    return {
        "LaunchTemplateAndOverrides": {
            "LaunchTemplateSpecification": {"LaunchTemplateName": "trimtab/blue/x", "Version": "1"},
            "Overrides": {"InstanceType": type_name, "SubnetId": subnet},
        },
        "Lifecycle": lifecycle,
        "ErrorCode": code,
        "ErrorMessage": f"{code} for {type_name}",
    }


def test_insufficient_capacity_names_each_refused_offering(stubbed: Stubber) -> None:
    stubbed.add_response(
        "create_fleet",
        {
            "FleetId": "fleet-1",
            "Errors": [
                fleet_error("c5.large", SUBNET_A, "InsufficientInstanceCapacity"),
                fleet_error("c5.large", SUBNET_B, "InsufficientInstanceCapacity"),
                fleet_error("m5.large", SUBNET_A, "UnfulfillableCapacity"),
                fleet_error("m5.large", SUBNET_B, "InvalidParameterValue"),
            ],
            "Instances": [],
        },
        {
            "Type": "instant",
            "ClientToken": "trimtab-0b6f1c4e-7f7e-4c3a-9d55-1f2a3b4c5d6e",
            "LaunchTemplateConfigs": ANY,
            "TargetCapacitySpecification": ANY,
            "OnDemandOptions": ANY,
            "TagSpecifications": ANY,
        },
    )

    with pytest.raises(InsufficientCapacityError) as caught:
        stubbed_provider(stubbed).create(request())

    assert caught.value.offerings == (
        ("c5.large", ZONE_A, "on-demand"),
        ("c5.large", ZONE_B, "on-demand"),
        ("m5.large", ZONE_A, "on-demand"),
    )
    assert "InvalidParameterValue" in caught.value.message


def test_spot_capacity_errors_name_the_spot_offerings(stubbed: Stubber) -> None:
    stubbed.add_response(
        "create_fleet",
        {"Errors": [fleet_error("c5.large", SUBNET_B, "InsufficientInstanceCapacity", "spot")]},
    )

    with pytest.raises(InsufficientCapacityError) as caught:
        stubbed_provider(stubbed).create(request(capacity_types=frozenset({"spot"})))

    assert caught.value.offerings == (("c5.large", ZONE_B, "spot"),)


def test_other_fleet_errors_are_launch_errors_naming_the_code(stubbed: Stubber) -> None:
    stubbed.add_response(
        "create_fleet",
        {"Errors": [fleet_error("c5.large", SUBNET_A, "InvalidLaunchTemplateId.NotFound")]},
    )

    with pytest.raises(LaunchError) as caught:
        stubbed_provider(stubbed).create(request())

    assert not isinstance(caught.value, InsufficientCapacityError)
    assert caught.value.code == "InvalidLaunchTemplateId.NotFound"
    assert "InvalidLaunchTemplateId.NotFound" in caught.value.message


def test_a_refused_fleet_call_is_a_launch_error_naming_the_code(stubbed: Stubber) -> None:
    stubbed.add_client_error(
        "create_fleet", service_error_code="UnauthorizedOperation", service_message="not allowed"
    )

    with pytest.raises(LaunchError, match="UnauthorizedOperation: not allowed") as caught:
        stubbed_provider(stubbed).create(request())

    assert caught.value.code == "UnauthorizedOperation"


def test_a_token_reused_with_other_parameters_adopts_the_claims_instance(
    stubbed: Stubber,
) -> None:
    # The first request launched, but DescribeInstances did not show it yet when we looked.
    stubbed.add_client_error("create_fleet", service_error_code="IdempotentParameterMismatch")
    launched = datetime(2027, 1, 15, 8, 0, tzinfo=UTC)
    stubbed.add_response(
        "describe_instances",
        {
            "Reservations": [
                {
                    "Instances": [
                        {
                            "InstanceId": "i-0abc",
                            "InstanceType": "m5.large",
                            "Placement": {"AvailabilityZone": ZONE_B},
                            "LaunchTime": launched,
                            "State": {"Name": "running"},
                            "Tags": [
                                {"Key": CLUSTER_TAG, "Value": CLUSTER},
                                {"Key": NODECLAIM_TAG, "Value": "general-x7k2p"},
                            ],
                        }
                    ]
                }
            ]
        },
    )

    instance = stubbed_provider(stubbed).create(request())

    assert (instance.provider_id, instance.instance_type, instance.launched_at) == (
        f"aws:///{ZONE_B}/i-0abc",
        "m5.large",
        launched.timestamp(),
    )


# -- pure helpers -----------------------------------------------------------------------------


def test_overrides_stop_at_the_cheapest_sixty_types() -> None:
    types = [instance_type(f"t{i}.large", 0.01 * (i + 1)) for i in range(MAX_INSTANCE_TYPES + 5)]
    network = Network((Subnet("subnet-a", ZONE_A, 10), Subnet("subnet-b", ZONE_B, 10)), ("sg",))

    overrides = fleet_overrides(types, "on-demand", network, frozenset({ZONE_A, ZONE_B}))

    names = list(dict.fromkeys(o["InstanceType"] for o in overrides))
    assert names == [t.name for t in types[:MAX_INSTANCE_TYPES]]
    assert len(overrides) == 2 * MAX_INSTANCE_TYPES


def test_the_subnet_with_most_free_addresses_stands_for_its_zone() -> None:
    subnets = [
        Subnet("subnet-2", ZONE_A, 100),
        Subnet("subnet-1", ZONE_A, 100),
        Subnet("subnet-3", ZONE_A, 250),
        Subnet("subnet-4", ZONE_B, 5),
    ]

    assert [s.id for s in best_subnet_per_zone(subnets)] == ["subnet-3", "subnet-4"]
    assert [s.id for s in best_subnet_per_zone(subnets[:2])] == ["subnet-1"]


HASH_1, HASH_2 = "0123456789abcdef", "fedcba9876543210"
OLD = NOW - TEMPLATE_MIN_AGE_S - 1


def test_an_old_template_no_class_uses_is_stale() -> None:
    templates = [(f"trimtab/{CLUSTER}/{HASH_1}", OLD), (f"trimtab/{CLUSTER}/{HASH_2}", OLD)]

    assert stale_templates(templates, set(), CLUSTER, NOW) == [
        f"trimtab/{CLUSTER}/{HASH_1}",
        f"trimtab/{CLUSTER}/{HASH_2}",
    ]


def test_a_template_in_use_is_kept() -> None:
    templates = [(f"trimtab/{CLUSTER}/{HASH_1}", OLD), (f"trimtab/{CLUSTER}/{HASH_2}", OLD)]

    stale = stale_templates(templates, {f"trimtab/{CLUSTER}/{HASH_1}"}, CLUSTER, NOW)

    assert stale == [f"trimtab/{CLUSTER}/{HASH_2}"]


def test_a_young_template_is_kept() -> None:
    young = NOW - TEMPLATE_MIN_AGE_S + 1
    templates = [(f"trimtab/{CLUSTER}/{HASH_1}", young), (f"trimtab/{CLUSTER}/{HASH_2}", OLD)]

    assert stale_templates(templates, set(), CLUSTER, NOW) == [f"trimtab/{CLUSTER}/{HASH_2}"]
    assert stale_templates(templates, set(), CLUSTER, NOW, min_age=0) == [
        f"trimtab/{CLUSTER}/{HASH_1}",
        f"trimtab/{CLUSTER}/{HASH_2}",
    ]


@pytest.mark.parametrize(
    "name",
    [
        f"trimtab/{CLUSTER}-2/{HASH_1}",  # a cluster whose name starts like ours
        f"trimtab/{CLUSTER}/green/{HASH_1}",  # cluster "blue/green"
        f"trimtab/{CLUSTER}/{HASH_1}0",  # not a digest we make
        f"trimtab/{CLUSTER}/{HASH_1.upper()}",
        f"trimtab/{CLUSTER}/",
        f"trimtab/{CLUSTER}",
        f"other/trimtab/{CLUSTER}/{HASH_1}",
        f"trimtab/green/{HASH_1}",
    ],
)
def test_a_template_not_named_like_the_clusters_is_never_stale(name: str) -> None:
    assert stale_templates([(name, OLD)], set(), CLUSTER, NOW) == []
