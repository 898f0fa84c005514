"""Node objects for the simulated cloud provider: create, delete and list them.

The simulated provider "buys" a machine by creating a Node that kwok keeps Ready (see
``trimtab.cloud.simulated``). Its idempotency rests on two ordinary answers, which this port
returns as booleans rather than errors: 409 on create (a Node of that name exists: an earlier
attempt for the same NodeClaim made it) and 404 on delete (it is gone already).

Everything else, including timeouts and refused connections, is a :class:`NodeStoreError`.
It lives here, not beside the NodeStore protocol in ``trimtab.cloud``, because the two ports
are independent layers (neither imports the other); the provider wraps any failure of its
store in its own typed CloudError.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

import kubernetes
import urllib3

from trimtab.kube.client import KubeCallError, status_message

REQUEST_TIMEOUT_S = 10.0


class NodeStoreError(KubeCallError):
    """The apiserver refused or failed a Node call, or could not be reached."""


class KubeNodeStore:
    """The simulated provider's NodeStore on the Kubernetes API; one per operator."""

    def __init__(self, connect: Callable[[], kubernetes.client.ApiClient]) -> None:
        # Connected on first use, like the other ports: the operator starts without it.
        self._connect = connect
        self._client: kubernetes.client.ApiClient | None = None
        self._lock = threading.Lock()

    @property
    def _api(self) -> kubernetes.client.CoreV1Api:
        with self._lock:
            if self._client is None:
                self._client = self._connect()
            return kubernetes.client.CoreV1Api(self._client)

    def create(self, body: Mapping[str, Any]) -> bool:
        """Create the Node (status included, as the kubelet registers it); False on 409."""
        name = (body.get("metadata") or {}).get("name")
        try:
            answer = self._api.create_node(
                dict(body), _preload_content=False, _request_timeout=REQUEST_TIMEOUT_S
            )
        except kubernetes.client.ApiException as error:
            if error.status == 409:
                return False
            raise _store_error("creating", name, error) from error
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise NodeStoreError(f"creating Node {name}: {error}") from error
        _release(answer)
        return True

    def delete(self, name: str) -> bool:
        """Delete the Node; False on 404 (already gone)."""
        try:
            answer = self._api.delete_node(
                name, _preload_content=False, _request_timeout=REQUEST_TIMEOUT_S
            )
        except kubernetes.client.ApiException as error:
            if error.status == 404:
                return False
            raise _store_error("deleting", name, error) from error
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise NodeStoreError(f"deleting Node {name}: {error}") from error
        _release(answer)
        return True

    def list(self, label_selector: str) -> list[dict[str, Any]]:
        """The Nodes matching the selector, as the API's JSON dictionaries (camelCase keys)."""
        what = f"listing Nodes selected by {label_selector!r}"
        try:
            # Raw JSON: the callers read labels and annotations, and the generated models
            # would rename every key to snake_case on the way.
            answer: Any = self._api.list_node(
                label_selector=label_selector,
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT_S,
            )
            text = answer.data
            _release(answer)
            document = json.loads(text or b"{}")
        except kubernetes.client.ApiException as error:
            raise NodeStoreError(
                f"{what}: HTTP {error.status} {status_message(error)}", status=error.status
            ) from error
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as error:
            raise NodeStoreError(f"{what}: {error}") from error
        # An empty list may come as "items": null (a nil slice in Go).
        items = (document.get("items") or []) if isinstance(document, Mapping) else None
        if not isinstance(items, list):
            raise NodeStoreError(f"{what}: the answer has no list of items")
        return [dict(item) for item in items if isinstance(item, Mapping)]


def _store_error(
    verb: str, name: str | None, error: kubernetes.client.ApiException
) -> NodeStoreError:
    return NodeStoreError(
        f"{verb} Node {name}: HTTP {error.status} {status_message(error)}", status=error.status
    )


def _release(answer: Any) -> None:
    """Read out an unread answer, so that its connection goes back to the pool."""
    if hasattr(answer, "read"):
        answer.read()
    if hasattr(answer, "release_conn"):
        answer.release_conn()


__all__ = ["KubeNodeStore", "NodeStoreError"]
