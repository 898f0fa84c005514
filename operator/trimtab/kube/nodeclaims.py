"""The provisioner's calls on NodeClaims and on the Nodes they become.

Everything the provisioner changes in the cluster goes through here: creating a NodeClaim
(its name is chosen by the caller, so a create that times out can be looked for), writing its
status, deleting it; labelling, tainting, cordoning and deleting its Node. Answers that mean
"already done" (409 on create, 404 on delete) are results, not errors: the controller repeats
steps after a restart, and repeating one must be harmless.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import kubernetes

from trimtab.api import GROUP, VERSION
from trimtab.kube.client import KubeCallError

REQUEST_TIMEOUT_S = 10.0
NODECLAIMS = "nodeclaims"
MERGE_PATCH = "application/merge-patch+json"


class ClaimApiError(KubeCallError):
    """A NodeClaim or Node call the API refused; retried later by the caller."""


class ClaimClient:
    """NodeClaim and Node calls, with a fresh API client per call (see kube/client.py)."""

    def __init__(self, connect: Callable[[], kubernetes.client.ApiClient]) -> None:
        self._connect = connect

    def create_claim(self, body: Mapping[str, Any]) -> bool:
        """Create a NodeClaim; False when one of that name already exists."""
        api = kubernetes.client.CustomObjectsApi(self._connect())
        try:
            api.create_cluster_custom_object(
                GROUP, VERSION, NODECLAIMS, dict(body), _request_timeout=REQUEST_TIMEOUT_S
            )
        except kubernetes.client.ApiException as error:
            if error.status == 409:
                return False
            raise _failed("create NodeClaim", body["metadata"]["name"], error) from error
        return True

    def patch_claim_status(self, name: str, status: Mapping[str, Any]) -> None:
        """Merge ``status`` into a NodeClaim's status."""
        api = kubernetes.client.CustomObjectsApi(self._connect())
        try:
            api.patch_cluster_custom_object_status(
                GROUP,
                VERSION,
                NODECLAIMS,
                name,
                {"status": dict(status)},
                _content_type=MERGE_PATCH,
                _request_timeout=REQUEST_TIMEOUT_S,
            )
        except kubernetes.client.ApiException as error:
            raise _failed("write the status of NodeClaim", name, error) from error

    def delete_claim(self, name: str) -> bool:
        """Delete a NodeClaim (its finalizer then gives back the instance); False if gone."""
        api = kubernetes.client.CustomObjectsApi(self._connect())
        try:
            api.delete_cluster_custom_object(
                GROUP, VERSION, NODECLAIMS, name, _request_timeout=REQUEST_TIMEOUT_S
            )
        except kubernetes.client.ApiException as error:
            if error.status == 404:
                return False
            raise _failed("delete NodeClaim", name, error) from error
        return True

    def patch_node(self, name: str, patch: Mapping[str, Any]) -> None:
        """Merge-patch a Node (labels, taints, unschedulable): a list given replaces the old one,
        which is how startup taints are removed."""
        api = kubernetes.client.CoreV1Api(self._connect())
        try:
            api.patch_node(
                name,
                dict(patch),
                _content_type=MERGE_PATCH,
                _request_timeout=REQUEST_TIMEOUT_S,
            )
        except kubernetes.client.ApiException as error:
            raise _failed("patch Node", name, error) from error

    def delete_node(self, name: str) -> bool:
        """Delete a Node object; False when it is already gone."""
        api = kubernetes.client.CoreV1Api(self._connect())
        try:
            api.delete_node(name, _request_timeout=REQUEST_TIMEOUT_S)
        except kubernetes.client.ApiException as error:
            if error.status == 404:
                return False
            raise _failed("delete Node", name, error) from error
        return True


def _failed(what: str, name: str, error: kubernetes.client.ApiException) -> ClaimApiError:
    return ClaimApiError(f"{what} {name}: {error.status} {error.reason}", status=error.status)
