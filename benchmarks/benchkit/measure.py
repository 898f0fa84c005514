"""Measurements in fresh child processes, and medians over repeated runs.

Peak RSS (`ru_maxrss`) only ever grows, so a figure taken in a process that has already done
something else is not the figure of the thing measured. Each measured part therefore runs in
its own child: the benchmark script runs itself with `--worker NAME PARAMS_JSON`, the child
calls the named function, adds its own peak RSS and prints the result as one JSON line.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WORKER_FLAG = "--worker"
MIB = 1024**2

Worker = Callable[[dict[str, Any]], dict[str, Any]]


class WorkerError(RuntimeError):
    """A child process failed; its error output went to stderr."""


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def process_peak_rss_mib(pid: int) -> float | None:
    """Peak RSS of another process (VmHWM in /proc), or None where it cannot be read."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return None


def run_worker(
    script: str | Path, name: str, params: Mapping[str, Any], timeout_s: float | None = None
) -> dict[str, Any]:
    """Run worker `name` of `script` in a new Python process and return its result."""
    command = [sys.executable, str(script), WORKER_FLAG, name, json.dumps(dict(params))]
    done = subprocess.run(
        command, stdout=subprocess.PIPE, text=True, timeout=timeout_s, check=False
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise WorkerError(f"worker {name!r} failed (exit {done.returncode}); see its errors above")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def serve_worker(argv: Sequence[str], workers: Mapping[str, Worker]) -> bool:
    """In a child started by `run_worker`: run the worker and print its result; returns
    False (doing nothing) when `argv` does not ask for a worker."""
    if len(argv) != 3 or argv[0] != WORKER_FLAG:
        return False
    name, params = argv[1], json.loads(argv[2])
    result = dict(workers[name](params))
    result["peak_rss_mib"] = peak_rss_mib()
    print(json.dumps(result), flush=True)
    return True


@dataclass(frozen=True)
class Stat:
    """A figure over several runs: the median is the one to quote on a shared machine."""

    median: float
    low: float
    high: float
    values: tuple[float, ...]

    @classmethod
    def of(cls, values: Sequence[float]) -> Stat:
        if not values:
            raise ValueError("no values")
        return cls(statistics.median(values), min(values), max(values), tuple(values))

    @classmethod
    def over(cls, runs: Sequence[Mapping[str, Any]], key: str) -> Stat:
        """The figure `key` of every run."""
        return cls.of([float(run[key]) for run in runs])

    def as_dict(self) -> dict[str, Any]:
        return {
            "median": self.median,
            "min": self.low,
            "max": self.high,
            "runs": list(self.values),
        }
