"""OOM kills read from pod status, with the pod's workload found through its ReplicaSet."""

from __future__ import annotations

from typing import Any

from trimtab.recommender.ooms import has_oom_kill, oom_events_from_pod, workload_of


def pod(reason: str = "OOMKilled", owner: dict[str, Any] | None = None) -> dict[str, Any]:
    owners = [owner] if owner else []
    return {
        "metadata": {"name": "web-5d9f-abcde", "namespace": "shop", "ownerReferences": owners},
        "spec": {
            "containers": [
                {"name": "app", "resources": {"requests": {"memory": "256Mi"}}},
                {"name": "proxy"},
            ]
        },
        "status": {
            "containerStatuses": [
                {
                    "name": "app",
                    "lastState": {
                        "terminated": {"reason": reason, "finishedAt": "2026-11-27T10:00:00Z"}
                    },
                },
                {"name": "proxy", "lastState": {}},
            ]
        },
    }


REPLICASET = {"kind": "ReplicaSet", "name": "web-5d9f", "controller": True}


def owners(namespace: str, name: str) -> tuple[str, str] | None:
    return ("Deployment", "web") if (namespace, name) == ("shop", "web-5d9f") else None


def test_oom_kill_of_a_deployment_pod() -> None:
    (event,) = oom_events_from_pod(pod(owner=REPLICASET), owners)
    assert (event.workload_kind, event.workload_name, event.container) == (
        "Deployment",
        "web",
        "app",
    )
    assert event.memory_request == 256 * 1024**2
    assert event.timestamp == 1795773600.0


def test_other_terminations_are_not_oom_kills() -> None:
    assert not has_oom_kill(pod(reason="Error"))
    assert oom_events_from_pod(pod(reason="Error"), owners) == []
    assert has_oom_kill(pod())


def test_workload_of_pods_without_or_with_other_controllers() -> None:
    assert workload_of(pod()["metadata"], owners) == ("Pod", "web-5d9f-abcde")
    stateful = {"kind": "StatefulSet", "name": "db", "controller": True}
    assert workload_of(pod(owner=stateful)["metadata"], owners) == ("StatefulSet", "db")
    orphan_rs = {"kind": "ReplicaSet", "name": "lonely", "controller": True}
    assert workload_of(pod(owner=orphan_rs)["metadata"], owners) == ("ReplicaSet", "lonely")
