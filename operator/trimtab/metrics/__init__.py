"""The Prometheus port: the only code that talks to Prometheus.

`PrometheusConfig` says where Prometheus is and what its series are called,
`PrometheusClient` sends queries (typed errors, a query count), and `UsageReader` turns
cAdvisor and kube-state-metrics series into `UsageBatch`es for the recommender.
`ScalingMetricsReader` reads a HorizontalScaler's metrics each loop and their history.
"""

from trimtab.metrics.batch import (
    ContainerKey,
    ContainerRequests,
    DropCounts,
    OomKill,
    Samples,
    UsageBatch,
    WorkloadContainer,
)
from trimtab.metrics.client import PrometheusClient, QueryClient, Series
from trimtab.metrics.config import LabelNames, MetricNames, PrometheusConfig
from trimtab.metrics.errors import MetricsError, MetricsUnavailable, QueryError
from trimtab.metrics.owners import KIND_POD, KIND_UNKNOWN
from trimtab.metrics.promql import Selection
from trimtab.metrics.scaling import (
    MetricFailure,
    MultipleSeriesError,
    ScalingMetricsReader,
    TargetPod,
)
from trimtab.metrics.usage import UsageReader

__all__ = [
    "KIND_POD",
    "KIND_UNKNOWN",
    "ContainerKey",
    "ContainerRequests",
    "DropCounts",
    "LabelNames",
    "MetricFailure",
    "MetricNames",
    "MetricsError",
    "MetricsUnavailable",
    "MultipleSeriesError",
    "OomKill",
    "PrometheusClient",
    "PrometheusConfig",
    "QueryClient",
    "QueryError",
    "Samples",
    "ScalingMetricsReader",
    "Selection",
    "Series",
    "TargetPod",
    "UsageBatch",
    "UsageReader",
    "WorkloadContainer",
]
