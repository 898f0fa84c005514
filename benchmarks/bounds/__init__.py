"""Lower bounds on what a batch of pods can cost, for the provisioner benchmark.

A package rather than a module next to the scripts, because `make bench` runs every
`benchmarks/*.py` as a benchmark.
"""
