"""Small pieces every handler module needs in the same form."""

from __future__ import annotations

from datetime import UTC, datetime

import kopf


def now_rfc3339() -> str:
    """The current time as conditions and status fields write it (seconds, UTC)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod_reference(namespace: str, name: str, uid: str) -> kopf.Body:
    """Enough of a pod for kopf to post an Event about it."""
    return kopf.Body(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "uid": uid},
        }
    )
