"""The provisioner's calls on NodeClaims and on the Nodes they become.

Everything the provisioner changes in the cluster goes through here: creating a NodeClaim
(its name is chosen by the caller, so a create that times out can be looked for), writing its
status, deleting it; labelling, tainting, cordoning and deleting its Node. Answers that mean
"already done" (409 on create, 404 on delete) are results, not errors: the controller repeats
steps after a restart, and repeating one must be harmless.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

import kubernetes
import urllib3

from trimtab.api import GROUP, VERSION
from trimtab.kube.client import KubeCallError, status_message

REQUEST_TIMEOUT_S = 10.0
NODECLAIMS = "nodeclaims"
MERGE_PATCH = "application/merge-patch+json"


class ClaimApiError(KubeCallError):
    """A NodeClaim or Node call the API refused, or that got no answer; retried later by the
    caller."""


class ClaimClient:
    """NodeClaim and Node calls over one API client, made on first use (so the operator starts
    without the apiserver) and shared by the threads the handlers run the calls in."""

    def __init__(self, connect: Callable[[], kubernetes.client.ApiClient]) -> None:
        self._connect = connect
        self._client: kubernetes.client.ApiClient | None = None
        self._lock = threading.Lock()

    def _api_client(self) -> kubernetes.client.ApiClient:
        with self._lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def _call(
        self, what: str, name: str, call: Callable[[], object], done: int | None = None
    ) -> bool:
        """Run one call: True when it went through, False when the apiserver answered ``done``
        (the step had already happened), ClaimApiError naming ``what`` and ``name`` otherwise."""
        try:
            call()
        except kubernetes.client.ApiException as error:
            if error.status == done:
                return False
            raise ClaimApiError(
                f"{what} {name}: {error.status} {status_message(error)}", status=error.status
            ) from error
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise ClaimApiError(f"{what} {name}: {error}") from error
        return True

    def create_claim(self, body: Mapping[str, Any]) -> bool:
        """Create a NodeClaim; False when one of that name already exists."""
        api = kubernetes.client.CustomObjectsApi(self._api_client())
        return self._call(
            "create NodeClaim",
            body["metadata"]["name"],
            lambda: api.create_cluster_custom_object(
                GROUP, VERSION, NODECLAIMS, dict(body), _request_timeout=REQUEST_TIMEOUT_S
            ),
            done=409,
        )

    def patch_claim_status(self, name: str, status: Mapping[str, Any]) -> None:
        """Merge ``status`` into a NodeClaim's status."""
        api = kubernetes.client.CustomObjectsApi(self._api_client())
        self._call(
            "write the status of NodeClaim",
            name,
            lambda: api.patch_cluster_custom_object_status(
                GROUP,
                VERSION,
                NODECLAIMS,
                name,
                {"status": dict(status)},
                _content_type=MERGE_PATCH,
                _request_timeout=REQUEST_TIMEOUT_S,
            ),
        )

    def delete_claim(self, name: str) -> bool:
        """Delete a NodeClaim (its finalizer then gives back the instance); False if gone."""
        api = kubernetes.client.CustomObjectsApi(self._api_client())
        return self._call(
            "delete NodeClaim",
            name,
            lambda: api.delete_cluster_custom_object(
                GROUP, VERSION, NODECLAIMS, name, _request_timeout=REQUEST_TIMEOUT_S
            ),
            done=404,
        )

    def patch_node(self, name: str, patch: Mapping[str, Any]) -> None:
        """Merge-patch a Node (labels, taints, unschedulable): a list given replaces the old one,
        which is how startup taints are removed."""
        api = kubernetes.client.CoreV1Api(self._api_client())
        self._call(
            "patch Node",
            name,
            lambda: api.patch_node(
                name, dict(patch), _content_type=MERGE_PATCH, _request_timeout=REQUEST_TIMEOUT_S
            ),
        )

    def delete_node(self, name: str) -> bool:
        """Delete a Node object; False when it is already gone."""
        api = kubernetes.client.CoreV1Api(self._api_client())
        return self._call(
            "delete Node",
            name,
            lambda: api.delete_node(name, _request_timeout=REQUEST_TIMEOUT_S),
            done=404,
        )
