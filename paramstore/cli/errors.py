"""How a command fails: one line on stderr, `paramstore: <what went wrong>`, never a traceback,
and an exit code that says whether the server refused or the request never got an answer.

- exit 1: the server answered with an AWS error, printed as `paramstore: Code: message`;
- exit 2: no answer to show: bad arguments, an unreadable file, bad JSON, no credentials,
  no connection, a TLS failure, a timeout (click's own usage errors exit 2 as well).

Commands report what they check themselves with `fail`; whatever botocore raises is turned
into its line once, by `reported` around the whole command (cli/main.py).  A value the
command was given to store is masked in that line (`hidden`), should the message quote it.
"""

from __future__ import annotations

import contextlib
import re
import sys
from typing import Any, Iterator, NoReturn, Optional, Sequence

import typer

SERVICE_ERROR = 1
REQUEST_ERROR = 2
LONGEST_LINE = 500  # an HTML error page from a proxy is folded onto one line and cut here
SHORTEST_REDACTED_ANYWHERE = 4
_SECRETS = "paramstore.secrets"  # values to mask, in click's meta (shared by the whole command)


def fail(message: str, code: int = REQUEST_ERROR, secrets: Sequence[str] = ()) -> NoReturn:
    """End the command: `message` as one line on stderr, exit `code`."""
    report(message, secrets)
    raise typer.Exit(code)


def report(message: str, secrets: Sequence[str] = ()) -> None:
    """One line on stderr, `secrets` masked, without ending the command."""
    line = " ".join(redacted(message, tuple(secrets)).split())
    if len(line) > LONGEST_LINE:
        line = line[:LONGEST_LINE - 3] + "..."
    typer.echo(f"paramstore: {line}", err=True)


@contextlib.contextmanager
def hidden(ctx: typer.Context, value: str) -> Iterator[None]:
    """Mask `value` in the line `reported` prints for a failure inside the block (the value is
    left registered when the block fails, for `reported` to see it)."""
    secrets = _secrets(ctx)
    secrets.append(value)
    yield
    secrets.remove(value)


@contextlib.contextmanager
def reported(ctx: typer.Context) -> Iterator[None]:
    """Around a whole command: an exception from botocore ends it as one line (see `explain`);
    anything else is left as it is."""
    try:
        yield
    except Exception as exc:
        explained = explain(exc)
        if explained is None:
            raise
        fail(*explained, secrets=_secrets(ctx))


def explain(exc: BaseException) -> Optional[tuple[str, int]]:
    """The line and exit code for an exception from botocore, or None for any other."""
    if "botocore" not in sys.modules:
        return None
    from botocore import exceptions as boto

    if isinstance(exc, boto.ClientError):
        return aws_error(exc), SERVICE_ERROR
    if not isinstance(exc, boto.BotoCoreError):
        return None
    url = str(getattr(exc, "kwargs", {}).get("endpoint_url", "")).rstrip("/")
    if isinstance(exc, boto.NoCredentialsError):
        return "no AWS credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE)", REQUEST_ERROR
    if isinstance(exc, boto.SSLError):
        return f"TLS failure with {url}: {exc.kwargs.get('error')} (a private CA: set AWS_CA_BUNDLE)", REQUEST_ERROR
    if isinstance(exc, (boto.EndpointConnectionError, boto.ConnectTimeoutError)):
        return f"cannot connect to {url} (is the server running? see --endpoint-url)", REQUEST_ERROR
    if isinstance(exc, boto.ReadTimeoutError):
        return f"no answer from {url} in time (read timeout)", REQUEST_ERROR
    if isinstance(exc, boto.ParamValidationError):
        return f"invalid request: {exc.kwargs.get('report', exc)}", REQUEST_ERROR
    return str(exc), REQUEST_ERROR


def aws_error(exc: Any) -> str:
    """`Code: message` for the AWS error a botocore ClientError carries."""
    error = exc.response.get("Error", {})
    return f"{error.get('Code') or 'Error'}: {error.get('Message', '')}"


def redacted(text: str, secrets: tuple[str, ...]) -> str:
    """`text` with every secret replaced by ***; a very short one only where it stands alone,
    so that a value like "v" does not take every v out of the message."""
    for secret in secrets:
        if len(secret) >= SHORTEST_REDACTED_ANYWHERE:
            text = text.replace(secret, "***")
        elif secret:
            text = re.sub(rf"(?<!\w){re.escape(secret)}(?!\w)", "***", text)
    return text


def _secrets(ctx: typer.Context) -> list[str]:
    """The values being stored, in click's meta: shared by every context of one command line."""
    return ctx.meta.setdefault(_SECRETS, [])
