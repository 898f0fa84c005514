"""Recommender checkpoints kept in ConfigMaps beside their VerticalScaler.

One ConfigMap per VerticalScaler, ``trimtab-checkpoint-<name>`` in its namespace, with one
binaryData key per container. Its ownerReference is the VerticalScaler, so Kubernetes' garbage
collector deletes it with the VerticalScaler: no sweeper needed, nothing left behind.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import kubernetes

from trimtab.api.common import API_VERSION
from trimtab.recommender.checkpoint import Checkpoint

PREFIX = "trimtab-checkpoint-"
STRATEGY_ANNOTATION = "trimtab.dev/strategy"
LAST_SAMPLE_ANNOTATION = "trimtab.dev/last-sample"
LABEL = "trimtab.dev/checkpoint"


def checkpoint_name(scaler: str) -> str:
    return f"{PREFIX}{scaler}"[:253]


class ConfigMapCheckpoints:
    """Load and save checkpoints through the Kubernetes API."""

    def __init__(self, connect: Callable[[], kubernetes.client.ApiClient]) -> None:
        # Connected on first use, so an operator without credentials for its own calls still
        # starts and serves everything else; the failure shows on the first checkpoint.
        self._connect = connect
        self._client: kubernetes.client.CoreV1Api | None = None

    @property
    def _api(self) -> kubernetes.client.CoreV1Api:
        if self._client is None:
            self._client = kubernetes.client.CoreV1Api(self._connect())
        return self._client

    def load(self, namespace: str, scaler: str) -> Checkpoint | None:
        try:
            found = self._api.read_namespaced_config_map(checkpoint_name(scaler), namespace)
        except kubernetes.client.ApiException as error:
            if error.status == 404:
                return None
            raise
        annotations = (found.metadata.annotations if found.metadata else None) or {}
        if STRATEGY_ANNOTATION not in annotations or LAST_SAMPLE_ANNOTATION not in annotations:
            return None
        return Checkpoint(
            strategy=annotations[STRATEGY_ANNOTATION],
            last_sample=float(annotations[LAST_SAMPLE_ANNOTATION]),
            containers={
                name: base64.b64decode(data) for name, data in (found.binary_data or {}).items()
            },
        )

    def save(self, namespace: str, scaler: str, owner_uid: str, checkpoint: Checkpoint) -> None:
        body: Any = {  # the client takes plain dicts as well as its models
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": checkpoint_name(scaler),
                "namespace": namespace,
                "labels": {LABEL: "true", "app.kubernetes.io/managed-by": "trimtab"},
                "annotations": {
                    STRATEGY_ANNOTATION: checkpoint.strategy,
                    LAST_SAMPLE_ANNOTATION: repr(checkpoint.last_sample),
                },
                "ownerReferences": [
                    {
                        "apiVersion": API_VERSION,
                        "kind": "VerticalScaler",
                        "name": scaler,
                        "uid": owner_uid,
                    }
                ],
            },
            "binaryData": {
                name: base64.b64encode(data).decode()
                for name, data in checkpoint.containers.items()
            },
        }
        try:
            self._api.create_namespaced_config_map(namespace, body)
        except kubernetes.client.ApiException as error:
            if error.status != 409:
                raise
            self._api.patch_namespaced_config_map(checkpoint_name(scaler), namespace, body)
