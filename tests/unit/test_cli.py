from __future__ import annotations

import re
import subprocess
import sys

import pytest

from trimtab import __version__
from trimtab.cli import build_parser, main, settings_from


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


def test_flags_override_the_environment_and_keep_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIMTAB_PROMETHEUS__URL", "http://from-env:9090")
    monkeypatch.setenv("TRIMTAB_PROMETHEUS__TIMEOUT_S", "7")
    monkeypatch.setenv("TRIMTAB_STANDALONE", "true")
    args = build_parser().parse_args(["run", "--prometheus-url", "http://from-flag:9090"])
    settings = settings_from(args)
    assert settings is not None
    assert settings.prometheus.url == "http://from-flag:9090"
    assert settings.prometheus.timeout_s == 7
    assert settings.standalone is True


@pytest.mark.parametrize(("text", "value"), [("null", None), ("86400", 86_400.0)])
def test_the_bootstrap_resolution_split_is_set_or_switched_off_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, text: str, value: float | None
) -> None:
    monkeypatch.setenv("TRIMTAB_PROMETHEUS__FULL_RESOLUTION_S", text)
    settings = settings_from(build_parser().parse_args(["run"]))
    assert settings is not None
    assert settings.prometheus.full_resolution_s == value


def test_a_bad_setting_is_named_and_nothing_starts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRIMTAB_PROBE_PORT", "eighty")
    assert main(["run"]) == 2
    assert "probe_port (TRIMTAB_PROBE_PORT or its flag)" in capsys.readouterr().err
