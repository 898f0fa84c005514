"""The ``adaptive`` strategy: per container, the best of a family of moving-window models.

Autopilot's lesson (see ALGORITHMS in the design notes) is that no single statistic suits every
workload: a steady service wants a long memory and a small margin, one that changed its level a
short memory, a spiky one a high percentile. So each container keeps a small family of models,
each is charged on the container's own history what it would have cost had it been in charge,
and the cheapest recommends.

CPU models are (half-life, percentile, margin) triples. One decaying histogram per half-life
(``HistogramBatch``, VPA's buckets) serves every percentile and margin, so 3 half-lives x 4
percentiles x 3 margins = 36 models cost three histograms; a model's value is the bucket-end
percentile of its histogram times (1 + margin). Memory models are (window, margin) pairs: the
highest usage of the last window times (1 + margin), read from a ring of per-interval maxima.

Scoring runs in sample time, one scoring interval (1 h by default) at a time, so replayed
history, a bootstrap and a live feed score alike and ``recommend`` stays read-only. CPU samples
of the open interval are counted per (container, bucket), memory keeps the interval's peak and
total; when samples of a later interval arrive, the intervals before them close (all the
closes of one fold together, see ``scoring``):

1. each model is charged for the interval what the request it would hold cost, in one unit,

       overrunWeight  x samples above it         memoryOverrunWeight if the peak went above it
     + slackWeight    x core-minutes below it    memorySlackWeight x GiB-minutes below it
     + changeWeight   for each change of that request                           (at step 3)

   and costs decay with ``scoringHalfLife``. Slack is absolute, as Autopilot's underrun is: a
   core-minute wasted costs the same in any container, so a large container accepts a little
   more overrun than a small one for the same saving, which is what minimises a cluster's waste
   for a given number of short minutes. The per-bucket counts give both CPU terms for every
   model at once (buckets below a value are below it; the one it falls in counts by its
   centre), so nothing runs per sample and model;
2. the interval's counts enter the decaying histograms with the weight of the interval's end
   (VPA weighs each sample at its own time: inside one interval the two differ by less than a
   factor 2 ** (interval / half-life), 12 % for 1 h against 6 h);
3. every model's value is read again, and its request moves to it when the value leaves the
   band the bounds give the updater: a CPU value more than increaseBand above the request or
   more than decreaseBand below it; for memory, a recent peak plus memoryMargin above the
   request or a value decreaseBand below it. So a model is scored on the requests, and the
   restarts, that following it would have cost. A container moves to the cheapest model only
   when it is cheaper than its current one by ``switchMargin`` (hysteresis), and not before a
   day of intervals is scored: until then it uses the model nearest to the profile's VPA
   settings (for memory: the longest window, with the margin nearest to the profile's).

Memory never goes below the highest usage of the last memoryAggregationInterval times
(1 + memoryMargin). An OOM kill bumps as VPA's does, ``max(request, recent peak) + max(100Mi,
20 %)``, and for a memoryAggregationInterval after it memory is at least the bucket end of
max(bump, highest window peak) times (1 + the profile's memory margin): what VPA recommends
when that is its highest peak, so the reaction is never slower than VPA's. It counts from the
next ``recommend``. The bump also counts as the interval's peak when the models are scored,
so a container whose memory keeps outgrowing its models moves to longer windows or margins.

The bounds are that band around the target (widened for young histories as VPA widens
them): outside it, following the chosen model means a new request now.

A state keeps the model family it was made with, in its checkpoint (as VPA's histograms keep
their half-life); restored with a profile of the same family it takes the profile's weights.

Modules: ``settings`` (the families and weights in plain units), ``scoring`` (the costs, the
request and choice scans over a fold's closes), ``cpu`` and ``memory`` (the two families),
``state`` (the state and the strategy the service uses).
"""

from trimtab.recommender.adaptive.cpu import cpu_interval_cost
from trimtab.recommender.adaptive.scoring import Closes, Scores, bucket_percentiles
from trimtab.recommender.adaptive.settings import AdaptiveSettings
from trimtab.recommender.adaptive.state import (
    AdaptiveState,
    AdaptiveStrategy,
    adaptive_strategy,
    cpu_estimates,
    memory_estimates,
)

__all__ = [
    "AdaptiveSettings",
    "AdaptiveState",
    "AdaptiveStrategy",
    "Closes",
    "Scores",
    "adaptive_strategy",
    "bucket_percentiles",
    "cpu_estimates",
    "cpu_interval_cost",
    "memory_estimates",
]
