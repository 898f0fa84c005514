"""The pod admission webhook: served by kopf, registered by Trimtab."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kopf

from trimtab.admission.certificates import self_signed_certificate
from trimtab.admission.configuration import (
    POD_WEBHOOK_ID,
    WebhookEndpoint,
    mutating_webhook_configuration,
)
from trimtab.admission.mutation import admission_annotations
from trimtab.kube.client import api_client
from trimtab.kube.webhooks import apply_mutating_webhook_configuration
from trimtab.settings import Settings


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    """Register the webhook server set-up and the pod mutation, when the webhook is enabled."""
    if not settings.webhook_enabled:
        return

    @kopf.on.startup(registry=registry)
    async def serve_webhook(
        settings: kopf.OperatorSettings, memo: kopf.Memo, logger: kopf.Logger, **_: Any
    ) -> None:
        operator: Settings = memo.settings
        cert_file, key_file, ca_bundle = _certificate(operator, memo)
        settings.admission.server = kopf.WebhookServer(
            addr=operator.webhook_listen_address,
            port=operator.webhook_port,
            certfile=str(cert_file),
            pkeyfile=str(key_file),
        )
        body = mutating_webhook_configuration(
            operator.webhook_configuration,
            _endpoint(operator),
            ca_bundle,
            excluded_namespaces=["kube-system", operator.operator_namespace],
            timeout_seconds=operator.webhook_timeout_seconds,
        )
        client = api_client(operator.kubeconfig)
        done = await asyncio.to_thread(apply_mutating_webhook_configuration, client, body)
        logger.info(f"Webhook configuration {operator.webhook_configuration} {done}.")

    @kopf.on.mutate(
        "v1", "pods", id=POD_WEBHOOK_ID, operation="CREATE", ignore_failures=True, registry=registry
    )
    def mutate_pod(patch: kopf.Patch, **_: Any) -> None:
        patch.setdefault("metadata", {}).setdefault("annotations", {}).update(
            admission_annotations()
        )

    del serve_webhook, mutate_pod  # registered; nothing else refers to them


def _certificate(settings: Settings, memo: kopf.Memo) -> tuple[Path, Path, bytes]:
    """The serving certificate files and the CA bundle the apiserver should trust."""
    if settings.webhook_cert_dir:
        folder = Path(settings.webhook_cert_dir)
        ca = folder / "ca.crt"
        bundle = ca.read_bytes() if ca.exists() else (folder / "tls.crt").read_bytes()
        return folder / "tls.crt", folder / "tls.key", bundle
    hosts = [_webhook_host(settings), "localhost"]
    pem = self_signed_certificate(hosts)
    # The key must be a file for the TLS context; keep it in a private temporary folder that
    # lives as long as the operator (the root filesystem is read-only, /tmp is an emptyDir).
    private = tempfile.TemporaryDirectory(prefix="trimtab-webhook-")
    memo.webhook_cert_folder = private
    cert_file, key_file = Path(private.name) / "tls.crt", Path(private.name) / "tls.key"
    cert_file.write_bytes(pem.certificate)
    key_file.touch(mode=0o600)
    key_file.write_bytes(pem.private_key)
    return cert_file, key_file, pem.certificate


def _webhook_host(settings: Settings) -> str:
    if settings.webhook_url:
        return urlsplit(settings.webhook_url).hostname or "localhost"
    namespace, name = settings.webhook_service.split("/", 1)
    return f"{name}.{namespace}.svc"


def _endpoint(settings: Settings) -> WebhookEndpoint:
    if settings.webhook_url:
        return WebhookEndpoint(url=settings.webhook_url)
    namespace, name = settings.webhook_service.split("/", 1)
    return WebhookEndpoint(service_namespace=namespace, service_name=name)
