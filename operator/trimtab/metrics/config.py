"""How to reach Prometheus and what its series are called.

Defaults are cAdvisor's and kube-state-metrics' own names, but managed Prometheus services
(and relabelling rules in self-run ones) rename labels (`kubernetes_namespace`,
`pod_name`, ...) and add an external label per cluster, so every metric and label name the
port uses is configurable, and `extra_selector` (for example `cluster="prod"`) is added to
every series selector it sends.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

# Prometheus refuses range queries with more than 11,000 points per series.
PROMETHEUS_MAX_POINTS_PER_SERIES = 11_000

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class MetricNames(BaseModel):
    """Names of the series the port reads (cAdvisor and kube-state-metrics by default)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    cpu: str = "container_cpu_usage_seconds_total"
    """Cumulative CPU seconds per container (a counter)."""
    memory: str = "container_memory_working_set_bytes"
    """Working set per container in bytes (what the kubelet evicts and OOM-kills on)."""
    pod_owner: str = "kube_pod_owner"
    """Pod -> owner (ReplicaSet, StatefulSet, DaemonSet, Job, ...)."""
    replicaset_owner: str = "kube_replicaset_owner"
    """ReplicaSet -> owner (usually a Deployment)."""
    requests: str = "kube_pod_container_resource_requests"
    """Requested resources per container (cpu in cores, memory in bytes)."""
    last_terminated_reason: str = "kube_pod_container_status_last_terminated_reason"
    """Why a container last terminated (`reason` label, e.g. OOMKilled)."""
    restarts: str = "kube_pod_container_status_restarts_total"
    """Container restarts (a counter); dates each OOM kill."""

    @field_validator("*")
    @classmethod
    def _metric_name(cls, value: str) -> str:
        if not _METRIC_NAME.fullmatch(value):
            raise ValueError(f"{value!r} is not a Prometheus metric name")
        return value


class LabelNames(BaseModel):
    """Names of the labels the port reads and selects on."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    namespace: str = "namespace"
    pod: str = "pod"
    container: str = "container"
    owner_kind: str = "owner_kind"
    owner_name: str = "owner_name"
    owner_is_controller: str = "owner_is_controller"
    replicaset: str = "replicaset"
    resource: str = "resource"
    """On the requests metric: `cpu` or `memory`."""
    reason: str = "reason"
    """On the last-terminated-reason metric."""

    @field_validator("*")
    @classmethod
    def _label_name(cls, value: str) -> str:
        if not _LABEL_NAME.fullmatch(value) or value.startswith("__"):
            raise ValueError(f"{value!r} is not a usable Prometheus label name")
        return value


class PrometheusConfig(BaseModel):
    """Everything the metrics port needs to know about the Prometheus it reads."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    url: str = "http://prometheus-operated.monitoring.svc:9090"
    """Base URL of the Prometheus HTTP API (without `/api/v1`)."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Extra headers sent with every query, e.g. `X-Scope-OrgID` for a multi-tenant
    Mimir/Cortex/Thanos."""
    auth_header_name: str = "Authorization"
    """Header carrying the credentials."""
    auth_header_value: SecretStr | None = None
    """Its whole value, e.g. `Bearer abc...` (or `Basic ...`)."""
    auth_token_file: Path | None = None
    """A file holding a token, read at every query so rotated tokens (projected service
    account tokens) are picked up; sent as `<auth_token_scheme> <token>`."""
    auth_token_scheme: str = "Bearer"
    ca_file: Path | None = None
    """CA bundle to verify the server's certificate with (default: the system's)."""
    insecure_skip_verify: bool = False
    """Do not verify the server's certificate at all."""
    client_cert_file: Path | None = None
    """Client certificate for mutual TLS (PEM; may also hold the key)."""
    client_key_file: Path | None = None
    timeout_s: float = Field(default=30.0, gt=0)
    """Per request: connecting and waiting for the answer."""
    accept_gzip: bool = False
    """Ask for gzip-compressed answers. They are 8-10 times smaller, but compressing costs
    Prometheus about 3 s of CPU per 35 MB answer (100 series x 10,000 points) on a 2-core
    machine, several times the query itself, so it pays only over a slow link to a remote
    Prometheus; in the cluster, plain answers are faster."""
    retries: int = Field(default=2, ge=0, le=10)
    """Transport retries on connection errors and 502/503/504, before MetricsUnavailable."""
    retry_backoff_s: float = Field(default=0.5, ge=0)
    metrics: MetricNames = Field(default_factory=MetricNames)
    labels: LabelNames = Field(default_factory=LabelNames)
    extra_selector: str = ""
    """Label matchers added to every series selector, e.g. `cluster="prod"`."""
    max_points_per_series: int = Field(
        default=PROMETHEUS_MAX_POINTS_PER_SERIES, ge=1, le=PROMETHEUS_MAX_POINTS_PER_SERIES
    )
    """Longest range query, in points per series (Prometheus refuses more than 11,000)."""
    max_samples_per_query: int = Field(default=20_000_000, ge=1000)
    """Budget of samples one query may hold in Prometheus at once; kept well under the
    server's `--query.max-samples` (50 million by default) so other users' queries still fit."""
    lookback_s: float = Field(default=300.0, gt=0)
    """Prometheus's lookback delta: how far back an instant query finds a sample."""
    full_resolution_s: float | None = Field(default=3 * 86_400.0, gt=0)
    """Reads reaching further back than this (a bootstrap of a 14-day window) read only the
    most recent `full_resolution_s` at the reader's step; the older part is read at
    `coarse_step_s`, each CPU value spread over the minutes of its step. None reads
    everything at full resolution. Three days hold 87.5 % of the weight of a 24 h-half-life
    histogram, and a 14-day bootstrap of 1,000 containers then takes a quarter of the time
    (see `trimtab.metrics.usage`)."""
    coarse_step_s: float = Field(default=300.0, ge=1)
    """Step of the older part of long reads: a whole multiple of the reader's step."""
    cpu_rate: Literal["auto", "irate", "rate"] = "auto"
    """How CPU usage is derived from the counter; `auto` uses irate for steps up to two
    minutes and rate above (see `trimtab.metrics.promql.cpu_query`)."""

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        value = value.strip()
        if not value.startswith(("http://", "https://")):
            raise ValueError("url must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not _HEADER_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not an HTTP header name")
        return value

    @field_validator("auth_header_name")
    @classmethod
    def _auth_header_name(cls, value: str) -> str:
        if not _HEADER_NAME.fullmatch(value):
            raise ValueError(f"{value!r} is not an HTTP header name")
        return value

    @field_validator("extra_selector")
    @classmethod
    def _extra_selector(cls, value: str) -> str:
        value = value.strip().strip(",").strip()
        if any(character in value for character in "{}\n"):
            raise ValueError('extra_selector is a list of matchers like cluster="prod", no braces')
        return value

    @model_validator(mode="after")
    def _one_credential(self) -> PrometheusConfig:
        if self.auth_header_value is not None and self.auth_token_file is not None:
            raise ValueError("set auth_header_value or auth_token_file, not both")
        if self.client_key_file is not None and self.client_cert_file is None:
            raise ValueError("client_key_file needs client_cert_file")
        return self
