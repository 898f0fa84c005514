"""Write generated histories as OpenMetrics text, for `promtool tsdb create-blocks-from`.

The series carry cAdvisor's and kube-state-metrics' real names and labels, so the operator's
PromQL runs unchanged against backfilled history:

- container_cpu_usage_seconds_total (counter), container_memory_working_set_bytes (gauge),
  labels namespace, pod, container;
- kube_pod_owner, kube_replicaset_owner (Deployments only), kube_pod_container_resource_requests
  (cpu in cores, memory in bytes), kube_pod_container_resource_limits (memory),
  kube_pod_container_status_restarts_total, and kube_pod_container_status_last_terminated_reason
  (from a container's first restart on).

OpenMetrics wants each metric family's lines together, each series' samples in time order
(promtool silently drops samples that go back in time), timestamps in seconds, and `# EOF`
last. Output is streamed one series at a time, so 14 days of hundreds of series needs memory
for one series' text only; numbers are formatted with `repr` (the shortest text that reads
back as the same float64), which makes a round trip through Prometheus exact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np
from numpy.typing import NDArray

from trimtab.history.generator import WorkloadHistory

_WRITE_BUFFER_BYTES = 1 << 20


@dataclass(frozen=True)
class Series:
    """One series: its label text, and its samples' values and `" <timestamp>\\n"` endings."""

    labels: str
    values: Sequence[str]
    endings: Sequence[str]


@dataclass(frozen=True)
class _Times:
    """A history's sample times as line endings: all of them, and the kube-state subset."""

    endings: list[str]
    kube_state_index: NDArray[np.intp]
    kube_state_endings: list[str]

    @classmethod
    def of(cls, history: WorkloadHistory, kube_state_stride: int) -> _Times:
        endings = [f" {stamp}\n" for stamp in format_timestamps(history.timestamps)]
        samples = len(endings)
        index = np.arange(0, samples, kube_state_stride)
        if samples and index[-1] != samples - 1:
            index = np.append(index, samples - 1)  # the last sample is always there
        return cls(endings, index, [endings[i] for i in index.tolist()])


@dataclass(frozen=True)
class _Family:
    name: str
    type: str
    help: str
    series: Callable[[WorkloadHistory, _Times], Iterator[Series]]

    @property
    def sample_name(self) -> str:
        return f"{self.name}_total" if self.type == "counter" else self.name


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_labels(labels: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f'{key}="{escape_label_value(value)}"' for key, value in labels)
    return "{" + inner + "}"


def _float_text(value: float) -> str:
    if np.isnan(value):
        return "NaN"
    if np.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def format_floats(values: NDArray[np.float64]) -> list[str]:
    """Shortest round-trip text of each float; whole numbers without a fraction."""
    if not np.all(np.isfinite(values)):
        return [_float_text(v) for v in values.tolist()]
    if np.all(values == np.rint(values)) and np.all(np.abs(values) < 2.0**53):
        return [str(v) for v in values.astype(np.int64).tolist()]
    return [repr(v) for v in values.tolist()]


def format_timestamps(timestamps: NDArray[np.float64]) -> list[str]:
    """Seconds, as integers where they are whole, otherwise to the millisecond."""
    if np.all(timestamps == np.rint(timestamps)):
        return [str(t) for t in timestamps.astype(np.int64).tolist()]
    return [repr(round(t, 3)) for t in timestamps.tolist()]


def _container_labels(history: WorkloadHistory, pod: int, container: int) -> list[tuple[str, str]]:
    return [
        ("namespace", history.namespace),
        ("pod", history.pods[pod]),
        ("container", history.containers[container]),
    ]


def _per_container(
    history: WorkloadHistory, endings: Sequence[str], values: NDArray[np.float64]
) -> Iterator[Series]:
    for pod in range(len(history.pods)):
        for container in range(len(history.containers)):
            yield Series(
                format_labels(_container_labels(history, pod, container)),
                format_floats(values[pod, container]),
                endings,
            )


def _cpu_counter(history: WorkloadHistory, times: _Times) -> Iterator[Series]:
    yield from _per_container(history, times.endings, history.cpu_usage_seconds_total())


def _memory(history: WorkloadHistory, times: _Times) -> Iterator[Series]:
    yield from _per_container(history, times.endings, history.memory_bytes)


def _constant(value: str, labels: list[tuple[str, str]], endings: Sequence[str]) -> Series:
    return Series(format_labels(labels), [value] * len(endings), endings)


def _pod_owner(history: WorkloadHistory, times: _Times) -> Iterator[Series]:
    for pod in history.pods:
        labels = [
            ("namespace", history.namespace),
            ("pod", pod),
            ("owner_kind", history.pod_owner_kind),
            ("owner_name", history.pod_owner_name),
            ("owner_is_controller", "true"),
        ]
        yield _constant("1", labels, times.kube_state_endings)


def _replicaset_owner(history: WorkloadHistory, times: _Times) -> Iterator[Series]:
    if history.replicaset is None:
        return
    labels = [
        ("namespace", history.namespace),
        ("replicaset", history.replicaset),
        ("owner_kind", history.kind),
        ("owner_name", history.name),
        ("owner_is_controller", "true"),
    ]
    yield _constant("1", labels, times.kube_state_endings)


def _resources(
    history: WorkloadHistory,
    times: _Times,
    quantities: Sequence[tuple[str, str, NDArray[np.float64]]],
) -> Iterator[Series]:
    for pod in range(len(history.pods)):
        for container in range(len(history.containers)):
            for resource, unit, per_container in quantities:
                labels = [
                    *_container_labels(history, pod, container),
                    ("resource", resource),
                    ("unit", unit),
                ]
                value = format_floats(per_container[container : container + 1])[0]
                yield _constant(value, labels, times.kube_state_endings)


def _requests(history: WorkloadHistory, times: _Times) -> Iterator[Series]:
    yield from _resources(
        history,
        times,
        [
            ("cpu", "core", history.cpu_request_cores),
            ("memory", "byte", history.memory_request_bytes),
        ],
    )


def _limits(history: WorkloadHistory, times: _Times) -> Iterator[Series]:
    yield from _resources(history, times, [("memory", "byte", history.memory_limit_bytes)])


def _restarts(history: WorkloadHistory, times: _Times) -> Iterator[Series]:
    counts = history.restart_counts()[..., times.kube_state_index].astype(np.float64)
    yield from _per_container(history, times.kube_state_endings, counts)


def _last_terminated(history: WorkloadHistory, times: _Times) -> Iterator[Series]:
    if history.restart_reason is None:
        return
    for pod in range(len(history.pods)):
        for container in range(len(history.containers)):
            restarted = np.flatnonzero(history.restarts[pod, container])
            if restarted.size == 0:
                continue
            labels = [
                *_container_labels(history, pod, container),
                ("reason", history.restart_reason),
            ]
            first = int(np.searchsorted(times.kube_state_index, restarted[0]))
            yield _constant("1", labels, times.kube_state_endings[first:])


CADVISOR_FAMILIES = (
    _Family(
        "container_cpu_usage_seconds",
        "counter",
        "Cumulative cpu time consumed in seconds.",
        _cpu_counter,
    ),
    _Family(
        "container_memory_working_set_bytes",
        "gauge",
        "Current working set in bytes.",
        _memory,
    ),
)

KUBE_STATE_FAMILIES = (
    _Family("kube_pod_owner", "gauge", "Information about the Pod's owner.", _pod_owner),
    _Family(
        "kube_replicaset_owner",
        "gauge",
        "Information about the ReplicaSet's owner.",
        _replicaset_owner,
    ),
    _Family(
        "kube_pod_container_resource_requests",
        "gauge",
        "The number of requested request resource by a container.",
        _requests,
    ),
    _Family(
        "kube_pod_container_resource_limits",
        "gauge",
        "The number of requested limit resource by a container.",
        _limits,
    ),
    _Family(
        "kube_pod_container_status_restarts",
        "counter",
        "The number of container restarts per container.",
        _restarts,
    ),
    _Family(
        "kube_pod_container_status_last_terminated_reason",
        "gauge",
        "Describes the last reason the container was in terminated state.",
        _last_terminated,
    ),
)


def _series_text(sample_name: str, series: Series) -> str:
    samples = len(series.values)
    if len(series.endings) != samples:
        raise ValueError(f"{sample_name}{series.labels}: values and timestamps differ in length")
    parts = [sample_name + series.labels + " "] * (3 * samples)
    parts[1::3] = series.values
    parts[2::3] = series.endings
    return "".join(parts)


def _stride(history: WorkloadHistory, kube_state_step_s: float | None) -> int:
    if kube_state_step_s is None:
        return 1
    stride = round(kube_state_step_s / history.step_s)
    if stride < 1 or abs(stride * history.step_s - kube_state_step_s) > 1e-6:
        raise ValueError(f"kube_state_step_s must be a multiple of the step ({history.step_s} s)")
    return stride


def write_openmetrics(
    histories: WorkloadHistory | Iterable[WorkloadHistory],
    out: TextIO,
    *,
    kube_state: bool = True,
    kube_state_step_s: float | None = None,
) -> int:
    """Write the histories to `out` as one OpenMetrics exposition ending in `# EOF`.

    kube-state-metrics series are written at every sample, or every `kube_state_step_s` (a
    multiple of the histories' step) to make the file smaller: keep it under Prometheus's
    5-minute lookback so that every instant still sees them. Returns the number of samples
    written. Histories must not share pod names within a namespace.
    """
    items = [histories] if isinstance(histories, WorkloadHistory) else list(histories)
    times_of = [_Times.of(history, _stride(history, kube_state_step_s)) for history in items]
    families = CADVISOR_FAMILIES + (KUBE_STATE_FAMILIES if kube_state else ())
    written = 0
    for family in families:
        header_written = False
        for history, times in zip(items, times_of, strict=True):
            for series in family.series(history, times):
                if not header_written:
                    out.write(f"# HELP {family.name} {family.help}\n")
                    out.write(f"# TYPE {family.name} {family.type}\n")
                    header_written = True
                out.write(_series_text(family.sample_name, series))
                written += len(series.values)
    out.write("# EOF\n")
    return written


def write_openmetrics_file(
    histories: WorkloadHistory | Iterable[WorkloadHistory],
    path: str | Path,
    *,
    kube_state: bool = True,
    kube_state_step_s: float | None = None,
) -> int:
    """`write_openmetrics` into a file (created or truncated); returns the samples written."""
    with open(path, "w", encoding="utf-8", newline="\n", buffering=_WRITE_BUFFER_BYTES) as out:
        return write_openmetrics(
            histories, out, kube_state=kube_state, kube_state_step_s=kube_state_step_s
        )
