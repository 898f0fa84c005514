"""Start-up configuration of kopf and the health probe."""

from __future__ import annotations

import logging
from typing import Any

import kopf

from trimtab.settings import Settings

ANNOTATION_PREFIX = "trimtab.dev"


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    """Register the start-up handler and the probe."""

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
        configure_kopf(settings, memo.settings)

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        # An explicit registry gets none of kopf's default login handlers. Reading the
        # kubeconfig here, at call time, honours $KUBECONFIG as it is when the operator starts.
        return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)

    @kopf.on.probe(id="settings", registry=registry)
    def report_settings(memo: kopf.Memo, **_: Any) -> dict[str, Any]:
        operator: Settings = memo.settings
        return {"standalone": operator.standalone, "dryRun": operator.dry_run}

    del configure, login, report_settings, settings  # registered; nothing else refers to them


def configure_kopf(kopf_settings: kopf.OperatorSettings, settings: Settings) -> None:
    """Apply Trimtab's choices to kopf's own settings."""
    kopf_settings.peering.name = settings.peering_name
    kopf_settings.peering.standalone = settings.standalone
    kopf_settings.peering.clusterwide = True
    kopf_settings.posting.level = logging.INFO
    # Progress and the last handled spec live in Trimtab's own annotations, not kopf's.
    kopf_settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
        prefix=ANNOTATION_PREFIX
    )
    kopf_settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=ANNOTATION_PREFIX, key="last-handled-configuration"
    )
    kopf_settings.persistence.finalizer = f"{ANNOTATION_PREFIX}/finalizer"
