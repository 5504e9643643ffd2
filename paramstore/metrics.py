"""Prometheus metrics: what the server did, for `/metrics` (or `serve --metrics-port`).

Families (all prefixed `paramstore_`):
- `requests_total{service, operation, outcome}`: outcome is "Success" or the AWS error code;
- `request_duration_seconds{service, operation}`: a histogram, from the request's headers
  read to its answer ready (the audit append included);
- `key_cache_lookups_total{result}`: the KMS key cache, "hit" or "miss";
- `audit_appends_total{result}`: audit records written ("ok") or refused ("failed");
- `database_errors_total{kind}`: requests failed by the database, "timeout" or "unavailable";
- `throttled_requests_total{service, quota}`: requests refused over a quota;
- `build_info{version, python}`: always 1.

Labels never name an account, a key, a parameter or a principal: a scrape reveals traffic
shape, not tenants, and the label sets stay bounded whatever callers send (an unknown
operation is "other").

Under `serve --workers N` each worker writes its values to files in a directory shared
with the others (prometheus-client's multiprocess mode, PROMETHEUS_MULTIPROC_DIR), and
whichever process answers a scrape adds them all up.  The directory is made by `serve`
before the workers start and removed when it exits.
"""

from __future__ import annotations

import os
import platform
from bisect import bisect_left
from typing import Any, Callable, Iterable, Optional

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import REGISTRY

from paramstore import __version__

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

#: the services a request's event source names, as the `service` label
_SERVICES = {"kms.amazonaws.com": "kms", "ssm.amazonaws.com": "ssm", "iam.amazonaws.com": "iam",
             "secretsmanager.amazonaws.com": "secretsmanager",
             "sts.amazonaws.com": "sts", "cloudtrail.amazonaws.com": "cloudtrail"}
#: how often each process moves its counts into the families (RequestMetrics.flush)
FLUSH_SECONDS = 1.0
#: sub-millisecond answers from memory up to the database timeout
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
OTHER = "other"

REQUESTS = Counter("paramstore_requests", "AWS API requests answered, by service, operation and outcome "
                   "(Success or the AWS error code).", ["service", "operation", "outcome"])
LATENCY = Histogram("paramstore_request_duration_seconds", "Time to answer an AWS API request.",
                    ["service", "operation"], buckets=_LATENCY_BUCKETS)
KEY_CACHE = Counter("paramstore_key_cache_lookups", "KMS key cache lookups, by result (hit or miss).", ["result"])
AUDIT_APPENDS = Counter("paramstore_audit_appends", "Audit records, by result (ok, or failed: not written).",
                        ["result"])
DATABASE_ERRORS = Counter("paramstore_database_errors", "Requests failed by the database, by kind "
                          "(timeout or unavailable).", ["kind"])
THROTTLED = Counter("paramstore_throttled_requests", "Requests refused with ThrottlingException, by service "
                    "and quota.", ["service", "quota"])
BUILD_INFO = Gauge("paramstore_build_info", "The running build (always 1).", ["version", "python"],
                   multiprocess_mode="max")

# Children made once: labels() takes a lock and builds a tuple; the hot path only increments.
_CACHE_HIT, _CACHE_MISS = KEY_CACHE.labels("hit"), KEY_CACHE.labels("miss")
_AUDIT_OK, _AUDIT_FAILED = AUDIT_APPENDS.labels("ok"), AUDIT_APPENDS.labels("failed")
_DATABASE = {kind: DATABASE_ERRORS.labels(kind) for kind in ("timeout", "unavailable")}


class RequestMetrics:
    """Counts and times answered requests, and their audit records.

    `record` runs once per request, so it only adds to plain dicts: no lock, no
    prometheus-client call (each of those takes a lock and checks its arguments; four per
    request cost about 1.5% of a request's CPU).  Only the event loop's thread records, and
    `flush` (on the same thread) moves the totals into the prometheus-client families: at
    each scrape on the main port, and every second (so under workers, or on --metrics-port,
    a scrape is at most a second behind).  `operations` are the (service label, operation)
    pairs the server implements; any other operation is counted as "other"."""

    def __init__(self, operations: Iterable[tuple[str, str]]) -> None:
        self._known = frozenset(operations)
        self._children: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        #: (event source, operation, error code) -> [requests, seconds, per-bucket counts]
        self._pending: dict[tuple[str, str, Optional[str]], list] = {}
        self._audit = [0, 0]  # records written, refused
        self.key_cache = KeyCacheCounts()

    def record(self, event_source: str, operation: str, error_code: Optional[str], seconds: float,
               audit_ok: bool = True) -> None:
        key = (event_source, operation, error_code)
        totals = self._pending.get(key)
        if totals is None:
            totals = self._pending[key] = [0, 0.0, [0] * (len(_LATENCY_BUCKETS) + 1)]
        totals[0] += 1
        totals[1] += seconds
        totals[2][bisect_left(_LATENCY_BUCKETS, seconds)] += 1  # le is inclusive, as bisect_left finds
        self._audit[0 if audit_ok else 1] += 1

    def flush(self) -> None:
        pending, self._pending = self._pending, {}
        for key, (count, seconds, buckets) in pending.items():
            counter, histogram = self._children.get(key) or self._make_children(*key)
            counter.inc(count)
            histogram._sum.inc(seconds)  # the child's own values: observe() takes one sample
            for index, n in enumerate(buckets):
                if n:
                    histogram._buckets[index].inc(n)
        written, refused = self._audit
        self._audit = [0, 0]
        if written:
            _AUDIT_OK.inc(written)
        if refused:
            _AUDIT_FAILED.inc(refused)
        self.key_cache.flush()

    def _make_children(self, event_source: str, operation: str, error_code: Optional[str]) -> tuple[Any, Any]:
        service = _SERVICES.get(event_source, OTHER)
        label = operation if (service, operation) in self._known else OTHER
        outcome = error_code or "Success"
        if not outcome.isascii() or not outcome.replace(".", "").isalnum() or len(outcome) > 64:
            outcome = OTHER  # error codes are ours; this only guards the label set
        children = self._children[(event_source, operation, error_code)] = (
            REQUESTS.labels(service, label, outcome), LATENCY.labels(service, label))
        return children


class KeyCacheCounts:
    """Key-cache lookups, counted from any thread (the event loop's and the database
    worker's) at the cost of a list append: appending is atomic, where `n += 1` from two
    threads can lose a count.  `flush` moves them into the family."""

    def __init__(self) -> None:
        self.hits: list[None] = []
        self.misses: list[None] = []

    def hit(self) -> None:
        self.hits.append(None)

    def miss(self) -> None:
        self.misses.append(None)

    def flush(self) -> None:
        for marks, child in ((self.hits, _CACHE_HIT), (self.misses, _CACHE_MISS)):
            n = len(marks)
            if n:
                del marks[:n]  # only those counted: appends since stay for the next flush
                child.inc(n)


def database_error(kind: str) -> None:
    child = _DATABASE.get(kind)
    if child is not None:
        child.inc()


def throttled(service: str, quota: str) -> None:
    THROTTLED.labels(service, quota).inc()


def mark_build() -> None:
    BUILD_INFO.labels(__version__, platform.python_version()).set(1)


def multiprocess_dir() -> Optional[str]:
    return os.environ.get(MULTIPROCESS_ENV) or None


def exposition_registry() -> CollectorRegistry:
    """What a scrape reads: this process's registry, or under workers every worker's files."""
    directory = multiprocess_dir()
    if directory is None:
        return REGISTRY
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)
    return registry


def render() -> bytes:
    return generate_latest(exposition_registry())


def serve_separately(host: str, port: int) -> Callable[[], None]:
    """`--metrics-port`: a plain HTTP server for scrapes on its own port (a thread of the
    process that calls it); returns its shutdown."""
    from prometheus_client import start_http_server

    server, thread = start_http_server(port, addr=host, registry=exposition_registry())

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop
