"""One timer per VerticalScaler: refresh its recommendation, then update its pods.

The two steps share a timer because both write ``status.conditions``, and a merge patch
replaces a whole list: written from one handler, each pass keeps both steps' conditions. The
timer ticks at the shorter of the two intervals; each step decides for itself whether it is due.
"""

from __future__ import annotations

from typing import Any

import kopf

from trimtab.api import GROUP, VERSION, kind_info
from trimtab.api.vertical import VerticalScalerSpec
from trimtab.conditions import merge_conditions
from trimtab.handlers.common import now_rfc3339, validity_recorded
from trimtab.handlers.recommender import recommend_step
from trimtab.handlers.updater import update_step
from trimtab.settings import Settings
from trimtab.validation import validate_spec

VERTICAL_SCALER = kind_info("VerticalScaler")


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    """Register the VerticalScaler timer when the recommender or the updater is enabled."""
    intervals = [
        interval
        for enabled, interval in (
            (settings.recommender_enabled, settings.recommender_interval_s),
            (settings.updater_enabled, settings.updater_interval_s),
        )
        if enabled
    ]
    if not intervals:
        return

    @kopf.timer(
        GROUP,
        VERSION,
        VERTICAL_SCALER.plural,
        id="serve",
        registry=registry,
        interval=min(intervals),
    )
    async def serve_vertical_scaler(
        body: kopf.Body,
        status: kopf.Status,
        patch: kopf.Patch,
        memo: kopf.Memo,
        **indexes: Any,
    ) -> None:
        if not validity_recorded(body, status):
            return
        verdict = validate_spec(VERTICAL_SCALER, body.get("spec"))
        if not isinstance(verdict.spec, VerticalScalerSpec):
            return  # the validity handler reports it
        spec, now = verdict.spec, now_rfc3339()
        conditions = []
        if settings.recommender_enabled:
            profiles = indexes["recommender_profiles"]
            conditions += await recommend_step(body, spec, status, patch, memo, profiles, now)
        if settings.updater_enabled:
            recommendations = patch.status.get("recommendations") or status.get("recommendations")
            conditions += await update_step(
                body, spec, status, recommendations or [], patch, memo, indexes, now
            )
        if conditions:
            patch.status["conditions"] = merge_conditions(status.get("conditions"), conditions)

    del serve_vertical_scaler
