"""
The component-test harness: an emulated Kubernetes API with Trimtab's kinds declared, a kopf
operator running in-process against it, and helpers to create objects, wait for their state,
inject API faults, and stop the operator.

Everything here waits by polling the emulator's stored state with a deadline, never by
sleeping for a fixed time, so the tests are as fast as the operator and never race it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

import kmock
import kopf
import kubernetes

from tests.component.emulator import Fault, TrimtabEmulator
from trimtab.api.registry import KINDS

VERBS = ("get", "list", "watch", "create", "update", "patch", "delete")
UNREACHABLE = "http://127.0.0.1:9"
"""The discard port on localhost: nothing listens, so a connection is refused at once."""


def connector_to(
    server: str, retries: int | None = None
) -> Callable[[], kubernetes.client.ApiClient]:
    """Official-client connections to ``server`` (``retries=0``: fail on the first refusal)."""

    def connect() -> kubernetes.client.ApiClient:
        configuration = kubernetes.client.Configuration()
        configuration.host = server
        configuration.retries = retries
        return kubernetes.client.ApiClient(configuration)

    return connect


logger = logging.getLogger(__name__)


class KindLike(Protocol):
    """What the harness needs to know about a kind; ``trimtab.api.registry.KINDS`` items fit."""

    @property
    def group(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def plural(self) -> str: ...
    @property
    def namespaced(self) -> bool: ...


@dataclasses.dataclass(frozen=True)
class Kind:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    subresources: tuple[str, ...] = ("status",)
    short_names: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def resource(self) -> kmock.resource:
        return kmock.resource(self.group, self.version, self.plural)

    @classmethod
    def of(cls, item: KindLike) -> Kind:
        subresources = tuple(getattr(item, "subresources", None) or ("status",))
        short_names = tuple(getattr(item, "short_names", None) or ())
        return cls(
            item.group,
            item.version,
            item.kind,
            item.plural,
            item.namespaced,
            subresources,
            short_names,
        )


BUILTIN_KINDS = (
    Kind("", "v1", "Namespace", "namespaces", namespaced=False),
    Kind("", "v1", "Node", "nodes", namespaced=False),
    Kind("", "v1", "Pod", "pods", namespaced=True, subresources=("status", "eviction", "resize")),
    Kind("", "v1", "Event", "events", namespaced=True, subresources=()),
    Kind("apps", "v1", "Deployment", "deployments", True, ("status", "scale")),
    Kind("apps", "v1", "ReplicaSet", "replicasets", True, ("status", "scale")),
    Kind("", "v1", "Secret", "secrets", namespaced=True, subresources=()),
    Kind("apps", "v1", "DaemonSet", "daemonsets", True),
    Kind("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True),
)


def trimtab_kinds() -> tuple[Kind, ...]:
    """Trimtab's custom resource kinds, as ``trimtab.api.registry`` declares them."""
    return tuple(Kind.of(item) for item in KINDS)


def declare(emulator: TrimtabEmulator, kinds: Iterable[Kind]) -> None:
    """Declare kinds for API discovery, with the verbs and subresources kopf looks for."""
    for kind in kinds:
        emulator.resources[kind.resource] = kmock.ResourceInfo(
            kind=kind.kind,
            singular=kind.kind.lower(),
            namespaced=kind.namespaced,
            verbs=set(VERBS),
            shortnames=set(kind.short_names),
            subresources=set(kind.subresources),
        )


def condition(obj: Mapping[str, Any] | None, type_: str) -> dict[str, Any] | None:
    """The ``status.conditions`` entry of that type, if any."""
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return None


def has_condition(obj: Mapping[str, Any] | None, type_: str, status: str = "True") -> bool:
    cond = condition(obj, type_)
    return cond is not None and cond.get("status") == status


def fast_settings(settings: kopf.OperatorSettings | None = None) -> kopf.OperatorSettings:
    """kopf settings for an emulated API: no scanning, no peering, short retries and timeouts."""
    settings = settings or kopf.OperatorSettings()
    settings.scanning.disabled = True  # the emulator cannot serve GET /api/v1/namespaces scans
    settings.peering.standalone = True
    settings.peering.mandatory = False
    settings.networking.request_timeout = 5
    settings.networking.connect_timeout = 2
    settings.networking.error_backoffs = (0.05, 0.1, 0.2, 0.4)
    settings.watching.connect_timeout = 2
    settings.watching.reconnect_backoff = 0.05
    settings.queueing.error_delays = (0.1, 0.2, 0.4, 0.8)
    settings.queueing.idle_timeout = 0.5
    settings.queueing.exit_timeout = 0.5
    settings.persistence.consistency_timeout = 1.0
    settings.execution.default_backoff = 0.1
    settings.background.cancellation_polling = 0.1
    settings.background.instant_exit_timeout = 0.1
    settings.posting.default_backoffs = (0.05, 0.1)
    settings.posting.logging_backoffs = (0.05, 0.1)
    settings.posting.idle_timeout = 0.2
    settings.process.ultimate_exiting_timeout = 2
    return settings


Predicate = Callable[[dict[str, Any]], bool]
Register = Callable[[kopf.OperatorRegistry], None]


class OperatorFailedError(AssertionError):
    """The operator task ended while a test was waiting for it."""


class Cluster:
    """
    An emulated cluster with helpers; one per test (see the ``cluster`` fixture).

    ``kind`` arguments accept a kind name (``"VerticalScaler"``), a plural (``"verticalscalers"``)
    or a :class:`Kind`. Namespaced kinds need ``namespace=``; objects passed to :meth:`create`
    carry theirs in ``metadata.namespace``.
    """

    def __init__(self, emulator: TrimtabEmulator, kinds: Sequence[Kind]) -> None:
        self.emulator = emulator
        self.kinds = tuple(kinds)
        self.registry: kopf.OperatorRegistry | None = None
        self.settings: kopf.OperatorSettings | None = None
        self.task: asyncio.Task[None] | None = None

    # -- kinds and URLs ----------------------------------------------------------------------

    def kind(self, kind: str | Kind) -> Kind:
        if isinstance(kind, Kind):
            return kind
        for known in self.kinds:
            if kind in (known.kind, known.plural):
                return known
        raise KeyError(f"Unknown kind {kind!r}; declared: {[k.kind for k in self.kinds]}")

    def kind_of(self, obj: Mapping[str, Any]) -> Kind:
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        for known in self.kinds:
            if known.kind == kind and known.api_version == api_version:
                return known
        raise KeyError(f"Undeclared kind {api_version}/{kind}")

    def url(
        self,
        kind: str | Kind,
        namespace: str | None = None,
        name: str | None = None,
        subresource: str | None = None,
    ) -> str:
        k = self.kind(kind)
        if k.namespaced and namespace is None and name is not None:
            raise ValueError(f"{k.kind} is namespaced: pass namespace=")
        parts = ["/api/v1" if not k.group else f"/apis/{k.group}/{k.version}"]
        if k.namespaced and namespace is not None:
            parts += ["namespaces", namespace]
        parts.append(k.plural)
        parts += [part for part in (name, subresource) if part]
        return "/".join(parts)

    @property
    def server(self) -> str:
        return str(self.emulator.url).rstrip("/")

    def connector(self) -> Callable[[], kubernetes.client.ApiClient]:
        """Official-client connections to the emulator, for the ports under test (which are
        synchronous: call them in a thread so the emulator, on this loop, can answer)."""
        return connector_to(self.server)

    # -- objects -----------------------------------------------------------------------------

    async def _call(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        async with self.emulator.request(method, url, **kwargs) as response:
            body = await response.json(content_type=None)
            if response.status >= 400:
                raise ApiCallError(response.status, body)
            return body  # type: ignore[no-any-return]

    async def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Create an object through the API (the operator sees it as a user's creation)."""
        kind = self.kind_of(obj)
        namespace = obj.get("metadata", {}).get("namespace") if kind.namespaced else None
        if kind.namespaced and not namespace:
            raise ValueError(f"{kind.kind} is namespaced: set metadata.namespace")
        return await self._call("POST", self.url(kind, namespace), json=dict(obj))

    async def patch(
        self,
        kind: str | Kind,
        name: str,
        patch: Mapping[str, Any],
        *,
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """Merge-patch an object through the API, as ``kubectl patch --type=merge`` does."""
        headers = {"Content-Type": "application/merge-patch+json"}
        url = self.url(kind, namespace, name, subresource)
        return await self._call("PATCH", url, json=dict(patch), headers=headers)

    async def delete(self, kind: str | Kind, name: str, *, namespace: str | None = None) -> None:
        await self._call("DELETE", self.url(kind, namespace, name))

    def get(
        self, kind: str | Kind, name: str, *, namespace: str | None = None
    ) -> dict[str, Any] | None:
        """The stored object (a copy), or ``None`` if it does not exist."""
        k = self.kind(kind)
        return self.emulator.stored(k.resource, namespace if k.namespaced else None, name)

    def objects(self, kind: str | Kind) -> list[dict[str, Any]]:
        """Copies of all stored objects of a kind."""
        return self.emulator.stored_all(self.kind(kind).resource)

    async def wait_for(
        self,
        kind: str | Kind,
        name: str,
        predicate: Predicate,
        *,
        namespace: str | None = None,
        within: float = 3.0,
        interval: float = 0.02,
        what: str | None = None,
    ) -> dict[str, Any]:
        """
        Poll the stored object until ``predicate(obj)`` holds and return it.

        Fails at once if the operator task has ended, and after ``within`` seconds with the
        last state seen. A missing object counts as not matching.
        """
        deadline = time.monotonic() + within
        last: dict[str, Any] | None = None
        while True:
            last = self.get(kind, name, namespace=namespace)
            if last is not None and predicate(last):
                return last
            self.check_operator()
            if time.monotonic() >= deadline:
                description = what or getattr(predicate, "__name__", "the condition")
                raise AssertionError(
                    f"{self.kind(kind).kind} {namespace + '/' if namespace else ''}{name}: "
                    f"{description} did not hold within {within}s; last state: {last!r}"
                )
            await asyncio.sleep(interval)

    async def wait_until(
        self, check: Callable[[], bool], *, within: float = 3.0, what: str = "the condition"
    ) -> None:
        """Poll any check (e.g. on requests or faults) until it holds."""
        deadline = time.monotonic() + within
        while not check():
            self.check_operator()
            if time.monotonic() >= deadline:
                raise AssertionError(f"{what} did not hold within {within}s")
            await asyncio.sleep(0.02)

    # -- faults and requests -----------------------------------------------------------------

    def inject_fault(
        self,
        kind: str | Kind | None,
        status: int | None = 500,
        *,
        method: str | None = "PATCH",
        subresource: str | None = None,
        name: str | None = None,
        namespace: str | None = None,
        times: int | None = 1,
        **options: Any,
    ) -> Fault:
        """
        Answer the next ``times`` matching requests with HTTP ``status`` before anything is
        stored. Faults are consulted in the order they were added, so two calls queue up:
        ``inject_fault(k, 409, subresource="status"); inject_fault(k, 500, subresource="status")``
        fails the first status PATCH with 409 and the second with 500. ``subresource=""``
        matches only the main resource. ``options``: ``delay``, ``message``, ``reason``,
        ``retry_after`` (see :class:`Fault`). The returned fault's ``seen`` lists the requests
        it answered.
        """
        return self.emulator.inject_fault(
            status,
            method=method,
            resource=None if kind is None else self.kind(kind).resource,
            subresource=subresource,
            name=name,
            namespace=namespace,
            times=times,
            **options,
        )

    def requests(
        self,
        kind: str | Kind | None = None,
        *,
        method: str | None = None,
        name: str | None = None,
        subresource: str | None = None,
    ) -> list[kmock.Request]:
        """The API requests received so far, optionally filtered (``subresource=""``: none)."""
        resource = None if kind is None else self.kind(kind).resource
        return [
            request
            for request in self.emulator
            if (method is None or request.method.value.upper() == method.upper())
            and (resource is None or request.resource == resource)
            and (name is None or request.name == name)
            and (subresource is None or (request.subresource or "") == subresource)
        ]

    # -- the operator ------------------------------------------------------------------------

    async def start_operator(
        self,
        register: Register,
        *,
        memo: Any = None,
        configure: Callable[[kopf.OperatorSettings], None] | None = None,
        namespaces: Sequence[str] = (),
        ready_timeout: float = 3.0,
    ) -> asyncio.Task[None]:
        """
        Run a kopf operator as a task with a fresh registry, ``register(registry)`` applying
        the handlers, and settings from :func:`fast_settings` (then ``configure(settings)``).
        Returns when the operator reports ready (startup handlers done).
        """
        if self.task is not None:
            raise RuntimeError("The operator is already running in this test.")
        registry = kopf.OperatorRegistry()
        server = self.server

        @kopf.on.login(registry=registry)
        def login_to_emulator(**_: Any) -> kopf.ConnectionInfo:
            return kopf.ConnectionInfo(server=server, default_namespace="default")

        register(registry)
        settings = fast_settings()
        if configure is not None:
            configure(settings)
        self.registry, self.settings = registry, settings

        ready = asyncio.Event()
        self.task = asyncio.create_task(
            kopf.operator(
                registry=registry,
                settings=settings,
                memo=memo,
                standalone=True,
                clusterwide=not namespaces,
                namespaces=namespaces,
                ready_flag=ready,
            ),
            name="kopf-operator",
        )
        ready_wait = asyncio.create_task(ready.wait())
        done, _ = await asyncio.wait(
            {ready_wait, self.task}, timeout=ready_timeout, return_when=asyncio.FIRST_COMPLETED
        )
        ready_wait.cancel()
        self.check_operator()
        if not done:
            raise AssertionError(f"The operator was not ready within {ready_timeout}s")
        return self.task

    @property
    def operator_running(self) -> bool:
        return self.task is not None and not self.task.done()

    def check_operator(self) -> None:
        """Raise if the operator task has ended (with its exception, if any)."""
        if self.task is not None and self.task.done():
            exc = None if self.task.cancelled() else self.task.exception()
            raise OperatorFailedError(f"The operator task has ended: {exc!r}") from exc

    async def stop_operator(self, within: float = 5.0) -> None:
        """Cancel the operator task and wait for it to finish; idempotent."""
        task, self.task = self.task, None
        if task is None:
            return
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            done, _ = await asyncio.wait({task}, timeout=within)
            if not done:
                raise AssertionError(f"The operator did not stop within {within}s")
            if not task.cancelled() and task.exception() is not None:
                logger.warning("The operator task ended with %r", task.exception())


class ApiCallError(Exception):
    """An error answer to a helper's API call."""

    def __init__(self, status: int, body: Any) -> None:
        message = body.get("message") if isinstance(body, dict) else body
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.body = body
