"""kopf handlers: the only place that uses kopf's decorators.

Handlers are registered into an explicit registry by :func:`register`, not at import time, so
the operator, each component test and any embedding program get their own registry.
"""

from __future__ import annotations

import kopf

from trimtab.handlers import (
    admission,
    horizontal,
    lifecycle,
    ooms,
    provisioner,
    recommender,
    updater,
    validity,
    vertical,
    workloads,
)
from trimtab.settings import Settings


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    """Register every Trimtab handler into ``registry``."""
    lifecycle.register(registry, settings)
    validity.register(registry)
    admission.register(registry, settings)
    workloads.register(registry, settings)
    recommender.register(registry, settings)
    updater.register(registry, settings)
    vertical.register(registry, settings)
    ooms.register(registry, settings)
    horizontal.register(registry, settings)
    provisioner.register(registry, settings)


__all__ = ["register"]
