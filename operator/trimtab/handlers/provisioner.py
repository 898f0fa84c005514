"""The node provisioner's handlers: batches of unschedulable pods become NodeClaims, NodeClaims
become Nodes, and empty Nodes are given back.

Everything the decisions need is kept in memory by watches (kopf indexes): unschedulable pods,
the pods bound to each node, Nodes, DaemonSets, NodePools, NodeClaims and node classes. The
batch runs from the NodePool timer: there is nothing to provision without a NodePool, and the
first pool's tick after the batch window closes runs it once for all pools. Launch templates no
AWSNodeClass uses any more are deleted from the first AWSNodeClass's timer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import kopf

from trimtab.api import GROUP, VERSION, kind_info
from trimtab.api.nodes import NodePoolSpec
from trimtab.conditions import make_condition, merge_conditions
from trimtab.durations import parse_duration
from trimtab.handlers.common import now_rfc3339, pod_reference, validity_recorded
from trimtab.kube.client import api_client
from trimtab.kube.nodeclaims import ClaimClient
from trimtab.kube.nodes import KubeNodeStore
from trimtab.provisioner.catalog import load_catalog
from trimtab.provisioner.claims import (
    in_flight_node,
    in_use_by_pool,
    is_initialized,
    pool_view,
    quantities,
    starting_node,
)
from trimtab.provisioner.disruption import NodeUse, PoolDisruption, empty_nodes_to_remove
from trimtab.provisioner.lifecycle import Step
from trimtab.provisioner.model import NODE_POOL, ExistingNode, PendingPod
from trimtab.provisioner.nodeclaims import LOST_AFTER, ClaimService, lost_claims, orphans
from trimtab.provisioner.pods import (
    DO_NOT_DISRUPT,
    daemonset_pod,
    existing_node,
    hostname_anti_affinity,
    is_unschedulable,
    pending_pod,
    pod_requests,
    scoped_labels,
)
from trimtab.provisioner.pools import pool_problem
from trimtab.provisioner.providers import AWS, Providers, UnknownNodeClassError, collect_templates
from trimtab.provisioner.service import PoolObject, ProvisionerService
from trimtab.settings import Settings
from trimtab.validation import validate_spec

NODE_POOL_KIND = kind_info("NodePool")
_ALL = "all"
TEMPLATE_GC_INTERVAL_S = 600.0
"""Launch templates pile up only as fast as node classes change: every 10 minutes is plenty."""


@dataclass(frozen=True)
class BoundPod:
    """A pod on a node, as removal and the simulation need it."""

    labels: Mapping[str, str]
    requests: Mapping[str, float]
    daemonset: bool
    do_not_disrupt: bool
    anti_affinity: tuple[Mapping[str, str], ...] = ()
    """matchLabels of its required anti-affinity on the hostname."""


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    """Register the provisioner's indexes, timers and NodeClaim finalizer."""
    if not settings.provisioner_enabled:
        return
    _register_indexes(registry)

    @kopf.on.startup(registry=registry)
    def start_provisioner(memo: kopf.Memo, **_: Any) -> None:
        operator: Settings = memo.settings
        # Tests point the clients at an emulated API through memo.kube_connect.
        connect = getattr(memo, "kube_connect", None) or (lambda: api_client(operator.kubeconfig))
        memo.claim_client = ClaimClient(connect)
        memo.provisioner = ProvisionerService(
            memo.claim_client,
            load_catalog,
            idle=operator.provisioner_batch_idle_s,
            longest=operator.provisioner_batch_max_s,
        )
        memo.claims = ClaimService(memo.claim_client, load_catalog)
        memo.providers = Providers(
            load_catalog, KubeNodeStore(connect), operator.cluster_name, _ec2
        )
        memo.provision_lock = asyncio.Lock()
        memo.empty_since = {}

    @kopf.on.event("v1", "pods", id="unschedulable", registry=registry)
    def note_unschedulable(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
        if is_unschedulable(body):
            memo.provisioner.pod_pending(body["metadata"].get("uid", ""))

    @kopf.timer(GROUP, VERSION, "nodepools", id="provision", interval=0.5, registry=registry)
    async def provision(memo: kopf.Memo, **indexes: Any) -> None:
        service: ProvisionerService = memo.provisioner
        if not service.due() or memo.provision_lock.locked():
            return
        async with memo.provision_lock:
            if not service.due():
                return
            await _provision(memo, indexes)

    @kopf.timer(GROUP, VERSION, "nodepools", id="pool-status", interval=5.0, registry=registry)
    async def pool_status(
        name: str,
        body: kopf.Body,
        status: kopf.Status,
        patch: kopf.Patch,
        memo: kopf.Memo,
        **indexes: Any,
    ) -> None:
        if not validity_recorded(body, status):
            return
        await _remove_empty_nodes(name, body, memo, indexes)
        _write_pool_status(name, body, status, patch, indexes)

    @kopf.timer(GROUP, VERSION, "nodeclaims", id="lifecycle", interval=1.0, registry=registry)
    async def lifecycle(
        body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **indexes: Any
    ) -> None:
        node = _node_of(body, indexes)
        if memo.claims.idle(body, node):
            return
        provider = _provider(body, memo, indexes)
        pool = _pool_labels(body, indexes)
        outcome = await asyncio.to_thread(memo.claims.reconcile, dict(body), node, provider, pool)
        for key, value in outcome.status.items():
            patch.status[key] = value
        if outcome.out_of_capacity:
            memo.provisioner.out_of_capacity(outcome.out_of_capacity)
        if outcome.step is Step.GIVE_UP:
            memo.provisioner.requeue()
        for notice in outcome.events:
            post = kopf.info if notice.type == "Normal" else kopf.warn
            post(body, reason=notice.reason, message=notice.message)

    @kopf.on.delete(GROUP, VERSION, "nodeclaims", id="give-back", registry=registry)
    async def give_back(body: kopf.Body, memo: kopf.Memo, **indexes: Any) -> None:
        provider = _provider(body, memo, indexes)
        node = _node_of(body, indexes)
        await asyncio.to_thread(memo.claims.give_back, dict(body), provider, node)
        kopf.info(body, reason="Deleted", message="Instance given back and Node deleted.")

    @kopf.timer(GROUP, VERSION, "nodepools", id="collect", interval=30.0, registry=registry)
    async def collect_garbage(name: str, memo: kopf.Memo, **indexes: Any) -> None:
        await _collect(name, memo, indexes)

    @kopf.timer(
        GROUP,
        VERSION,
        "awsnodeclasses",
        id="collect-templates",
        interval=TEMPLATE_GC_INTERVAL_S,
        registry=registry,
    )
    async def collect_launch_templates(
        name: str, body: kopf.Body, memo: kopf.Memo, **indexes: Any
    ) -> None:
        await _collect_templates(name, body, memo, indexes)

    del start_provisioner, note_unschedulable, provision, pool_status, lifecycle, give_back
    del collect_garbage, collect_launch_templates


def _register_indexes(registry: kopf.OperatorRegistry) -> None:
    @kopf.index("v1", "pods", id="pending_pods", registry=registry)
    def pending_pods(body: kopf.Body, **_: Any) -> dict[str, PendingPod] | None:
        return {_ALL: pending_pod(body)} if is_unschedulable(body) else None

    @kopf.index("v1", "pods", id="node_pods", registry=registry)
    def node_pods(body: kopf.Body, **_: Any) -> dict[str, BoundPod] | None:
        node = (body.get("spec") or {}).get("nodeName")
        phase = (body.get("status") or {}).get("phase")
        if not node or phase in ("Succeeded", "Failed"):
            return None
        meta = body.get("metadata") or {}
        owners = meta.get("ownerReferences") or []
        annotations = meta.get("annotations") or {}
        return {
            node: BoundPod(
                labels=scoped_labels(meta),
                requests=pod_requests(body.get("spec") or {}),
                daemonset=any(o.get("kind") == "DaemonSet" for o in owners)
                or "kubernetes.io/config.mirror" in annotations,
                do_not_disrupt=str(annotations.get(DO_NOT_DISRUPT, "")).lower() == "true",
                anti_affinity=hostname_anti_affinity(
                    body.get("spec") or {}, meta.get("namespace", "")
                ),
            )
        }

    @kopf.index("v1", "nodes", id="nodes_by_name", registry=registry)
    def nodes_by_name(name: str, body: kopf.Body, **_: Any) -> dict[str, dict[str, Any]]:
        return {name: dict(body)}

    @kopf.index("v1", "nodes", id="node_names_by_provider_id", registry=registry)
    def node_names_by_provider_id(name: str, spec: kopf.Spec, **_: Any) -> dict[str, str] | None:
        """A claim knows its instance's provider id before it knows the Node's name (EC2
        names Nodes after the instance's private DNS name)."""
        provider_id = spec.get("providerID")
        return {provider_id: name} if provider_id else None

    @kopf.index("apps", "v1", "daemonsets", id="daemonset_pods", registry=registry)
    def daemonset_pods(body: kopf.Body, **_: Any) -> dict[str, Any]:
        return {_ALL: daemonset_pod(body)}

    @kopf.index(GROUP, VERSION, "nodepools", id="node_pools", registry=registry)
    def node_pools(name: str, body: kopf.Body, **_: Any) -> dict[str, dict[str, Any]]:
        return {name: dict(body)}

    @kopf.index(GROUP, VERSION, "nodeclaims", id="node_claims", registry=registry)
    def node_claims(name: str, body: kopf.Body, **_: Any) -> dict[str, dict[str, Any]]:
        return {_ALL: dict(body)}

    @kopf.index(GROUP, VERSION, "simulatednodeclasses", id="sim_classes", registry=registry)
    def sim_classes(name: str, spec: kopf.Spec, **_: Any) -> dict[tuple[str, str], Any]:
        return {("SimulatedNodeClass", name): dict(spec)}

    @kopf.index(GROUP, VERSION, "awsnodeclasses", id="aws_classes", registry=registry)
    def aws_classes(name: str, spec: kopf.Spec, **_: Any) -> dict[tuple[str, str], Any]:
        return {("AWSNodeClass", name): dict(spec)}

    del pending_pods, node_pods, nodes_by_name, node_names_by_provider_id, daemonset_pods
    del node_pools, node_claims
    del sim_classes, aws_classes


# -- provisioning -----------------------------------------------------------------------------


async def _provision(memo: kopf.Memo, indexes: Mapping[str, Any]) -> None:
    pending = list(indexes["pending_pods"].get(_ALL, []))
    pools = _valid_pools(indexes)
    claims = list(indexes["node_claims"].get(_ALL, []))
    nodes = _existing_nodes(indexes, claims)
    daemonsets = list(indexes["daemonset_pods"].get(_ALL, []))
    outcome = await asyncio.to_thread(
        memo.provisioner.provision, pending, pools, nodes, daemonsets, claims
    )
    by_uid = {pod.uid: pod for pod in pending}
    for uid, why in outcome.newly_unschedulable.items():
        pod = by_uid.get(uid)
        if pod is not None:
            kopf.warn(
                pod_reference(pod.namespace, pod.name, pod.uid), reason="NoNodeFits", message=why
            )


def _valid_pools(indexes: Mapping[str, Any]) -> list[PoolObject]:
    pools = []
    for store in indexes["node_pools"].values():
        for body in store:
            verdict = validate_spec(NODE_POOL_KIND, body.get("spec"))
            if not isinstance(verdict.spec, NodePoolSpec):
                continue
            ref = verdict.spec.template.node_class_ref
            try:
                zones = tuple(_class_spec(ref.kind, ref.name, indexes).get("zones") or ())
            except kopf.TemporaryError:
                continue  # its node class is missing: the other pools still serve
            meta = body["metadata"]
            pools.append(PoolObject(meta["name"], meta.get("uid", ""), verdict.spec, zones))
    return pools


def _existing_nodes(indexes: Mapping[str, Any], claims: list[dict[str, Any]]) -> list[ExistingNode]:
    """Schedulable Nodes with their pods (those of claims still starting without their
    passing taints), and claims without a Node yet as empty nodes."""
    bound = indexes["node_pods"]
    catalog = load_catalog()
    # The Node a claim has or will have: the one it registered, else one named like it.
    by_node = {
        (claim.get("status") or {}).get("nodeName") or claim["metadata"]["name"]: claim
        for claim in claims
    }
    found = []
    registered = set()
    for name, store in indexes["nodes_by_name"].items():
        node = next(iter(store), None)
        if node is None:
            continue
        registered.add(name)
        if (node.get("spec") or {}).get("unschedulable"):
            continue  # cordoned (e.g. being removed): no room for new pods
        pods = list(bound.get(name, []))
        requested: dict[str, float] = {}
        for pod in pods:
            for resource, amount in pod.requests.items():
                requested[resource] = requested.get(resource, 0.0) + amount
        view = replace(
            existing_node(node, []),
            requested=requested,
            pod_labels=tuple(pod.labels for pod in pods),
            repels=tuple(s for pod in pods for s in pod.anti_affinity),
        )
        claim = by_node.get(name)
        if claim is not None and not is_initialized(claim):
            view = starting_node(view, claim, catalog)
        found.append(view)
    found += [in_flight_node(c, catalog) for n, c in by_node.items() if n not in registered]
    return found


# -- NodeClaims ------------------------------------------------------------------------------


def _provider(claim: Mapping[str, Any], memo: kopf.Memo, indexes: Mapping[str, Any]) -> Any:
    ref = (claim.get("spec") or {}).get("nodeClassRef") or {}
    kind, name = ref.get("kind", ""), ref.get("name", "")
    spec = _class_spec(kind, name, indexes)
    try:
        return memo.providers.for_class(kind, name, spec)
    except UnknownNodeClassError as error:
        raise kopf.PermanentError(str(error)) from error


def _class_spec(kind: str, name: str, indexes: Mapping[str, Any]) -> dict[str, Any]:
    index = indexes["sim_classes"] if kind == "SimulatedNodeClass" else indexes["aws_classes"]
    found = next(iter(index.get((kind, name), [])), None)
    if found is None:
        raise kopf.TemporaryError(f"nodeClassRef: {kind} {name} does not exist", delay=10)
    return dict(found)


def _node_of(claim: Mapping[str, Any], indexes: Mapping[str, Any]) -> dict[str, Any] | None:
    """The claim's Node: by the name it recorded, its own name (the simulated provider's), or
    its instance's provider id."""
    status = claim.get("status") or {}
    nodes = indexes["nodes_by_name"]
    by_provider_id = indexes["node_names_by_provider_id"].get(status.get("providerID"), [])
    for name in (status.get("nodeName"), claim["metadata"]["name"], *by_provider_id):
        if name:
            node = next(iter(nodes.get(name, [])), None)
            if node is not None:
                return dict(node)
    return None


def _pool_labels(claim: Mapping[str, Any], indexes: Mapping[str, Any]) -> dict[str, str]:
    pool = ((claim.get("metadata") or {}).get("labels") or {}).get(NODE_POOL, "")
    body = next(iter(indexes["node_pools"].get(pool, [])), None)
    labels = dict((((body or {}).get("spec") or {}).get("template") or {}).get("labels") or {})
    return {**labels, NODE_POOL: pool}


# -- NodePools: empty nodes, status, garbage ----------------------------------------------------


async def _remove_empty_nodes(
    pool: str, body: kopf.Body, memo: kopf.Memo, indexes: Mapping[str, Any]
) -> None:
    verdict = validate_spec(NODE_POOL_KIND, body.get("spec"))
    if not isinstance(verdict.spec, NodePoolSpec):
        return
    disruption = verdict.spec.disruption
    settings = PoolDisruption(
        parse_duration(disruption.consolidate_after), tuple(b.nodes for b in disruption.budgets)
    )
    now = time.time()
    uses = []
    claims = {c["metadata"]["name"]: c for c in indexes["node_claims"].get(_ALL, [])}
    for name, store in indexes["nodes_by_name"].items():
        node = next(iter(store), None)
        labels = ((node or {}).get("metadata") or {}).get("labels") or {}
        if node is None or labels.get(NODE_POOL) != pool:
            continue
        pods = list(indexes["node_pods"].get(name, []))
        workload = [p for p in pods if not p.daemonset]
        empty = not workload
        since = memo.empty_since.get(name) if empty else None
        if empty and since is None:
            since = memo.empty_since[name] = now
        if not empty:
            memo.empty_since.pop(name, None)
        annotations = (node.get("metadata") or {}).get("annotations") or {}
        uses.append(
            NodeUse(
                name,
                pool,
                since,
                do_not_disrupt=str(annotations.get(DO_NOT_DISRUPT, "")).lower() == "true"
                or any(p.do_not_disrupt for p in pods),
                disrupting=bool((node.get("spec") or {}).get("unschedulable")),
            )
        )
    for use, why in empty_nodes_to_remove(uses, {pool: settings}, now):
        claim = _claim_of_node(use.name, claims)
        cluster = memo.claim_client
        await asyncio.to_thread(cluster.patch_node, use.name, {"spec": {"unschedulable": True}})
        if claim is not None:
            await asyncio.to_thread(cluster.delete_claim, claim)
        kopf.info(body, reason="NodeRemoved", message=f"Node {use.name}: {why}")
        memo.empty_since.pop(use.name, None)


def _claim_of_node(node: str, claims: Mapping[str, Mapping[str, Any]]) -> str | None:
    for name, claim in claims.items():
        if name == node or (claim.get("status") or {}).get("nodeName") == node:
            return name
    return None


def _write_pool_status(
    pool: str,
    body: kopf.Body,
    status: kopf.Status,
    patch: kopf.Patch,
    indexes: Mapping[str, Any],
) -> None:
    """Nodes and capacity the pool holds, and whether it can provision at all."""
    claims = [
        c
        for c in indexes["node_claims"].get(_ALL, [])
        if ((c.get("metadata") or {}).get("labels") or {}).get(NODE_POOL) == pool
    ]
    in_use = in_use_by_pool(claims).get(pool, {})
    resources = quantities(in_use)
    if status.get("nodes") != len(claims) or status.get("resources") != resources:
        patch.status["nodes"] = len(claims)
        patch.status["resources"] = resources
    verdict = validate_spec(NODE_POOL_KIND, body.get("spec"))
    if not isinstance(verdict.spec, NodePoolSpec):
        return
    problem = pool_problem(pool_view(pool, verdict.spec, in_use), load_catalog().types)
    reason, message = problem or ("InstanceTypesAvailable", "Some instance types fit the pool.")
    condition = make_condition(
        "Provisionable", "False" if problem else "True", reason, message, now_rfc3339()
    )
    conditions = merge_conditions(status.get("conditions"), [condition])
    if conditions != status.get("conditions"):
        patch.status["conditions"] = conditions


async def _collect(pool: str, memo: kopf.Memo, indexes: Mapping[str, Any]) -> None:
    """Instances of this pool's node class that no claim knows are given back; claims of that
    class whose instance is gone are deleted."""
    body = next(iter(indexes["node_pools"].get(pool, [])), None)
    if body is None:
        return
    ref = ((body.get("spec") or {}).get("template") or {}).get("nodeClassRef") or {}
    kind, name = ref.get("kind", ""), ref.get("name", "")
    try:
        provider = memo.providers.for_class(kind, name, _class_spec(kind, name, indexes))
    except (UnknownNodeClassError, kopf.TemporaryError):
        return
    claims = list(indexes["node_claims"].get(_ALL, []))
    instances = await asyncio.to_thread(provider.list)
    now = time.time()
    for instance in orphans(instances, claims):
        if now - instance.launched_at < LOST_AFTER:
            continue  # a launch whose claim status is still being written
        await asyncio.to_thread(provider.delete, instance.provider_id)
    same_class = [
        claim
        for claim in claims
        if ((claim.get("spec") or {}).get("nodeClassRef") or {}).get("kind") == kind
        and (claim["spec"]["nodeClassRef"]).get("name") == name
    ]
    for claim in lost_claims(same_class, instances, now):
        await asyncio.to_thread(memo.claim_client.delete_claim, claim)
        memo.provisioner.requeue()  # its pods need another node


async def _collect_templates(
    name: str, body: kopf.Body, memo: kopf.Memo, indexes: Mapping[str, Any]
) -> None:
    """Launch templates no AWSNodeClass uses are deleted. Every class has the timer, but only
    the alphabetically first one's runs it: once per cluster, over all the classes."""
    classes: dict[str, dict[str, Any]] = {}
    for (_, class_name), store in indexes["aws_classes"].items():
        spec = next(iter(store), None)
        if spec is not None:
            classes[class_name] = dict(spec)
    if not classes or name != min(classes):
        return
    operator: Settings = memo.settings
    provider_of = partial(memo.providers.for_class, AWS)
    deleted = await asyncio.to_thread(
        collect_templates, classes, provider_of, operator.cluster_name, time.time()
    )
    if deleted:
        kopf.info(
            body,
            reason="LaunchTemplatesDeleted",
            message=f"Deleted {len(deleted)} launch template{'s' if len(deleted) > 1 else ''} "
            f"no AWSNodeClass uses: {', '.join(deleted)}",
        )


def _ec2(region: str) -> Any:
    import boto3

    return boto3.client("ec2", region_name=region)


__all__ = ["register"]
