"""A thin client over `prometheus_api_client.PrometheusConnect`.

What it adds to the library, and why:
- Uncompressed answers unless asked otherwise (`accept_gzip`): requests asks for gzip by
  default, and compressing a 35 MB answer costs Prometheus several times the query itself.
- Credentials and TLS from `PrometheusConfig`; a token file is read at every request so a
  rotated service-account token is used without a restart.
- Transport retries kept short (the operator has its own backoff; a test against a closed port
  must fail in about a second, not after the library's default of three retries with backoff).
- Typed errors: every failure becomes `MetricsUnavailable` or `QueryError` naming the URL, so
  callers never see `requests` or library exceptions.
- A count of the queries sent: the benchmarks and tests check that the reader sends one query
  per metric per namespace per time chunk, not one per pod.
- Answers parsed straight into numpy. Range answers are read from the response text: each
  series' labels go through the JSON decoder, but its `[[t, "v"], ...]` list (Prometheus
  sends values as strings, including "NaN" and "+Inf") becomes floats in one numpy call,
  without a Python list and string per sample: twice as fast as decoding the JSON, and
  decoding is most of the cost of a long read. An answer of any other shape goes through
  the JSON decoder.
"""

from __future__ import annotations

import ast
import json
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self, cast

import numpy as np
import requests
from numpy.typing import NDArray
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from requests.adapters import Retry
from requests.auth import AuthBase

from trimtab.metrics.config import PrometheusConfig
from trimtab.metrics.errors import MetricsUnavailable, QueryError

FloatArray = NDArray[np.float64]

# Prometheus answers 400 (bad_data) to a query it cannot parse and 422 (execution) to one it
# cannot run, e.g. over --query.max-samples. Other 4xx come from what sits in front of it
# (authentication proxies, rate limiters, a wrong path): not the query's fault.
_QUERY_STATUSES = frozenset({400, 422})
_RETRY_STATUSES = (502, 503, 504)
_STATUS_MESSAGE = re.compile(r"HTTP Status Code (\d+) \((.*)\)\Z", re.DOTALL)
_OBJECT_REPR = re.compile(r"<[^<>]* object at 0x[0-9a-f]+>: ")
_REASON_CHARS = 300


@dataclass(frozen=True, slots=True, eq=False)
class Series:
    """One series of an answer: its labels and its samples (one sample for instant queries)."""

    labels: Mapping[str, str]
    timestamps: FloatArray
    values: FloatArray

    def __len__(self) -> int:
        return int(self.values.shape[0])


class QueryClient(Protocol):
    """What the readers need from a client; tests substitute canned answers."""

    @property
    def url(self) -> str: ...

    @property
    def queries_sent(self) -> int: ...

    def instant(self, query: str, at: float) -> list[Series]: ...

    def range(self, query: str, start: float, end: float, step_s: float) -> list[Series]: ...


_NO_POINTS = np.zeros((0, 2), dtype=np.float64)


def parse_matrix(result: Sequence[Mapping[str, Any]]) -> list[Series]:
    """Series of a range query's `data.result` (resultType matrix)."""
    parsed = []
    for item in result:
        values = item.get("values")
        points = np.array(values, dtype=np.float64) if values else _NO_POINTS
        if points.ndim != 2 or points.shape[1] != 2:
            raise ValueError("matrix values are not [timestamp, value] pairs")
        parsed.append(Series(item.get("metric") or {}, points[:, 0], points[:, 1]))
    return parsed


_DECODER = json.JSONDecoder()
_RESULT = '"result":['
_VALUES = ',"values":['
_PAIR_PUNCTUATION = str.maketrans({"[": " ", "]": " ", '"': " "})


def parse_matrix_text(text: str) -> list[Series] | None:
    """Series of a range query's answer text, or None when the text is not shaped as
    Prometheus writes matrices (`{"metric":{...},"values":[[t,"v"],...]}` per series), for
    the caller to decode as JSON instead."""
    position = text.find(_RESULT)
    if position < 0 or '"resultType":"matrix"' not in text[:position]:
        return None
    position += len(_RESULT)
    parsed = []
    while text.startswith('{"metric":', position):
        labels, position = _DECODER.raw_decode(text, position + len('{"metric":'))
        if not text.startswith(_VALUES, position):
            return None
        position += len(_VALUES)
        end = text.find("]]", position)
        if text.startswith("]}", position):  # no values
            points, position = _NO_POINTS, position + 2
        elif end < 0:
            return None
        else:
            pairs = text[position : end + 1].translate(_PAIR_PUNCTUATION)
            flat = np.fromstring(pairs, dtype=np.float64, sep=",")
            if flat.size % 2:
                return None
            points, position = flat.reshape(-1, 2), end + 3
        parsed.append(Series(labels, points[:, 0], points[:, 1]))
        if text.startswith(",", position):
            position += 1
    return parsed if text.startswith("]", position) else None


def parse_vector(result: Sequence[Mapping[str, Any]]) -> list[Series]:
    """Series of an instant query's `data.result` (resultType vector), one sample each."""
    parsed = []
    for item in result:
        point = np.array(item["value"], dtype=np.float64)
        if point.shape != (2,):
            raise ValueError("vector value is not a [timestamp, value] pair")
        parsed.append(Series(item.get("metric") or {}, point[:1], point[1:]))
    return parsed


class _TokenFileError(Exception):
    """The token file could not be read (kept apart from requests' own OSErrors)."""


class _HeaderAuth(AuthBase):
    """Sets the credentials header on each request, reading the token file every time."""

    def __init__(self, config: PrometheusConfig) -> None:
        self._name = config.auth_header_name
        self._value = config.auth_header_value
        self._token_file = config.auth_token_file
        self._scheme = config.auth_token_scheme

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers[self._name] = self.value()
        return request

    def value(self) -> str:
        if self._value is not None:
            return self._value.get_secret_value()
        assert self._token_file is not None
        try:
            token = Path(self._token_file).read_text(encoding="utf-8").strip()
        except OSError as error:
            raise _TokenFileError(f"cannot read token file {self._token_file}: {error}") from None
        return f"{self._scheme} {token}" if self._scheme else token


def _session(config: PrometheusConfig) -> requests.Session:
    session = requests.Session()
    if config.insecure_skip_verify:
        session.verify = False
    elif config.ca_file is not None:
        session.verify = str(config.ca_file)
    if config.client_cert_file is not None:
        cert = str(config.client_cert_file)
        key = config.client_key_file
        session.cert = (cert, str(key)) if key is not None else cert
    return session


def _short(text: str) -> str:
    text = _OBJECT_REPR.sub("", " ".join(text.split()))
    return text if len(text) <= _REASON_CHARS else text[: _REASON_CHARS - 3] + "..."


def _transport_reason(error: requests.exceptions.RequestException) -> str:
    """The innermost cause of a requests error, without urllib3's retry wrapping."""
    cause: object = error.args[0] if error.args else error
    cause = getattr(cause, "reason", cause)  # urllib3's MaxRetryError wraps the real error
    return _short(str(cause))


def _http_error(error: PrometheusApiClientException) -> tuple[int, str, str]:
    """(status, errorType, message) from the library's "HTTP Status Code N (b'...')" text."""
    text = str(error)
    match = _STATUS_MESSAGE.match(text)
    if match is None:
        return 0, "", _short(text)
    status, body_repr = int(match.group(1)), match.group(2)
    try:
        body = ast.literal_eval(body_repr)
        answer = json.loads(body)
        return status, str(answer.get("errorType", "")), str(answer.get("error", ""))
    except (ValueError, SyntaxError, TypeError, AttributeError):
        return status, "", _short(body_repr)


class PrometheusClient:
    """Instant and range queries against one Prometheus, with typed errors and a query count.

    Thread-safe: the count is kept under a lock, and `requests.Session` may be shared.
    """

    def __init__(self, config: PrometheusConfig, *, session: requests.Session | None = None):
        self.config = config
        retry = Retry(
            total=config.retries,
            backoff_factor=config.retry_backoff_s,
            status_forcelist=_RETRY_STATUSES,
            allowed_methods=frozenset({"GET", "POST"}),
            raise_on_status=False,  # hand back the last answer, so its status is reported
        )
        needs_auth = config.auth_header_value is not None or config.auth_token_file is not None
        headers = dict(config.headers)
        if not any(name.lower() == "accept-encoding" for name in headers):
            headers["Accept-Encoding"] = "gzip" if config.accept_gzip else "identity"
        self._session = session or _session(config)
        self._headers = headers
        self._auth = _HeaderAuth(config) if needs_auth else None
        self._connect = PrometheusConnect(
            url=config.url,
            headers=headers,
            retry=retry,
            auth=cast(Any, self._auth),
            session=self._session,
            timeout=cast(int, config.timeout_s),
        )
        self._lock = threading.Lock()
        self._queries = 0

    @property
    def url(self) -> str:
        return self.config.url

    @property
    def queries_sent(self) -> int:
        """Queries sent so far (each counted once, whatever the transport retried)."""
        return self._queries

    def instant(self, query: str, at: float) -> list[Series]:
        """Evaluate `query` at unix time `at` (an instant vector answer)."""
        result = self._call(query, lambda: self._connect.custom_query(query, params={"time": at}))
        return self._parse(parse_vector, result, query)

    def range(self, query: str, start: float, end: float, step_s: float) -> list[Series]:
        """Evaluate `query` at start, start + step, ... <= end (both in whole seconds)."""
        series: list[Series] = self._call(
            query, lambda: self._send_range(query, round(start), round(end), step_s)
        )
        return series

    def _send_range(self, query: str, start: int, end: int, step_s: float) -> list[Series]:
        """The range query on the shared session (so with the library's retries, our
        credentials and TLS), its answer parsed from the text (see the module docstring)."""
        response = self._session.get(
            f"{self.config.url}/api/v1/query_range",
            params={"query": query, "start": str(start), "end": str(end), "step": f"{step_s:g}"},
            headers=self._headers,
            auth=self._auth,
            timeout=self.config.timeout_s,
        )
        if response.status_code != 200:
            # The library's own error, so both kinds of query fail the same way.
            raise PrometheusApiClientException(
                f"HTTP Status Code {response.status_code} ({response.content!r})"
            )
        text = response.text
        parsed = parse_matrix_text(text)
        if parsed is not None:
            return parsed
        try:
            result = json.loads(text)["data"]["result"]
        except ValueError:
            raise MetricsUnavailable(
                self.config.url, "the answer is not Prometheus API JSON"
            ) from None
        return self._parse(parse_matrix, result, query)

    def _call(self, query: str, send: Callable[[], Any]) -> Any:
        with self._lock:
            self._queries += 1
        url = self.config.url
        try:
            return send()
        except PrometheusApiClientException as error:
            status, error_type, message = _http_error(error)
            reason = f"HTTP {status} {error_type}: {message}".replace(" : ", ": ")
            if status in _QUERY_STATUSES:
                raise QueryError(
                    url, reason, query=query, status=status, error_type=error_type
                ) from None
            raise MetricsUnavailable(url, reason) from None
        except _TokenFileError as error:
            raise MetricsUnavailable(url, str(error)) from None
        except requests.exceptions.JSONDecodeError:
            raise MetricsUnavailable(url, "the answer is not Prometheus API JSON") from None
        except requests.exceptions.Timeout as error:
            reason = f"timed out after {self.config.timeout_s:g} s ({_transport_reason(error)})"
            raise MetricsUnavailable(url, reason) from None
        except requests.exceptions.SSLError as error:
            raise MetricsUnavailable(url, f"TLS error: {_transport_reason(error)}") from None
        except requests.exceptions.ConnectionError as error:
            reason = f"cannot connect: {_transport_reason(error)}"
            raise MetricsUnavailable(url, reason) from None
        except requests.exceptions.RequestException as error:
            raise MetricsUnavailable(url, _transport_reason(error)) from None
        except (KeyError, TypeError):
            raise MetricsUnavailable(url, "the answer is not Prometheus API JSON") from None

    def _parse(self, parse: Any, result: Any, query: str) -> list[Series]:
        try:
            series: list[Series] = parse(result)
        except (ValueError, TypeError, KeyError) as error:
            raise MetricsUnavailable(
                self.config.url, f"unexpected answer to {query!r}: {error}"
            ) from None
        return series

    def close(self) -> None:
        self._connect.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
