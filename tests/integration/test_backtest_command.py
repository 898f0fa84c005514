"""`trimtab backtest` against the real Prometheus: the same scores as the replay harness fed the
generator's own samples directly."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from trimtab import cli
from trimtab.api.profile import RecommenderProfileSpec, Strategy
from trimtab.quality.replay import ReplayConfig, replay
from trimtab.quality.trace import Trace
from trimtab.recommender.strategies import strategy_for

NAMESPACES = ("shop", "payments")
DAY_S = 86_400.0
REL = 1e-6


def _backtest(url: str, *extra: str) -> tuple[int, str, str]:
    argv = ["backtest", "--prometheus", url]
    for namespace in NAMESPACES:
        argv += ["-n", namespace]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([*argv, *extra])
    return code, out.getvalue(), err.getvalue()


def _generator_traces(prometheus_history: Any) -> list[Trace]:
    """The generator's minutes as the read sees them: irate gives no CPU value for the first
    minute of the window (it needs two scrapes)."""
    traces = []
    for history in sorted(
        prometheus_history.histories, key=lambda h: (h.namespace, h.kind, h.name)
    ):
        cpu = history.cpu_cores.copy()
        cpu[..., 0] = np.nan
        order = np.argsort(history.pods)
        containers = np.argsort(history.containers)
        traces.append(
            Trace(
                f"{history.namespace}/{history.kind}/{history.name}",
                history.timestamps,
                cpu[order][:, containers],
                history.memory_bytes[order][:, containers],
                tuple(sorted(history.containers)),
                history.namespace,
            )
        )
    return traces


@pytest.fixture(scope="module")
def report(prometheus_history: Any) -> list[dict[str, Any]]:
    end = prometheus_history.end + prometheus_history.step_s
    code, out, err = _backtest(
        prometheus_history.url, "--end", repr(end), "--history", "14d", "-o", "json"
    )
    assert code == 0, err
    records: list[dict[str, Any]] = json.loads(out)
    return records


def test_every_strategy_scores_as_the_harness_on_the_same_samples(
    prometheus_history: Any, report: list[dict[str, Any]]
) -> None:
    traces = _generator_traces(prometheus_history)
    assert [r["profile"] for r in report] == [s.value for s in Strategy]
    for record in report:
        profile = RecommenderProfileSpec(strategy=Strategy(record["profile"]))
        results = replay(traces, strategy_for(profile), ReplayConfig())
        assert set(record["workloads"]) == {r.trace for r in results}
        for result in results:
            got = record["workloads"][result.trace]
            scores = result.scores
            key = (record["profile"], result.trace)
            assert got["cpuSlack"] == pytest.approx(round(scores.cpu_slack_share, 4), abs=1e-4), key
            assert got["memorySlack"] == pytest.approx(
                round(scores.memory_slack_share, 4), abs=1e-4
            ), key
            assert got["oomEvents"] == scores.oom_events, key
            assert got["cpuShortfallMinutes"] == pytest.approx(
                scores.cpu_shortfall_minutes, rel=REL, abs=0.1
            ), key
            assert got["changes"] == scores.changes, key


def test_the_table_names_every_workload_and_profile(prometheus_history: Any) -> None:
    end = prometheus_history.end + prometheus_history.step_s
    code, out, err = _backtest(prometheus_history.url, "--end", repr(end))

    assert code == 0, err
    for history in prometheus_history.histories:
        assert f"{history.namespace}/{history.kind}/{history.name}" in out
    for strategy in Strategy:
        assert strategy.value in out


def test_the_chart_is_written(prometheus_history: Any, tmp_path: Path) -> None:
    end = prometheus_history.end + prometheus_history.step_s
    chart = tmp_path / "backtest.png"
    code, _, err = _backtest(
        prometheus_history.url, "--end", repr(end), "--chart", str(chart), "-o", "json"
    )

    assert code == 0, err
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_too_little_history_exits_1_saying_how_much_there_is(prometheus_history: Any) -> None:
    end = prometheus_history.end + prometheus_history.step_s
    code, out, err = _backtest(
        prometheus_history.url, "--end", repr(end), "--history", "2d", "--warmup", "2d"
    )

    assert code == 1
    assert out == ""
    assert "not enough history" in err and "48 h of warm-up" in err
