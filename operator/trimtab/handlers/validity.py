"""Validate every Trimtab object and record the verdict in its status.

A bad object gets ``Ready=False``/``Invalid=True`` naming the field and a Warning Event; the
handler itself never fails on bad input, so kopf does not retry it and every other object
keeps being served.
"""

from __future__ import annotations

from typing import Any

import kopf

from trimtab.api import KINDS, KindInfo
from trimtab.handlers.common import now_rfc3339
from trimtab.validation import validate_spec, validity_status


def register(registry: kopf.OperatorRegistry) -> None:
    """Register the validity handler for every kind."""
    for info in KINDS:
        _register_kind(registry, info)


def _register_kind(registry: kopf.OperatorRegistry, info: KindInfo) -> None:
    def record_validity(
        body: kopf.Body,
        meta: kopf.Meta,
        status: kopf.Status,
        patch: kopf.Patch,
        logger: kopf.Logger,
        **_: Any,
    ) -> None:
        verdict = validate_spec(info, body.get("spec"))
        patch.status.update(
            validity_status(
                verdict, meta.get("generation"), status.get("conditions"), now_rfc3339()
            )
        )
        if not verdict.valid:
            logger.warning(f"{info.kind} is invalid: {verdict.message}")
            kopf.warn(body, reason="InvalidSpec", message=verdict.message)

    resource = (info.group, info.version, info.plural)
    for event in (kopf.on.create, kopf.on.update, kopf.on.resume):
        event(*resource, id=f"validity-{event.__name__}", registry=registry)(record_validity)
