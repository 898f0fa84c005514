"""A real control plane for the end-to-end tier: started once per session, torn down after."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hack.localcluster import ROOT, Cluster, build_binaries, cluster_down, cluster_up, wait_for
from trimtab.api import KINDS


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    bin_dir, error = build_binaries()
    if bin_dir is None:
        pytest.skip(f"the control-plane binaries cannot be built here: {error}")
    state_dir = tmp_path_factory.mktemp("cluster")
    try:
        kubeconfig = cluster_up(state_dir)
        running = Cluster(kubeconfig=kubeconfig, bin_dir=bin_dir, state_dir=state_dir)
        running.kubectl("apply", "-k", str(ROOT / "crds"))
        for info in KINDS:
            running.kubectl(
                "wait", "--for=condition=Established", "--timeout=60s", f"crd/{info.crd_name}"
            )
        wait_for(
            "the default service account",
            lambda: running.kubectl(
                "get", "serviceaccount", "default", "-n", "default", "-o", "name"
            ),
        )
        yield running
    finally:
        cluster_down(state_dir)


def logs_of(state_dir: Path) -> dict[str, str]:
    """The tail of every component's log, for failure messages."""
    return {path.name: path.read_text()[-2000:] for path in (state_dir / "logs").glob("*.log")}
