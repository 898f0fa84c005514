"""
The emulated API behaves as kopf and Trimtab expect from a real apiserver, without an operator:
apiserver-owned metadata, subresources, optimistic concurrency, finalizers, selectors, watches
and injected faults.
"""

import asyncio
import json
from typing import Any

import pytest

from tests.component.emulator import TrimtabEmulator
from tests.component.harness import ApiCallError, Cluster

NS = "team-a"
MERGE = {"Content-Type": "application/merge-patch+json"}


def scaler(name: str, **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "trimtab.dev/v1alpha1",
        "kind": "VerticalScaler",
        "metadata": {"name": name, "namespace": NS, **meta},
        "spec": {"targetRef": {"kind": "Deployment", "name": name}},
    }


def deployment(name: str, replicas: int = 2) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, "labels": {"app": name, "tier": "web"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}},
    }


def stored(cluster: Cluster, kind: str, name: str) -> dict[str, Any]:
    obj = cluster.get(kind, name, namespace=NS)
    assert obj is not None, f"{kind} {name} is not stored"
    return obj


async def request(
    kmock: TrimtabEmulator, method: str, url: str, **kwargs: Any
) -> tuple[int, dict[str, Any]]:
    async with kmock.request(method, url, **kwargs) as response:
        return response.status, await response.json(content_type=None)


async def test_create_fills_apiserver_metadata(cluster: Cluster) -> None:
    first = await cluster.create(scaler("a"))
    second = await cluster.create(scaler("b"))

    meta = first["metadata"]
    assert meta["generation"] == 1
    assert meta["creationTimestamp"].endswith("Z")
    assert meta["uid"] != second["metadata"]["uid"]
    assert int(second["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])
    assert cluster.get("VerticalScaler", "a", namespace=NS) == first


async def test_create_twice_conflicts_and_generate_name_works(cluster: Cluster) -> None:
    await cluster.create(scaler("a"))
    with pytest.raises(ApiCallError) as error:
        await cluster.create(scaler("a"))
    assert error.value.status == 409
    assert error.value.body["reason"] == "AlreadyExists"

    generated = await cluster.create(
        {**scaler(""), "metadata": {"generateName": "web-", "namespace": NS}}
    )
    assert generated["metadata"]["name"].startswith("web-")
    assert len(generated["metadata"]["name"]) > len("web-")


async def test_generation_tracks_spec_only(cluster: Cluster) -> None:
    await cluster.create(scaler("a"))

    labelled = await cluster.patch(
        "VerticalScaler", "a", {"metadata": {"labels": {"x": "y"}}}, namespace=NS
    )
    status = {"status": {"observedGeneration": 1}}
    with_status = await cluster.patch(
        "VerticalScaler", "a", status, namespace=NS, subresource="status"
    )
    with_spec = await cluster.patch("VerticalScaler", "a", {"spec": {"profile": "p"}}, namespace=NS)

    assert [labelled["metadata"]["generation"], with_status["metadata"]["generation"]] == [1, 1]
    assert with_spec["metadata"]["generation"] == 2
    revisions = [int(o["metadata"]["resourceVersion"]) for o in (labelled, with_status, with_spec)]
    assert revisions == sorted(set(revisions))


async def test_status_subresource_is_separate_from_the_main_resource(cluster: Cluster) -> None:
    await cluster.create(scaler("a"))

    ignored = await cluster.patch(
        "VerticalScaler", "a", {"status": {"phase": "main"}, "spec": {"x": 1}}, namespace=NS
    )
    only_status = await cluster.patch(
        "VerticalScaler",
        "a",
        {"status": {"phase": "sub"}, "spec": {"x": 2}},
        namespace=NS,
        subresource="status",
    )

    assert "status" not in ignored
    assert only_status["status"] == {"phase": "sub"}
    assert only_status["spec"]["x"] == 1


async def test_noop_patch_keeps_the_revision(cluster: Cluster) -> None:
    created = await cluster.create(scaler("a"))

    patched = await cluster.patch("VerticalScaler", "a", {"spec": created["spec"]}, namespace=NS)

    assert patched["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


async def test_optimistic_concurrency(cluster: Cluster, kmock: TrimtabEmulator) -> None:
    created = await cluster.create(scaler("a"))
    await cluster.patch("VerticalScaler", "a", {"spec": {"profile": "newer"}}, namespace=NS)
    url = cluster.url("VerticalScaler", NS, "a")
    stale = created["metadata"]["resourceVersion"]

    put_status, _ = await request(kmock, "PUT", url, json=created)
    merge_status, _ = await request(
        kmock, "PATCH", url, json={"metadata": {"resourceVersion": stale}}, headers=MERGE
    )
    test_op = [{"op": "test", "path": "/metadata/resourceVersion", "value": stale}]
    json_status, _ = await request(
        kmock, "PATCH", url, data=json.dumps(test_op),
        headers={"Content-Type": "application/json-patch+json"},
    )  # fmt: skip

    assert [put_status, merge_status, json_status] == [409, 409, 422]
    assert stored(cluster, "VerticalScaler", "a")["spec"]["profile"] == "newer"


async def test_finalizers_hold_deletion(cluster: Cluster) -> None:
    await cluster.create(scaler("a", finalizers=["trimtab.dev/cleanup"]))

    await cluster.delete("VerticalScaler", "a", namespace=NS)
    marked = cluster.get("VerticalScaler", "a", namespace=NS)
    await cluster.patch("VerticalScaler", "a", {"metadata": {"finalizers": []}}, namespace=NS)

    assert marked is not None
    assert marked["metadata"]["deletionTimestamp"]
    assert cluster.get("VerticalScaler", "a", namespace=NS) is None


async def test_label_and_field_selectors(cluster: Cluster, kmock: TrimtabEmulator) -> None:
    await cluster.create(deployment("web"))
    await cluster.create(deployment("api"))
    url = cluster.url("Deployment", NS)

    _, by_label = await request(kmock, "GET", url, params={"labelSelector": "app in (api,db)"})
    _, by_field = await request(kmock, "GET", url, params={"fieldSelector": "metadata.name!=api"})
    _, by_both = await request(
        kmock, "GET", url, params={"labelSelector": "tier=web,!missing", "fieldSelector": ""}
    )

    assert [o["metadata"]["name"] for o in by_label["items"]] == ["api"]
    assert [o["metadata"]["name"] for o in by_field["items"]] == ["web"]
    assert len(by_both["items"]) == 2


async def test_scale_subresource_and_eviction(cluster: Cluster, kmock: TrimtabEmulator) -> None:
    await cluster.create(deployment("web", replicas=2))
    scale_url = cluster.url("Deployment", NS, "web", "scale")

    _, scale = await request(kmock, "GET", scale_url)
    _, scaled = await request(
        kmock, "PATCH", scale_url, json={"spec": {"replicas": 5}}, headers=MERGE
    )
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1", "namespace": NS}}
    await cluster.create(pod)
    evicted, _ = await request(kmock, "POST", cluster.url("Pod", NS, "web-1", "eviction"), json={})

    assert scale["kind"] == "Scale"
    assert scale["spec"]["replicas"] == 2
    assert scale["status"]["selector"] == "app=web"
    assert scaled["spec"]["replicas"] == 5
    assert stored(cluster, "Deployment", "web")["spec"]["replicas"] == 5
    assert evicted == 201
    assert cluster.get("Pod", "web-1", namespace=NS) is None


async def test_injected_fault_answers_before_storing(cluster: Cluster) -> None:
    await cluster.create(scaler("a"))
    fault = cluster.inject_fault("VerticalScaler", 409, subresource="status", times=1)

    with pytest.raises(ApiCallError) as error:
        await cluster.patch(
            "VerticalScaler", "a", {"status": {"x": 1}}, namespace=NS, subresource="status"
        )
    before = stored(cluster, "VerticalScaler", "a")
    again = await cluster.patch(
        "VerticalScaler", "a", {"status": {"x": 2}}, namespace=NS, subresource="status"
    )

    assert error.value.status == 409
    assert "status" not in before
    assert again["status"] == {"x": 2}
    assert len(fault.seen) == 1
    assert fault.exhausted


async def test_watch_replays_then_streams_and_honours_resource_version(
    cluster: Cluster, kmock: TrimtabEmulator
) -> None:
    old = await cluster.create(scaler("old"))
    since = old["metadata"]["resourceVersion"]
    await cluster.create(scaler("newer"))
    url = cluster.url("VerticalScaler")

    async def first_events(params: dict[str, str], count: int) -> list[tuple[str, str]]:
        events = []
        async with kmock.get(url, params={"watch": "true", **params}) as response:
            async for line in response.content:
                event = json.loads(line)
                events.append((event["type"], event["object"]["metadata"]["name"]))
                if len(events) == count:
                    return events
        return events

    replay_all = await first_events({}, 2)
    watch = asyncio.create_task(first_events({"resourceVersion": since}, 2))
    await cluster.wait_until(lambda: len(cluster.requests(method="GET")) >= 2)
    await cluster.create(scaler("live"))

    assert sorted(replay_all) == [("ADDED", "newer"), ("ADDED", "old")]
    assert await asyncio.wait_for(watch, 3) == [("ADDED", "newer"), ("ADDED", "live")]
