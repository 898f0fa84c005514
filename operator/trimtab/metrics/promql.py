"""The PromQL the port sends, built from `PrometheusConfig` names (pure functions, no I/O).

Every query selects one namespace (plus an optional pod-name regex or extra matchers), never
one pod: asking per pod is what overloads Prometheus in KRR's pattern (a subquery per batch of
50 pods). Each usage query is wrapped in `max by (namespace, pod, container)`, which
- drops cAdvisor's long label sets (id, image, name, instance, ...) so the answer is smaller,
- merges duplicates of one container (two scrape jobs, a kubelet re-registering a cgroup),
- and makes the answer independent of whatever extra labels a managed service adds.

CPU: `irate(counter[2 x step])` for steps up to 2 minutes, `rate(counter[step])` above.
- With samples every minute and a 60 s step, irate at each step is (c[i] - c[i-1]) / 60 s:
  exactly the mean usage over the minute that ended there, one value per scrape interval,
  which is the per-minute sample VPA's recommender folds. rate() over the same window would
  average two intervals (flattening the peaks the p90/p95 targets are about) and extrapolate at
  the window's edges; rate over a one-step window breaks when scrapes jitter (a window can then
  hold a single sample and give nothing).
- irate handles counter resets (a restarted container): a drop counts as a reset.
- The 2 x step window tolerates one missed scrape and scrape-time jitter.
- For coarse steps (the older part of a bootstrap at 5 min; VPA's own Prometheus bootstrap
  reads 1 h), irate would sample one interval per step and ignore the rest, so the mean over
  the whole step is the faithful value there: rate(counter[step + scrape - 1 ms]). The extra
  scrape interval puts the sample at the step's start inside the window, so the increase
  covers every interval of the step (rate over just [step] sees one interval fewer under
  Prometheus 3's left-open windows); the 1 ms keeps the one before it out under Prometheus
  2's closed ones.

Memory: `max_over_time(working_set[step - 1 ms])`, the peak within each step. With one sample
per step it is that sample (the window holds exactly one scrape, also under Prometheus 2's
closed range windows, hence the 1 ms); with faster scrapes or a coarse step it keeps the
peak, which is what the memory histogram (peak per 24 h interval) wants.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from trimtab.metrics.config import PrometheusConfig

# Steps up to this use irate; above, rate over the step (see the module docstring).
IRATE_MAX_STEP_S = 120.0
OOM_KILLED = "OOMKilled"
POD_LEVEL_CONTAINERS = ("", "POD")  # cAdvisor's pod cgroup and the pause container


@dataclass(frozen=True)
class Selection:
    """Which pods to read: one namespace, optionally narrowed.

    `pod_regex` (an RE2 regex anchored by Prometheus) applies to every series with a pod label;
    `matchers` (e.g. `app="web"`, for Prometheus setups that copy pod labels onto cAdvisor
    series) apply to the usage series only.
    """

    namespace: str
    pod_regex: str | None = None
    matchers: str = ""

    def __post_init__(self) -> None:
        if not self.namespace:
            raise ValueError("a selection needs a namespace")
        object.__setattr__(self, "matchers", self.matchers.strip().strip(",").strip())
        if any(character in self.matchers for character in "{}\n"):
            raise ValueError('matchers are a list like app="web", without braces')

    @classmethod
    def of(cls, selection: Selection | str) -> Selection:
        return selection if isinstance(selection, Selection) else cls(selection)


def quote(value: str) -> str:
    """A PromQL string literal for `value`."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def duration(seconds: float) -> str:
    """A PromQL duration: whole seconds as `Ns`, anything finer in milliseconds."""
    milliseconds = round(seconds * 1000)
    if milliseconds <= 0:
        raise ValueError("a duration must be positive")
    if milliseconds % 1000 == 0:
        return f"{milliseconds // 1000}s"
    return f"{milliseconds}ms"


def selector(metric: str, matchers: Iterable[str]) -> str:
    """`metric{m1,m2,...}` from non-empty matcher texts."""
    inner = ",".join(matcher for matcher in matchers if matcher)
    return f"{metric}{{{inner}}}"


def _matchers(
    config: PrometheusConfig,
    selection: Selection,
    *,
    pod: bool = True,
    usage: bool = False,
    extra: Iterable[str] = (),
) -> list[str]:
    labels = config.labels
    found = [f"{labels.namespace}={quote(selection.namespace)}"]
    if pod and selection.pod_regex is not None:
        found.append(f"{labels.pod}=~{quote(selection.pod_regex)}")
    if usage:
        found.extend(f"{labels.container}!={quote(name)}" for name in POD_LEVEL_CONTAINERS)
        found.append(selection.matchers)
    found.extend(extra)
    found.append(config.extra_selector)
    return found


def _by(*names: str) -> str:
    return f"by ({', '.join(names)})"


def _container_by(config: PrometheusConfig) -> str:
    labels = config.labels
    return _by(labels.namespace, labels.pod, labels.container)


def uses_irate(config: PrometheusConfig, step_s: float) -> bool:
    """Whether CPU usage at this step is read with irate (else rate)."""
    if config.cpu_rate == "auto":
        return step_s <= IRATE_MAX_STEP_S
    return config.cpu_rate == "irate"


def cpu_query(
    config: PrometheusConfig, selection: Selection, step_s: float, scrape_s: float | None = None
) -> str:
    """Cores used per container, one value per step; `scrape_s` (the scrape interval, about
    the reader's full-resolution step) widens a rate window to cover the whole step."""
    series = selector(config.metrics.cpu, _matchers(config, selection, usage=True))
    if uses_irate(config, step_s):
        inner = f"irate({series}[{duration(2 * step_s)}])"
    else:
        window = step_s if scrape_s is None else step_s + scrape_s - 0.001
        inner = f"rate({series}[{duration(window)}])"
    return f"max {_container_by(config)} ({inner})"


def memory_query(config: PrometheusConfig, selection: Selection, step_s: float) -> str:
    """Peak working-set bytes per container within each step."""
    series = selector(config.metrics.memory, _matchers(config, selection, usage=True))
    window = duration(step_s - 0.001) if step_s > 0.001 else duration(step_s)
    return f"max {_container_by(config)} (max_over_time({series}[{window}]))"


def owners_query(config: PrometheusConfig, selection: Selection, window_s: float) -> str:
    """Every pod's owner and every ReplicaSet's owner seen in the last `window_s`, in one
    query: the two halves have different label sets (pod vs replicaset), so `or` keeps both."""
    labels = config.labels
    window = duration(window_s)
    owner_labels = (labels.owner_kind, labels.owner_name, labels.owner_is_controller)
    pods = selector(config.metrics.pod_owner, _matchers(config, selection))
    replicasets = selector(config.metrics.replicaset_owner, _matchers(config, selection, pod=False))
    return (
        f"max {_by(labels.namespace, labels.pod, *owner_labels)} "
        f"(max_over_time({pods}[{window}]))"
        f" or max {_by(labels.namespace, labels.replicaset, *owner_labels)} "
        f"(max_over_time({replicasets}[{window}]))"
    )


def requests_query(config: PrometheusConfig, selection: Selection) -> str:
    """CPU (cores) and memory (bytes) requests per container."""
    labels = config.labels
    resource = f"{labels.resource}=~{quote('cpu|memory')}"
    series = selector(config.metrics.requests, _matchers(config, selection, extra=[resource]))
    return f"max {_by(labels.namespace, labels.pod, labels.container, labels.resource)} ({series})"


def oom_query(config: PrometheusConfig, selection: Selection, step_s: float) -> str:
    """OOM kills per container and step: the restarts counted in (t - step, t] while the
    container's last termination reason is OOMKilled. The reason metric alone says only that
    the last termination was an OOM kill; the restart counter dates and counts each one."""
    labels = config.labels
    restarts = selector(config.metrics.restarts, _matchers(config, selection))
    reason = f"{labels.reason}={quote(OOM_KILLED)}"
    killed = selector(
        config.metrics.last_terminated_reason, _matchers(config, selection, extra=[reason])
    )
    on = f"on ({labels.namespace}, {labels.pod}, {labels.container})"
    increase = f"({restarts} - {restarts} offset {duration(step_s)}) > 0"
    return f"max {_container_by(config)} (({increase}) and {on} {killed})"
