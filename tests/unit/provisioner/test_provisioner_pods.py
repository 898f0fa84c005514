"""Pending pods, DaemonSets and nodes read from their bodies for the simulation."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import deep_merge
from tests.unit.provisioner.conftest import instance_type
from trimtab.provisioner.model import (
    HOSTNAME,
    NAMESPACE_LABEL,
    ZONE,
    LabelRequirement,
    NodePoolView,
    Taint,
    Toleration,
    TopologySpread,
)
from trimtab.provisioner.pods import (
    daemonset_pod,
    existing_node,
    is_unschedulable,
    pending_pod,
    pod_requests,
)
from trimtab.provisioner.scheduling import schedule

GI = 1024.0**3


def pod(**overrides: Any) -> dict[str, Any]:
    base = {
        "metadata": {"name": "web-1", "namespace": "shop", "uid": "u-1", "labels": {"app": "web"}},
        "spec": {
            "containers": [
                {"name": "app", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}
            ]
        },
        "status": {
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]
        },
    }
    return deep_merge(base, overrides)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(pod(), True, id="unschedulable"),
        pytest.param(pod(spec={"nodeName": "n1"}), False, id="bound"),
        pytest.param(
            pod(status={"conditions": [{"type": "PodScheduled", "status": "True"}]}),
            False,
            id="scheduled",
        ),
        pytest.param(
            pod(
                status={
                    "conditions": [
                        {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}
                    ]
                }
            ),
            False,
            id="gated",
        ),
        pytest.param(pod(status={"conditions": []}), False, id="not-yet-seen-by-the-scheduler"),
        pytest.param(
            pod(metadata={"deletionTimestamp": "2026-01-01T00:00:00Z"}), False, id="deleting"
        ),
    ],
)
def test_is_unschedulable(body: dict[str, Any], expected: bool) -> None:
    assert is_unschedulable(body) is expected


def test_requests_sum_containers_take_init_containers_as_a_floor_and_add_a_pod() -> None:
    spec = {
        "containers": [
            {"name": "a", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}},
            {"name": "b", "resources": {"limits": {"cpu": "1", "nvidia.com/gpu": "1"}}},
        ],
        "initContainers": [
            {"name": "init", "resources": {"requests": {"cpu": "2", "memory": "512Mi"}}}
        ],
    }
    assert pod_requests(spec) == {"cpu": 2.0, "memory": GI, "nvidia.com/gpu": 1.0, "pods": 1.0}


def test_pending_pod_keeps_everything_that_decides_where_it_may_go() -> None:
    body = pod(
        metadata={"annotations": {"trimtab.dev/do-not-disrupt": "true"}},
        spec={
            "nodeSelector": {"kubernetes.io/arch": "arm64"},
            "tolerations": [
                {"key": "gpu", "operator": "Exists", "effect": "NoSchedule"},
                {"operator": "Exists"},
            ],
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {"key": ZONE, "operator": "In", "values": ["us-east-1a"]}
                                ]
                            },
                            {"matchExpressions": [{"key": "spot", "operator": "DoesNotExist"}]},
                        ]
                    }
                },
                "podAntiAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": [
                        {"topologyKey": HOSTNAME, "labelSelector": {"matchLabels": {"app": "web"}}},
                        {"topologyKey": ZONE, "labelSelector": {"matchLabels": {"app": "web"}}},
                        {
                            "topologyKey": HOSTNAME,
                            "labelSelector": {"matchLabels": {"app": "cache"}},
                            "namespaces": ["shop", "cache"],
                        },
                    ]
                },
            },
            "topologySpreadConstraints": [
                {"topologyKey": ZONE, "maxSkew": 1, "whenUnsatisfiable": "DoNotSchedule"},
                {"topologyKey": HOSTNAME, "maxSkew": 2, "whenUnsatisfiable": "ScheduleAnyway"},
            ],
        },
    )
    found = pending_pod(body)
    assert (found.namespace, found.name, found.uid) == ("shop", "web-1", "u-1")
    assert found.requests == {"cpu": 0.5, "memory": GI, "pods": 1.0}
    assert found.node_selector == {"kubernetes.io/arch": "arm64"}
    assert found.required_affinity == (
        (LabelRequirement(ZONE, "In", ("us-east-1a",)),),
        (LabelRequirement("spot", "DoesNotExist"),),
    )
    assert found.tolerations == (
        Toleration("gpu", "Exists", None, "NoSchedule"),
        Toleration(None, "Exists", None, None),
    )
    # Selectors count the pods of the pod's namespace, unless a term names namespaces itself.
    assert found.labels == {"app": "web", NAMESPACE_LABEL: "shop"}
    assert found.spread == (TopologySpread(ZONE, 1, {"app": "web", NAMESPACE_LABEL: "shop"}),)
    assert found.anti_affinity == ({"app": "web", NAMESPACE_LABEL: "shop"}, {"app": "cache"})
    assert found.do_not_disrupt is True


def test_daemonset_pod_comes_from_the_template() -> None:
    daemonset = {
        "metadata": {"name": "node-agent"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}],
                    "nodeSelector": {"kubernetes.io/os": "linux"},
                    "tolerations": [{"operator": "Exists"}],
                }
            }
        },
    }
    found = daemonset_pod(daemonset)
    assert found.name == "node-agent"
    assert found.requests == {"cpu": 0.1, "memory": 128 * 1024.0**2, "pods": 1.0}
    assert found.node_selector == {"kubernetes.io/os": "linux"}
    assert found.tolerations == (Toleration(None, "Exists", None, None),)


def test_existing_node_counts_its_live_pods() -> None:
    node = {
        "metadata": {"name": "n1", "labels": {ZONE: "us-east-1a"}},
        "spec": {"taints": [{"key": "gpu", "value": "true", "effect": "NoSchedule"}]},
        "status": {"allocatable": {"cpu": "3920m", "memory": "15Gi", "pods": "58"}},
    }
    shuns_db = {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": HOSTNAME}
        ]
    }
    bound = [
        pod(spec={"nodeName": "n1", "affinity": {"podAntiAffinity": shuns_db}}),
        pod(metadata={"deletionTimestamp": "x"}),
    ]
    found = existing_node(node, bound, in_flight=True)
    assert found.allocatable == {"cpu": 3.92, "memory": 15 * GI, "pods": 58.0}
    assert found.requested == {"cpu": 0.5, "memory": GI, "pods": 1.0}
    assert found.taints == (Taint("gpu", "true", "NoSchedule"),)
    assert found.pod_labels == ({"app": "web", NAMESPACE_LABEL: "shop"},)
    assert found.repels == ({"app": "db", NAMESPACE_LABEL: "shop"},)
    assert found.in_flight is True


def test_anti_affinity_and_spread_count_only_the_pods_own_namespace() -> None:
    shun_web = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"topologyKey": HOSTNAME, "labelSelector": {"matchLabels": {"app": "web"}}}
            ]
        }
    }
    node = {
        "metadata": {"name": "n1", "labels": {ZONE: "zone-a"}},
        "status": {"allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"}},
    }
    resident = pod(spec={"nodeName": "n1", "affinity": shun_web})  # app=web in shop
    same = pending_pod(pod(metadata={"name": "web-2", "uid": "u-2"}, spec={"affinity": shun_web}))
    other = pending_pod(pod(metadata={"name": "web-1", "namespace": "blog", "uid": "u-3"}, spec={}))
    result = schedule(
        [same, other],
        [NodePoolView("general")],
        [instance_type("m.large", 2, 8, 0.1)],
        [existing_node(node, [resident])],
    )
    # The resident's term keeps web pods of shop away; blog's web pod may join it.
    assert result.on_existing == {"u-3": "n1"}
    assert [c.pods for c in result.claims] == [("u-2",)]
