"""RequestMetrics (paramstore/metrics.py): what `record` adds up reaches the families at
`flush`, into the right histogram buckets, with bounded labels."""

from __future__ import annotations

from prometheus_client import REGISTRY

from paramstore.metrics import RequestMetrics


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_counts_reach_the_families_at_flush_in_the_right_buckets():
    metrics = RequestMetrics({("kms", "Encrypt")})
    labels = {"service": "kms", "operation": "Encrypt"}
    before = {le: sample("paramstore_request_duration_seconds_bucket", le=le, **labels)
              for le in ("0.0005", "0.001", "0.0025", "+Inf")}
    requests = sample("paramstore_requests_total", outcome="Success", **labels)
    audit = sample("paramstore_audit_appends_total", result="failed")
    metrics.record("kms.amazonaws.com", "Encrypt", None, 0.0004)
    metrics.record("kms.amazonaws.com", "Encrypt", None, 0.001)   # le is inclusive
    metrics.record("kms.amazonaws.com", "Encrypt", None, 0.0011, audit_ok=False)
    assert sample("paramstore_requests_total", outcome="Success", **labels) == requests  # not yet
    metrics.flush()
    assert sample("paramstore_requests_total", outcome="Success", **labels) == requests + 3
    delta = {le: sample("paramstore_request_duration_seconds_bucket", le=le, **labels) - before[le]
             for le in before}
    assert delta == {"0.0005": 1, "0.001": 2, "0.0025": 3, "+Inf": 3}  # cumulative, as exposed
    assert sample("paramstore_audit_appends_total", result="failed") == audit + 1
    metrics.flush()  # nothing new: nothing moves
    assert sample("paramstore_requests_total", outcome="Success", **labels) == requests + 3


def test_unknown_operations_and_odd_codes_are_other():
    metrics = RequestMetrics({("kms", "Encrypt")})
    other = sample("paramstore_requests_total", service="kms", operation="other", outcome="other")
    metrics.record("kms.amazonaws.com", "MadeUp-1", "Bad Code\n", 0.0)
    metrics.flush()
    assert sample("paramstore_requests_total", service="kms", operation="other", outcome="other") == other + 1
    assert sample("paramstore_requests_total", service="kms", operation="MadeUp-1", outcome="other") == 0
