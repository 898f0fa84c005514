"""`trimtab run` against the real apiserver, as its ServiceAccount with exactly deploy/'s RBAC."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from hack.kubeobjects import namespace
from hack.localcluster import (
    FORBIDDEN_MARKERS,
    OPERATOR_NAMESPACE,
    ROOT,
    SERVICE_ACCOUNT,
    Cluster,
    OperatorProcess,
    install_operator_rbac,
    running_operator,
    service_account_kubeconfig,
    wait_for,
)
from tests.factories import vertical_scaler
from trimtab.admission.mutation import ADMITTED_ANNOTATION
from trimtab.kube.permissions import OPERATOR_API_CALLS

APP_NAMESPACE = "apps"


@pytest.fixture(scope="module")
def operator(
    cluster: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    install_operator_rbac(cluster)
    cluster.apply(namespace(APP_NAMESPACE))
    folder = tmp_path_factory.mktemp("operator")
    kubeconfig = service_account_kubeconfig(cluster, SERVICE_ACCOUNT, folder)
    with running_operator(kubeconfig, folder) as process:
        yield process


def _conditions(obj: dict) -> dict[str, str]:  # type: ignore[type-arg]
    return {c["type"]: c["status"] for c in obj.get("status", {}).get("conditions", [])}


def test_operator_writes_status_of_a_vertical_scaler(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    cluster.apply(vertical_scaler("checkout", APP_NAMESPACE))
    scaler = wait_for(
        "the VerticalScaler to be Ready",
        lambda: (
            (obj := cluster.get("verticalscaler", "checkout", APP_NAMESPACE))
            and _conditions(obj).get("Ready") == "True"
            and obj
        ),
    )
    assert scaler["status"]["observedGeneration"] == scaler["metadata"]["generation"]
    printed = cluster.kubectl("get", "vs", "checkout", "-n", APP_NAMESPACE)
    assert "READY" in printed.splitlines()[0] and "True" in printed.splitlines()[1]


def test_operator_follows_spec_changes(cluster: Cluster, operator: OperatorProcess) -> None:
    cluster.apply(vertical_scaler("cart", APP_NAMESPACE))
    wait_for(
        "cart Ready",
        lambda: _conditions(cluster.get("vs", "cart", APP_NAMESPACE)).get("Ready") == "True",
    )
    cluster.apply(vertical_scaler("cart", APP_NAMESPACE, updatePolicy={"mode": "Initial"}))
    scaler = wait_for(
        "observedGeneration 2",
        lambda: (
            (obj := cluster.get("vs", "cart", APP_NAMESPACE))
            and obj["status"].get("observedGeneration") == 2
            and obj
        ),
    )
    assert scaler["metadata"]["generation"] == 2


def _pod(name: str, ns: str) -> dict:  # type: ignore[type-arg]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}]},
    }


def test_apiserver_calls_the_webhook_on_pod_creation(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    wait_for(
        "the webhook configuration",
        lambda: cluster.kubectl("get", "mutatingwebhookconfiguration", "trimtab.dev", "-o", "name"),
    )
    config = cluster.get("mutatingwebhookconfiguration", "trimtab.dev")
    (webhook,) = config["webhooks"]
    assert (
        webhook["clientConfig"]["url"] == f"https://127.0.0.1:{operator.webhook_port}/pod-requests"
    )
    assert webhook["failurePolicy"] == "Ignore"
    cluster.apply(_pod("admitted", APP_NAMESPACE))
    annotations = cluster.get("pod", "admitted", APP_NAMESPACE)["metadata"].get("annotations", {})
    assert annotations.get(ADMITTED_ANNOTATION) == "true"


def test_webhook_leaves_the_operator_namespace_alone(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    cluster.apply(_pod("untouched", OPERATOR_NAMESPACE))
    annotations = cluster.get("pod", "untouched", OPERATOR_NAMESPACE)["metadata"].get(
        "annotations", {}
    )
    assert ADMITTED_ANNOTATION not in annotations


def test_operator_made_no_forbidden_call(operator: OperatorProcess) -> None:
    """Runs after the tests above (file order): the whole session's log is clean."""
    log = operator.log_text()
    assert "Webhook configuration trimtab.dev" in log
    offending = [line for line in log.splitlines() if any(m in line for m in FORBIDDEN_MARKERS)]
    assert offending == [], "\n".join(offending[:10])


def _can_i(cluster: Cluster, account: str, group: str, resource: str, verb: str) -> bool:
    plural, _, subresource = resource.partition("/")
    target = f"{plural}.{group}" if group else plural
    extra = [f"--subresource={subresource}"] if subresource else []
    user = f"system:serviceaccount:{OPERATOR_NAMESPACE}:{account}"
    try:
        answer = cluster.kubectl(
            "auth", "can-i", verb, target, *extra, "--all-namespaces", as_user=user
        )
    except Exception as refused:  # kubectl exits 1 when the answer is no
        answer = str(refused)
    return answer.strip().endswith("yes")


def _missing_grants(cluster: Cluster, account: str) -> list[tuple[str, str, str]]:
    return [
        (call.group, call.resource, verb)
        for call in OPERATOR_API_CALLS
        for verb in sorted(call.verbs)
        if not _can_i(cluster, account, call.group, call.resource, verb)
    ]


def test_deploy_cluster_role_allows_every_call(cluster: Cluster, operator: OperatorProcess) -> None:
    assert _missing_grants(cluster, SERVICE_ACCOUNT) == []


def test_a_removed_verb_is_noticed(cluster: Cluster, operator: OperatorProcess) -> None:
    """The check above can fail: a role without one verb leaves exactly that call refused."""
    docs = list(yaml.safe_load_all((ROOT / "deploy" / "rbac.yaml").read_text()))
    role = next(d for d in docs if d["kind"] == "ClusterRole")
    role["metadata"]["name"] = "trimtab-reduced"
    for rule in role["rules"]:
        if "verticalscalers/status" in rule["resources"]:
            rule["resources"] = [r for r in rule["resources"] if r != "verticalscalers/status"]
    account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "trimtab-reduced", "namespace": OPERATOR_NAMESPACE},
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "trimtab-reduced"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "trimtab-reduced",
        },
        "subjects": [
            {"kind": "ServiceAccount", "name": "trimtab-reduced", "namespace": OPERATOR_NAMESPACE}
        ],
    }
    cluster.apply(role, account, binding)
    missing = wait_for(
        "the reduced role to take effect", lambda: _missing_grants(cluster, "trimtab-reduced")
    )
    assert missing == [
        ("trimtab.dev", "verticalscalers/status", "get"),
        ("trimtab.dev", "verticalscalers/status", "patch"),
    ]


def test_kubeconfig_is_not_admin(cluster: Cluster, tmp_path: Path) -> None:
    kubeconfig = service_account_kubeconfig(cluster, SERVICE_ACCOUNT, tmp_path)
    assert "token" in json.dumps(yaml.safe_load(kubeconfig.read_text())["users"][0]["user"])
    assert not _can_i(cluster, SERVICE_ACCOUNT, "", "secrets", "list")
