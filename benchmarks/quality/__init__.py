"""The recommender quality benchmark's parts: the trace suite (`traces`), a fixed hand-set
reference strategy (`reference`), the tables (`report`) and the chart (`chart`).

A package rather than modules next to the scripts, because `make bench` runs every
`benchmarks/*.py` as a benchmark. The replay harness itself is in the operator's package
(trimtab.quality), where tests and the operator can use it too.
"""
