"""The horizontal scaler: a timer per HorizontalScaler syncs its target's replica count.

kopf gives a timer one interval for every object, while each HorizontalScaler has its own
``pollInterval``. So the timer ticks every ``horizontal_tick_s`` (5 s by default) and a tick
does nothing (no thread, no API call, no status write) until the scaler's pollInterval has
passed since its last sync; a pollInterval shorter than the tick is rounded up to it.

The pods of every namespace are kept in memory by a kopf index fed by the pod watch, one
small record per pod, so a sync selects its target's pods without listing anything.
"""

from __future__ import annotations

import asyncio
from typing import Any

import kopf

from trimtab.api import GROUP, VERSION, kind_info
from trimtab.api.horizontal import HorizontalScalerSpec
from trimtab.conditions import make_condition, merge_conditions
from trimtab.durations import parse_duration
from trimtab.handlers.common import now_rfc3339, validity_recorded
from trimtab.horizontal.pods import PodFacts, facts_from_pod
from trimtab.horizontal.service import HorizontalService, ScalerRef
from trimtab.kube.client import api_client
from trimtab.kube.scale import ScaleClient
from trimtab.metrics.client import PrometheusClient
from trimtab.metrics.scaling import ScalingMetricsReader
from trimtab.settings import Settings
from trimtab.validation import validate_spec

HORIZONTAL_SCALER = kind_info("HorizontalScaler")


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    """Register the horizontal scaler's start-up, pod index, timer and clean-up."""
    if not settings.horizontal_enabled:
        return
    tick = settings.horizontal_tick_s

    @kopf.on.startup(registry=registry)
    def start_horizontal(memo: kopf.Memo, **_: Any) -> None:
        if hasattr(memo, "horizontal"):
            return  # given by the embedding program (tests give one with fake metrics)
        operator: Settings = memo.settings
        reader = ScalingMetricsReader(PrometheusClient(operator.prometheus))
        memo.horizontal = HorizontalService(
            reader,
            ScaleClient(lambda: api_client(operator.kubeconfig)),
            forecast_interval=operator.horizontal_forecast_interval_s,
            metric_window=reader.cpu_window_s,
            dry_run=operator.dry_run,
        )

    @kopf.index("v1", "pods", id="horizontal_pods", registry=registry)
    def horizontal_pods(namespace: str | None, body: kopf.Body, **_: Any) -> dict[str, PodFacts]:
        # Every pod, finished ones too: a None here would leave the pod's previous entry in
        # the index. The sync leaves out what the HPA does not count.
        return {namespace or "": facts_from_pod(body)}

    @kopf.timer(
        GROUP,
        VERSION,
        HORIZONTAL_SCALER.plural,
        id="scale",
        registry=registry,
        interval=tick,
    )
    async def scale(
        body: kopf.Body,
        name: str,
        namespace: str | None,
        uid: str,
        status: kopf.Status,
        patch: kopf.Patch,
        memo: kopf.Memo,
        **kwargs: Any,
    ) -> None:
        if not validity_recorded(body, status):
            return
        verdict = validate_spec(HORIZONTAL_SCALER, body.get("spec"))
        if not isinstance(verdict.spec, HorizontalScalerSpec):
            return  # the validity handler reports it
        spec = verdict.spec
        service: HorizontalService = memo.horizontal
        ref = ScalerRef(namespace or "", name, uid)
        if not service.due(ref, parse_duration(spec.poll_interval), slack=tick / 2):
            return
        # A copy taken here, in the event loop that updates the index, for the thread.
        index: kopf.Index[str, PodFacts] = kwargs["horizontal_pods"]
        pods = list(index.get(ref.namespace, []))
        saved = status.get("scalerMemory")
        outcome = await asyncio.to_thread(service.sync, ref, spec, saved, pods)
        for key, value in outcome.status.items():
            patch.status[key] = value
        now = now_rfc3339()
        updates = [
            make_condition(type_, state, reason, message, now)
            for type_, state, reason, message in outcome.conditions
        ]
        patch.status["conditions"] = merge_conditions(status.get("conditions"), updates)
        for event in outcome.events:
            post = kopf.info if event.type == "Normal" else kopf.warn
            post(body, reason=event.reason, message=event.message)

    @kopf.on.delete(GROUP, VERSION, HORIZONTAL_SCALER.plural, optional=True, registry=registry)
    def forget_horizontal(name: str, namespace: str | None, memo: kopf.Memo, **_: Any) -> None:
        if hasattr(memo, "horizontal"):
            memo.horizontal.forget(namespace or "", name)

    del start_horizontal, horizontal_pods, scale, forget_horizontal
