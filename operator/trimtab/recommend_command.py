"""`trimtab recommend`: an offline report straight from Prometheus, no operator needed."""

from __future__ import annotations

import argparse
import csv
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

from trimtab.api import kind_info
from trimtab.api.profile import RecommenderProfileSpec
from trimtab.metrics.client import PrometheusClient
from trimtab.metrics.config import PrometheusConfig
from trimtab.metrics.errors import MetricsError
from trimtab.metrics.promql import Selection
from trimtab.metrics.usage import UsageReader
from trimtab.quantity import format_cpu, format_memory
from trimtab.recommender.offline import NothingMatchedError, ReportRow, recommend_offline
from trimtab.validation import validate_spec

FORMATS = ("table", "json", "yaml", "csv")


def add_parser(commands: Any) -> None:
    """The `recommend` subcommand and its flags."""
    parser = commands.add_parser(
        "recommend",
        help="report recommended requests straight from Prometheus (no operator needed)",
        description="Compute CPU and memory recommendations for every workload container of "
        "the selected namespaces from their Prometheus history, beside the current requests.",
    )
    add_source_arguments(parser, "namespace to report on (repeatable)")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="FILE",
        help="a RecommenderProfile YAML (object or bare spec); VPA's defaults when omitted",
    )
    parser.add_argument(
        "--end", type=float, metavar="UNIX_SECONDS", help="end of the history window (default now)"
    )
    parser.add_argument(
        "--full-resolution",
        action="store_true",
        help="read the whole window at 1 minute; by default history older than 3 days is read "
        "at 5 minutes, as the operator's bootstrap does (several times faster)",
    )
    parser.add_argument("-o", "--output", choices=FORMATS, default="table", help="output format")
    parser.add_argument(
        "--auth-header", metavar="VALUE", help="Authorization header value, e.g. 'Bearer <token>'"
    )
    parser.add_argument("--ca-file", type=Path, help="CA bundle for an https Prometheus")
    parser.add_argument(
        "--insecure-skip-verify",
        action="store_true",
        help="do not verify the Prometheus certificate",
    )


def add_source_arguments(parser: argparse.ArgumentParser, namespace_help: str) -> None:
    """Where the history comes from: Prometheus, namespaces and label matchers."""
    parser.add_argument("--prometheus", required=True, metavar="URL", help="Prometheus URL")
    parser.add_argument(
        "-n",
        "--namespace",
        dest="namespaces",
        action="append",
        required=True,
        metavar="NS",
        help=namespace_help,
    )
    parser.add_argument(
        "-l",
        "--selector",
        default="",
        metavar="MATCHERS",
        help='PromQL label matchers on the usage series, e.g. pod=~"web-.*"',
    )


def run(args: argparse.Namespace) -> int:
    """Print the report; exit 1 with a one-line reason when it cannot be made."""
    try:
        profile = load_profile(args.profile)
        reader = UsageReader(PrometheusClient(_config(args)))
        selections = [Selection(ns, matchers=args.selector) for ns in args.namespaces]
        rows = _with_progress(reader, selections, profile, args.end or time.time())
    except (MetricsError, NothingMatchedError, ValueError, OSError) as error:
        print(f"trimtab recommend: {error}", file=sys.stderr)
        return 1
    print(render(rows, args.output), end="")
    return 0


def load_profile(path: Path | None) -> RecommenderProfileSpec:
    """A profile from a YAML file holding a RecommenderProfile or just its spec."""
    if path is None:
        return RecommenderProfileSpec()
    document = yaml.safe_load(path.read_text())
    spec = document.get("spec", document) if isinstance(document, dict) else document
    verdict = validate_spec(kind_info("RecommenderProfile"), spec)
    if not isinstance(verdict.spec, RecommenderProfileSpec):
        raise ValueError(f"{path}: {verdict.message}")
    return verdict.spec


def _config(args: argparse.Namespace) -> PrometheusConfig:
    return PrometheusConfig(
        url=args.prometheus,
        auth_header_value=args.auth_header,
        auth_token_scheme="",
        ca_file=args.ca_file,
        insecure_skip_verify=args.insecure_skip_verify,
        **({"full_resolution_s": None} if args.full_resolution else {}),
    )


def _with_progress(
    reader: UsageReader, selections: list[Selection], profile: RecommenderProfileSpec, end: float
) -> list[ReportRow]:
    console = Console(stderr=True)
    with Progress(console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task("reading history", total=len(selections))

        def advance(selection: Selection) -> None:
            progress.update(task, description=f"reading {selection.namespace}", advance=1)

        return recommend_offline(reader, selections, profile, end, advance)


def _records(rows: list[ReportRow]) -> list[dict[str, Any]]:
    def opt(value: float | None, printer: Any) -> str | None:
        return None if value is None else printer(value)

    return [
        {
            "namespace": row.container.namespace,
            "kind": row.container.workload_kind,
            "workload": row.container.workload_name,
            "container": row.container.container,
            "cpu": {
                "request": opt(row.cpu_request, format_cpu),
                "target": format_cpu(row.cpu_target),
                "lowerBound": format_cpu(row.cpu_lower),
                "upperBound": format_cpu(row.cpu_upper),
            },
            "memory": {
                "request": opt(row.memory_request, format_memory),
                "target": format_memory(row.memory_target),
                "lowerBound": format_memory(row.memory_lower),
                "upperBound": format_memory(row.memory_upper),
            },
            "historyHours": round(row.history_seconds / 3600, 1),
            "samples": row.samples,
        }
        for row in rows
    ]


def render(rows: list[ReportRow], output: str) -> str:
    """The report in one of FORMATS."""
    records = _records(rows)
    if output == "json":
        return json.dumps(records, indent=2) + "\n"
    if output == "yaml":
        return str(yaml.safe_dump(records, sort_keys=False))
    if output == "csv":
        return _csv(records)
    return _table(rows, records)


def _csv(records: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "namespace",
            "kind",
            "workload",
            "container",
            "cpu_request",
            "cpu_target",
            "memory_request",
            "memory_target",
            "history_hours",
            "samples",
        ]
    )
    for r in records:
        writer.writerow(
            [
                r["namespace"],
                r["kind"],
                r["workload"],
                r["container"],
                r["cpu"]["request"] or "",
                r["cpu"]["target"],
                r["memory"]["request"] or "",
                r["memory"]["target"],
                r["historyHours"],
                r["samples"],
            ]
        )
    return out.getvalue()


def _change(request: float | None, target: float) -> str:
    if not request:
        return "new"
    change = (target - request) / request
    colour = "green" if change < 0 else "yellow"
    return f"[{colour}]{change:+.0%}[/{colour}]"


def _table(rows: list[ReportRow], records: list[dict[str, Any]]) -> str:
    table = Table(title="Recommended requests")
    for column in (
        "namespace",
        "workload",
        "container",
        "CPU request",
        "CPU target",
        "Δ",
        "memory request",
        "memory target",
        "Δ",
        "history",
    ):
        table.add_column(column, justify="right" if column[0] in "CmΔh" else "left")
    for row, record in zip(rows, records, strict=True):
        table.add_row(
            record["namespace"],
            f"{record['kind']}/{record['workload']}",
            record["container"],
            record["cpu"]["request"] or "-",
            record["cpu"]["target"],
            _change(row.cpu_request, row.cpu_target),
            record["memory"]["request"] or "-",
            record["memory"]["target"],
            _change(row.memory_request, row.memory_target),
            f"{record['historyHours']} h",
        )
    console = Console(file=io.StringIO(), width=160, force_terminal=sys.stdout.isatty())
    console.print(table)
    return str(console.file.getvalue())  # type: ignore[attr-defined]
