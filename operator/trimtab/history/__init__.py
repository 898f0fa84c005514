"""Synthetic usage history: the traces that tests, benchmarks and the demo run on.

`generator` builds per-container CPU and memory series for named workload classes with fixed
seeds; `openmetrics` writes them with cAdvisor's and kube-state-metrics' names so that
`promtool` can backfill them into a real Prometheus; `prometheus_server` (a development and
test helper, not part of the operator) runs that Prometheus.
"""

from trimtab.history.generator import (
    WorkloadClass,
    WorkloadHistory,
    WorkloadSpec,
    generate,
    standard_workloads,
)
from trimtab.history.openmetrics import write_openmetrics, write_openmetrics_file

__all__ = [
    "WorkloadClass",
    "WorkloadHistory",
    "WorkloadSpec",
    "generate",
    "standard_workloads",
    "write_openmetrics",
    "write_openmetrics_file",
]
