"""Create or update the MutatingWebhookConfiguration the operator serves."""

from __future__ import annotations

from typing import Any

import kubernetes


def apply_mutating_webhook_configuration(
    client: kubernetes.client.ApiClient, body: dict[str, Any]
) -> str:
    """Create the configuration, or replace its webhooks when it exists; returns what was done."""
    api = kubernetes.client.AdmissionregistrationV1Api(client)
    name = body["metadata"]["name"]
    try:
        api.create_mutating_webhook_configuration(body)  # type: ignore[arg-type]  # dicts work
        return "created"
    except kubernetes.client.ApiException as error:
        if error.status != 409:
            raise
    patch = {"metadata": {"labels": body["metadata"]["labels"]}, "webhooks": body["webhooks"]}
    api.patch_mutating_webhook_configuration(name, patch)
    return "updated"
