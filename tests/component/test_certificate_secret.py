"""The webhook's self-signed certificate is made once and shared through a Secret."""

from __future__ import annotations

import asyncio
import base64

import kubernetes
import pytest

from tests.component.harness import Cluster
from trimtab.admission.certificates import (
    ServingCertificate,
    self_signed_certificate,
    still_usable,
)
from trimtab.kube.secrets import shared_certificate

NS = "trimtab-system"
HOSTS = ["trimtab-webhook.trimtab-system.svc", "localhost"]


@pytest.fixture
def connect(cluster: Cluster) -> kubernetes.client.ApiClient:
    return cluster.connector()()


async def _shared(client: kubernetes.client.ApiClient, hosts: list[str]) -> ServingCertificate:
    made: list[ServingCertificate] = []

    def make() -> ServingCertificate:
        made.append(self_signed_certificate(hosts))
        return made[-1]

    return await asyncio.to_thread(
        shared_certificate,
        client,
        NS,
        "trimtab-webhook-cert",
        make,
        lambda kept: still_usable(kept, hosts),
    )


async def test_the_first_replica_stores_it_and_the_next_reuses_it(
    cluster: Cluster, connect: kubernetes.client.ApiClient
) -> None:
    first = await _shared(connect, HOSTS)
    second = await _shared(connect, HOSTS)

    assert second == first
    secret = cluster.get("Secret", "trimtab-webhook-cert", namespace=NS)
    assert secret is not None
    assert base64.b64decode(secret["data"]["tls.crt"]) == first.certificate
    assert secret["type"] == "kubernetes.io/tls"


async def test_a_certificate_for_other_hosts_is_replaced(
    cluster: Cluster, connect: kubernetes.client.ApiClient
) -> None:
    first = await _shared(connect, ["old-name.trimtab-system.svc"])
    second = await _shared(connect, HOSTS)

    assert second != first
    assert still_usable(second, HOSTS)
    secret = cluster.get("Secret", "trimtab-webhook-cert", namespace=NS)
    assert base64.b64decode(secret["data"]["tls.crt"]) == second.certificate
