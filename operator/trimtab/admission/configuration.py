"""The MutatingWebhookConfiguration Trimtab registers for pod creation.

Trimtab writes it itself rather than letting kopf manage it, because it needs what kopf's
managed configuration does not set: a namespace selector that keeps kube-system and the
operator's own namespace out (so a broken operator can never block its own restart), and a
short timeout. failurePolicy is Ignore: a pod is always created, at worst without new requests.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

POD_WEBHOOK_ID = "pod-requests"
"""The kopf handler id; kopf serves each webhook on the path ``/<id>``."""


@dataclass(frozen=True)
class WebhookEndpoint:
    """How the apiserver reaches the webhook: a URL (local clusters) or a Service."""

    url: str | None = None
    service_namespace: str | None = None
    service_name: str | None = None
    service_port: int = 443

    def client_config(self, ca_bundle: bytes, path: str) -> dict[str, Any]:
        config: dict[str, Any] = {"caBundle": base64.b64encode(ca_bundle).decode()}
        if self.url:
            config["url"] = self.url.rstrip("/") + path
        else:
            config["service"] = {
                "namespace": self.service_namespace,
                "name": self.service_name,
                "port": self.service_port,
                "path": path,
            }
        return config


def mutating_webhook_configuration(
    name: str,
    endpoint: WebhookEndpoint,
    ca_bundle: bytes,
    excluded_namespaces: Sequence[str],
    timeout_seconds: int = 5,
) -> dict[str, Any]:
    """The whole configuration object, ready to create or replace."""
    webhook = {
        "name": f"{POD_WEBHOOK_ID}.{name}",
        "clientConfig": endpoint.client_config(ca_bundle, f"/{POD_WEBHOOK_ID}"),
        "rules": [
            {
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "resources": ["pods"],
                "operations": ["CREATE"],
                "scope": "Namespaced",
            }
        ],
        "namespaceSelector": {
            "matchExpressions": [
                {
                    "key": "kubernetes.io/metadata.name",
                    "operator": "NotIn",
                    "values": sorted(set(excluded_namespaces)),
                }
            ]
        },
        "failurePolicy": "Ignore",
        "sideEffects": "None",
        "matchPolicy": "Equivalent",
        "timeoutSeconds": timeout_seconds,
        "admissionReviewVersions": ["v1"],
        "reinvocationPolicy": "Never",
    }
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "trimtab"}},
        "webhooks": [webhook],
    }
