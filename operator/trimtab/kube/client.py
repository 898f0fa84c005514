"""A Kubernetes API client for Trimtab's own calls (kopf keeps its own connection)."""

from __future__ import annotations

import json
from collections.abc import Mapping

import kubernetes


def api_client(kubeconfig: str | None = None) -> kubernetes.client.ApiClient:
    """In a pod, the service account; elsewhere the kubeconfig (``$KUBECONFIG`` or the default)."""
    configuration = kubernetes.client.Configuration()
    try:
        kubernetes.config.load_incluster_config(client_configuration=configuration)
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config(
            config_file=kubeconfig, client_configuration=configuration
        )
    return kubernetes.client.ApiClient(configuration)


class KubeCallError(Exception):
    """A call of Trimtab's own that the apiserver refused or failed, or that got no answer.

    ``status`` is the HTTP status, or None when there was none (timeout, refused connection).
    Each port raises its own subclass, so callers catch exactly what they call.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def status_message(error: kubernetes.client.ApiException) -> str:
    """The message of the apiserver's Status answer, or else its HTTP reason."""
    try:
        body = json.loads(error.body or "")
    except (TypeError, ValueError):
        body = None
    if isinstance(body, Mapping) and body.get("message"):
        return str(body["message"])
    return str(error.reason or "")
