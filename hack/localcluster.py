"""The local control plane from Python: start and stop it, kubectl, waiting, and the operator.

Shared by the end-to-end tests and `make demo`, so both drive the cluster the same way.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from trimtab.history.prometheus_server import stop_process

ROOT = Path(__file__).parents[1]
CLUSTER_SCRIPTS = ROOT / "hack" / "cluster"


class KubectlError(RuntimeError):
    """kubectl failed; the message carries its stderr."""

    def __init__(self, args: list[str], stderr: str) -> None:
        super().__init__(f"kubectl {' '.join(args)} failed: {stderr.strip()}")
        self.stderr = stderr


@dataclass
class Cluster:
    """A running local cluster reached with one kubeconfig."""

    kubeconfig: Path
    bin_dir: Path
    state_dir: Path

    def kubectl(self, *args: str, stdin: str | None = None, as_user: str | None = None) -> str:
        command = [str(self.bin_dir / "kubectl"), "--kubeconfig", str(self.kubeconfig)]
        if as_user:
            command += ["--as", as_user]
        result = subprocess.run(
            [*command, *args], input=stdin, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise KubectlError(list(args), result.stderr)
        return result.stdout

    def apply(self, *objects: dict[str, Any], dry_run: bool = False) -> str:
        text = yaml.safe_dump_all(list(objects))
        extra = ["--dry-run=server"] if dry_run else []
        return self.kubectl("apply", *extra, "-f", "-", stdin=text)

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        scope = ["-n", namespace] if namespace else []
        return dict(json.loads(self.kubectl("get", kind, name, *scope, "-o", "json")))

    def list(self, kind: str, namespace: str | None = None, selector: str = "") -> list[Any]:
        scope = ["-n", namespace] if namespace else []
        labels = ["-l", selector] if selector else []
        return list(json.loads(self.kubectl("get", kind, *scope, *labels, "-o", "json"))["items"])

    def env(self) -> dict[str, str]:
        """Environment for a subprocess that should talk to this cluster as admin."""
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}


def wait_for(
    what: str, probe: Callable[[], Any], timeout: float = 60.0, interval: float = 0.5
) -> Any:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` and the last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except KubectlError as error:
            last = error
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")


def build_binaries() -> tuple[Path | None, str]:
    """Build (or reuse) the control-plane binaries: (bin dir, '') or (None, the error)."""
    result = subprocess.run(
        [str(CLUSTER_SCRIPTS / "build")], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        return None, (result.stderr or result.stdout)[-2000:]
    bin_dir = subprocess.run(
        [str(CLUSTER_SCRIPTS / "build"), "--print-bin-dir"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return Path(bin_dir), ""


def cluster_up(state_dir: Path) -> Path:
    """Start a cluster whose state lives in ``state_dir``; returns the admin kubeconfig."""
    result = subprocess.run(
        [str(CLUSTER_SCRIPTS / "up")],
        env={**os.environ, "TRIMTAB_CLUSTER_DIR": str(state_dir)},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"hack/cluster/up failed:\n{result.stderr[-4000:]}")
    return Path(result.stdout.strip().splitlines()[-1])


def cluster_down(state_dir: Path) -> None:
    subprocess.run(
        [str(CLUSTER_SCRIPTS / "down"), "--purge"],
        env={**os.environ, "TRIMTAB_CLUSTER_DIR": str(state_dir)},
        capture_output=True,
        text=True,
        check=False,
    )


OPERATOR_NAMESPACE = "trimtab-system"
SERVICE_ACCOUNT = "trimtab"
FORBIDDEN_MARKERS = ("403", "Forbidden", "forbidden")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def install_operator_rbac(cluster: Cluster) -> None:
    """The namespace, ServiceAccount, ClusterRole and binding exactly as deploy/ has them."""
    cluster.kubectl("apply", "-f", str(ROOT / "deploy" / "peering-crd.yaml"))
    cluster.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s", "crd/clusterkopfpeerings.kopf.dev"
    )
    for name in ("namespace.yaml", "rbac.yaml", "peering.yaml"):
        cluster.kubectl("apply", "-f", str(ROOT / "deploy" / name))


def service_account_kubeconfig(cluster: Cluster, account: str, folder: Path) -> Path:
    """A kubeconfig that authenticates with a token of ``account`` (not as admin)."""
    token = cluster.kubectl(
        "create", "token", account, "-n", OPERATOR_NAMESPACE, "--duration=2h"
    ).strip()
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    server = admin["clusters"][0]["cluster"]
    ca = (
        server.get("certificate-authority-data")
        or base64.b64encode(Path(server["certificate-authority"]).read_bytes()).decode()
    )
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "local",
                "cluster": {"server": server["server"], "certificate-authority-data": ca},
            }
        ],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [{"name": account, "context": {"cluster": "local", "user": account}}],
        "current-context": account,
    }
    path = folder / f"{account}.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


@dataclass
class OperatorProcess:
    process: subprocess.Popen[bytes]
    log: Path
    webhook_port: int
    probe_port: int

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def start_operator(
    kubeconfig: Path, log: Path, extra_env: dict[str, str] | None = None, detached: bool = False
) -> OperatorProcess:
    """Start `trimtab run` with peering (the ClusterKopfPeering from deploy/) and the webhook on
    127.0.0.1, registered by URL since a local cluster has no Service routing. ``detached``
    keeps it running after this Python process exits (the demo)."""
    webhook_port, probe_port = free_port(), free_port()
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "TRIMTAB_KUBECONFIG": str(kubeconfig),
        "TRIMTAB_LOG_FORMAT": "plain",
        "TRIMTAB_PROBE_HOST": "127.0.0.1",
        "TRIMTAB_PROBE_PORT": str(probe_port),
        "TRIMTAB_WEBHOOK_LISTEN_ADDRESS": "127.0.0.1",
        "TRIMTAB_WEBHOOK_PORT": str(webhook_port),
        "TRIMTAB_WEBHOOK_URL": f"https://127.0.0.1:{webhook_port}",
        **(extra_env or {}),
    }
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "trimtab", "run"],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
            start_new_session=detached,
        )
    running = OperatorProcess(process, log, webhook_port, probe_port)
    wait_for("the operator's /healthz", lambda: _healthy(running), timeout=60)
    return running


@contextmanager
def running_operator(kubeconfig: Path, folder: Path) -> Iterator[OperatorProcess]:
    """The operator for the duration of a ``with`` block."""
    log = Path(tempfile.mkstemp(prefix="trimtab-operator-", suffix=".log", dir=folder)[1])
    running = start_operator(kubeconfig, log)
    try:
        yield running
    finally:
        stop_process(running.process, timeout_s=20.0)


def _healthy(operator: OperatorProcess) -> bool:
    if operator.process.poll() is not None:
        raise AssertionError(f"the operator exited:\n{operator.log_text()[-3000:]}")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{operator.probe_port}/healthz", timeout=2):
            return True
    except OSError:
        return False
