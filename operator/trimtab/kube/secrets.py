"""The webhook's self-signed certificate, kept in a Secret so every replica serves the same one.

The apiserver trusts one caBundle per webhook. If each replica made its own certificate, the
last to start would write its own into the webhook configuration and the apiserver would refuse
the others' (and, with failurePolicy Ignore, admit their pods unchanged). So the first replica
creates the Secret and every later one, and every restart, reads it back.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import kubernetes

from trimtab.admission.certificates import ServingCertificate


def shared_certificate(
    client: kubernetes.client.ApiClient,
    namespace: str,
    name: str,
    make: Callable[[], ServingCertificate],
    usable: Callable[[ServingCertificate], bool],
) -> ServingCertificate:
    """The certificate in Secret ``namespace/name``; made with ``make`` and stored there when
    the Secret is absent or its certificate is not ``usable`` (ending soon, other hosts)."""
    api = kubernetes.client.CoreV1Api(client)
    stored = _read(api, namespace, name)
    if stored is not None and usable(stored):
        return stored
    fresh = make()
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "trimtab"},
        },
        "type": "kubernetes.io/tls",
        "data": {
            "tls.crt": base64.b64encode(fresh.certificate).decode(),
            "tls.key": base64.b64encode(fresh.private_key).decode(),
        },
    }
    if stored is not None:
        api.patch_namespaced_secret(name, namespace, {"data": body["data"]})
        return fresh
    try:
        api.create_namespaced_secret(namespace, body)  # type: ignore[arg-type]  # dicts work
    except kubernetes.client.ApiException as error:
        if error.status != 409:
            raise
        # Another replica created it between our read and our create: use theirs.
        theirs = _read(api, namespace, name)
        if theirs is None:
            raise
        return theirs
    return fresh


def _read(api: kubernetes.client.CoreV1Api, namespace: str, name: str) -> ServingCertificate | None:
    try:
        secret: Any = api.read_namespaced_secret(name, namespace)
    except kubernetes.client.ApiException as error:
        if error.status == 404:
            return None
        raise
    data = secret.data or {}
    if "tls.crt" not in data or "tls.key" not in data:
        return None
    return ServingCertificate(base64.b64decode(data["tls.crt"]), base64.b64decode(data["tls.key"]))
