"""OOM kills seen in pod status reach the recommender as soon as the kubelet reports them."""

from __future__ import annotations

from typing import Any

import kopf

from trimtab.recommender.ooms import has_oom_kill, oom_events_from_pod
from trimtab.settings import Settings


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    """Follow pods that were OOM-killed (their Deployment comes from ``owners``' index)."""
    if not settings.recommender_enabled:
        return

    @kopf.on.event(
        "v1", "pods", id="oom-kills", registry=registry, when=lambda body, **_: has_oom_kill(body)
    )
    def record_oom_kills(body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
        if not hasattr(memo, "recommender"):
            return
        index: kopf.Index[tuple[str, str], tuple[str, str]] = kwargs["replicaset_owners"]

        def owner(namespace: str, replicaset: str) -> tuple[str, str] | None:
            return next(iter(index.get((namespace, replicaset), [])), None)

        for event in oom_events_from_pod(body, owner):
            memo.recommender.record_oom(event)

    del record_oom_kills
