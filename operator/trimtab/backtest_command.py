"""`trimtab backtest`: compare recommender profiles on a cluster's own Prometheus history.

Each profile's strategy is replayed over the selected workloads' history as the operator would
have run it (recommend every hour using only the past, apply like the updater, memory limit =
request) and scored: CPU and memory slack, OOM kills, CPU shortfall minutes, request changes.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from trimtab.api.profile import RecommenderProfileSpec, Strategy
from trimtab.durations import parse_duration
from trimtab.metrics.client import PrometheusClient
from trimtab.metrics.config import PrometheusConfig
from trimtab.metrics.errors import MetricsError
from trimtab.metrics.promql import Selection
from trimtab.metrics.usage import UsageReader
from trimtab.quality.replay import ReplayConfig
from trimtab.quality.scores import Scores
from trimtab.recommend_command import add_source_arguments, load_profile
from trimtab.recommender.backtest import NotEnoughHistoryError, ProfileResult, backtest
from trimtab.recommender.offline import NothingMatchedError

OUTPUTS = ("table", "json")


def add_parser(commands: Any) -> None:
    """The `backtest` subcommand and its flags."""
    parser = commands.add_parser(
        "backtest",
        help="compare recommender profiles on your own Prometheus history",
        description="Replay the selected namespaces' history through each profile as the "
        "operator would have applied it, and score slack, OOM kills, CPU shortfall and request "
        "changes. Without --profile: the vpa, percentile and adaptive strategies' defaults.",
    )
    add_source_arguments(parser, "namespace to replay (repeatable)")
    parser.add_argument(
        "--profile",
        dest="profiles",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="a RecommenderProfile YAML to compare (repeatable)",
    )
    parser.add_argument("--history", default="14d", help="history to replay (default 14d)")
    parser.add_argument(
        "--warmup", default="2d", help="history fed before scoring starts (default 2d)"
    )
    parser.add_argument(
        "--end", type=float, metavar="UNIX_SECONDS", help="end of the history (default now)"
    )
    parser.add_argument("--chart", type=Path, metavar="FILE", help="write a PNG chart here")
    parser.add_argument("-o", "--output", choices=OUTPUTS, default="table", help="output format")
    parser.add_argument(
        "--auth-header", metavar="VALUE", help="Authorization header value, e.g. 'Bearer <token>'"
    )


def run(args: argparse.Namespace) -> int:
    """Print the comparison; exit 1 with a one-line reason when it cannot be made."""
    try:
        profiles = _profiles(args.profiles)
        config = ReplayConfig(warmup_s=parse_duration(args.warmup))
        end = args.end or time.time()
        start = end - parse_duration(args.history)
        # Every minute: the harness scores each minute a request was too small.
        prometheus = PrometheusConfig(
            url=args.prometheus,
            auth_header_value=args.auth_header,
            auth_token_scheme="",
            full_resolution_s=None,
        )
        reader = UsageReader(PrometheusClient(prometheus))
        selections = [Selection(ns, matchers=args.selector) for ns in args.namespaces]
        results = _with_progress(reader, selections, profiles, start, end, config)
        if args.chart is not None:
            from trimtab.charts import draw

            draw(
                {r.profile: r.total for r in results},
                args.chart,
                f"Backtest of {', '.join(args.namespaces)} over {args.history}",
                _per_namespace(results),
            )
    except (MetricsError, NothingMatchedError, NotEnoughHistoryError, ValueError, OSError) as error:
        print(f"trimtab backtest: {error}", file=sys.stderr)
        return 1
    except ImportError as error:
        print(f"trimtab backtest: --chart needs matplotlib ({error})", file=sys.stderr)
        return 1
    print(render(results, args.output), end="")
    return 0


def _profiles(paths: list[Path]) -> dict[str, RecommenderProfileSpec]:
    """Profiles by name: each file's object name (or file name), else the built-in defaults."""
    if not paths:
        return {strategy.value: RecommenderProfileSpec(strategy=strategy) for strategy in Strategy}
    found = {}
    for path in paths:
        found[_profile_name(path)] = load_profile(path)
    return found


def _profile_name(path: Path) -> str:
    document = yaml.safe_load(path.read_text())
    if isinstance(document, dict) and isinstance(document.get("metadata"), dict):
        return str(document["metadata"].get("name") or path.stem)
    return path.stem


def _with_progress(
    reader: UsageReader,
    selections: list[Selection],
    profiles: dict[str, RecommenderProfileSpec],
    start: float,
    end: float,
    config: ReplayConfig,
) -> list[ProfileResult]:
    console = Console(stderr=True)
    with Progress(console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task("reading history", total=len(selections))

        def advance(selection: Selection) -> None:
            progress.update(task, description=f"reading {selection.namespace}", advance=1)

        return backtest(reader, selections, profiles, start, end, config, advance)


def _per_namespace(results: list[ProfileResult]) -> dict[str, dict[str, Scores]]:
    """Each namespace's total per profile: the chart's small markers."""
    found: dict[str, dict[str, Scores]] = {}
    for result in results:
        for workload in result.workloads:
            namespace = workload.workload.split("/", 1)[0]
            per_profile = found.setdefault(namespace, {})
            per_profile[result.profile] = (
                per_profile.get(result.profile, Scores()) + workload.scores
            )
    return found


def _record(scores: Scores) -> dict[str, Any]:
    return {
        "cpuSlack": round(scores.cpu_slack_share, 4),
        "memorySlack": round(scores.memory_slack_share, 4),
        "oomEvents": scores.oom_events,
        "cpuShortfallMinutes": round(scores.cpu_shortfall_minutes, 1),
        "changes": scores.changes,
    }


def render(results: list[ProfileResult], output: str) -> str:
    """The comparison as a table (per workload, then all) or JSON."""
    if output == "json":
        records = [
            {
                "profile": result.profile,
                "total": _record(result.total),
                "workloads": {w.workload: _record(w.scores) for w in result.workloads},
            }
            for result in results
        ]
        return json.dumps(records, indent=2) + "\n"
    table = Table(title="Backtest: what each profile's requests would have done")
    for column in ("workload", "profile", "CPU slack", "memory slack", "OOM kills"):
        table.add_column(column)
    table.add_column("CPU shortfall min")
    table.add_column("changes")
    rows: list[tuple[str, str, Scores]] = [
        (w.workload, r.profile, w.scores) for r in results for w in r.workloads
    ]
    rows.sort(key=lambda row: row[0])
    rows += [("all", r.profile, r.total) for r in results]
    for workload, profile, scores in rows:
        table.add_row(
            workload,
            profile,
            f"{scores.cpu_slack_share:.1%}",
            f"{scores.memory_slack_share:.1%}",
            str(scores.oom_events),
            f"{scores.cpu_shortfall_minutes:,.0f}",
            str(scores.changes),
        )
    out = io.StringIO()
    Console(file=out, width=140, force_terminal=sys.stdout.isatty()).print(table)
    return out.getvalue()
