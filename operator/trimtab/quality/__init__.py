"""Decision quality of the recommender: replay usage traces through a strategy and score it.

A replay walks a trace forward, asks the strategy for a recommendation at each update point
from the past alone, applies it as the VPA updater would, and counts what the requests cost
and missed: CPU and memory slack, CPU shortfall, OOM kills and request changes (``scores``
defines each exactly). Pure core: numpy and the recommender, no I/O; the benchmark in
benchmarks/recommender_quality.py and tests use it, and so can the operator.
"""

from trimtab.quality.replay import (
    OomEvents,
    ReplayConfig,
    ReplayResult,
    replay,
    replay_trace,
    update_times,
)
from trimtab.quality.rules import ApplyRule, UpdaterSettings
from trimtab.quality.scores import Scores
from trimtab.quality.trace import Trace

__all__ = [
    "ApplyRule",
    "OomEvents",
    "ReplayConfig",
    "ReplayResult",
    "Scores",
    "Trace",
    "UpdaterSettings",
    "replay",
    "replay_trace",
    "update_times",
]
