"""Typed failures of the Prometheus port.

Callers react differently to the two kinds, so they are separate types rather than one error
with a code: `MetricsUnavailable` means "Prometheus cannot answer right now" (keep the last
recommendation, set the MetricsUnavailable condition, retry with backoff), while `QueryError`
means "Prometheus answered that this query is wrong" (retrying the same query cannot help; it
is a bug or a bad configuration, such as a label name that the managed service renamed).
"""

from __future__ import annotations


class MetricsError(Exception):
    """Base of the port's errors: names the Prometheus URL and the reason in one line."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"Prometheus at {url}: {reason}")


class MetricsUnavailable(MetricsError):  # noqa: N818 - the name of the condition it sets
    """Prometheus could not be reached or could not answer: connection refused, DNS, TLS,
    timeouts, 5xx, throttling (429), authentication (401/403), or an answer that is not the
    Prometheus API's JSON."""


class QueryError(MetricsError):
    """Prometheus rejected the query itself (HTTP 400 bad_data or 422 execution error)."""

    def __init__(
        self, url: str, reason: str, *, query: str, status: int, error_type: str = ""
    ) -> None:
        super().__init__(url, reason)
        self.query = query
        self.status = status
        self.error_type = error_type

    @property
    def too_many_samples(self) -> bool:
        """True when the query hit Prometheus's `--query.max-samples` limit: a smaller time
        range (fewer points per series) would succeed."""
        return "too many samples" in self.reason

    @property
    def too_many_points(self) -> bool:
        """True when the query asked for more than 11,000 points per series."""
        return "maximum resolution" in self.reason
