"""The deploy/ base renders, grants exactly the API calls the operator makes, and runs safely."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from trimtab.kube.permissions import OPERATOR_API_CALLS, OPERATOR_NAMESPACE_CALLS
from trimtab.settings import Settings

ROOT = Path(__file__).parents[3]
DEPLOY = ROOT / "deploy"

Grant = tuple[str, str, str]


def _render() -> list[dict[str, Any]]:
    """The base as `kubectl kustomize` renders it, or its own files when kubectl is absent."""
    kubectl = shutil.which("kubectl")
    if kubectl:
        text = subprocess.run(
            [kubectl, "kustomize", str(DEPLOY)], capture_output=True, text=True, check=True
        ).stdout
        return [doc for doc in yaml.safe_load_all(text) if doc]
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    files = [DEPLOY / name for name in kustomization["resources"] if name.endswith(".yaml")]
    return [doc for path in files for doc in yaml.safe_load_all(path.read_text()) if doc]


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    return _render()


def _one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [obj for obj in objects if obj["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def grants_of_role(role: dict[str, Any]) -> set[Grant]:
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def needed_grants() -> set[Grant]:
    return {(call.group, call.resource, verb) for call in OPERATOR_API_CALLS for verb in call.verbs}


def test_cluster_role_grants_exactly_the_calls_the_operator_makes(
    objects: list[dict[str, Any]],
) -> None:
    granted = grants_of_role(_one(objects, "ClusterRole"))
    assert needed_grants() - granted == set(), "calls the ClusterRole does not allow"
    assert granted - needed_grants() == set(), "grants no call needs (add the call or drop it)"


def test_namespace_role_grants_exactly_the_calls_in_the_operator_namespace(
    objects: list[dict[str, Any]],
) -> None:
    role = _one(objects, "Role")
    needed = {(c.group, c.resource, verb) for c in OPERATOR_NAMESPACE_CALLS for verb in c.verbs}
    assert grants_of_role(role) == needed
    assert role["metadata"]["namespace"] == _one(objects, "ServiceAccount")["metadata"]["namespace"]
    binding = _one(objects, "RoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }


def test_cluster_role_has_no_wildcards(objects: list[dict[str, Any]]) -> None:
    for group, resource, verb in grants_of_role(_one(objects, "ClusterRole")):
        assert "*" not in (group, resource, verb)


def test_binding_ties_the_role_to_the_service_account(objects: list[dict[str, Any]]) -> None:
    binding = _one(objects, "ClusterRoleBinding")
    account = _one(objects, "ServiceAccount")
    assert binding["roleRef"]["name"] == _one(objects, "ClusterRole")["metadata"]["name"]
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": account["metadata"]["name"],
            "namespace": account["metadata"]["namespace"],
        }
    ]


def test_deployment_is_probed_bounded_and_unprivileged(objects: list[dict[str, Any]]) -> None:
    pod = _one(objects, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["args"] == ["run"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod["serviceAccountName"] == _one(objects, "ServiceAccount")["metadata"]["name"]


def test_base_installs_every_crd(objects: list[dict[str, Any]]) -> None:
    crds = {obj["metadata"]["name"] for obj in objects if obj["kind"] == "CustomResourceDefinition"}
    generated = {
        path.name.removesuffix(".yaml") for path in (ROOT / "crds").glob("*.trimtab.dev.yaml")
    }
    assert generated <= crds
    assert "clusterkopfpeerings.kopf.dev" in crds


def test_dockerfile_runs_trimtab_as_non_root() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "USER 10001" in text
    assert 'ENTRYPOINT ["trimtab"]' in text
    assert 'CMD ["run"]' in text


def test_cert_manager_overlay_serves_the_certificate_it_issues(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """deploy/cert-manager: the Secret cert-manager writes is the one the operator reads."""
    overlay = DEPLOY / "cert-manager"
    kustomization = yaml.safe_load((overlay / "kustomization.yaml").read_text())
    assert ".." in kustomization["resources"]
    issued = [
        doc
        for doc in yaml.safe_load_all((overlay / "certificate.yaml").read_text())
        if doc["kind"] == "Certificate" and not doc["spec"].get("isCA")
    ]
    (certificate,) = issued
    service = next(doc for doc in yaml.safe_load_all((DEPLOY / "service.yaml").read_text()) if doc)
    namespace, name = Settings().webhook_service.split("/")
    assert (service["metadata"]["namespace"], service["metadata"]["name"]) == (namespace, name)
    assert f"{name}.{namespace}.svc" in certificate["spec"]["dnsNames"]

    patch = yaml.safe_load((overlay / "deployment-patch.yaml").read_text())
    pod = patch["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    for item in container["env"]:
        monkeypatch.setenv(item["name"], item["value"])
    folder = Settings().webhook_cert_dir
    assert folder is not None, "the overlay does not set the operator's certificate folder"
    (mount,) = container["volumeMounts"]
    assert mount["mountPath"] == folder
    (volume,) = pod["volumes"]
    assert volume["name"] == mount["name"]
    assert volume["secret"]["secretName"] == certificate["spec"]["secretName"]
