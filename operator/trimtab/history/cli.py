"""Generate usage history, backfill it into a TSDB, and serve it with a real Prometheus.

    python -m trimtab.history.cli generate --out history.om [--days 14 --step 60 ...]
    python -m trimtab.history.cli backfill --tsdb DIR [--openmetrics history.om ...]
    python -m trimtab.history.cli serve --tsdb DIR [--port 9090]

The workloads are `standard_workloads()`: one Deployment per class (or those named with
`--classes`), `--replicas` pods each, seeds from `--seed`. The window ends at `--end` (unix
seconds, default: now rounded down to the step) and its last sample is one step earlier:
query there, since Prometheus looks back only 5 minutes from a query's time.

`generate` and `backfill` end with one `key=value` summary line on stdout.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from trimtab.history.generator import (
    SECONDS_PER_DAY,
    WorkloadClass,
    WorkloadHistory,
    generate_all,
    standard_workloads,
)
from trimtab.history.openmetrics import write_openmetrics_file
from trimtab.history.prometheus_server import (
    DEFAULT_MAX_BLOCK_DURATION,
    PrometheusServer,
    backfill_openmetrics,
)


def _classes(text: str) -> list[WorkloadClass]:
    try:
        return [WorkloadClass(name.strip()) for name in text.split(",") if name.strip()]
    except ValueError as error:
        known = ",".join(workload_class.value for workload_class in WorkloadClass)
        raise argparse.ArgumentTypeError(f"{error}; known classes: {known}") from None


def _add_workload_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("workloads")
    group.add_argument("--days", type=float, default=14.0, help="window length (default 14)")
    group.add_argument("--step", type=float, default=60.0, help="seconds between samples")
    group.add_argument("--end", type=float, default=None, help="window end, unix seconds")
    group.add_argument(
        "--classes",
        type=_classes,
        default=list(WorkloadClass),
        help="comma-separated workload classes (default: all)",
    )
    group.add_argument("--replicas", type=int, default=3, help="pods per workload")
    group.add_argument("--namespace", default="default")
    group.add_argument("--seed", type=int, default=0)
    group.add_argument(
        "--kube-state-step",
        type=float,
        default=None,
        help="seconds between kube-state-metrics samples (default: --step)",
    )


def _histories(args: argparse.Namespace) -> list[WorkloadHistory]:
    step = float(args.step)
    end = float(args.end) if args.end is not None else (time.time() // step) * step
    duration = float(args.days) * SECONDS_PER_DAY
    wanted = set(args.classes)
    specs = [
        spec
        for spec in standard_workloads(args.namespace, args.replicas, args.seed)
        if spec.workload_class in wanted
    ]
    return generate_all(specs, end - duration, duration, step)


def _write(args: argparse.Namespace, path: Path) -> dict[str, str]:
    began = time.monotonic()
    histories = _histories(args)
    generated = time.monotonic()
    samples = write_openmetrics_file(histories, path, kube_state_step_s=args.kube_state_step)
    written = time.monotonic()
    last = max(history.end for history in histories)
    print(f"wrote {samples} samples for {len(histories)} workloads to {path}", file=sys.stderr)
    print(f"last sample at {last:.0f}: query at or before that time", file=sys.stderr)
    return {
        "workloads": str(len(histories)),
        "samples": str(samples),
        "bytes": str(path.stat().st_size),
        "last_sample": f"{last:.0f}",
        "generate_s": f"{generated - began:.2f}",
        "write_s": f"{written - generated:.2f}",
    }


def _summary(fields: dict[str, str]) -> None:
    print(" ".join(f"{key}={value}" for key, value in fields.items()))


def _generate(args: argparse.Namespace) -> int:
    _summary(_write(args, Path(args.out)))
    return 0


def _backfill(args: argparse.Namespace) -> int:
    tsdb = Path(args.tsdb)
    with tempfile.TemporaryDirectory(prefix="trimtab-history-") as scratch:
        path = Path(args.openmetrics) if args.openmetrics else Path(scratch) / "history.om"
        fields = _write(args, path)
        began = time.monotonic()
        backfill_openmetrics(path, tsdb, max_block_duration=args.max_block_duration)
        fields["backfill_s"] = f"{time.monotonic() - began:.2f}"
    print(f"TSDB blocks in {tsdb}", file=sys.stderr)
    _summary(fields)
    return 0


def _serve(args: argparse.Namespace) -> int:
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with PrometheusServer(args.tsdb, port=args.port) as prometheus:
        print(f"Prometheus ready in {prometheus.startup_s:.1f} s at {prometheus.url}", flush=True)
        while not stopping:
            time.sleep(0.2)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m trimtab.history.cli",
        description="Generate usage history and load it into a real Prometheus.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="write OpenMetrics text")
    generate.add_argument("--out", required=True, help="OpenMetrics file to write")
    _add_workload_options(generate)
    generate.set_defaults(run=_generate)

    backfill = commands.add_parser("backfill", help="generate and backfill into a TSDB dir")
    backfill.add_argument("--tsdb", required=True, help="directory for the TSDB blocks")
    backfill.add_argument("--openmetrics", help="keep the OpenMetrics text in this file")
    backfill.add_argument("--max-block-duration", default=DEFAULT_MAX_BLOCK_DURATION)
    _add_workload_options(backfill)
    backfill.set_defaults(run=_backfill)

    serve = commands.add_parser("serve", help="serve a copy of a TSDB dir until interrupted")
    serve.add_argument("--tsdb", required=True, help="TSDB directory (it is copied first)")
    serve.add_argument("--port", type=int, default=None, help="default: a free port")
    serve.set_defaults(run=_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    status: int = args.run(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
