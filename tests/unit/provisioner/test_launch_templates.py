"""Collecting launch templates: what every AWSNodeClass uses now is kept, in every region."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import kopf
import pytest

from trimtab.cloud.ec2 import TEMPLATE_MIN_AGE_S
from trimtab.cloud.provider import CloudError, LaunchError
from trimtab.handlers import provisioner as handlers
from trimtab.provisioner.providers import AWS, collect_templates
from trimtab.settings import Settings

CLUSTER = "blue"
NOW = 1_800_000_000.0
A, B, STALE, FRESH = (f"trimtab/{CLUSTER}/{c * 16}" for c in "abcd")


@dataclass
class FakeTemplates:
    """One node class's provider: its template now (or the error resolving it), and the
    templates of its region, shared with the other classes of that region."""

    current: str | Exception
    listed: dict[str, float]
    region: str = "us-east-1"
    refused: frozenset[str] = frozenset()
    deleted: list[str] = field(default_factory=list)

    def current_template(self) -> str:
        if isinstance(self.current, Exception):
            raise self.current
        return self.current

    def cluster_templates(self) -> list[tuple[str, float]]:
        return sorted(self.listed.items())

    def delete_template(self, name: str) -> None:
        if name in self.refused:
            raise CloudError(f"deleting launch template {name}: no", code="UnauthorizedOperation")
        self.listed.pop(name, None)
        self.deleted.append(name)


def collect(providers: Mapping[str, FakeTemplates]) -> list[str]:
    classes = {name: {"region": p.region} for name, p in providers.items()}
    return collect_templates(classes, lambda name, _: providers[name], CLUSTER, NOW)


def region_templates(now: float = NOW) -> dict[str, float]:
    old = now - TEMPLATE_MIN_AGE_S - 60
    return {A: old, B: old, STALE: old, FRESH: now - 1}


def test_only_the_templates_no_class_uses_and_old_enough_are_deleted() -> None:
    listed = region_templates()
    first, second = FakeTemplates(A, listed), FakeTemplates(B, listed)

    deleted = collect({"default": first, "gpu": second})

    assert deleted == [STALE]
    assert sorted(listed) == sorted([A, B, FRESH])
    assert first.deleted + second.deleted == [STALE]  # the region is listed once


def test_nothing_is_deleted_when_a_class_cannot_be_resolved() -> None:
    listed = region_templates()
    broken = LaunchError("spec.subnetSelectorTerms: no subnet matches", code="NoSubnet")

    deleted = collect({"default": FakeTemplates(A, listed), "gpu": FakeTemplates(broken, listed)})

    assert deleted == []
    assert listed == region_templates()


def test_nothing_is_deleted_when_a_class_has_no_provider() -> None:
    listed = region_templates()
    fine = FakeTemplates(A, listed)

    def provider_of(name: str, spec: Mapping[str, Any]) -> FakeTemplates:
        if name == "invalid":
            raise ValueError("spec.amiId: field required")
        return fine

    deleted = collect_templates({"default": {}, "invalid": {}}, provider_of, CLUSTER, NOW)

    assert deleted == []
    assert listed == region_templates()


def test_every_region_is_collected_with_what_all_classes_use() -> None:
    east, west = region_templates(), region_templates()

    deleted = collect(
        {
            "default": FakeTemplates(A, east),
            "west": FakeTemplates(B, west, region="us-west-2"),
        }
    )

    # A template is kept wherever some class uses its content: names are the same everywhere.
    assert deleted == [STALE, STALE]
    assert sorted(east) == sorted(west) == sorted([A, B, FRESH])


def test_a_refused_deletion_leaves_the_others_to_go() -> None:
    listed = {**region_templates(), FRESH: NOW - TEMPLATE_MIN_AGE_S - 60}

    deleted = collect({"default": FakeTemplates(A, listed, refused=frozenset({STALE}))})

    assert deleted == [B, FRESH]
    assert sorted(listed) == sorted([A, STALE])


def test_a_refused_listing_deletes_nothing_in_that_region() -> None:
    class Unlistable(FakeTemplates):
        def cluster_templates(self) -> list[tuple[str, float]]:
            raise CloudError("listing launch templates: no", code="UnauthorizedOperation")

    west = region_templates()

    deleted = collect(
        {
            "default": Unlistable(A, region_templates()),
            "west": FakeTemplates(B, west, region="us-west-2"),
        }
    )

    assert deleted == [STALE]
    assert sorted(west) == sorted([A, B, FRESH])


# -- the timer ---------------------------------------------------------------------------------


@dataclass
class FakeProviders:
    by_name: Mapping[str, FakeTemplates]
    kinds: list[str] = field(default_factory=list)

    def for_class(self, kind: str, name: str, spec: Mapping[str, Any]) -> FakeTemplates:
        self.kinds.append(kind)
        return self.by_name[name]


@pytest.fixture
def posted(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    events: list[tuple[str, str]] = []

    def info(body: Any, *, reason: str, message: str) -> None:
        events.append((reason, message))

    monkeypatch.setattr(kopf, "info", info)
    return events


def memo_and_indexes(
    providers: Mapping[str, FakeTemplates],
) -> tuple[kopf.Memo, dict[str, Any]]:
    memo = kopf.Memo(settings=Settings(cluster_name=CLUSTER), providers=FakeProviders(providers))
    classes = {(AWS, name): [{"region": p.region}] for name, p in providers.items()}
    return memo, {"aws_classes": classes}


async def test_only_the_first_class_timer_collects(posted: list[tuple[str, str]]) -> None:
    listed = region_templates(time.time())  # the timer collects at the wall clock's time
    providers = {"default": FakeTemplates(A, listed), "gpu": FakeTemplates(B, listed)}
    memo, indexes = memo_and_indexes(providers)

    await handlers._collect_templates("gpu", kopf.Body({}), memo, indexes)
    assert (len(listed), posted) == (4, [])

    await handlers._collect_templates("default", kopf.Body({}), memo, indexes)
    assert sorted(listed) == sorted([A, B, FRESH])
    assert posted == [
        ("LaunchTemplatesDeleted", f"Deleted 1 launch template no AWSNodeClass uses: {STALE}")
    ]
    assert set(memo.providers.kinds) == {AWS}


async def test_no_event_when_nothing_was_deleted(posted: list[tuple[str, str]]) -> None:
    memo, indexes = memo_and_indexes({"default": FakeTemplates(A, {A: time.time() - 3600})})

    await handlers._collect_templates("default", kopf.Body({}), memo, indexes)

    assert posted == []
