"""OOM kills seen in pod status reach the recommender as soon as the kubelet reports them."""

from __future__ import annotations

from typing import Any

import kopf

from trimtab.recommender.ooms import has_oom_kill, oom_events_from_pod
from trimtab.settings import Settings


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    """Index ReplicaSets by their controller and follow pods that were OOM-killed."""
    if not settings.recommender_enabled:
        return

    @kopf.index("apps", "v1", "replicasets", id="replicaset_owners", registry=registry)
    def replicaset_owners(
        namespace: str | None, name: str, meta: kopf.Meta, **_: Any
    ) -> dict[tuple[str, str], tuple[str, str]] | None:
        # Kept by the watch, so resolving a pod's Deployment costs no API call.
        for ref in meta.get("ownerReferences") or []:
            if ref.get("controller"):
                return {(namespace or "", name): (ref["kind"], ref["name"])}
        return None

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

    del replicaset_owners, record_oom_kills
