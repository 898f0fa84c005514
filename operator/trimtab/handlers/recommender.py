"""The recommender: its service, profile index and clean-up, and the step that refreshes a
VerticalScaler's recommendation (run by the VerticalScaler timer in ``vertical.py``)."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf

from trimtab.api import GROUP, VERSION, kind_info
from trimtab.api.vertical import VerticalScalerSpec
from trimtab.conditions import make_condition
from trimtab.kube.checkpoints import ConfigMapCheckpoints
from trimtab.kube.client import api_client
from trimtab.metrics.client import PrometheusClient
from trimtab.metrics.usage import UsageReader
from trimtab.recommender.profiles import DEFAULT_PROFILE, resolve_profile
from trimtab.recommender.service import RecommenderService, ScalerRef
from trimtab.recommender.status import significant_moves
from trimtab.settings import Settings

VERTICAL_SCALER = kind_info("VerticalScaler")


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    """Register the recommender's start-up, profile index and clean-up."""
    if not settings.recommender_enabled:
        return

    @kopf.on.startup(registry=registry)
    def start_recommender(memo: kopf.Memo, **_: Any) -> None:
        if hasattr(memo, "recommender"):
            return  # given by the embedding program (tests give one with a fake source)
        operator: Settings = memo.settings
        memo.recommender = RecommenderService(
            UsageReader(PrometheusClient(operator.prometheus)),
            ConfigMapCheckpoints(lambda: api_client(operator.kubeconfig)),
            read_interval=operator.recommender_interval_s,
            checkpoint_interval=operator.checkpoint_interval_s,
        )

    @kopf.on.cleanup(registry=registry)
    async def save_checkpoints(memo: kopf.Memo, **_: Any) -> None:
        if hasattr(memo, "recommender"):
            await asyncio.to_thread(memo.recommender.save_all)

    @kopf.index(GROUP, VERSION, "recommenderprofiles", id="recommender_profiles", registry=registry)
    def recommender_profiles(name: str, body: kopf.Body, **_: Any) -> dict[str, Any]:
        return {name: body.get("spec")}

    @kopf.index(GROUP, VERSION, VERTICAL_SCALER.plural, id="scalers_by_profile", registry=registry)
    def scalers_by_profile(
        name: str, namespace: str | None, body: kopf.Body, **_: Any
    ) -> dict[str, str]:
        profile = (body.get("spec") or {}).get("profile") or DEFAULT_PROFILE
        return {profile: f"{namespace}/{name}"}

    @kopf.timer(
        GROUP,
        VERSION,
        "recommenderprofiles",
        id="used-by",
        registry=registry,
        interval=settings.recommender_interval_s,
    )
    def record_users(name: str, status: kopf.Status, patch: kopf.Patch, **kwargs: Any) -> None:
        index: kopf.Index[str, str] = kwargs["scalers_by_profile"]
        users = sorted(index.get(name, []))
        if users != status.get("usedBy", []):
            patch.status["usedBy"] = users

    @kopf.on.delete(GROUP, VERSION, VERTICAL_SCALER.plural, optional=True, registry=registry)
    def forget(name: str, namespace: str | None, memo: kopf.Memo, **_: Any) -> None:
        memo.recommender.forget(namespace or "", name)

    del start_recommender, save_checkpoints, recommender_profiles
    del scalers_by_profile, record_users, forget


async def recommend_step(
    body: kopf.Body,
    spec: VerticalScalerSpec,
    status: kopf.Status,
    patch: kopf.Patch,
    memo: kopf.Memo,
    profiles_index: kopf.Index[str, Any],
    now: str,
) -> list[dict[str, Any]]:
    """Refresh one VerticalScaler's recommendation in ``patch``; returns its conditions."""
    profiles = {key: next(iter(store), None) for key, store in profiles_index.items()}
    profile, problem = resolve_profile(spec.profile, profiles)
    if profile is None:
        return [make_condition("RecommendationProvided", "False", "ProfileUnusable", problem, now)]
    meta = body.get("metadata", {})
    ref = ScalerRef(
        meta.get("namespace", ""),
        meta.get("name", ""),
        meta.get("uid", ""),
        spec.target_ref.kind,
        spec.target_ref.name,
    )
    outcome = await asyncio.to_thread(memo.recommender.recommend, ref, spec, profile)
    if outcome.recommendations:
        patch.status["recommendations"] = outcome.recommendations
        moves = significant_moves(status.get("recommendations") or [], outcome.recommendations)
        if moves:
            kopf.info(body, reason="RecommendationChanged", message="; ".join(moves))
    return [
        make_condition(t, state, reason, message, now)
        for t, state, reason, message in outcome.conditions
    ]
