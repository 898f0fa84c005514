"""What the updater does to a pod: evict it, or resize it in place.

Eviction goes through the Eviction API (``POST pods/<name>/eviction``, policy/v1), never a plain
DELETE, so that PodDisruptionBudgets are honoured: the apiserver answers 429 when a budget does
not allow the disruption now, and that is an ordinary answer ("not yet"), not a failure. The
pod's controller recreates it and the admission webhook gives the new pod its recommended
requests.

In-place resize (``PATCH pods/<name>/resize``, beta and on by default from Kubernetes 1.33)
changes a running pod's requests and limits without restarting it. Where the cluster or the
pod cannot do that, the answer is :attr:`ResizeResult.UNSUPPORTED`, and the caller evicts
instead.

Every other answer, including timeouts and refused connections, is a :class:`PodActionError`:
the caller tries again later, with backoff. Results are typed so that the caller never has to
read HTTP codes.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

import kubernetes
import urllib3

from trimtab.kube.client import KubeCallError, status_message
from trimtab.quantity import format_cpu, format_memory
from trimtab.updater.model import ContainerResources

REQUEST_TIMEOUT_S = 10.0
FIRST_IN_PLACE_RESIZE = (1, 33)
"""The first release that serves the pods/resize subresource by default (beta)."""

STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
"""Merges ``spec.containers`` by name, so the patch names only what it changes."""

_FORMATS: Mapping[str, Callable[[float], str]] = {"cpu": format_cpu, "memory": format_memory}
"""The resources a resize may change (the kubelet resizes nothing else), and their printers."""

_NOT_ALLOWED = re.compile(r"forbidden|not allowed|not supported|may not", re.IGNORECASE)
"""What a 422 from the resize subresource says when this pod or node cannot resize in place."""


class EvictionResult(StrEnum):
    """How an eviction ended, when it did not fail."""

    EVICTED = "Evicted"
    """Accepted (201, or 200 from older servers): the pod is being deleted."""
    BLOCKED = "Blocked"
    """429: a PodDisruptionBudget allows no disruption now; try again later."""
    GONE = "Gone"
    """404, or the uid precondition failed: the pod (of that uid) no longer exists."""


class ResizeResult(StrEnum):
    """How an in-place resize ended, when it did not fail."""

    RESIZED = "Resized"
    """The apiserver accepted the new resources; the kubelet applies them next."""
    UNSUPPORTED = "Unsupported"
    """The cluster or this pod cannot be resized in place: evict it instead.

    404 and 405 come from a server without the resize subresource, 422 from a resize the
    apiserver forbids (a QoS class change, a node without support, a decrease of memory the
    container's resize policy does not allow...). A 404 can also mean that the pod itself is
    gone; the caller need not tell the two apart, since evicting a missing pod answers GONE.
    """


class PodActionError(KubeCallError):
    """The apiserver refused or failed an eviction or a resize, or could not be reached."""


class PodActions:
    """Evicts and resizes pods; thread-safe, one per operator."""

    def __init__(self, connect: Callable[[], kubernetes.client.ApiClient]) -> None:
        # Connected on first use, like the other ports: the operator starts without it.
        self._connect = connect
        self._client: kubernetes.client.ApiClient | None = None
        self._in_place: bool | None = None
        self._lock = threading.Lock()

    @property
    def _api_client(self) -> kubernetes.client.ApiClient:
        with self._lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def evict(self, namespace: str, name: str, uid: str | None = None) -> EvictionResult:
        """Ask the Eviction API to evict the pod, honouring its PodDisruptionBudgets.

        With ``uid``, the eviction applies only to the pod of that uid: a pod recreated under
        the same name meanwhile (a StatefulSet's) is not evicted by mistake, and the apiserver's
        409 "Precondition failed" then means that ours is gone.
        """
        delete_options = None
        if uid is not None:
            delete_options = kubernetes.client.V1DeleteOptions(
                preconditions=kubernetes.client.V1Preconditions(uid=uid)
            )
        body = kubernetes.client.V1Eviction(
            api_version="policy/v1",
            kind="Eviction",
            metadata=kubernetes.client.V1ObjectMeta(name=name, namespace=namespace),
            delete_options=delete_options,
        )
        api = kubernetes.client.CoreV1Api(self._api_client)
        try:
            answer = api.create_namespaced_pod_eviction(
                name,
                namespace,
                body,
                _preload_content=False,  # the answer is a Status; nothing in it is needed
                _request_timeout=REQUEST_TIMEOUT_S,
            )
        except kubernetes.client.ApiException as error:
            if error.status == 429:
                return EvictionResult.BLOCKED
            if error.status == 404:
                return EvictionResult.GONE
            if error.status == 409 and uid is not None and _precondition_failed(error):
                return EvictionResult.GONE
            raise _action_error("evicting", namespace, name, error) from error
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise PodActionError(f"evicting pod {namespace}/{name}: {error}") from error
        _release(answer)
        return EvictionResult.EVICTED

    def resize(
        self, namespace: str, name: str, containers: Mapping[str, ContainerResources]
    ) -> ResizeResult:
        """Set the containers' CPU and memory requests and limits through pods/resize.

        ``containers`` maps a container name to its new resources; only CPU and memory are
        sent (nothing else can be resized), and containers left out are left alone, since the
        strategic merge patch merges containers by name and resources by key.
        """
        patch = {"spec": {"containers": [_container_patch(c) for c in containers.values()]}}
        api = kubernetes.client.CoreV1Api(self._api_client)
        try:
            answer = api.patch_namespaced_pod_resize(
                name,
                namespace,
                patch,
                _content_type=STRATEGIC_MERGE_PATCH,
                _preload_content=False,  # the answer is the whole pod; nothing in it is needed
                _request_timeout=REQUEST_TIMEOUT_S,
            )
        except kubernetes.client.ApiException as error:
            if error.status in (404, 405):
                return ResizeResult.UNSUPPORTED
            if error.status == 422 and _NOT_ALLOWED.search(status_message(error)):
                return ResizeResult.UNSUPPORTED
            raise _action_error("resizing", namespace, name, error) from error
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise PodActionError(f"resizing pod {namespace}/{name}: {error}") from error
        _release(answer)
        return ResizeResult.RESIZED

    def supports_in_place_resize(self) -> bool:
        """Whether the cluster resizes pods in place by default: Kubernetes 1.33 or later.

        Read once from ``/version`` and then remembered by this instance: a cluster's version
        changes only with an upgrade, which the operator sees when it restarts. Failing to read
        it is an error and is not remembered, so a passing outage does not turn every later
        update into an eviction.
        """
        with self._lock:
            if self._in_place is not None:
                return self._in_place
        api = kubernetes.client.VersionApi(self._api_client)
        try:
            # Raw, because the client's VersionInfo model insists on fields (buildDate,
            # goVersion...) that are of no use here and that some servers leave out.
            answer: Any = api.get_code(_preload_content=False, _request_timeout=REQUEST_TIMEOUT_S)
            text = answer.data
            _release(answer)
            info = json.loads(text or b"{}")
        except kubernetes.client.ApiException as error:
            raise PodActionError(
                f"reading the server version: HTTP {error.status} {status_message(error)}",
                status=error.status,
            ) from error
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as error:
            raise PodActionError(f"reading the server version: {error}") from error
        version = server_version(info if isinstance(info, Mapping) else {})
        supported = version is not None and version >= FIRST_IN_PLACE_RESIZE
        with self._lock:
            self._in_place = supported
        return supported


def server_version(info: Mapping[str, Any]) -> tuple[int, int] | None:
    """(major, minor) from a ``/version`` answer; None when it says nothing usable.

    An apiserver that emulates an older release (``emulationMajor``/``emulationMinor``, from
    1.31) serves that release's features, so the emulated version counts. Minors such as "33+"
    (GKE, EKS) keep their leading digits; when major and minor are unusable, ``gitVersion``
    ("v1.33.2-gke.100") is read instead. An unknown version means no in-place resize: evicting
    works everywhere.
    """
    for major_key, minor_key in (("emulationMajor", "emulationMinor"), ("major", "minor")):
        major, minor = _leading_int(info.get(major_key)), _leading_int(info.get(minor_key))
        if major is not None and minor is not None:
            return major, minor
    found = re.match(r"v?(\d+)\.(\d+)", str(info.get("gitVersion") or ""))
    return (int(found[1]), int(found[2])) if found else None


def _leading_int(value: Any) -> int | None:
    found = re.match(r"\d+", str(value)) if value is not None else None
    return int(found[0]) if found else None


def _container_patch(container: ContainerResources) -> dict[str, Any]:
    resources: dict[str, dict[str, str]] = {}
    for field, amounts in (("requests", container.requests), ("limits", container.limits)):
        printed = {
            resource: _FORMATS[resource](amount)
            for resource, amount in amounts.items()
            if resource in _FORMATS
        }
        if printed:
            resources[field] = printed
    return {"name": container.name, "resources": resources}


def _precondition_failed(error: kubernetes.client.ApiException) -> bool:
    # The storage layer's words: "... Precondition failed: UID in precondition: <ours>, UID in
    # object meta: <the new pod's>".
    return "precondition failed" in status_message(error).lower()


def _action_error(
    verb: str, namespace: str, name: str, error: kubernetes.client.ApiException
) -> PodActionError:
    return PodActionError(
        f"{verb} pod {namespace}/{name}: HTTP {error.status} {status_message(error)}",
        status=error.status,
    )


def _release(answer: Any) -> None:
    """Read out an unread answer, so that its connection goes back to the pool."""
    if hasattr(answer, "read"):
        answer.read()
    if hasattr(answer, "release_conn"):
        answer.release_conn()


__all__ = [
    "FIRST_IN_PLACE_RESIZE",
    "EvictionResult",
    "PodActionError",
    "PodActions",
    "ResizeResult",
    "server_version",
]
