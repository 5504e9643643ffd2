"""The client commands' endpoint rules (paramstore/cli/endpoints.py)."""

from __future__ import annotations

from paramstore.cli.endpoints import DEFAULT_ENDPOINT, resolve_endpoint


def test_the_flag_wins_then_the_service_variable_then_the_general_one(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://general:1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", "http://ssm:2")
    assert resolve_endpoint("http://flag:3", "AWS_ENDPOINT_URL_SSM") == "http://flag:3"
    assert resolve_endpoint(None, "AWS_ENDPOINT_URL_SSM") == "http://ssm:2"
    assert resolve_endpoint(None, "AWS_ENDPOINT_URL_IAM") == "http://general:1"
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    assert resolve_endpoint(None, "AWS_ENDPOINT_URL_IAM") == DEFAULT_ENDPOINT


def test_global_options_move_in_front_of_the_subcommand():
    from paramstore.cli.endpoints import hoist_global_options

    assert hoist_global_options(["get", "/a", "--endpoint-url", "http://x:1", "--decrypt"]) == [
        "--endpoint-url", "http://x:1", "get", "/a", "--decrypt"]
    assert hoist_global_options(["--region=eu-west-1", "ls", "--profile", "p"]) == [
        "--region=eu-west-1", "--profile", "p", "ls"]
    # after `--` everything is the program's, even what looks like an option
    assert hoist_global_options(["exec", "/app", "--", "tool", "--region", "r"]) == [
        "exec", "/app", "--", "tool", "--region", "r"]
