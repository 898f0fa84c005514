"""The operator's settings: built once at start-up from flags and the environment.

Every setting can come from a ``TRIMTAB_*`` environment variable (e.g. ``TRIMTAB_STANDALONE=true``)
or from the matching ``trimtab run`` flag, which wins. The object is put into kopf's memo and
handed down from there; nothing below the command line reads the environment.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from trimtab.metrics.config import PrometheusConfig


class Settings(BaseSettings):
    """Everything the operator process can be told at start-up."""

    model_config = SettingsConfigDict(
        env_prefix="TRIMTAB_",
        env_nested_delimiter="__",
        env_parse_none_str="null",  # e.g. TRIMTAB_PROMETHEUS__FULL_RESOLUTION_S=null
        extra="forbid",
        use_attribute_docstrings=True,
    )

    namespaces: list[str] = Field(default_factory=list)
    """Namespaces to watch for namespaced kinds; all namespaces when empty."""
    standalone: bool = False
    """Run without peering (one replica only). Peering keeps two replicas from both acting."""
    peering_name: str = "trimtab"
    """Name of the ClusterKopfPeering object shared by the operator's replicas."""
    probe_host: str = "0.0.0.0"
    """Address of the liveness and readiness endpoint."""
    probe_port: int = Field(default=8080, ge=1, le=65535)
    """Port of the liveness and readiness endpoint (`/healthz`)."""
    log_format: Literal["json", "plain", "full"] = "json"
    """json gives one structured record per line, for log collectors."""
    log_level: Literal["debug", "info", "warning"] = "info"
    """How much to log."""
    dry_run: bool = False
    """Globally: log and emit Events for every action, but evict, resize, scale, buy and
    delete nothing."""
    prometheus: PrometheusConfig = Field(default_factory=PrometheusConfig)
    """How to reach Prometheus and what its metrics and labels are called
    (`TRIMTAB_PROMETHEUS__URL`, `TRIMTAB_PROMETHEUS__CA_FILE`, ...)."""
    recommender_enabled: bool = True
    """Compute recommendations for VerticalScalers from Prometheus history."""
    recommender_interval_s: float = Field(default=60.0, gt=0)
    """How often each VerticalScaler's recommendation is refreshed."""
    checkpoint_interval_s: float = Field(default=300.0, gt=0)
    """How often recommender state is saved to its checkpoint ConfigMap."""
    horizontal_enabled: bool = True
    """Scale the replica counts of HorizontalScalers' targets."""
    horizontal_tick_s: float = Field(default=5.0, gt=0)
    """How often each HorizontalScaler's timer wakes to see whether its `pollInterval`
    (15 s by default) has passed; a shorter pollInterval is rounded up to this."""
    horizontal_forecast_interval_s: float = Field(default=300.0, gt=0)
    """How often predictive mode reads a metric's history and forecasts it again; between
    times each sync reuses the last forecast."""
    updater_enabled: bool = True
    """Apply recommendations to running pods of VerticalScalers in Recreate or
    InPlaceOrRecreate mode (evict or resize them)."""
    updater_interval_s: float = Field(default=60.0, gt=0)
    """How often each VerticalScaler's pods are compared with its recommendation."""
    updater_max_updates_per_minute: float = Field(default=60.0, gt=0)
    """Evictions and resizes per minute across the whole cluster (each VerticalScaler also has
    its own `maxUpdatesPerMinute`)."""
    provisioner_enabled: bool = True
    """Buy nodes for unschedulable pods as NodePools allow, and give back empty ones (nothing
    happens without a NodePool)."""
    provisioner_batch_idle_s: float = Field(default=1.0, gt=0)
    """A batch of unschedulable pods closes after this long without a new one..."""
    provisioner_batch_max_s: float = Field(default=10.0, gt=0)
    """...or after this long at most."""
    cluster_name: str = Field(default="trimtab", min_length=1, max_length=63)
    """Tags every cloud resource Trimtab creates, so that instances of this cluster are told
    apart from others' (garbage collection only ever touches its own)."""
    operator_namespace: str = "trimtab-system"
    """The namespace the operator runs in; the webhook never acts on pods there."""
    kubeconfig: str | None = None
    """Kubeconfig for Trimtab's own API calls outside a pod; `$KUBECONFIG` when unset."""
    webhook_enabled: bool = True
    """Serve the pod admission webhook and register it with the apiserver."""
    webhook_listen_address: str = "0.0.0.0"
    """Address the webhook server listens on."""
    webhook_port: int = Field(default=9443, ge=1, le=65535)
    """Port the webhook server listens on."""
    webhook_url: str | None = None
    """Base URL the apiserver calls (e.g. `https://127.0.0.1:9443` on a local cluster); when
    unset the apiserver goes through the webhook Service."""
    webhook_service: str = "trimtab-system/trimtab-webhook"
    """namespace/name of the webhook Service, used when webhookUrl is unset."""
    webhook_cert_dir: str | None = None
    """Folder holding tls.crt, tls.key and ca.crt (e.g. a cert-manager Secret); a self-signed
    certificate is made at start-up when unset."""
    webhook_cert_secret: str | None = "trimtab-webhook-cert"
    """Secret in the operator's namespace that keeps the self-signed certificate, so every
    replica serves the same one (made by the first replica to start, renewed 30 days before
    it ends); `null` makes a certificate per process. Unused when webhookCertDir is set."""
    webhook_configuration: str = "trimtab.dev"
    """Name of the MutatingWebhookConfiguration the operator writes."""
    webhook_timeout_seconds: int = Field(default=5, ge=1, le=30)
    """How long the apiserver waits for the webhook before admitting the pod unchanged."""

    @property
    def probe_endpoint(self) -> str:
        """The URL kopf serves the probes on."""
        return f"http://{self.probe_host}:{self.probe_port}/healthz"
