"""Start the kopf operator with Trimtab's handlers and settings."""

from __future__ import annotations

import kopf

from trimtab import handlers
from trimtab.settings import Settings

_LOG_FORMATS = {
    "json": kopf.LogFormat.JSON,
    "plain": kopf.LogFormat.PLAIN,
    "full": kopf.LogFormat.FULL,
}


def run_operator(settings: Settings) -> int:
    """Run until interrupted; the settings travel in kopf's memo."""
    kopf.configure(
        verbose=settings.log_level == "debug",
        quiet=settings.log_level == "warning",
        log_format=_LOG_FORMATS[settings.log_format],
    )
    registry = kopf.OperatorRegistry()
    handlers.register(registry, settings)
    kopf.run(
        registry=registry,
        standalone=settings.standalone,
        peering_name=settings.peering_name,
        liveness_endpoint=settings.probe_endpoint,
        clusterwide=not settings.namespaces,
        namespaces=settings.namespaces,
        memo=kopf.Memo(settings=settings),
    )
    return 0
