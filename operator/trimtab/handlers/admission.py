"""The pod admission webhook: served by kopf, registered by Trimtab."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kopf

from trimtab.admission.certificates import self_signed_certificate, still_usable
from trimtab.admission.configuration import (
    POD_WEBHOOK_ID,
    WebhookEndpoint,
    mutating_webhook_configuration,
)
from trimtab.admission.mutation import PodMutation, admission_annotations
from trimtab.admission.recommended import recommended_mutation
from trimtab.api import GROUP, VERSION, kind_info
from trimtab.api.vertical import VerticalScalerSpec
from trimtab.handlers.workloads import (
    WorkloadKey,
    horizontal_cpu_conflict,
    largest_allocatable,
    workload_of_pod,
)
from trimtab.kube.client import api_client
from trimtab.kube.secrets import shared_certificate
from trimtab.kube.webhooks import apply_mutating_webhook_configuration
from trimtab.settings import Settings
from trimtab.validation import validate_spec

VERTICAL_SCALER = kind_info("VerticalScaler")
ScalerEntry = tuple[str, dict[str, Any], list[dict[str, Any]]]
"""A VerticalScaler's name, spec and status.recommendations, as the webhook's index keeps it."""


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    """Register the webhook server set-up and the pod mutation, when the webhook is enabled."""
    if not settings.webhook_enabled:
        return

    @kopf.on.startup(registry=registry)
    async def serve_webhook(
        settings: kopf.OperatorSettings, memo: kopf.Memo, logger: kopf.Logger, **_: Any
    ) -> None:
        operator: Settings = memo.settings
        cert_file, key_file, ca_bundle = await asyncio.to_thread(_certificate, operator, memo)
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

    @kopf.index(GROUP, VERSION, "verticalscalers", id="vertical_by_target", registry=registry)
    def vertical_by_target(
        namespace: str | None, name: str, spec: kopf.Spec, status: kopf.Status, **_: Any
    ) -> dict[WorkloadKey, ScalerEntry]:
        target = spec.get("targetRef") or {}
        key = (namespace or "", str(target.get("kind", "")), str(target.get("name", "")))
        return {key: (name, dict(spec), list(status.get("recommendations") or []))}

    @kopf.on.mutate(
        "v1", "pods", id=POD_WEBHOOK_ID, operation="CREATE", ignore_failures=True, registry=registry
    )
    async def mutate_pod(body: kopf.Body, patch: kopf.Patch, **indexes: Any) -> None:
        # Async on purpose: it only reads in-memory indexes, so it runs in the event loop that
        # keeps them, without a thread hop per pod.
        patch.setdefault("metadata", {}).setdefault("annotations", {}).update(
            admission_annotations()
        )
        mutation = _mutation(body, indexes)
        if mutation is not None:
            mutation.apply_to(patch)

    del serve_webhook, vertical_by_target, mutate_pod  # registered; nothing else refers to them


def _mutation(body: kopf.Body, indexes: Mapping[str, Any]) -> PodMutation | None:
    """The pod's recommended requests, when a VerticalScaler in a mode other than Off has them."""
    meta = body.get("metadata", {})
    namespace = meta.get("namespace") or ""
    workload = workload_of_pod(namespace, meta, indexes)
    if workload is None:
        return None
    scalers: kopf.Index[WorkloadKey, ScalerEntry] = indexes["vertical_by_target"]
    for name, raw_spec, recommendations in scalers.get((namespace, *workload), []):
        spec = validate_spec(VERTICAL_SCALER, raw_spec).spec
        if not isinstance(spec, VerticalScalerSpec):
            continue  # an invalid scaler changes nothing; its own status says why
        return recommended_mutation(
            body.get("spec", {}),
            name,
            spec,
            recommendations,
            largest_allocatable(indexes),
            horizontal_cpu_conflict(namespace, *workload, indexes),
        )
    return None


def _certificate(settings: Settings, memo: kopf.Memo) -> tuple[Path, Path, bytes]:
    """The serving certificate files and the CA bundle the apiserver should trust."""
    if settings.webhook_cert_dir:
        folder = Path(settings.webhook_cert_dir)
        ca = folder / "ca.crt"
        bundle = ca.read_bytes() if ca.exists() else (folder / "tls.crt").read_bytes()
        return folder / "tls.crt", folder / "tls.key", bundle
    hosts = [_webhook_host(settings), "localhost"]
    if settings.webhook_cert_secret is None:
        pem = self_signed_certificate(hosts)
    else:
        pem = shared_certificate(
            api_client(settings.kubeconfig),
            settings.operator_namespace,
            settings.webhook_cert_secret,
            make=lambda: self_signed_certificate(hosts),
            usable=lambda kept: still_usable(kept, hosts),
        )
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
