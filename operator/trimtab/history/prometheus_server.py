"""A real Prometheus over generated history, for tests, `make demo` and benchmarks.

Not part of the operator: it runs `promtool` and `prometheus` as child processes. Both come
from the Debian package (`hack/prometheus/install`).

- `backfill_openmetrics` turns an OpenMetrics file into TSDB blocks with promtool.
- `PrometheusServer` copies a TSDB directory (Prometheus compacts and rewrites the directory it
  serves, so the original stays reusable), starts Prometheus on a free port on 127.0.0.1 with a
  minimal configuration, waits for `/-/ready`, and stops it by its PID. It is a context manager.

Queries against backfilled history must be made at the data's end time or earlier: an instant
query looks back only 5 minutes, so "now" finds nothing in history that ended before.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

DEFAULT_MAX_BLOCK_DURATION = "168h"
DEFAULT_RETENTION = "30d"
_CONFIG = """\
# Written by trimtab.history.prometheus_server: serves backfilled history and scrapes only
# the targets a test names.
global:
  scrape_interval: 1m
  evaluation_interval: 1m
"""
_LOG_TAIL_CHARS = 4000
_PORT_ATTEMPTS = 3


class PrometheusNotInstalledError(RuntimeError):
    """`prometheus` or `promtool` is not on PATH."""


class PrometheusStartError(RuntimeError):
    """Prometheus exited or did not become ready in time."""


def find_binary(name: str) -> str:
    """Path of `prometheus` or `promtool`, or an error that says how to install it."""
    path = shutil.which(name)
    if path is None:
        raise PrometheusNotInstalledError(
            f"{name} not found on PATH; install it with hack/prometheus/install "
            "(the Debian 'prometheus' package)"
        )
    return path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the caller retries if it is taken meanwhile)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def backfill_openmetrics(
    openmetrics_file: str | Path,
    tsdb_dir: str | Path,
    *,
    max_block_duration: str = DEFAULT_MAX_BLOCK_DURATION,
    promtool: str | None = None,
    timeout_s: float = 900.0,
) -> None:
    """`promtool tsdb create-blocks-from openmetrics` into `tsdb_dir` (created if missing).

    Large blocks matter: with promtool's default of 2 h blocks, 14 days of history takes
    about thirty times longer to backfill.
    """
    Path(tsdb_dir).mkdir(parents=True, exist_ok=True)
    command = [
        promtool or find_binary("promtool"),
        "tsdb",
        "create-blocks-from",
        "openmetrics",
        f"--max-block-duration={max_block_duration}",
        str(openmetrics_file),
        str(tsdb_dir),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    if done.returncode != 0:
        output = (done.stdout + done.stderr)[-_LOG_TAIL_CHARS:]
        raise RuntimeError(f"promtool backfill failed (exit {done.returncode}):\n{output}")


def stop_process(process: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout_s``; a no-op once it has."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class PrometheusServer:
    """A Prometheus serving a copy of `tsdb_dir` (or an empty TSDB) on 127.0.0.1.

    Use as `with PrometheusServer(tsdb) as prometheus: ... prometheus.url ...`, or call
    `start()` and `stop()`. `workdir` holds the copy, the configuration and the log; by default
    it is a temporary directory removed by `stop()`.
    """

    def __init__(
        self,
        tsdb_dir: str | Path | None = None,
        *,
        workdir: str | Path | None = None,
        port: int | None = None,
        retention: str = DEFAULT_RETENTION,
        binary: str | None = None,
        ready_timeout_s: float = 60.0,
        extra_args: Sequence[str] = (),
        scrape_targets: Sequence[str] = (),
        scrape_interval_s: float = 1.0,
    ) -> None:
        """`scrape_targets` (host:port, serving /metrics) are scraped every
        `scrape_interval_s`, for tests that change a metric while they run."""
        self.scrape_targets = tuple(scrape_targets)
        self.scrape_interval_s = scrape_interval_s
        self.tsdb_dir = Path(tsdb_dir) if tsdb_dir is not None else None
        self._workdir = Path(workdir) if workdir is not None else None
        self._owns_workdir = workdir is None
        self._requested_port = port
        self.retention = retention
        self.binary = binary
        self.ready_timeout_s = ready_timeout_s
        self.extra_args = tuple(extra_args)
        self.port = 0
        self.startup_s = 0.0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self._process is None:
            raise RuntimeError("Prometheus is not running")
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            raise RuntimeError("Prometheus has not been started")
        return self._workdir

    @property
    def log_path(self) -> Path:
        return self.workdir / "prometheus.log"

    def start(self) -> Self:
        """Copy the TSDB, start Prometheus and wait until it answers `/-/ready`."""
        if self._process is not None:
            raise RuntimeError("Prometheus is already running")
        began = time.monotonic()
        binary = self.binary or find_binary("prometheus")
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="trimtab-prometheus-"))
        self._workdir.mkdir(parents=True, exist_ok=True)
        data = self._workdir / "data"
        if data.exists():
            shutil.rmtree(data)
        if self.tsdb_dir is not None:
            shutil.copytree(self.tsdb_dir, data)
        else:
            data.mkdir()
        config = self._workdir / "prometheus.yml"
        config.write_text(self._config(), encoding="utf-8")

        attempts = 1 if self._requested_port is not None else _PORT_ATTEMPTS
        for attempt in range(attempts):
            self.port = self._requested_port or free_port()
            self._spawn(binary, config, data)
            outcome = self._wait_ready(data)
            if outcome == "ready":
                self.startup_s = time.monotonic() - began
                return self
            port_taken = outcome == "port taken" or "address already in use" in self._log_tail()
            if not (port_taken and attempt + 1 < attempts):
                break
        log = self._log_tail()
        port = self.port
        self.stop()
        raise PrometheusStartError(
            f"Prometheus on 127.0.0.1:{port} did not become ready ({outcome}); "
            f"its log ends with:\n{log}"
        )

    def _config(self) -> str:
        if not self.scrape_targets:
            return _CONFIG
        targets = ", ".join(f'"{target}"' for target in self.scrape_targets)
        return (
            f"{_CONFIG}scrape_configs:\n"
            f"  - job_name: targets\n"
            f"    scrape_interval: {self.scrape_interval_s:g}s\n"
            f"    static_configs:\n"
            f"      - targets: [{targets}]\n"
        )

    def _spawn(self, binary: str, config: Path, data: Path) -> None:
        command = [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={data}",
            f"--storage.tsdb.retention.time={self.retention}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            *self.extra_args,
        ]
        with open(self.log_path, "wb") as log:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
            )

    def _wait_ready(self, data: Path) -> str:
        """Poll until our Prometheus is ready: "ready", "exited", "port taken" or "timeout".

        A 200 from `/-/ready` alone is not enough: another server may hold the port while
        ours is still starting (and would bind it later), so the answer must name our TSDB.
        """
        process = self._process
        assert process is not None
        deadline = time.monotonic() + self.ready_timeout_s
        outcome = "timeout"
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self._process = None
                return "exited"
            if self._get("/-/ready") is not None:
                if self._serves(data):
                    return "ready"
                outcome = "port taken"
                break
            time.sleep(0.05)
        stop_process(process, 10.0)
        self._process = None
        return outcome

    def _get(self, path: str) -> bytes | None:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.port}{path}", timeout=2.0
            ) as reply:
                body: bytes = reply.read()
                return body if reply.status == 200 else None
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return None

    def _serves(self, data: Path) -> bool:
        body = self._get("/api/v1/status/flags")
        try:
            flags = json.loads(body or b"{}").get("data", {})
        except ValueError:
            return False
        return bool(flags.get("storage.tsdb.path") == str(data))

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-_LOG_TAIL_CHARS:]
        except OSError:
            return ""

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop Prometheus (SIGTERM, then SIGKILL after `timeout_s`); remove an owned workdir."""
        if self._process is not None:
            stop_process(self._process, timeout_s)
            self._process = None
        if self._owns_workdir and self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
