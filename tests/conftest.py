"""Checks that apply to the whole test run."""

from __future__ import annotations

from pathlib import Path

import pytest

TIERS = ("unit", "component", "integration", "e2e")
TESTS = Path(__file__).parent


def pytest_collection_modifyitems(session: pytest.Session, items: list[pytest.Item]) -> None:
    """When the whole suite runs, every tier must contribute tests: a tier that silently
    collects nothing (a broken conftest, a moved folder) fails the run instead of passing it."""
    if Path(session.config.invocation_params.dir, *session.config.args[:1]).resolve() != TESTS:
        return
    found = {Path(str(item.path)).relative_to(TESTS).parts[0] for item in items}
    missing = [tier for tier in TIERS if tier not in found]
    if missing:
        raise pytest.UsageError(f"no tests collected in tier(s): {', '.join(missing)}")
