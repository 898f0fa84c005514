"""A horizontal scaler on CPU and a vertical one on CPU fight each other; find such a pair.

Raising the CPU request lowers the utilisation a horizontal scaler sees, so it removes pods,
which raises the usage per pod, which raises the recommendation again. The updater therefore
leaves CPU alone when a Trimtab HorizontalScaler or a native HorizontalPodAutoscaler scales the
same workload on CPU. The objects are passed as plain bodies, as a watch or a list gives them.

A native ``autoscaling/v2`` HPA with no metrics scales on 80 % CPU utilisation (the API's
default), so it counts as scaling on CPU.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def cpu_scaling_conflict(
    namespace: str,
    workload: tuple[str, str],
    horizontal_scalers: Iterable[Mapping[str, Any]],
    hpas: Iterable[Mapping[str, Any]],
) -> str | None:
    """A message naming the first horizontal scaler of ``workload`` (kind, name) in
    ``namespace`` that scales on CPU, HorizontalScalers before HPAs; None when there is none."""
    kind, name = workload
    for scaler in horizontal_scalers:
        if _targets(scaler, namespace, workload) and any(
            _resource_cpu(metric) for metric in _metrics(scaler)
        ):
            return f"HorizontalScaler {_name(scaler)} scales {kind} {name} on CPU utilisation"
    for hpa in hpas:
        if not _targets(hpa, namespace, workload):
            continue
        how = _hpa_cpu(_metrics(hpa))
        if how is not None:
            return f"HorizontalPodAutoscaler {_name(hpa)} scales {kind} {name} on {how}"
    return None


def _targets(body: Mapping[str, Any], namespace: str, workload: tuple[str, str]) -> bool:
    """The object lives in ``namespace`` and its scaleTargetRef is ``workload``."""
    meta = _mapping(body.get("metadata"))
    ref = _mapping(_mapping(body.get("spec")).get("scaleTargetRef"))
    return meta.get("namespace") == namespace and (ref.get("kind"), ref.get("name")) == workload


def _hpa_cpu(metrics: list[Mapping[str, Any]]) -> str | None:
    """How an HPA's metrics use CPU ("CPU utilisation", "CPU usage"), None when they do not."""
    if not metrics:
        return "CPU utilisation (the default 80 % when no metrics are set)"
    for metric in metrics:
        if _resource_cpu(metric):
            source = _mapping(metric.get("resource"))
        elif metric.get("type") == "ContainerResource" and (
            _mapping(metric.get("containerResource")).get("name") == "cpu"
        ):
            source = _mapping(metric.get("containerResource"))
        else:
            continue
        target_type = _mapping(source.get("target")).get("type")
        return "CPU utilisation" if target_type in (None, "Utilization") else "CPU usage"
    return None


def _resource_cpu(metric: Mapping[str, Any]) -> bool:
    return (
        metric.get("type") == "Resource" and _mapping(metric.get("resource")).get("name") == "cpu"
    )


def _metrics(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    metrics = _mapping(body.get("spec")).get("metrics")
    return [_mapping(metric) for metric in metrics] if isinstance(metrics, list) else []


def _name(body: Mapping[str, Any]) -> str:
    return str(_mapping(body.get("metadata")).get("name") or "")


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


__all__ = ["cpu_scaling_conflict"]
