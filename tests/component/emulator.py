"""
A stricter Kubernetes API emulator for component tests, built on kmock's ``KubernetesEmulator``.

kmock 0.8 stores objects exactly as they were posted and patched. kopf, however, relies on what
a real apiserver adds and enforces, so this subclass takes over the state-changing requests:

- metadata the apiserver owns: ``uid``, a cluster-wide incrementing ``resourceVersion``,
  ``creationTimestamp``, ``generation`` (bumped only when something outside metadata and status
  changes), names from ``generateName``, the namespace from the URL;
- subresources: a PATCH/PUT to ``/status`` changes only the status, a PATCH/PUT to the main
  resource leaves the status alone, ``/scale`` of Deployments and ReplicaSets reads and writes
  ``spec.replicas`` as an ``autoscaling/v1`` Scale, a POST to ``pods/NAME/eviction`` deletes
  the pod;
- PUT (replace) and optimistic concurrency: a stale ``metadata.resourceVersion`` in a PUT or a
  merge patch answers 409, a failed JSON-patch ``test`` operation answers 422;
- no-op patches change nothing and send no watch event, as in a real apiserver;
- finalizers: DELETE sets ``deletionTimestamp`` while finalizers remain, the object goes away
  when the last one is removed;
- label and field selectors on lists and watches;
- watches subscribe before they replay, so an object created while a watch is being opened is
  never lost, and a watch from a known ``resourceVersion`` replays only newer objects.

Faults are injected with :meth:`TrimtabEmulator.inject_fault`. Unlike a kmock reaction
(``kmock[...] << 409``), which answers after the emulator has already stored the change,
an injected fault answers before anything is stored, as a failing apiserver would.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import datetime
import json
import re
import secrets
import string
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

import aiohttp.web
import attrs
import jsonpatch
import jsonpointer
import kmock
from typing_extensions import override

JSON_PATCH = "application/json-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"

# Subresources whose writes are applied to the whole object, like a plain patch.
_WHOLE_OBJECT_SUBRESOURCES = frozenset({"resize", "ephemeralcontainers"})

# Kinds whose /scale subresource maps to spec.replicas, with the apiserver's default replicas.
_SCALABLE_DEFAULT_REPLICAS = 1

_STATUS_REASONS = {
    400: "BadRequest",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


class ApiError(Exception):
    """A failure answered as a Kubernetes ``Status`` object, as the apiserver does."""

    def __init__(self, code: int, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or _STATUS_REASONS.get(code, "Unknown")

    def response(self) -> aiohttp.web.Response:
        return status_response(self.code, self.message, self.reason)


def status_response(
    code: int,
    message: str,
    reason: str | None = None,
    *,
    retry_after: float | None = None,
) -> aiohttp.web.Response:
    """Render a ``v1 Status`` answer the way kube-apiserver does."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure" if code >= 400 else "Success",
        "message": message,
        "reason": reason or _STATUS_REASONS.get(code, ""),
        "code": code,
    }
    headers: dict[str, str] = {}
    if retry_after is not None:
        body["details"] = {"retryAfterSeconds": int(retry_after)}
        headers["Retry-After"] = str(int(retry_after))
    return aiohttp.web.json_response(body, status=code, headers=headers)


@dataclasses.dataclass
class Fault:
    """
    One injected API failure: which requests it answers, how, and how many more times.

    Matching criteria left as ``None`` match anything. ``resource`` accepts whatever
    ``kmock.resource()`` parses: a plural (``"verticalscalers"``), ``"apps/v1/deployments"``,
    ``"v1/pods"``, or a resource object; partial ones match any group or version.
    ``subresource=""`` matches only requests to the main resource (no subresource).
    """

    status: int | None = 500
    method: str | None = None
    resource: Any = None
    subresource: str | None = None
    namespace: str | None = None
    name: str | None = None
    times: int | None = 1  # None means forever
    delay: float = 0.0  # seconds to wait before answering (or before serving, if status is None)
    message: str | None = None
    reason: str | None = None
    retry_after: float | None = None  # for 429: sets Retry-After and details.retryAfterSeconds
    seen: list[kmock.Request] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        if self.resource is not None and not isinstance(self.resource, kmock.resource):
            self.resource = kmock.resource(self.resource)

    @property
    def exhausted(self) -> bool:
        return self.times is not None and len(self.seen) >= self.times

    def matches(self, request: kmock.Request) -> bool:
        if self.exhausted:
            return False
        if self.method is not None and request.method.value.upper() != self.method.upper():
            return False
        if self.resource is not None and (
            request.resource is None or not self.resource.check(request.resource)
        ):
            return False
        if self.subresource is not None and (request.subresource or "") != self.subresource:
            return False
        if self.namespace is not None and request.namespace != self.namespace:
            return False
        return self.name is None or request.name == self.name


# ---------------------------------------------------------------------------------------------
# Patch semantics


def merge_patch(target: Any, patch: Any, merge: Callable[[Any, Any], Any] | None = None) -> Any:
    """RFC 7386 JSON merge patch: dicts merge recursively (through ``merge``, this function by
    default), ``null`` deletes, the rest replaces."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    merge = merge or merge_patch
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """
    A small part of the strategic merge patch: lists of named items (containers, volumes, env)
    merge by ``name``; everything else behaves as a JSON merge patch. Directives like
    ``$patch: delete`` are not supported.
    """
    if isinstance(patch, list) and isinstance(target, list) and _all_named(patch + target):
        merged = {item["name"]: item for item in target}
        for item in patch:
            merged[item["name"]] = strategic_merge_patch(merged.get(item["name"]), item)
        return list(merged.values())
    return merge_patch(target, patch, merge=strategic_merge_patch)


def _all_named(items: list[Any]) -> bool:
    return all(isinstance(item, Mapping) and "name" in item for item in items)


def apply_patch(obj: dict[str, Any], data: Any, content_type: str) -> dict[str, Any]:
    """Apply a PATCH body by its content type, raising :class:`ApiError` as the apiserver would."""
    if content_type == JSON_PATCH or isinstance(data, list):
        if not isinstance(data, list):
            raise ApiError(400, "a JSON patch must be a list of operations")
        try:
            return jsonpatch.apply_patch(obj, data, in_place=False)  # type: ignore[no-any-return]
        except jsonpatch.JsonPatchTestFailed as e:
            raise ApiError(422, f"the server rejected our request due to an error: {e}") from e
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as e:
            raise ApiError(422, f"the JSON patch cannot be applied: {e}") from e
    if not isinstance(data, Mapping):
        raise ApiError(400, "a merge patch must be a JSON object")
    current = obj.get("metadata", {}).get("resourceVersion")
    wanted = data.get("metadata", {}).get("resourceVersion") if data.get("metadata") else None
    if wanted is not None and wanted != current:
        raise ApiError(409, _conflict_message(obj), "Conflict")
    if content_type == STRATEGIC_MERGE_PATCH:
        return strategic_merge_patch(obj, data)  # type: ignore[no-any-return]
    return merge_patch(obj, data)  # type: ignore[no-any-return]


def _conflict_message(obj: Mapping[str, Any]) -> str:
    name = obj.get("metadata", {}).get("name")
    return (
        f'Operation cannot be fulfilled on "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )


def _content(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What ``metadata.generation`` tracks: everything except metadata and status."""
    return {key: value for key, value in obj.items() if key not in ("metadata", "status")}


# ---------------------------------------------------------------------------------------------
# Selectors


_SET_TERM = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ_TERM = re.compile(r"^\s*([^\s!=]+)\s*(==|=|!=)\s*([^\s]*)\s*$")
_EXISTS_TERM = re.compile(r"^\s*(!?)\s*([^\s!=()]+)\s*$")


def _split_terms(selector: str) -> Iterator[str]:
    """Split by commas that are not inside ``in (a, b)`` parentheses."""
    depth, term = 0, ""
    for char in selector:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            yield term
            term = ""
        else:
            term += char
    if term.strip():
        yield term


@dataclasses.dataclass(frozen=True)
class _LabelRequirement:
    key: str
    operator: str  # In, NotIn, Exists, DoesNotExist
    values: frozenset[str] = frozenset()

    def holds(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "In":
            return labels.get(self.key) in self.values
        if self.operator == "NotIn":  # as in Kubernetes, an absent label is "not in"
            return labels.get(self.key) not in self.values
        return (self.key in labels) == (self.operator == "Exists")


def label_matcher(selector: str) -> Callable[[Mapping[str, str]], bool]:
    """Compile a label selector: ``a=b``, ``a!=b``, ``a``, ``!a``, ``a in (b)``, ``a notin (b)``."""
    requirements: list[_LabelRequirement] = []
    for term in _split_terms(selector):
        if m := _SET_TERM.match(term):
            values = frozenset(v.strip() for v in m[3].split(",") if v.strip())
            operator = "In" if m[2] == "in" else "NotIn"
            requirements.append(_LabelRequirement(m[1], operator, values))
        elif m := _EQ_TERM.match(term):
            operator = "NotIn" if m[2] == "!=" else "In"
            requirements.append(_LabelRequirement(m[1], operator, frozenset({m[3]})))
        elif m := _EXISTS_TERM.match(term):
            operator = "DoesNotExist" if m[1] == "!" else "Exists"
            requirements.append(_LabelRequirement(m[2], operator))
        else:
            raise ApiError(400, f"unable to parse requirement: {term!r}")
    return lambda labels: all(requirement.holds(labels) for requirement in requirements)


@dataclasses.dataclass(frozen=True)
class _FieldRequirement:
    path: tuple[str, ...]
    value: str
    negated: bool

    def holds(self, obj: Mapping[str, Any]) -> bool:
        return (_field_text(obj, self.path) == self.value) != self.negated


def field_matcher(selector: str) -> Callable[[Mapping[str, Any]], bool]:
    """Compile a field selector of dotted paths: ``metadata.name=x,status.phase!=Running``."""
    requirements: list[_FieldRequirement] = []
    for term in _split_terms(selector):
        m = _EQ_TERM.match(term)
        if not m:
            raise ApiError(400, f"invalid field selector: {term!r}")
        requirements.append(_FieldRequirement(tuple(m[1].split(".")), m[3], m[2] == "!="))
    return lambda obj: all(requirement.holds(obj) for requirement in requirements)


def _field_text(obj: Any, path: tuple[str, ...]) -> str:
    for part in path:
        obj = obj.get(part) if isinstance(obj, Mapping) else None
    if obj is None:
        return ""
    return obj if isinstance(obj, str) else json.dumps(obj)


# ---------------------------------------------------------------------------------------------
# The emulator


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _random_suffix() -> str:
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(5))


@attrs.define(kw_only=True)
class TrimtabEmulator(kmock.KubernetesEmulator):
    """
    kmock's Kubernetes emulator with apiserver-owned metadata, subresources and faults.

    Objects put straight into ``objects`` (``kmock.objects[...] = {...}``) bypass all of this
    and get no metadata and no watch event: create them through the API instead, even before
    the operator starts.
    """

    _revision: int = attrs.field(default=0, init=False)  # the last one given out, cluster-wide
    _faults: list[Fault] = attrs.field(factory=list, init=False)
    _outcomes: dict[int, Any] = attrs.field(factory=dict, init=False)

    # -- the public test API -----------------------------------------------------------------

    def inject_fault(self, status: int | None = 500, **criteria: Any) -> Fault:
        """Answer the next matching request(s) with an error; see :class:`Fault`."""
        fault = Fault(status=status, **criteria)
        self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        self._faults.clear()

    def stored(self, resource: Any, namespace: str | None, name: str) -> dict[str, Any] | None:
        """A deep copy of the stored object, or ``None`` if it does not exist (or is deleted)."""
        key = (kmock.resource(resource), namespace, name)
        if key not in self._objects or self._objects[key].deleted:
            return None
        return copy.deepcopy(self._objects[key].raw)

    def stored_all(self, resource: Any) -> list[dict[str, Any]]:
        """Deep copies of all live objects of a resource, in creation order."""
        wanted = kmock.resource(resource)
        return [
            copy.deepcopy(obj.raw)
            for (res, _, _), obj in self._objects.items()
            if res == wanted and not obj.deleted
        ]

    # -- request routing ---------------------------------------------------------------------

    @override
    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        fault = next((f for f in self._faults if f.matches(request)), None)
        if fault is not None:
            fault.seen.append(request)
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status is not None:
                message = fault.message or f"injected fault: HTTP {fault.status}"
                return status_response(
                    fault.status, message, fault.reason, retry_after=fault.retry_after
                )

        if request.resource is None:
            return await kmock.RawHandler._handle(self, request)

        try:
            outcome = await self._mutate(request)
        except ApiError as e:
            return status_response(e.code, e.message, e.reason)

        if outcome is None:  # not a change of state: kmock serves it
            return await kmock.RawHandler._handle(self, request)

        code, body = outcome
        if request.action in (kmock.action.CREATE, kmock.action.UPDATE, kmock.action.DELETE):
            # Let kmock's reactions (and their request filters) see the request; the fallback
            # reactions below answer with what was just stored.
            self._outcomes[id(request)] = outcome
            try:
                return await kmock.RawHandler._handle(self, request)
            finally:
                self._outcomes.pop(id(request), None)
        return aiohttp.web.json_response(body, status=code)

    @override
    async def _render_error(self, exc: Exception) -> aiohttp.web.StreamResponse:
        if isinstance(exc, ApiError):
            return exc.response()
        return await super()._render_error(exc)

    async def _serve_create(self, request: kmock.Request) -> kmock.Payload:
        code, body = self._outcomes[id(request)]
        return kmock.Response(status=code, payload=body)

    async def _serve_update(self, request: kmock.Request) -> kmock.Payload:
        return self._outcomes[id(request)][1]

    async def _serve_delete(self, request: kmock.Request) -> kmock.Payload:
        return self._outcomes[id(request)][1]

    async def _mutate(self, request: kmock.Request) -> tuple[int, Any] | None:
        method = request.method.value.upper()
        async with self._lock:
            if method == "POST" and request.name is None and request.subresource is None:
                return await self._create(request)
            if method == "POST" and request.subresource == "eviction":
                return await self._evict(request)
            if method in ("PATCH", "PUT") and request.name is not None:
                return await self._update(request, replace=method == "PUT")
            if method == "DELETE" and request.name is not None and request.subresource is None:
                return await self._delete(request)
        return None

    # -- state changes -----------------------------------------------------------------------

    def _next_revision(self) -> str:
        self._revision += 1
        return str(self._revision)

    def _info(self, request: kmock.Request) -> kmock.ResourceInfo | None:
        for resource in self._resources:
            if resource == request.resource:
                return self._resources[resource]
        return None

    @staticmethod
    def _key(request: kmock.Request, name: str | None = None) -> Any:
        """The storage key, as kmock's ``objects`` array spells it."""
        return (request.resource, request.namespace, name or request.name)

    def _live(self, request: kmock.Request) -> tuple[Any, dict[str, Any]]:
        key = self._key(request)
        if key not in self._objects or self._objects[key].deleted:
            plural = request.resource.plural if request.resource else "objects"
            raise ApiError(404, f'{plural} "{request.name}" not found', "NotFound")
        return key, copy.deepcopy(self._objects[key].raw)

    async def _publish(self, request: kmock.Request, event: str, obj: dict[str, Any]) -> None:
        assert request.resource is not None
        await self._buses[request.resource].put({"type": event, "object": obj})

    async def _create(self, request: kmock.Request) -> tuple[int, Any]:
        if not isinstance(request.data, Mapping):
            raise ApiError(400, "the body of a create must be a JSON object")
        obj = copy.deepcopy(dict(request.data))
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + _random_suffix()
        if not meta.get("name"):
            raise ApiError(422, "metadata.name: Required value: name or generateName is required")
        info = self._info(request)
        if request.namespace is not None:
            meta["namespace"] = request.namespace
        elif info is not None and info.namespaced:
            raise ApiError(404, "a namespaced object must be created in a namespace")
        if info is not None and info.kind and "kind" not in obj:
            obj["kind"] = info.kind
        if "apiVersion" not in obj and request.resource is not None:
            group, version = request.resource.group, request.resource.version
            obj["apiVersion"] = f"{group}/{version}" if group else version
        key = self._key(request, meta["name"])
        if key in self._objects and not self._objects[key].deleted:
            plural = request.resource.plural if request.resource else "objects"
            raise ApiError(409, f'{plural} "{meta["name"]}" already exists', "AlreadyExists")
        meta.pop("deletionTimestamp", None)
        meta.update(
            uid=str(uuid.uuid4()),
            resourceVersion=self._next_revision(),
            creationTimestamp=_now(),
            generation=1,
        )
        if key in self._objects:
            self._objects[key].create(obj)
        else:
            self._objects[key] = obj
        await self._publish(request, "ADDED", obj)
        return 201, obj

    async def _update(self, request: kmock.Request, *, replace: bool) -> tuple[int, Any]:
        key, old = self._live(request)
        sub = request.subresource
        if sub == "scale":
            old_view = _scale_view(old)
            new_view = self._changed(old_view, request, replace=replace)
            new = copy.deepcopy(old)
            new.setdefault("spec", {})["replicas"] = new_view.get("spec", {}).get("replicas")
        else:
            new = self._changed(old, request, replace=replace)
            info = self._info(request)
            has_status = info is not None and "status" in info.subresources
            if sub == "status":
                status = new.get("status")
                new = {key: value for key, value in old.items() if key != "status"}
                if status is not None:
                    new["status"] = status
            elif sub is None and has_status:
                new = {k: v for k, v in new.items() if k != "status"}
                if "status" in old:
                    new["status"] = old["status"]
            elif sub is not None and sub not in _WHOLE_OBJECT_SUBRESOURCES:
                raise ApiError(404, f"the subresource {sub!r} is not supported here")

        # The apiserver owns these; clients cannot change them.
        for field in ("uid", "creationTimestamp", "name", "namespace", "generation"):
            if field in old.get("metadata", {}):
                new.setdefault("metadata", {})[field] = old["metadata"][field]
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        new["metadata"].pop("deletionTimestamp", None)
        if old["metadata"].get("deletionTimestamp"):
            new["metadata"]["deletionTimestamp"] = old["metadata"]["deletionTimestamp"]

        if new == old:  # a no-op: no new revision, no watch event
            return 200, _scale_view(old) if sub == "scale" else old

        if _content(new) != _content(old):
            new["metadata"]["generation"] = int(old["metadata"].get("generation", 1)) + 1
        new["metadata"]["resourceVersion"] = self._next_revision()
        stored = self._objects[key]
        stored.history.append(new)
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            stored.delete()
            await self._publish(request, "DELETED", new)
        else:
            await self._publish(request, "MODIFIED", new)
        return 200, _scale_view(new) if sub == "scale" else new

    def _changed(self, old: dict[str, Any], request: kmock.Request, *, replace: bool) -> Any:
        if not replace:
            content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
            return apply_patch(old, request.data, content_type)
        if not isinstance(request.data, Mapping):
            raise ApiError(400, "the body of a replace must be a JSON object")
        wanted = request.data.get("metadata", {}).get("resourceVersion")
        if wanted is not None and wanted != old.get("metadata", {}).get("resourceVersion"):
            raise ApiError(409, _conflict_message(old), "Conflict")
        return copy.deepcopy(dict(request.data))

    async def _delete(self, request: kmock.Request) -> tuple[int, Any]:
        key, old = self._live(request)
        meta = old.setdefault("metadata", {})
        if meta.get("deletionTimestamp"):
            return 200, old
        stored = self._objects[key]
        meta["resourceVersion"] = self._next_revision()
        if meta.get("finalizers"):
            meta["deletionTimestamp"] = _now()
            stored.history.append(old)
            await self._publish(request, "MODIFIED", old)
        else:
            stored.history.append(old)
            stored.delete()
            await self._publish(request, "DELETED", old)
        return 200, old

    async def _evict(self, request: kmock.Request) -> tuple[int, Any]:
        await self._delete(request)
        return 201, {"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 201}

    # -- reading -----------------------------------------------------------------------------

    def _declared(self, request: kmock.Request) -> bool:
        return any(resource == request.resource for resource in self._get_resources())

    def _selected(self, request: kmock.Request) -> Callable[[Mapping[str, Any]], bool]:
        labels = label_matcher(request.params.get("labelSelector", ""))
        fields = field_matcher(request.params.get("fieldSelector", ""))
        namespace = request.namespace

        def check(obj: Mapping[str, Any]) -> bool:
            meta = obj.get("metadata", {})
            if namespace is not None and meta.get("namespace") != namespace:
                return False
            if request.name is not None and meta.get("name") != request.name:
                return False
            return labels(meta.get("labels") or {}) and fields(obj)

        return check

    def _matching(self, request: kmock.Request) -> list[dict[str, Any]]:
        check = self._selected(request)
        return [
            obj.raw
            for (resource, _, _), obj in self._objects.items()
            if resource == request.resource and not obj.deleted and check(obj.raw)
        ]

    async def _serve_list(self, request: kmock.Request) -> kmock.Payload:
        if not self._declared(request):
            raise kmock.KubernetesResourceNotFoundError()
        async with self._lock:
            items = self._matching(request)
            revision = str(self._revision)
        info = self._info(request)
        kind = f"{info.kind}List" if info is not None and info.kind else "List"
        return {"kind": kind, "metadata": {"resourceVersion": revision}, "items": items}

    async def _serve_watch(self, request: kmock.Request) -> AsyncIterator[kmock.Payload]:
        # Send the headers first, so that the client sees the stream open even when idle.
        assert request.resource is not None
        check = self._selected(request)  # fails before the stream opens if malformed
        yield b""
        since = request.params.get("resourceVersion", "")
        since_revision = int(since) if since.isdigit() else None
        bus = self._buses[request.resource]
        # Subscribe and take the snapshot atomically: no event falls between the two.
        async with self._lock:
            marker = await bus.mark()
            replay = [
                obj
                for obj in self._matching(request)
                if since_revision is None
                or int(obj.get("metadata", {}).get("resourceVersion", "0")) > since_revision
            ]
        try:
            for obj in replay:
                yield {"type": "ADDED", "object": obj}
            async for event in bus.stream(since=marker):
                if check(event.get("object", {})):
                    yield event
        finally:
            await bus.unmark(marker)

    async def _serve_fetch(self, request: kmock.Request) -> kmock.Payload:
        async with self._lock:
            _, obj = self._live(request)
        return _scale_view(obj) if request.subresource == "scale" else obj


def _scale_view(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The ``autoscaling/v1`` Scale of a Deployment or ReplicaSet-like object."""
    meta = obj.get("metadata", {})
    labels = obj.get("spec", {}).get("selector", {}).get("matchLabels", {})
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            key: meta[key]
            for key in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if key in meta
        },
        "spec": {"replicas": obj.get("spec", {}).get("replicas", _SCALABLE_DEFAULT_REPLICAS)},
        "status": {
            "replicas": obj.get("status", {}).get("replicas", 0),
            "selector": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        },
    }
