"""Garbage collection: instances no claim knows, and claims whose instance is gone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from trimtab.cloud.provider import Instance
from trimtab.provisioner.nodeclaims import LOST_AFTER, lost_claims, orphans

NOW = 10_000.0


def instance(name: str, provider_id: str) -> Instance:
    return Instance(provider_id, name, "m7i.large", "us-east-1a", "on-demand", 0.1, NOW - 600)


def claim(name: str, provider_id: str | None, launched_ago: float = 600.0) -> dict[str, Any]:
    status: dict[str, Any] = {}
    if provider_id:
        launched = NOW - launched_ago
        stamp = datetime.fromtimestamp(launched, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        status = {
            "providerID": provider_id,
            "conditions": [{"type": "Launched", "status": "True", "lastTransitionTime": stamp}],
        }
    return {
        "metadata": {"name": name, "creationTimestamp": "1970-01-01T00:00:00Z"},
        "status": status,
    }


def test_instances_without_a_claim_are_orphans() -> None:
    instances = [instance("a", "sim://a"), instance("b", "sim://b"), instance("c", "sim://c")]
    claims = [claim("a", "sim://a"), claim("b", None)]
    assert [i.claim_name for i in orphans(instances, claims)] == ["c"]


def test_launched_claims_whose_instance_is_gone_are_lost() -> None:
    instances = [instance("a", "sim://a")]
    claims = [
        claim("a", "sim://a"),
        claim("gone", "sim://gone"),
        claim("fresh", "sim://fresh", launched_ago=LOST_AFTER / 2),
        claim("unlaunched", None),
    ]
    assert lost_claims(claims, instances, NOW) == ["gone"]
