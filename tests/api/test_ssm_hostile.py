"""Hostile and random input on every AmazonSSM operation never gives a 5xx.

Bodies are built from the operation's own input shape with values drawn from a pool of
edge cases (reserved prefixes, selectors, ARNs, NUL and lone surrogates, huge or wrongly
typed members, pathological regexes, bad page tokens...), correctly signed so they reach
the validators and the operations.  Seeded, so a failure reproduces."""

from __future__ import annotations

import json
import random

import httpx
import pytest

from paramstore.ssm_model import OPERATIONS
from tests.api.test_protocol_hostile import TIMEOUT, signed_headers

POOL = ["", "/", "//", "/a//b", "a/b", "/aws/x", "/ssm/x", "x:1", "x:", ":x", "x:1:2",
        "arn:aws:ssm:us-east-1:111122223333:parameter/a", "arn:aws:ssm:us-east-1:111122223333:parameter/", "arn:",
        "\u0000", "\ud800", "é/ü", "/a/" + "b/" * 20 + "c", "x" * 3000, "/hostile/p", "/hostile/p:lab", "/hostile",
        "tag:", "tag:env", "Name", "Path", "Label", "Type", "KeyId", "Tier", "DataType", "OneLevel", "Recursive",
        "Equals", "BeginsWith", "Contains", "String", "SecureString", "StringList", "Advanced",
        "Intelligent-Tiering", "alias/aws/ssm", "alias/nope", "[]", "[{}]",
        '[{"Type":"Expiration","Version":"1.0","Attributes":{"Timestamp":"2099-01-01T00:00:00Z"}}]',
        '[{"Type":"Expiration","Attributes":{"Timestamp":"9999999-01-01"}}]', "(a+)+$", "[", "aws:ec2:image",
        "text", "ami-12345678", "eyJrIjoicGF0aCIsImEiOjF9", "e30=", "Parameter", "Document"]


def _value(rnd: random.Random, spec: dict):
    if rnd.random() < 0.05:
        return rnd.choice([None, 1, "s", [], {}, True, 1e308, -1, 2 ** 70])
    kind = spec["type"]
    if kind == "string":
        return rnd.choice(POOL + [rnd.choice(spec.get("enum", ["z"]))])
    if kind == "integer":
        return rnd.choice([0, 1, 10, 51, -5, 2 ** 40, 100])
    if kind == "boolean":
        return rnd.choice([True, False])
    if kind == "list":
        return [_value(rnd, spec["member"]) for _ in range(rnd.choice([0, 1, 2, 11]))]
    if kind == "structure":
        return {name: _value(rnd, member) for name, member in spec["members"].items()
                if name in spec.get("required", []) or rnd.random() < 0.6}
    return {"k": "v"}


@pytest.mark.parametrize("seed", [1, 2])
def test_random_bodies_on_every_operation_never_give_a_5xx(server, seed):
    rnd = random.Random(seed)
    ssm = server.client("ssm")
    ssm.put_parameter(Name="/hostile/p", Value="v", Type="SecureString", Overwrite=True)
    with httpx.Client(timeout=TIMEOUT) as client:
        for _ in range(250):
            operation = rnd.choice(sorted(OPERATIONS))
            body = json.dumps(_value(rnd, OPERATIONS[operation])).encode()
            response = client.post(server.url + "/", content=body,
                                   headers=signed_headers(server.url, body, f"AmazonSSM.{operation}", "ssm"))
            assert response.status_code < 500, (operation, body[:300], response.text[:300])
            if response.status_code >= 400:
                error = response.json()
                assert error["__type"] and isinstance(error.get("message", error.get("Message")), str), error
    # the fuzz may have overwritten or deleted it; the store must still work normally
    ssm.put_parameter(Name="/hostile/after", Value="still-here", Type="SecureString", Overwrite=True)
    assert ssm.get_parameter(Name="/hostile/after", WithDecryption=True)["Parameter"]["Value"] == "still-here"
