"""
End-to-end proof of the component harness, with tiny handlers defined here rather than
Trimtab's own: a kopf operator runs against the emulated API, patches status, survives
injected API faults, and keeps running.

Two ways of writing status are exercised, because kopf treats their failures differently:

- through kopf's ``patch`` (the usual style): kopf's API client retries 5xx, 429 and 403
  answers (``settings.networking.error_backoffs``), but any other error fails the whole
  event: kopf logs it, throttles the object, and does not call the handler again until the
  object changes. Its diff-base annotation is written by an earlier PATCH than the status,
  so after a 409 on the status the object looks handled while its status was never written;
- by the handler itself through the API: the handler raises, and kopf retries the handler
  with its backoff until the write lands.
"""

import logging
from collections.abc import Callable
from typing import Any

import aiohttp
import kopf
import pytest

from tests.component.harness import Cluster, condition, has_condition

GROUP, VERSION, PLURAL = "trimtab.dev", "v1alpha1", "verticalscalers"
NAMESPACE = "team-a"


def vertical_scaler(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "VerticalScaler",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            **spec,
        },
    }


def ready_status(generation: int) -> dict[str, Any]:
    return {
        "observedGeneration": generation,
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Accepted",
                "message": "the spec is valid",
                "lastTransitionTime": "2024-01-01T00:00:00Z",
            }
        ],
    }


def ready_at(generation: int) -> Callable[[dict[str, Any]], bool]:
    def predicate(obj: dict[str, Any]) -> bool:
        observed = (obj.get("status") or {}).get("observedGeneration")
        return observed == generation and has_condition(obj, "Ready")

    predicate.__name__ = f"Ready with observedGeneration={generation}"
    return predicate


def register_kopf_patching(registry: kopf.OperatorRegistry) -> None:
    """A handler in the usual kopf style: kopf applies ``patch`` after the handler returns."""

    @kopf.on.resume(GROUP, VERSION, PLURAL, registry=registry)
    @kopf.on.create(GROUP, VERSION, PLURAL, registry=registry)
    @kopf.on.update(GROUP, VERSION, PLURAL, field="spec", registry=registry)
    def mark_ready(meta: kopf.Meta, patch: kopf.Patch, **_: Any) -> None:
        patch.status.update(ready_status(meta["generation"]))


def register_self_patching(server: str) -> Any:
    """A handler that writes its status through the API and fails if the write fails."""

    def register(registry: kopf.OperatorRegistry) -> None:
        @kopf.on.resume(GROUP, VERSION, PLURAL, registry=registry, backoff=0.1)
        @kopf.on.create(GROUP, VERSION, PLURAL, registry=registry, backoff=0.1)
        @kopf.on.update(GROUP, VERSION, PLURAL, field="spec", registry=registry, backoff=0.1)
        async def mark_ready(meta: kopf.Meta, namespace: str | None, name: str, **_: Any) -> None:
            url = f"{server}/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/{name}/status"
            headers = {"Content-Type": "application/merge-patch+json"}
            body = {"status": ready_status(meta["generation"])}
            async with (
                aiohttp.ClientSession() as session,
                session.patch(url, json=body, headers=headers) as response,
            ):
                if response.status >= 400:
                    raise kopf.TemporaryError(f"status write failed: {response.status}", delay=0.1)

    return register


async def test_handler_patches_status(cluster: Cluster) -> None:
    await cluster.start_operator(register_kopf_patching)
    created = await cluster.create(vertical_scaler("web"))

    obj = await cluster.wait_for("VerticalScaler", "web", ready_at(1), namespace=NAMESPACE)

    assert condition(obj, "Ready") == ready_status(1)["conditions"][0]
    meta = obj["metadata"]
    assert meta["uid"] == created["metadata"]["uid"]
    assert meta["creationTimestamp"] == created["metadata"]["creationTimestamp"]
    assert int(meta["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    assert meta["generation"] == 1, "status and annotation writes do not bump the generation"
    assert cluster.operator_running


async def test_spec_change_bumps_generation_and_is_observed(cluster: Cluster) -> None:
    await cluster.start_operator(register_kopf_patching)
    await cluster.create(vertical_scaler("web"))
    await cluster.wait_for("VerticalScaler", "web", ready_at(1), namespace=NAMESPACE)

    patched = await cluster.patch(
        "VerticalScaler", "web", {"spec": {"profile": "thrifty"}}, namespace=NAMESPACE
    )

    assert patched["metadata"]["generation"] == 2
    await cluster.wait_for("VerticalScaler", "web", ready_at(2), namespace=NAMESPACE)


async def test_server_errors_on_status_patch_are_retried_by_kopf(cluster: Cluster) -> None:
    fault = cluster.inject_fault("VerticalScaler", 500, subresource="status", times=2)
    await cluster.start_operator(register_kopf_patching)
    await cluster.create(vertical_scaler("web"))

    await cluster.wait_for("VerticalScaler", "web", ready_at(1), namespace=NAMESPACE)

    assert len(fault.seen) == 2
    status_patches = cluster.requests("VerticalScaler", method="PATCH", subresource="status")
    assert len(status_patches) == 3
    assert cluster.operator_running


async def test_conflict_then_server_error_on_status_patch_lands_on_handler_retry(
    cluster: Cluster,
) -> None:
    conflict = cluster.inject_fault("VerticalScaler", 409, subresource="status")
    server_error = cluster.inject_fault("VerticalScaler", 500, subresource="status")
    await cluster.start_operator(register_self_patching(cluster.server))
    await cluster.create(vertical_scaler("web"))

    await cluster.wait_for("VerticalScaler", "web", ready_at(1), namespace=NAMESPACE)

    assert [len(conflict.seen), len(server_error.seen)] == [1, 1]
    assert len(cluster.requests("VerticalScaler", method="PATCH", subresource="status")) == 3
    assert cluster.operator_running


async def test_conflict_on_kopf_status_patch_waits_for_the_next_change(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="kopf")
    conflict = cluster.inject_fault("VerticalScaler", 409, subresource="status")
    server_error = cluster.inject_fault("VerticalScaler", 500, subresource="status")
    await cluster.start_operator(register_kopf_patching)
    await cluster.create(vertical_scaler("web"))

    # kopf logs the failed event and throttles the object; nothing retries the write.
    await cluster.wait_until(
        lambda: "Throttling is over" in caplog.text, what="kopf's error throttling to end"
    )
    obj = cluster.get("VerticalScaler", "web", namespace=NAMESPACE)
    assert obj is not None
    assert "status" not in obj
    assert "kopf.zalando.org/last-handled-configuration" in obj["metadata"]["annotations"]
    assert len(conflict.seen) == 1
    assert cluster.operator_running

    # The next change runs the handler again; the 500 on that write is retried inside kopf.
    await cluster.patch("VerticalScaler", "web", {"spec": {"profile": "x"}}, namespace=NAMESPACE)
    await cluster.wait_for("VerticalScaler", "web", ready_at(2), namespace=NAMESPACE)
    assert len(server_error.seen) == 1
    assert cluster.operator_running


async def test_operator_keeps_serving_other_objects_after_faults(cluster: Cluster) -> None:
    cluster.inject_fault("VerticalScaler", 409, subresource="status", name="first")
    await cluster.start_operator(register_kopf_patching)
    await cluster.create(vertical_scaler("first"))
    await cluster.wait_until(lambda: bool(cluster.requests(subresource="status", name="first")))

    await cluster.create(vertical_scaler("second"))

    await cluster.wait_for("VerticalScaler", "second", ready_at(1), namespace=NAMESPACE)
    assert cluster.operator_running


async def test_stop_operator_is_prompt_and_idempotent(cluster: Cluster) -> None:
    task = await cluster.start_operator(register_kopf_patching)
    await cluster.create(vertical_scaler("web"))
    await cluster.wait_for("VerticalScaler", "web", ready_at(1), namespace=NAMESPACE)

    await cluster.stop_operator(within=2)
    await cluster.stop_operator()

    assert task.done()
    assert not cluster.operator_running
