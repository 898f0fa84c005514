"""Factories for Trimtab objects in tests: a valid object by default, overrides by keyword."""

from __future__ import annotations

import copy
from typing import Any

API_VERSION = "trimtab.dev/v1alpha1"


def _object(kind: str, name: str, spec: dict[str, Any], namespace: str | None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "spec": spec}


def deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` merged in, recursively for nested mappings."""
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def vertical_scaler(name: str = "web", namespace: str = "default", **spec: Any) -> dict[str, Any]:
    base = {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}}
    return _object("VerticalScaler", name, deep_merge(base, spec), namespace)


def recommender_profile(name: str = "default", **spec: Any) -> dict[str, Any]:
    return _object("RecommenderProfile", name, deep_merge({"strategy": "vpa"}, spec), None)


def horizontal_scaler(name: str = "web", namespace: str = "default", **spec: Any) -> dict[str, Any]:
    base = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
        "minReplicas": 1,
        "maxReplicas": 10,
        "metrics": [
            {"type": "Resource", "resource": {"name": "cpu", "targetAverageUtilization": 70}}
        ],
    }
    return _object("HorizontalScaler", name, deep_merge(base, spec), namespace)


def node_pool(name: str = "general", **spec: Any) -> dict[str, Any]:
    base = {
        "template": {
            "nodeClassRef": {"group": "trimtab.dev", "kind": "SimulatedNodeClass", "name": "sim"},
        }
    }
    return _object("NodePool", name, deep_merge(base, spec), None)


def node_claim(name: str = "general-abcde", **spec: Any) -> dict[str, Any]:
    base = {
        "resources": {"cpu": "1", "memory": "2Gi"},
        "nodeClassRef": {"group": "trimtab.dev", "kind": "SimulatedNodeClass", "name": "sim"},
    }
    return _object("NodeClaim", name, deep_merge(base, spec), None)


def simulated_node_class(name: str = "sim", **spec: Any) -> dict[str, Any]:
    return _object("SimulatedNodeClass", name, deep_merge({"bootDelay": "1s"}, spec), None)


def aws_node_class(name: str = "default", **spec: Any) -> dict[str, Any]:
    base = {
        "region": "us-east-1",
        "amiId": "ami-0123456789abcdef0",
        "subnetSelectorTerms": [{"tags": {"cluster": "test"}}],
        "securityGroupSelectorTerms": [{"id": "sg-0123"}],
    }
    return _object("AWSNodeClass", name, deep_merge(base, spec), None)


VALID_OBJECTS = {
    "VerticalScaler": vertical_scaler,
    "RecommenderProfile": recommender_profile,
    "HorizontalScaler": horizontal_scaler,
    "NodePool": node_pool,
    "NodeClaim": node_claim,
    "SimulatedNodeClass": simulated_node_class,
    "AWSNodeClass": aws_node_class,
}
"""A factory of a valid object for every kind."""
