"""Recommender speed and memory: the pure core, and end to end against a real Prometheus.

    .venv/bin/python benchmarks/recommender.py [--runs N] [--quick] [--json FILE]
                                               [--skip-prometheus] [--cache-dir DIR]

(a) The pure core folds 10,000 containers x 8 days of 1-minute CPU samples and memory working
    sets (as memory peaks per 24 h interval) with the `vpa` strategy's state, one day of all
    containers at a time (the shape of a range-query answer; one chunk is held at a time), then
    recommends for every container. The same chunks go through the `percentile` strategy and
    the `adaptive` one, whose extra cost over `vpa` (scoring its model family every interval
    for every container) is reported as a ratio and in seconds. A
    pure-Python histogram that folds one sample at a time in VPA's bucket layout (it lives here
    only, as the baseline) runs on a few containers in the same run, for the speed ratio.
(b) End to end: 1,000 containers (100 workloads x 5 pods x 2 containers in 4 namespaces) x 14
    days of generated history, backfilled into a real Prometheus (built once, cached under
    --cache-dir), read with the metrics port's UsageReader namespace by namespace and folded
    chunk by chunk into the core, then recommended. It counts the queries sent. The reader's
    default (the last 3 days at 60 s, older days at 5 minutes) is the measured figure; one
    more run reads everything at 60 s, as the baseline for speed and for how far the default
    read moves the targets.

Every measured part runs in its own child process (this script with --worker), so each peak
RSS belongs to that part alone; times are medians over --runs runs (quote those: the machine
is shared). The issue's targets are printed beside the figures and never set the exit status.
The last line printed is one `key=value` summary.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import math
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchkit.measure import Stat, process_peak_rss_mib, run_worker, serve_worker
from benchkit.report import Row, machine, number, print_table, stat_row, summary_line, verdict
from benchkit.report import write_json as save_json
from trimtab.api.profile import RecommenderProfileSpec
from trimtab.api.profile import Strategy as StrategyName
from trimtab.history import generator, openmetrics
from trimtab.history.generator import WorkloadClass, WorkloadSpec, generate_all
from trimtab.history.openmetrics import write_openmetrics_file
from trimtab.history.prometheus_server import PrometheusServer, backfill_openmetrics
from trimtab.recommender.buckets import CPU_LAYOUT, BucketLayout
from trimtab.recommender.histogram import MAX_DECAY_EXPONENT, HistogramBatch
from trimtab.recommender.strategies import strategy_for

SCRIPT = Path(__file__).resolve()
MIB = 1024.0**2
DAY_S = 86_400.0
STEP_S = 60.0
MINUTES_PER_DAY = 1440

# Targets from issue 4 (information only: a benchmark never fails on them).
CORE_WALL_TARGET_S = 3.0
CORE_RSS_TARGET_MIB = 1536.0
E2E_WALL_TARGET_S = 30.0
E2E_QUERIES_PER_CHUNK_TARGET = 4

# The history ends at a fixed time (2025-01-06 00:00 UTC), so a cached TSDB never goes stale.
HISTORY_END = 1_736_121_600.0
KUBE_STATE_STEP_S = 240.0  # under Prometheus's 5-minute lookback
MAX_POINTS_PER_QUERY = 11_000  # Prometheus's limit per series per range query


@dataclass(frozen=True)
class CoreSize:
    containers: int = 10_000
    days: float = 8.0
    chunk_minutes: int = MINUTES_PER_DAY
    reference_containers: int = 20
    seed: int = 1


@dataclass(frozen=True)
class HistorySize:
    workloads: int = 100
    pods: int = 5
    containers: int = 2
    namespaces: int = 4
    days: float = 14.0
    seed: int = 7

    @property
    def series(self) -> int:
        """Pod containers: one CPU and one memory series each."""
        return self.workloads * self.pods * self.containers

    @property
    def rows(self) -> int:
        """Workload containers: what recommendations are made for."""
        return self.workloads * self.containers


QUICK_CORE = CoreSize(containers=1_000, days=2.0, chunk_minutes=720, reference_containers=4)
QUICK_HISTORY = HistorySize(workloads=10, namespaces=2, days=2.0)


# -- (a) the pure core ---------------------------------------------------------------------


def usage_block(containers: int, minutes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One chunk of plausible usage, (containers x minutes): a level per container, a daily
    cycle and noise; CPU in cores, memory in bytes (whole pages). Built in place, so making
    it costs no more memory than holding it."""
    rng = np.random.default_rng(seed)
    cycle = 1.0 + 0.5 * np.sin(2.0 * np.pi * np.arange(minutes) / MINUTES_PER_DAY)
    cpu = rng.lognormal(0.0, 0.35, (containers, minutes))
    cpu *= rng.lognormal(np.log(0.2), 1.0, (containers, 1))
    cpu *= cycle
    memory = rng.lognormal(0.0, 0.05, (containers, minutes))
    memory *= rng.lognormal(np.log(300 * MIB), 0.8, (containers, 1))
    memory *= 0.9 + 0.1 * cycle
    memory /= 4096.0
    np.rint(memory, out=memory)
    memory *= 4096.0
    return cpu, memory


def profile_for(strategy: str) -> RecommenderProfileSpec:
    return RecommenderProfileSpec(strategy=StrategyName(strategy))


def core_worker(params: dict[str, Any]) -> dict[str, Any]:
    """Fold the whole history chunk by chunk with one strategy, then recommend. Every chunk
    folds the same values at its own times: making fresh values would cost more than folding."""
    size = CoreSize(**params["size"])
    minutes = round(size.days * MINUTES_PER_DAY)
    columns = min(size.chunk_minutes, minutes)
    cpu, memory = usage_block(size.containers, columns, size.seed)
    strategy = strategy_for(profile_for(params["strategy"]))
    state = strategy.new_state(size.containers)
    rows = np.arange(size.containers)
    start = HISTORY_END - minutes * STEP_S
    took = Counter[str]()
    folded = Counter[str]()
    for first in range(0, minutes, columns):
        width = min(columns, minutes - first)
        times = start + STEP_S * (first + np.arange(width))
        began = time.perf_counter()
        folded["cpu"] += state.add_cpu_grid(rows, times, cpu[:, :width])
        middle = time.perf_counter()
        folded["memory"] += state.add_memory_grid(rows, times, memory[:, :width])
        took["cpu"] += middle - began
        took["memory"] += time.perf_counter() - middle
    began = time.perf_counter()
    strategy.recommend(state)
    return {
        "fold_s": took["cpu"] + took["memory"],
        "cpu_fold_s": took["cpu"],
        "memory_fold_s": took["memory"],
        "recommend_s": time.perf_counter() - began,
        "cpu_samples": folded["cpu"],
        "memory_samples": folded["memory"],
        "chunk_mib": (cpu.nbytes + memory.nbytes) / MIB,
    }


class ReferenceHistogram:
    """VPA's decaying histogram written plainly: one Python call per sample, the bucket from
    VPA's formula, the decay factor from the sample's own time (the speed baseline)."""

    def __init__(self, layout: BucketLayout, half_life: float) -> None:
        self.first = layout.first_bucket_size
        self.ratio = layout.ratio
        self.log_ratio = math.log(layout.ratio)
        self.last_bucket = layout.num_buckets - 1
        self.half_life = half_life
        self.weights = [0.0] * layout.num_buckets
        self.total = 0.0
        self.reference: float | None = None

    def bucket(self, value: float) -> int:
        if value < self.first:
            return 0
        found = int(math.log(value * (self.ratio - 1.0) / self.first + 1.0) / self.log_ratio)
        return min(found, self.last_bucket)

    def add(self, value: float, weight: float, when: float) -> None:
        reference = self.reference
        if (
            reference is None
            or when < reference
            or when > reference + MAX_DECAY_EXPONENT * self.half_life
        ):
            reference = self._shift(when)
        decayed = weight * 2.0 ** ((when - reference) / self.half_life)
        self.weights[self.bucket(value)] += decayed
        self.total += decayed

    def _shift(self, when: float) -> float:
        """Move the reference to `when` rounded to a half-life, rescaling the weights."""
        moved = math.floor(when / self.half_life + 0.5) * self.half_life
        if self.reference is not None:
            scale = 2.0 ** round((self.reference - moved) / self.half_life)
            self.weights = [weight * scale for weight in self.weights]
            self.total *= scale
        self.reference = moved
        return moved


def reference_worker(params: dict[str, Any]) -> dict[str, Any]:
    """The per-sample baseline on a few containers, checked against the core on the same data."""
    size = CoreSize(**params["size"])
    minutes = round(size.days * MINUTES_PER_DAY)
    cpu, _ = usage_block(size.reference_containers, minutes, size.seed)
    times = HISTORY_END - minutes * STEP_S + STEP_S * np.arange(minutes)
    half_life = DAY_S
    series = [row.tolist() for row in cpu]
    stamps = times.tolist()
    began = time.perf_counter()
    histograms = []
    for values in series:
        histogram = ReferenceHistogram(CPU_LAYOUT, half_life)
        for value, when in zip(values, stamps, strict=True):
            histogram.add(value, 1.0, when)
        histograms.append(histogram)
    took = time.perf_counter() - began
    core = HistogramBatch.empty(size.reference_containers, CPU_LAYOUT, half_life)
    core.add_grid(np.arange(size.reference_containers), times, cpu)
    expected = np.array([h.weights for h in histograms]) / np.array([[h.total] for h in histograms])
    found = core.weights / core.total_weight[:, None]
    return {
        "reference_s": took,
        "samples": int(cpu.size),
        "max_share_difference": float(np.abs(found - expected).max()),
    }


def core_part(size: CoreSize, runs: int) -> dict[str, Any]:
    """Run the core workers `runs` times each (vpa, percentile, adaptive, the baseline)."""
    found: dict[str, list[dict[str, Any]]] = {
        "vpa": [],
        "percentile": [],
        "adaptive": [],
        "reference": [],
    }
    params = {"size": asdict(size)}
    for run in range(runs):
        progress(f"core run {run + 1}/{runs}")
        for strategy in ("vpa", "percentile", "adaptive"):
            found[strategy].append(run_worker(SCRIPT, "core", {**params, "strategy": strategy}))
        found["reference"].append(run_worker(SCRIPT, "reference", params))
    return found


def core_figures(size: CoreSize, found: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    vpa, percentile, reference = found["vpa"], found["percentile"], found["reference"]
    adaptive = found["adaptive"]
    for run in vpa:
        run["samples_per_s"] = (run["cpu_samples"] + run["memory_samples"]) / run["fold_s"]
        run["cpu_samples_per_s"] = run["cpu_samples"] / run["cpu_fold_s"]
    for run in reference:
        run["samples_per_s"] = run["samples"] / run["reference_s"]
    figures = {
        "fold_s": Stat.over(vpa, "fold_s"),
        "cpu_fold_s": Stat.over(vpa, "cpu_fold_s"),
        "memory_fold_s": Stat.over(vpa, "memory_fold_s"),
        "samples_per_s": Stat.over(vpa, "samples_per_s"),
        "cpu_samples_per_s": Stat.over(vpa, "cpu_samples_per_s"),
        "peak_rss_mib": Stat.over(vpa, "peak_rss_mib"),
        "recommend_s": Stat.over(vpa, "recommend_s"),
        "percentile_fold_s": Stat.over(percentile, "fold_s"),
        "percentile_peak_rss_mib": Stat.over(percentile, "peak_rss_mib"),
        "percentile_recommend_s": Stat.over(percentile, "recommend_s"),
        "adaptive_fold_s": Stat.over(adaptive, "fold_s"),
        "adaptive_cpu_fold_s": Stat.over(adaptive, "cpu_fold_s"),
        "adaptive_memory_fold_s": Stat.over(adaptive, "memory_fold_s"),
        "adaptive_peak_rss_mib": Stat.over(adaptive, "peak_rss_mib"),
        "adaptive_recommend_s": Stat.over(adaptive, "recommend_s"),
        "reference_samples_per_s": Stat.over(reference, "samples_per_s"),
    }
    ratio = figures["cpu_samples_per_s"].median / figures["reference_samples_per_s"].median
    extra = {
        "ratio": figures["adaptive_fold_s"].median / figures["fold_s"].median,
        "seconds": figures["adaptive_fold_s"].median - figures["fold_s"].median,
        "rss_mib": figures["adaptive_peak_rss_mib"].median - figures["peak_rss_mib"].median,
    }
    return {
        "size": asdict(size),
        "samples": vpa[0]["cpu_samples"] + vpa[0]["memory_samples"],
        "chunk_mib": vpa[0]["chunk_mib"],
        "reference_samples": reference[0]["samples"],
        "reference_max_share_difference": max(r["max_share_difference"] for r in reference),
        "speed_ratio": ratio,
        "adaptive_extra": extra,
        "figures": figures,
        "runs": found,
    }


def core_rows(core: dict[str, Any]) -> list[Row]:
    size, figures = CoreSize(**core["size"]), core["figures"]
    extra = core["adaptive_extra"]
    fold, rss = figures["fold_s"].median, figures["peak_rss_mib"].median
    wall_target = f"<= {CORE_WALL_TARGET_S:g} s"
    wall_verdict = verdict(fold, CORE_WALL_TARGET_S)
    rss_target = f"<= {CORE_RSS_TARGET_MIB:g} MiB"
    chunks = f"{size.chunk_minutes / 60:g} h chunks of {number(core['chunk_mib'])} MiB"
    agreement = f"same buckets: max share diff {core['reference_max_share_difference']:.1e}"
    return [
        Row(f"(a) core: {size.containers:,} containers x {size.days:g} days of 1-min samples"),
        Row("  samples folded (CPU + memory)", number(core["samples"]), note=chunks),
        stat_row("  vpa fold wall", figures["fold_s"], "s", wall_target, wall_verdict),
        stat_row("    CPU histograms", figures["cpu_fold_s"], "s"),
        stat_row("    memory peaks", figures["memory_fold_s"], "s"),
        stat_row("  vpa samples/s", figures["samples_per_s"], "/s"),
        stat_row("  vpa peak RSS", figures["peak_rss_mib"], "MiB", rss_target,
                 verdict(rss, CORE_RSS_TARGET_MIB), "child process, incl. one chunk"),
        stat_row(f"  vpa recommend, {size.containers:,} containers", figures["recommend_s"], "s"),
        stat_row("  percentile fold wall", figures["percentile_fold_s"], "s"),
        stat_row("  percentile peak RSS", figures["percentile_peak_rss_mib"], "MiB"),
        stat_row("  percentile recommend", figures["percentile_recommend_s"], "s"),
        stat_row("  adaptive fold wall", figures["adaptive_fold_s"], "s"),
        stat_row("    CPU models", figures["adaptive_cpu_fold_s"], "s"),
        stat_row("    memory models", figures["adaptive_memory_fold_s"], "s"),
        stat_row("  adaptive peak RSS", figures["adaptive_peak_rss_mib"], "MiB"),
        stat_row("  adaptive recommend", figures["adaptive_recommend_s"], "s"),
        Row("  adaptive extra cost over vpa", f"{extra['ratio']:.1f}x",
            note=f"fold +{extra['seconds']:.2f} s, peak RSS {extra['rss_mib']:+.0f} MiB"),
        stat_row("  vpa CPU fold", figures["cpu_samples_per_s"], "/s"),
        stat_row("  pure-Python per-sample CPU fold", figures["reference_samples_per_s"], "/s",
                 note=f"{size.reference_containers} containers x {size.days:g} days"),
        Row("  speed ratio, per sample (CPU)", f"{core['speed_ratio']:.0f}x", note=agreement),
    ]  # fmt: skip


# -- (b) end to end against a real Prometheus ------------------------------------------------


def history_specs(size: HistorySize) -> list[WorkloadSpec]:
    """`workloads` workloads cycling through the generator's classes, spread over namespaces;
    mostly Deployments, some StatefulSets and DaemonSets."""
    classes = list(WorkloadClass)
    kinds = ["Deployment"] * 8 + ["StatefulSet", "DaemonSet"]
    names = ("app", "sidecar", *(f"extra{i}" for i in range(2, size.containers)))
    sidecars = size.containers - 1
    specs = []
    for index in range(size.workloads):
        level = 0.5 + (index % 10) / 5.0  # 0.5 .. 2.3 times the typical app
        specs.append(
            WorkloadSpec(
                name=f"w{index:03d}",
                namespace=f"bench-{index % size.namespaces}",
                kind=kinds[index % len(kinds)],
                workload_class=classes[index % len(classes)],
                replicas=size.pods,
                containers=names[: size.containers],
                cpu_base_cores=(0.2 * level, *[0.02] * sidecars),
                memory_base_bytes=(400.0 * MIB * level, *[50.0 * MIB] * sidecars),
                seed=size.seed + index,
            )
        )
    return specs


def history_window(size: HistorySize) -> tuple[float, float]:
    """[start, end) of the grid times holding the history's samples."""
    return HISTORY_END - size.days * DAY_S, HISTORY_END


def tsdb_folder(cache_root: Path, size: HistorySize) -> Path:
    """A folder per history, keyed by the sizes, the fixed window and the code that makes it."""
    key = hashlib.sha256(
        json.dumps([asdict(size), HISTORY_END, STEP_S, KUBE_STATE_STEP_S]).encode()
        + inspect.getsource(history_specs).encode()
        + Path(generator.__file__).read_bytes()
        + Path(openmetrics.__file__).read_bytes()
    ).hexdigest()[:16]
    return cache_root / f"recommender-{size.series}x{size.days:g}d-{key}"


def history_worker(params: dict[str, Any]) -> dict[str, Any]:
    """Generate the history, write OpenMetrics, backfill it with promtool into `folder`."""
    size, folder = HistorySize(**params["size"]), Path(params["folder"])
    start, end = history_window(size)
    folder.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    histories = generate_all(history_specs(size), start, end - start, STEP_S)
    text, partial = folder / "history.om", folder / "tsdb.partial"
    try:  # the text is gigabytes: never leave it behind
        written = write_openmetrics_file(histories, text, kube_state_step_s=KUBE_STATE_STEP_S)
        del histories
        generated = time.perf_counter() - began
        shutil.rmtree(partial, ignore_errors=True)
        backfill_openmetrics(text, partial)
    finally:
        text.unlink(missing_ok=True)
    partial.rename(folder / "tsdb")
    return {
        "samples_written": written,
        "generate_s": generated,
        "backfill_s": time.perf_counter() - began - generated,
    }


def ensure_tsdb(cache_root: Path, size: HistorySize) -> tuple[Path, dict[str, Any]]:
    """The cached TSDB of this history, built first if missing."""
    folder = tsdb_folder(cache_root, size)
    meta_file = folder / "meta.json"
    if meta_file.is_file() and (folder / "tsdb").is_dir():
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        return folder / "tsdb", {**meta, "cached": True}
    progress(f"building the Prometheus history in {folder} (first run only, a few minutes)")
    shutil.rmtree(folder / "tsdb", ignore_errors=True)
    meta = run_worker(SCRIPT, "history", {"size": asdict(size), "folder": str(folder)})
    meta_file.write_text(json.dumps(meta), encoding="utf-8")
    return folder / "tsdb", {**meta, "cached": False}


class CountingClient:
    """Forwards to a PrometheusClient and counts range queries per metric and instant ones
    (under a lock: the reader may send queries from a worker thread)."""

    def __init__(self, inner: Any, cpu_metric: str, memory_metric: str) -> None:
        self.inner = inner
        self.metrics = {"cpu": cpu_metric, "memory": memory_metric}
        self.counts = Counter[str]()
        self.busy_s = 0.0
        self._lock = threading.Lock()

    def _send(self, kind: str, send: Any, *args: Any) -> Any:
        began = time.perf_counter()
        try:
            return send(*args)
        finally:
            with self._lock:
                self.counts[kind] += 1
                self.busy_s += time.perf_counter() - began

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self.counts)

    @property
    def url(self) -> str:
        return str(self.inner.url)

    @property
    def queries_sent(self) -> int:
        return int(self.inner.queries_sent)

    def instant(self, query: str, at: float) -> Any:
        return self._send("instant", self.inner.instant, query, at)

    def range(self, query: str, start: float, end: float, step_s: float) -> Any:
        kind = next((k for k, metric in self.metrics.items() if metric in query), "other")
        return self._send(kind, self.inner.range, query, start, end, step_s)


class KeyTable:
    """Stable state rows (workload containers) and series ids (pod containers) for batch keys."""

    def __init__(self) -> None:
        self.rows: dict[Any, int] = {}
        self.series: dict[Any, int] = {}

    def lookup(self, keys: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        rows = [self.rows.setdefault(key.workload_container, len(self.rows)) for key in keys]
        series = [self.series.setdefault(key, len(self.series)) for key in keys]
        return np.asarray(rows, dtype=np.int64), np.asarray(series, dtype=np.int64)


def fold_batch(state: Any, table: KeyTable, batch: Any) -> int:
    """Fold one (namespace, chunk) batch: CPU samples and memory peaks per pod container."""
    rows, series = table.lookup(batch.keys)
    cpu, memory = batch.cpu, batch.memory
    folded = int(state.add_cpu(rows[cpu.index], cpu.values, cpu.timestamps))
    index = memory.index
    folded += int(state.add_memory(rows[index], memory.values, memory.timestamps, series[index]))
    return folded


def e2e_worker(params: dict[str, Any]) -> dict[str, Any]:
    """Read the window namespace by namespace, fold each chunk as it arrives, recommend."""
    from trimtab.metrics import PrometheusClient, PrometheusConfig, UsageReader

    config = PrometheusConfig(url=params["url"])
    if params["full_resolution"]:
        config = config.model_copy(update={"full_resolution_s": None})
    client = CountingClient(PrometheusClient(config), config.metrics.cpu, config.metrics.memory)
    reader = UsageReader(client, config, step_s=STEP_S)
    strategy = strategy_for(profile_for("vpa"))
    state = strategy.new_state(params["rows"])
    table, per_namespace = KeyTable(), {}
    fold_s, samples = 0.0, 0
    began = time.perf_counter()
    for namespace in params["namespaces"]:
        before, chunks = client.snapshot(), 0
        for batch in reader.iter_batches(namespace, params["start"], params["end"]):
            chunks += 1
            folding = time.perf_counter()
            samples += fold_batch(state, table, batch)
            fold_s += time.perf_counter() - folding
        per_namespace[namespace] = {**(client.snapshot() - before), "chunks": chunks}
    folding = time.perf_counter()
    recommendation = strategy.recommend(state)
    recommend_s = time.perf_counter() - folding
    wall = time.perf_counter() - began
    order = sorted(table.rows, key=str)
    rows = [table.rows[key] for key in order]
    return {
        "targets": {
            "cpu": recommendation.target.cpu[rows].tolist(),
            "memory": recommendation.target.memory[rows].tolist(),
        },
        "wall_s": wall,
        "read_s": wall - fold_s - recommend_s,
        "client_s": client.busy_s,
        "fold_s": fold_s,
        "recommend_s": recommend_s,
        "samples": samples,
        "queries": client.queries_sent,
        "per_namespace": per_namespace,
        "series": len(table.series),
        "rows": len(table.rows),
    }


def reader_missing() -> str | None:
    """Why part (b) cannot run here, or None."""
    try:
        from trimtab.metrics import UsageReader  # noqa: F401
    except ImportError:
        return "the metrics reader (trimtab.metrics.UsageReader) does not exist yet"
    missing = [name for name in ("prometheus", "promtool") if shutil.which(name) is None]
    if missing:
        return f"{' and '.join(missing)} not installed (hack/prometheus/install)"
    return None


def e2e_part(size: HistorySize, runs: int, cache_root: Path) -> dict[str, Any]:
    tsdb, build = ensure_tsdb(cache_root, size)
    start, end = history_window(size)
    params = {
        "start": start,
        "end": end,
        "namespaces": sorted({spec.namespace for spec in history_specs(size)}),
        "rows": size.rows,
    }
    found = []
    with PrometheusServer(tsdb) as prometheus:
        for run in range(runs):
            progress(f"end-to-end run {run + 1}/{runs}")
            found.append(
                run_worker(
                    SCRIPT, "e2e", {**params, "url": prometheus.url, "full_resolution": False}
                )
            )
        progress("end-to-end baseline: the whole window at 60 s")
        full = run_worker(SCRIPT, "e2e", {**params, "url": prometheus.url, "full_resolution": True})
        assert prometheus.pid is not None
        server_rss = process_peak_rss_mib(prometheus.pid)
        startup_s = prometheus.startup_s
    figures = e2e_figures(size, build, found, startup_s, server_rss)
    return {**figures, "full_resolution": full, "target_change": target_change(found[0], full)}


def target_change(default: dict[str, Any], full: dict[str, Any]) -> dict[str, dict[str, float]]:
    """How far the default read moves each target from the full-resolution one: median, p90
    and max of |default / full - 1| per resource, and the share moved by more than 5 %."""
    found = {}
    for resource in ("cpu", "memory"):
        mine = np.asarray(default["targets"][resource])
        theirs = np.asarray(full["targets"][resource])
        change = np.abs(mine / theirs - 1.0)
        found[resource] = {
            "median": float(np.median(change)),
            "p90": float(np.quantile(change, 0.9)),
            "max": float(change.max()),
            "over_5_percent": float((change > 0.05).mean()),
        }
    return found


def chunks_needed(start: float, end: float) -> int:
    """The fewest range queries per metric and namespace Prometheus's point limit allows for
    the default read: the older part at the coarse step, the last days at 60 s."""
    from trimtab.metrics import PrometheusConfig

    config = PrometheusConfig()
    assert config.full_resolution_s is not None
    split = end - config.full_resolution_s
    coarse_points = max(0.0, split - start) / config.coarse_step_s
    fine_points = min(end - start, config.full_resolution_s) / STEP_S
    return sum(
        math.ceil(round(points) / MAX_POINTS_PER_QUERY)
        for points in (coarse_points, fine_points)
        if points >= 1
    )


def e2e_figures(
    size: HistorySize,
    build: dict[str, Any],
    found: list[dict[str, Any]],
    startup_s: float,
    server_rss: float | None,
) -> dict[str, Any]:
    chunks = chunks_needed(*history_window(size))
    namespaces = found[0]["per_namespace"].values()
    kinds = [Counter({k: v for k, v in counts.items() if k != "chunks"}) for counts in namespaces]
    per_metric = [counts[metric] / chunks for counts in kinds for metric in ("cpu", "memory")]
    figures = {
        key: Stat.over(found, key)
        for key in ("wall_s", "read_s", "client_s", "fold_s", "recommend_s", "peak_rss_mib")
    }
    return {
        "size": asdict(size),
        "build": build,
        "prometheus_startup_s": startup_s,
        "prometheus_peak_rss_mib": server_rss,
        "chunks_needed": chunks,
        "queries": found[0]["queries"],
        "query_kinds": dict(sum(kinds, Counter[str]())),
        "queries_per_namespace_metric_chunk": max(per_metric),
        "samples": found[0]["samples"],
        "series_read": found[0]["series"],
        "figures": figures,
        "runs": found,
    }


def e2e_rows(e2e: dict[str, Any]) -> list[Row]:
    size, figures, build = HistorySize(**e2e["size"]), e2e["figures"], e2e["build"]
    kinds, per_chunk = e2e["query_kinds"], e2e["queries_per_namespace_metric_chunk"]
    full = e2e["full_resolution"]
    wall = figures["wall_s"].median
    made = "cached TSDB" if build["cached"] else "TSDB built now"
    made += f" (generate {build['generate_s']:.0f} s, backfill {build['backfill_s']:.0f} s)"
    server_rss = e2e["prometheus_peak_rss_mib"]
    queries = (
        f"cpu {kinds.get('cpu', 0)}, memory {kinds.get('memory', 0)}, "
        f"owners {kinds.get('instant', 0)}, other {kinds.get('other', 0)}"
    )
    return [
        Row(f"(b) end to end: {size.series:,} containers ({size.workloads} workloads x "
            f"{size.pods} pods x {size.containers}) in {size.namespaces} namespaces x "
            f"{size.days:g} days"),
        Row("  history samples in Prometheus", number(build["samples_written"]), note=made),
        Row("  prometheus start", f"{e2e['prometheus_startup_s']:.2f} s"),
        stat_row("  read + fold + recommend wall", figures["wall_s"], "s",
                 f"< {E2E_WALL_TARGET_S:g} s", verdict(wall, E2E_WALL_TARGET_S)),
        stat_row("    reading (query + parse)", figures["read_s"], "s"),
        stat_row("      inside client calls", figures["client_s"], "s",
                 note="summed: HTTP, Prometheus, JSON, to numpy"),
        stat_row("    folding", figures["fold_s"], "s"),
        stat_row("    recommend", figures["recommend_s"], "s"),
        Row("  samples folded", number(e2e["samples"]),
            note=f"{e2e['series_read']:,} pod containers read"),
        Row("  queries sent", str(e2e["queries"]), note=queries),
        Row("  queries per namespace per metric per chunk", f"{per_chunk:g}", "",
            f"<= {E2E_QUERIES_PER_CHUNK_TARGET}",
            verdict(per_chunk, E2E_QUERIES_PER_CHUNK_TARGET),
            f"{e2e['chunks_needed']} chunk(s) of <= {MAX_POINTS_PER_QUERY:,} points"),
        stat_row("  reader process peak RSS", figures["peak_rss_mib"], "MiB"),
        Row("  baseline: whole window at 60 s", f"{full['wall_s']:.1f} s", "",
            note=f"{full['queries']} queries, reading {full['read_s']:.1f} s, "
                 f"{full['samples']:,} samples; default is "
                 f"{full['wall_s'] / wall:.1f}x faster"),
        *(Row(f"  {resource} target moved by the default read",
              f"median {change['median']:.1%}", "",
              note=f"p90 {change['p90']:.1%}, max {change['max']:.1%}, "
                   f"{change['over_5_percent']:.0%} of containers by > 5 %")
          for resource, change in e2e["target_change"].items()),
        Row("  prometheus peak RSS",
            "unknown" if server_rss is None else f"{number(server_rss, scaled=False)} MiB"),
    ]  # fmt: skip


# -- the run -----------------------------------------------------------------------------------


def progress(message: str) -> None:
    """Progress goes to stderr: stdout ends with the summary line."""
    print(f"[recommender bench] {message}", file=sys.stderr, flush=True)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=None, help="runs per figure (default 3)")
    parser.add_argument("--quick", action="store_true", help="small sizes, one run: a smoke test")
    parser.add_argument("--json", metavar="FILE", help="also write every figure as JSON")
    parser.add_argument("--skip-prometheus", action="store_true", help="skip part (b)")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="where generated TSDBs are kept (default ~/.cache/trimtab/bench)",
    )
    args = parser.parse_args(argv)
    if args.runs is None:
        args.runs = 1 if args.quick else 3
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def cache_root(chosen: Path | None) -> Path:
    """--cache-dir, else ~/.cache/trimtab/bench, else a folder in the system temp dir."""
    if chosen is not None:
        return chosen
    home = Path.home() / ".cache" / "trimtab" / "bench"
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError:
        return Path(tempfile.gettempdir()) / "trimtab-bench"
    return home


def summary(core: dict[str, Any], e2e: dict[str, Any] | None, runs: int) -> dict[str, Any]:
    figures = core["figures"]
    line: dict[str, Any] = {
        "core_wall_s": figures["fold_s"].median,
        "core_samples_per_s": figures["samples_per_s"].median,
        "core_peak_rss_mib": figures["peak_rss_mib"].median,
        "recommend_s": figures["recommend_s"].median,
        "percentile_fold_s": figures["percentile_fold_s"].median,
        "adaptive_fold_s": figures["adaptive_fold_s"].median,
        "adaptive_extra_ratio": core["adaptive_extra"]["ratio"],
        "adaptive_extra_s": core["adaptive_extra"]["seconds"],
        "adaptive_peak_rss_mib": figures["adaptive_peak_rss_mib"].median,
        "reference_samples_per_s": figures["reference_samples_per_s"].median,
        "speed_ratio": core["speed_ratio"],
        "e2e_wall_s": None,
        "e2e_queries": None,
        "e2e_queries_per_ns_metric_chunk": None,
        "e2e_peak_rss_mib": None,
    }
    if e2e is not None:
        line["e2e_wall_s"] = e2e["figures"]["wall_s"].median
        line["e2e_queries"] = e2e["queries"]
        line["e2e_queries_per_ns_metric_chunk"] = e2e["queries_per_namespace_metric_chunk"]
        line["e2e_peak_rss_mib"] = e2e["figures"]["peak_rss_mib"].median
    line["runs"] = runs
    return line


def as_json(value: Any) -> Any:
    """Figures (Stat) as dicts, recursively."""
    if isinstance(value, Stat):
        return value.as_dict()
    if isinstance(value, dict):
        return {key: as_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_json(item) for item in value]
    return value


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    core_size = QUICK_CORE if args.quick else CoreSize()
    history_size = QUICK_HISTORY if args.quick else HistorySize()
    core = core_figures(core_size, core_part(core_size, args.runs))
    rows = core_rows(core)
    skipped = "--skip-prometheus" if args.skip_prometheus else reader_missing()
    e2e = None
    if skipped is None:
        e2e = e2e_part(history_size, args.runs, cache_root(args.cache_dir))
        rows += e2e_rows(e2e)
    else:
        rows += [Row(f"(b) end to end against Prometheus: skipped ({skipped})")]
    title = f"Recommender benchmark: medians of {args.runs} run(s), {machine()['cpus']} CPUs"
    print_table(title, rows)
    line = summary(core, e2e, args.runs)
    if args.json:
        data = {"machine": machine(), "core": core, "e2e": e2e, "skipped": skipped, "summary": line}
        save_json(args.json, as_json(data))
    print(summary_line(line))
    return 0


WORKERS = {
    "core": core_worker,
    "reference": reference_worker,
    "history": history_worker,
    "e2e": e2e_worker,
}

if __name__ == "__main__":
    if not serve_worker(sys.argv[1:], WORKERS):
        sys.exit(main(sys.argv[1:]))
