"""Small pieces every handler module needs in the same form."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

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


def validity_recorded(body: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
    """Whether the validity handler has recorded the object's current generation. Timers that
    write status wait for it: it writes the conditions list too, and a merge patch replaces a
    list, so going second, from a status that already holds its conditions, keeps both."""
    return status.get("observedGeneration") == (body.get("metadata") or {}).get("generation")
