"""Every example under deploy/examples validates; every invalid one fails naming its field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from trimtab.api import KINDS, kind_info
from trimtab.validation import validate_spec

EXAMPLES = Path(__file__).parents[3] / "deploy" / "examples"
VALID = sorted(EXAMPLES.glob("*.yaml"))
INVALID = sorted((EXAMPLES / "invalid").glob("*.yaml"))


def _expected_field(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect-invalid: "), f"{path.name} must say which field is invalid"
    return first.removeprefix("# expect-invalid: ").strip()


def test_every_kind_has_an_example() -> None:
    kinds = {yaml.safe_load(path.read_text())["kind"] for path in VALID}
    assert kinds == {info.kind for info in KINDS}


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_example_is_valid(path: Path) -> None:
    body = yaml.safe_load(path.read_text())
    verdict = validate_spec(kind_info(body["kind"]), body["spec"])
    assert verdict.valid, verdict.message


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_example_names_its_field(path: Path) -> None:
    body = yaml.safe_load(path.read_text())
    verdict = validate_spec(kind_info(body["kind"]), body["spec"])
    assert not verdict.valid
    assert verdict.message.startswith(_expected_field(path) + ":"), verdict.message
