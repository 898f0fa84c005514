"""Trimtab: one Kubernetes operator for right-sized requests, replica counts and nodes."""

__version__ = "0.1.0"
