"""Shared helpers for the benchmarks in benchmarks/: run a measurement in a child process,
take medians, print the table and the closing `key=value` line, write JSON.

A package rather than a module next to the scripts, because `make bench` runs every
`benchmarks/*.py` as a benchmark.
"""
