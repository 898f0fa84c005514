"""`trimtab recommend` against the real Prometheus holding 14 days of generated history.

The report must be what the pure core makes of the same samples: the generator's per-minute
CPU (which the reader gets back through irate) pooled across a workload's pods per container
name, and its memory working set with one series per pod container (peaks are per pod), over
the profile's window [end - historyWindow, end) on the 60 s grid. By default the reader takes
what is older than three days at 5 minutes (the mean CPU of each step spread over its minutes,
the memory peak of each step); `--full-resolution` reads every minute.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from trimtab import cli
from trimtab.api.profile import RecommenderProfileSpec
from trimtab.durations import parse_duration
from trimtab.history.generator import SECONDS_PER_DAY, WorkloadHistory
from trimtab.history.prometheus_server import free_port
from trimtab.quantity import cores, format_cpu, format_memory, to_bytes
from trimtab.recommender.estimators import Caps, Recommendation
from trimtab.recommender.strategies import ContainerContext, strategy_for

NAMESPACES = ("shop", "payments")
VPA_RTOL = 0.01
FINE_BUCKET_GROWTH = 0.01  # the percentile state's CPU buckets: 1 % of their start + 1m wide
MILLICORE = 0.001
COARSE_STEP_S = 300.0  # PrometheusConfig's default coarse step


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str


def _recommend(
    url: str, end: float, *extra: str, namespaces: Sequence[str] = NAMESPACES
) -> Outcome:
    argv = ["recommend", "--prometheus", url, "--end", repr(end)]
    for namespace in namespaces:
        argv += ["-n", namespace]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([*argv, *extra])
    return Outcome(code, out.getvalue(), err.getvalue())


def _by_container(records: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(r["namespace"], r["workload"], r["container"]): r for r in records}


def _window_mask(history: WorkloadHistory, end: float, window: float) -> Any:
    return (history.timestamps >= end - window) & (history.timestamps < end)


def _pooled_cpu(history: WorkloadHistory, container: int, end: float, window: float) -> Any:
    mask = _window_mask(history, end, window)
    return history.cpu_cores[:, container, mask].ravel()


def _as_read_coarsely(history: WorkloadHistory, start: float, end: float) -> tuple[Any, Any, Any]:
    """(cpu, memory peaks, their sample indices): the samples as the default read of [start,
    end) sees them. Minutes up to the split (the last 5-minute boundary 3 days before the
    end) take the mean CPU of their 5-minute step. Memory is the peak of 5-minute windows:
    on the 5-minute grid up to the split, then on a grid ending at the read's last minute."""
    times = history.timestamps
    split = np.floor((end - 3 * SECONDS_PER_DAY) / COARSE_STEP_S) * COARSE_STEP_S
    step_end = np.ceil(times / COARSE_STEP_S) * COARSE_STEP_S
    older = step_end <= split
    _, group = np.unique(step_end[older], return_inverse=True)
    cpu = history.cpu_cores.copy()
    sizes = np.bincount(group)
    means = np.apply_along_axis(
        lambda row: np.bincount(group, weights=row) / sizes, 2, cpu[..., older]
    )
    cpu[..., older] = means[..., group]
    per_step = round(COARSE_STEP_S / (times[1] - times[0]))
    peaks = np.lib.stride_tricks.sliding_window_view(history.memory_bytes, per_step, axis=-1)
    coarse_ends = np.flatnonzero((times % COARSE_STEP_S == 0) & (times >= start) & (times <= split))
    last = int(np.flatnonzero(times < end)[-1])
    recent_steps = math.ceil((times[last] - split) / COARSE_STEP_S)
    recent_ends = last - per_step * np.arange(recent_steps - 1, -1, -1)
    ends = np.concatenate([coarse_ends, recent_ends])
    return cpu, peaks.max(axis=-1)[..., ends - per_step + 1], ends


def _core_recommendation(
    history: WorkloadHistory, profile: RecommenderProfileSpec, end: float, *, coarse: bool = False
) -> Recommendation:
    """The pure core fed the generator's own samples of the profile's window (as the default,
    partly coarse read sees them when `coarse`)."""
    start = end - parse_duration(profile.history_window)
    mask = _window_mask(history, end, parse_duration(profile.history_window))
    cpu = history.cpu_cores[..., mask]
    memory, memory_times = history.memory_bytes[..., mask], history.timestamps[mask]
    if coarse:
        all_cpu, memory, ends = _as_read_coarsely(history, start, end)
        cpu, memory_times = all_cpu[..., mask], history.timestamps[ends]
    pods, containers = len(history.pods), len(history.containers)
    strategy = strategy_for(profile)
    state = strategy.new_state(containers)
    for values, times, add in (
        (cpu, history.timestamps[mask], "cpu"),
        (memory, memory_times, "memory"),
    ):
        shape = (pods, containers, times.size)
        rows = np.broadcast_to(np.arange(containers)[None, :, None], shape).ravel()
        series = np.broadcast_to(
            (np.arange(pods)[:, None] * containers + np.arange(containers)[None, :])[..., None],
            shape,
        ).ravel()
        stamps = np.broadcast_to(times[None, None, :], shape).ravel()
        if add == "cpu":
            state.add_cpu(rows, values.ravel(), stamps)
        else:
            state.add_memory(rows, values.ravel(), stamps, series)
    context = ContainerContext(
        np.full(containers, containers, dtype=np.int64), Caps.none(containers)
    )
    return strategy.recommend(state, context, end)


def _json_report(prometheus_history: Any, *extra: str) -> list[dict[str, Any]]:
    outcome = _recommend(prometheus_history.url, prometheus_history.end, "-o", "json", *extra)
    assert outcome.code == 0, outcome.err
    records: list[dict[str, Any]] = json.loads(outcome.out)
    return records


@pytest.fixture(scope="module")
def vpa_report(prometheus_history: Any) -> list[dict[str, Any]]:
    return _json_report(prometheus_history)


@pytest.fixture(scope="module")
def vpa_report_full(prometheus_history: Any) -> list[dict[str, Any]]:
    return _json_report(prometheus_history, "--full-resolution")


@pytest.mark.parametrize("full_resolution", [True, False], ids=["full-resolution", "default"])
def test_vpa_targets_match_the_pure_core_fed_the_same_samples(
    prometheus_history: Any, request: pytest.FixtureRequest, full_resolution: bool
) -> None:
    report = _by_container(
        request.getfixturevalue("vpa_report_full" if full_resolution else "vpa_report")
    )
    profile = RecommenderProfileSpec()
    expected_keys = set()
    for history in prometheus_history.histories:
        core = _core_recommendation(
            history, profile, prometheus_history.end, coarse=not full_resolution
        )
        for index, container in enumerate(history.containers):
            key = (history.namespace, history.name, container)
            expected_keys.add(key)
            record = report[key]
            assert record["kind"] == history.kind
            for field, got, want in (
                ("cpu target", record["cpu"]["target"], core.target.cpu[index]),
                ("cpu lowerBound", record["cpu"]["lowerBound"], core.lower_bound.cpu[index]),
                ("cpu upperBound", record["cpu"]["upperBound"], core.upper_bound.cpu[index]),
            ):
                # Both sides through the same formatter: this compares the numbers, not it.
                want_cpu = cores(format_cpu(float(want)))
                assert cores(got) == pytest.approx(want_cpu, rel=VPA_RTOL), (key, field, want)
            for field, got, want in (
                ("memory target", record["memory"]["target"], core.target.memory[index]),
                (
                    "memory lowerBound",
                    record["memory"]["lowerBound"],
                    core.lower_bound.memory[index],
                ),
                (
                    "memory upperBound",
                    record["memory"]["upperBound"],
                    core.upper_bound.memory[index],
                ),
            ):
                want_bytes = to_bytes(format_memory(float(want)))
                assert to_bytes(got) == pytest.approx(want_bytes, rel=VPA_RTOL), (key, field, want)
            assert record["samples"] == int(core.sample_count[index]), key
    assert set(report) == expected_keys


def test_the_diurnal_cpu_target_lies_between_p85_and_p99_of_its_samples(
    prometheus_history: Any, vpa_report: list[dict[str, Any]]
) -> None:
    web = prometheus_history.history("web")
    window = parse_duration(RecommenderProfileSpec().history_window)
    samples = _pooled_cpu(web, web.containers.index("app"), prometheus_history.end, window)
    p85, p99 = np.quantile(samples, [0.85, 0.99])

    target = cores(_by_container(vpa_report)[("shop", "web", "app")]["cpu"]["target"])

    assert p85 <= target <= p99, (p85, target, p99)


def test_the_percentile_profile_targets_the_window_percentile_plus_margin(
    prometheus_history: Any, tmp_path: Path
) -> None:
    profile_file = tmp_path / "krr.yaml"
    profile_file.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "trimtab.dev/v1alpha1",
                "kind": "RecommenderProfile",
                "metadata": {"name": "krr"},
                "spec": {"strategy": "percentile", "cpu": {"targetPercentile": 0.95}},
            }
        )
    )
    profile = RecommenderProfileSpec.model_validate(
        {"strategy": "percentile", "cpu": {"targetPercentile": 0.95}}
    )
    end = prometheus_history.end
    window = parse_duration(profile.history_window)

    outcome = _recommend(
        prometheus_history.url,
        end,
        *("-o", "json", "--profile", str(profile_file), "--full-resolution"),
    )

    assert outcome.code == 0, outcome.err
    report = _by_container(json.loads(outcome.out))
    for history in prometheus_history.histories:
        mask = _window_mask(history, end, window)
        for index, container in enumerate(history.containers):
            record = report[(history.namespace, history.name, container)]
            pooled = _pooled_cpu(history, index, end, window)
            # The state's percentile is the end of the bucket holding the smallest sample with
            # at least that share of the samples at or below it (numpy's inverted CDF); a
            # bucket starting at s is 1 % of s + 1 millicore wide, and targets round up to 1m.
            percentile = np.quantile(pooled, profile.cpu.target_percentile, method="inverted_cdf")
            margin = 1 + profile.cpu.margin
            highest = (percentile * (1 + FINE_BUCKET_GROWTH) + MILLICORE) * margin + MILLICORE
            target = cores(record["cpu"]["target"])
            assert percentile * margin <= target <= highest, (history.name, container)
            memory = history.memory_bytes[:, index, mask].max() * (1 + profile.memory.margin)
            assert to_bytes(record["memory"]["target"]) == pytest.approx(memory, rel=VPA_RTOL)


@pytest.mark.parametrize("output", ["yaml", "csv", "table"])
def test_every_output_format_shows_the_same_rows_as_json(
    prometheus_history: Any, vpa_report: list[dict[str, Any]], output: str
) -> None:
    outcome = _recommend(prometheus_history.url, prometheus_history.end, "-o", output)

    assert outcome.code == 0, outcome.err
    if output == "yaml":
        assert yaml.safe_load(outcome.out) == vpa_report
    elif output == "csv":
        rows = list(csv.DictReader(io.StringIO(outcome.out)))
        assert [
            (r["namespace"], r["kind"], r["workload"], r["container"], r["cpu_target"])
            for r in rows
        ] == [
            (r["namespace"], r["kind"], r["workload"], r["container"], r["cpu"]["target"])
            for r in vpa_report
        ]
        for row, record in zip(rows, vpa_report, strict=True):
            assert row["cpu_request"] == (record["cpu"]["request"] or "")
            assert row["memory_request"] == (record["memory"]["request"] or "")
            assert row["memory_target"] == record["memory"]["target"]
            assert float(row["history_hours"]) == record["historyHours"]
            assert int(row["samples"]) == record["samples"]
    else:
        assert "Recommended requests" in outcome.out
        assert "CPU target" in outcome.out and "memory target" in outcome.out
        for record in vpa_report:
            assert f"{record['kind']}/{record['workload']}" in outcome.out
            assert record["cpu"]["target"] in outcome.out
            assert record["memory"]["target"] in outcome.out


def test_an_unreachable_prometheus_exits_1_naming_the_url(prometheus_history: Any) -> None:
    url = f"http://127.0.0.1:{free_port()}"

    outcome = _recommend(url, prometheus_history.end, "-o", "json")

    assert outcome.code == 1
    assert outcome.out == ""
    assert len(outcome.err.splitlines()) == 1
    assert url in outcome.err


def test_a_namespace_without_data_exits_1_saying_so(prometheus_history: Any) -> None:
    outcome = _recommend(
        prometheus_history.url, prometheus_history.end, namespaces=["nothing-here"]
    )

    assert outcome.code == 1
    assert outcome.out == ""
    assert len(outcome.err.splitlines()) == 1
    assert "no container usage" in outcome.err and "nothing-here" in outcome.err


def test_an_invalid_profile_exits_1_naming_the_field(
    prometheus_history: Any, tmp_path: Path
) -> None:
    profile_file = tmp_path / "bad.yaml"
    profile_file.write_text(
        yaml.safe_dump({"kind": "RecommenderProfile", "spec": {"cpu": {"targetPercentile": 1.5}}})
    )

    outcome = _recommend(
        prometheus_history.url, prometheus_history.end, "--profile", str(profile_file)
    )

    assert outcome.code == 1
    assert outcome.out == ""
    assert len(outcome.err.splitlines()) == 1
    assert "spec.cpu.targetPercentile" in outcome.err
