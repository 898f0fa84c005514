"""The updater: its service and pod index, and the step that brings a VerticalScaler's pods to
its recommendation (run by the VerticalScaler timer in ``vertical.py``)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import kopf

from trimtab.api import GROUP, VERSION
from trimtab.api.vertical import VerticalScalerSpec
from trimtab.conditions import make_condition
from trimtab.handlers.common import pod_reference
from trimtab.handlers.workloads import (
    controllers_of_workload,
    horizontal_cpu_conflict,
    largest_allocatable,
)
from trimtab.kube.client import api_client
from trimtab.kube.pods import PodActions
from trimtab.settings import Settings
from trimtab.updater.model import UpdatablePod
from trimtab.updater.pods import pod_from_body
from trimtab.updater.service import ScalerRef, UpdaterService

PodKey = tuple[str, str, str]
"""(namespace, kind, name) of the object that directly owns a pod (e.g. its ReplicaSet)."""


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    """Register the updater's start-up, pod index and clean-up."""
    if not settings.updater_enabled:
        return

    @kopf.on.startup(registry=registry)
    def start_updater(memo: kopf.Memo, **_: Any) -> None:
        if hasattr(memo, "updater"):
            return  # given by the embedding program (tests give one with a fake clock)
        operator: Settings = memo.settings
        memo.updater = UpdaterService(
            PodActions(lambda: api_client(operator.kubeconfig)),
            operator.updater_max_updates_per_minute,
            dry_run=operator.dry_run,
        )

    @kopf.index("v1", "pods", id="updater_pods", registry=registry)
    def updater_pods(body: kopf.Body, **_: Any) -> dict[PodKey, UpdatablePod] | None:
        # Only pods with a controller can be updated (a bare pod would not come back).
        pod = pod_from_body(body)
        if pod.controller is None:
            return None
        return {(pod.namespace, *pod.controller): pod}

    @kopf.on.delete(GROUP, VERSION, "verticalscalers", optional=True, registry=registry)
    def forget_updates(name: str, namespace: str | None, memo: kopf.Memo, **_: Any) -> None:
        if hasattr(memo, "updater"):
            memo.updater.forget(namespace or "", name)

    del start_updater, updater_pods, forget_updates


async def update_step(
    body: kopf.Body,
    spec: VerticalScalerSpec,
    status: kopf.Status,
    recommendations: Sequence[Mapping[str, Any]],
    patch: kopf.Patch,
    memo: kopf.Memo,
    indexes: Mapping[str, Any],
    now: str,
) -> list[dict[str, Any]]:
    """One updater pass over a VerticalScaler's pods, written to ``patch``; returns conditions."""
    meta = body.get("metadata", {})
    ref = ScalerRef(meta.get("namespace", ""), meta.get("name", ""), meta.get("uid", ""))
    service: UpdaterService = memo.updater
    if not service.due(ref, memo.settings.updater_interval_s):
        return []
    kind, name = spec.target_ref.kind, spec.target_ref.name
    pods = _workload_pods(ref.namespace, kind, name, indexes)
    conflict = horizontal_cpu_conflict(ref.namespace, kind, name, indexes)
    allocatable = largest_allocatable(indexes)
    outcome = await asyncio.to_thread(
        service.sync, ref, spec, recommendations, pods, allocatable, conflict
    )
    if outcome.evicted:
        patch.status["evictions"] = int(status.get("evictions") or 0) + outcome.evicted
    if outcome.resized:
        patch.status["resizes"] = int(status.get("resizes") or 0) + outcome.resized
    if outcome.evicted or outcome.resized:
        patch.status["lastUpdateTime"] = now
    if outcome.pods_to_update is not None:
        patch.status["podsToUpdate"] = outcome.pods_to_update
    for notice in outcome.events:
        post = kopf.info if notice.type == "Normal" else kopf.warn
        target = (
            pod_reference(notice.pod.namespace, notice.pod.name, notice.pod.uid)
            if notice.pod
            else body
        )
        post(target, reason=notice.reason, message=notice.message)
    return [make_condition(*update, now) for update in outcome.conditions]


def _workload_pods(
    namespace: str, kind: str, name: str, indexes: Mapping[str, Any]
) -> list[UpdatablePod]:
    # A copy taken in the event loop that updates the index, for the worker thread.
    pods: kopf.Index[PodKey, UpdatablePod] = indexes["updater_pods"]
    found: list[UpdatablePod] = []
    for owner_kind, owner_name in controllers_of_workload(namespace, kind, name, indexes):
        found.extend(pods.get((namespace, owner_kind, owner_name), []))
    return found
