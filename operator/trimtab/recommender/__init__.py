"""The recommender's pure core: usage histories in, request recommendations out.

Everything here works on numpy arrays holding many containers at once, because a cluster has
thousands of containers and a Python loop per container or per sample would be the bottleneck.
Nothing here does I/O: samples come from the metrics port, state goes to checkpoints through the
kube port, and both are someone else's job.

Modules, bottom up: ``arrays`` (types and input checks), ``buckets`` (VPA's exponential bucket
layout and the bucket-end percentile rule), ``grouping`` (per-group minimum and maximum without a
sort), ``codec`` (the checkpoint byte format), ``histogram`` (decaying histograms), ``peaks``
(memory peaks per aggregation interval), ``window`` (non-decaying sliding-window histograms),
``estimators`` (margin, confidence, floors, OOM bump, rounding, caps), ``states`` and
``strategies`` (the ``vpa`` and ``percentile`` strategies behind one interface), and
``adaptive`` (a package: per container, the cheapest of a family of moving-window models).
"""
