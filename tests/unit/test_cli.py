from __future__ import annotations

import re
import subprocess
import sys

import pytest

from trimtab import __version__
from trimtab.cli import build_parser, main


def test_help_lists_the_subcommands() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "trimtab", "--help"], capture_output=True, text=True, check=True
    )
    for command in ("run", "crds", "recommend", "version"):
        assert re.search(rf"^ +{command}\b", result.stdout, re.MULTILINE), command


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version"]) == 0
    assert capsys.readouterr().out.strip() == __version__


def test_run_flags_parse() -> None:
    args = build_parser().parse_args(
        ["run", "--standalone", "--namespace", "a", "--namespace", "b"]
    )
    assert args.standalone is True
    assert args.namespaces == ["a", "b"]
    assert build_parser().parse_args(["run"]).standalone is None
