"""The scale subresource of any workload: read its replica count and selector, set its count.

``/apis/<group>/<version>/namespaces/<ns>/<plural>/<name>/scale`` is the one interface the
HPA uses for Deployments, StatefulSets, ReplicaSets and every custom resource that declares a
scale subresource, and so does this port. The plural of a kind comes from a small table of the
built-in scalable kinds, or else from API discovery (``GET /apis/<group>/<version>``), which
also says whether the kind has a ``<plural>/scale`` subresource at all. Discovery answers are
cached per group version, and looked up again when a kind is missing from a cached answer
that is older than a few seconds (a CRD installed after the first look).

Failures are typed, so that the caller can say in status what is wrong:

    UnknownTargetKind    the API server does not serve that apiVersion and kind
    NoScaleSubresource   it does, but the kind has no scale subresource (a DaemonSet, a Job)
    TargetNotFound       no object of that name (yet)
    ScaleApiError        anything else: forbidden, throttled, unreachable, 5xx

The core API group (``v1``) is not supported: its only scalable kind, ReplicationController,
has long been replaced by Deployments. Discovery is not an RBAC resource (every authenticated
user may read it); the scale subresources are, and the ClusterRole grants them for the apps
kinds. A custom resource's ``<plural>/scale`` needs its own grant.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import kubernetes
import urllib3

from trimtab.api.common import TargetRef

REQUEST_TIMEOUT_S = 10.0
DISCOVERY_TTL_S = 600.0
"""How long a discovery answer is trusted for kinds it lists."""
DISCOVERY_RETRY_S = 30.0
"""How old a cached answer must be before a kind it lacks is looked up again."""

KNOWN_SCALABLE: Mapping[tuple[str, str], str] = {
    ("apps/v1", "Deployment"): "deployments",
    ("apps/v1", "StatefulSet"): "statefulsets",
    ("apps/v1", "ReplicaSet"): "replicasets",
}
"""Built-in kinds with a scale subresource: no discovery needed."""


@dataclass(frozen=True)
class Scale:
    """What a scale subresource says about its object."""

    replicas: int
    """``spec.replicas``: the count asked for."""
    status_replicas: int
    """``status.replicas``: the pods that exist."""
    selector: str
    """``status.selector``: the label selector of the pods, in text form ("" if unset)."""


class ScaleError(Exception):
    """Base of the port's failures; ``reason`` is the CamelCase word for the condition."""

    reason = "FailedGetScale"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownTargetKind(ScaleError):  # noqa: N818 - named after the condition reason
    reason = "UnknownTargetKind"


class NoScaleSubresource(ScaleError):  # noqa: N818 - named after the condition reason
    reason = "NoScaleSubresource"


class TargetNotFound(ScaleError):  # noqa: N818 - named after the condition reason
    reason = "TargetNotFound"


class ScaleApiError(ScaleError):
    """The API server refused or failed; ``reason`` says whether reading or writing."""

    def __init__(self, message: str, *, reason: str, status: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class _Resource:
    group: str
    version: str
    plural: str


@dataclass
class _Discovered:
    fetched_at: float
    kinds: dict[str, tuple[str, bool]]
    """kind -> (plural, has a scale subresource)."""


class ScaleClient:
    """Reads and writes scale subresources; thread-safe, one per operator."""

    def __init__(
        self,
        connect: Callable[[], kubernetes.client.ApiClient],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # Connected on first use, like the checkpoints: the operator starts without it.
        self._connect = connect
        self._client: kubernetes.client.CustomObjectsApi | None = None
        self._clock = clock
        self._discovered: dict[str, _Discovered] = {}
        self._lock = threading.Lock()

    @property
    def _api(self) -> kubernetes.client.CustomObjectsApi:
        with self._lock:
            if self._client is None:
                self._client = kubernetes.client.CustomObjectsApi(self._connect())
            return self._client

    def get(self, namespace: str, target: TargetRef) -> Scale:
        """The target's scale subresource."""
        resource = self._resource(target)
        try:
            answer = self._api.get_namespaced_custom_object_scale(
                resource.group,
                resource.version,
                namespace,
                resource.plural,
                target.name,
                _request_timeout=REQUEST_TIMEOUT_S,
            )
        except kubernetes.client.ApiException as error:
            raise _api_error(error, target, namespace, "FailedGetScale") from error
        except (urllib3.exceptions.HTTPError, OSError) as error:
            message = f"reading the scale of {_describe(target)}: {error}"
            raise ScaleApiError(message, reason="FailedGetScale") from error
        return _scale(answer)

    def patch(self, namespace: str, target: TargetRef, replicas: int) -> Scale:
        """Set ``spec.replicas`` through the scale subresource (a merge patch)."""
        resource = self._resource(target)
        try:
            answer = self._api.patch_namespaced_custom_object_scale(
                resource.group,
                resource.version,
                namespace,
                resource.plural,
                target.name,
                {"spec": {"replicas": replicas}},
                _request_timeout=REQUEST_TIMEOUT_S,
            )
        except kubernetes.client.ApiException as error:
            raise _api_error(error, target, namespace, "FailedUpdateScale") from error
        except (urllib3.exceptions.HTTPError, OSError) as error:
            message = f"scaling {_describe(target)} to {replicas}: {error}"
            raise ScaleApiError(message, reason="FailedUpdateScale") from error
        return _scale(answer)

    # -- kinds -------------------------------------------------------------------------------

    def _resource(self, target: TargetRef) -> _Resource:
        group, _, version = target.api_version.rpartition("/")
        if not group:
            raise UnknownTargetKind(
                f"{_describe(target)}: kinds of the core API group (apiVersion {version}) "
                "cannot be scaled here; use a Deployment"
            )
        plural = KNOWN_SCALABLE.get((target.api_version, target.kind))
        if plural is not None:
            return _Resource(group, version, plural)
        plural, scalable = self._discover(group, version, target)
        if not scalable:
            raise NoScaleSubresource(
                f"{_describe(target)} has no scale subresource: {plural}/scale is not served"
            )
        return _Resource(group, version, plural)

    def _discover(self, group: str, version: str, target: TargetRef) -> tuple[str, bool]:
        key = f"{group}/{version}"
        now = self._clock()
        with self._lock:
            known = self._discovered.get(key)
        fresh = known is not None and now - known.fetched_at < DISCOVERY_TTL_S
        if (
            known is None
            or not fresh
            or (target.kind not in known.kinds and now - known.fetched_at >= DISCOVERY_RETRY_S)
        ):
            known = self._fetch(group, version, target, now)
        found = known.kinds.get(target.kind)
        if found is None:
            raise UnknownTargetKind(f"{_describe(target)}: the API server serves no such kind")
        return found

    def _fetch(self, group: str, version: str, target: TargetRef, now: float) -> _Discovered:
        try:
            answer = self._api.get_api_resources(group, version, _request_timeout=REQUEST_TIMEOUT_S)
        except kubernetes.client.ApiException as error:
            if error.status == 404:
                raise UnknownTargetKind(
                    f"{_describe(target)}: the API server does not serve {group}/{version}"
                ) from error
            raise ScaleApiError(
                f"discovering {group}/{version}: HTTP {error.status} {error.reason}",
                reason="FailedGetScale",
                status=error.status,
            ) from error
        except (urllib3.exceptions.HTTPError, OSError) as error:
            message = f"discovering {group}/{version}: {error}"
            raise ScaleApiError(message, reason="FailedGetScale") from error
        names = {item.name for item in answer.resources or ()}
        kinds = {
            item.kind: (item.name, f"{item.name}/scale" in names)
            for item in answer.resources or ()
            if "/" not in item.name
        }
        discovered = _Discovered(now, kinds)
        with self._lock:
            self._discovered[f"{group}/{version}"] = discovered
        return discovered


def _describe(target: TargetRef) -> str:
    return f"{target.kind} {target.name} ({target.api_version})"


def _api_error(
    error: kubernetes.client.ApiException, target: TargetRef, namespace: str, reason: str
) -> ScaleError:
    if error.status == 404:
        return TargetNotFound(f"{_describe(target)} was not found in namespace {namespace}")
    verb = "reading the scale of" if reason == "FailedGetScale" else "scaling"
    return ScaleApiError(
        f"{verb} {_describe(target)}: HTTP {error.status} {error.reason}",
        reason=reason,
        status=error.status,
    )


def _scale(answer: Any) -> Scale:
    body = answer if isinstance(answer, Mapping) else {}
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    return Scale(
        replicas=int(spec.get("replicas") or 0),
        status_replicas=int(status.get("replicas") or 0),
        selector=str(status.get("selector") or ""),
    )


__all__ = [
    "KNOWN_SCALABLE",
    "NoScaleSubresource",
    "Scale",
    "ScaleApiError",
    "ScaleClient",
    "ScaleError",
    "TargetNotFound",
    "UnknownTargetKind",
]
