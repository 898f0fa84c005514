"""The `trimtab` command: run the operator, generate CRDs, recommend and backtest offline, print
the version."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from trimtab import __version__, backtest_command, recommend_command
from trimtab.settings import Settings


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="trimtab",
        description="Trimtab: right-sized requests, replica counts and nodes for Kubernetes.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run the operator against the cluster of the current kubeconfig",
        description="Run the operator. Every flag can also be set as TRIMTAB_<FLAG> in the "
        "environment; a flag given here wins.",
    )
    run.add_argument(
        "--standalone",
        action="store_true",
        default=None,
        help="run without peering (one replica only)",
    )
    run.add_argument(
        "--namespace",
        dest="namespaces",
        action="append",
        default=None,
        metavar="NS",
        help="watch only this namespace (repeatable); all by default",
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        default=None,
        help="log and emit Events for every action, but change nothing",
    )
    run.add_argument(
        "--log-format",
        choices=["json", "plain", "full"],
        default=None,
        help="log format (default json)",
    )
    run.add_argument(
        "--log-level",
        choices=["debug", "info", "warning"],
        default=None,
        help="log level (default info)",
    )
    run.add_argument(
        "--probe-port", type=int, default=None, help="port of the /healthz endpoint (default 8080)"
    )
    run.add_argument("--prometheus-url", default=None, help="URL of the Prometheus HTTP API")

    crds = commands.add_parser(
        "crds",
        help="write the CustomResourceDefinitions generated from the models",
        description="Write one CRD YAML file per kind, generated from the pydantic models.",
    )
    crds.add_argument("--dir", type=Path, default=Path("crds"), help="output folder (default crds)")
    crds.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 naming each file that differs from the models",
    )

    recommend_command.add_parser(commands)
    backtest_command.add_parser(commands)
    commands.add_parser("version", help="print the version")
    return parser


def settings_from(args: argparse.Namespace) -> Settings | None:
    """Settings from the environment with the flags on top; None after printing what is wrong."""
    overrides: dict[str, Any] = {
        key: value
        for key, value in vars(args).items()
        if key not in ("command", "prometheus_url") and value is not None
    }
    if args.prometheus_url:
        overrides["prometheus"] = {"url": args.prometheus_url}
    try:
        return Settings(**overrides)
    except ValidationError as error:
        for problem in error.errors():
            field = "_".join(str(part) for part in problem["loc"])
            print(
                f"trimtab run: {field} (TRIMTAB_{field.upper()} or its flag): {problem['msg']}"
                f" (got {problem.get('input')!r})",
                file=sys.stderr,
            )
        return None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `trimtab` command."""
    args = build_parser().parse_args(argv)
    if args.command == "version":
        print(__version__)
        return 0
    if args.command == "recommend":
        return recommend_command.run(args)
    if args.command == "backtest":
        return backtest_command.run(args)
    if args.command == "crds":
        from trimtab.crdfiles import check_crds, write_crds

        return check_crds(args.dir) if args.check else write_crds(args.dir)
    if args.command == "run":
        from trimtab.runner import run_operator

        settings = settings_from(args)
        return 2 if settings is None else run_operator(settings)
    raise AssertionError(f"unhandled command {args.command!r}")


if __name__ == "__main__":
    sys.exit(main())
