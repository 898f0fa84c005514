"""A Kubernetes API client for Trimtab's own calls (kopf keeps its own connection)."""

from __future__ import annotations

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
