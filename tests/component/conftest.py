"""
Fixtures for component tests: kopf handlers against an emulated Kubernetes API.

- ``kmock``: kmock's own fixture, served by :class:`TrimtabEmulator` (see ``kmock_options``).
- ``cluster``: a :class:`Cluster` with Trimtab's kinds and the built-in kinds declared. Start
  any operator with ``await cluster.start_operator(register)``; it is stopped when the test
  ends, and the test fails if the operator task crashed meanwhile.
- ``operator_settings``: Trimtab's settings for these tests (standalone, no webhook).
- ``trimtab_operator``: the ``cluster`` with Trimtab's own handlers running
  (``trimtab.handlers.register``), the settings in kopf's memo as in production.
"""

from collections.abc import AsyncIterator
from typing import Any

import kopf
import pytest

from tests.component.emulator import TrimtabEmulator
from tests.component.harness import BUILTIN_KINDS, Cluster, declare, trimtab_kinds
from trimtab.settings import Settings


@pytest.fixture
def kmock_options(kmock_options: dict[str, Any]) -> dict[str, Any]:
    return {**kmock_options, "cls": TrimtabEmulator}


@pytest.fixture
async def cluster(kmock: TrimtabEmulator) -> AsyncIterator[Cluster]:
    kinds = (*trimtab_kinds(), *BUILTIN_KINDS)
    declare(kmock, kinds)
    harness = Cluster(kmock, kinds)
    try:
        yield harness
        harness.check_operator()
    finally:
        await harness.stop_operator()


@pytest.fixture
def operator_settings() -> Settings:
    # The webhook needs a real apiserver to call it; it has its own tests elsewhere.
    return Settings(
        standalone=True,
        webhook_enabled=False,
        recommender_enabled=False,
        horizontal_enabled=False,
        dry_run=False,
    )


@pytest.fixture
async def trimtab_operator(cluster: Cluster, operator_settings: Settings) -> Cluster:
    from trimtab.handlers import register

    await cluster.start_operator(
        lambda registry: register(registry, operator_settings),
        memo=kopf.Memo(settings=operator_settings),
    )
    return cluster
