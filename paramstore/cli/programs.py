"""Running a program with stored values as environment variables: `params exec` and
`secrets exec`.  The program replaces this process (its exit code, signals and terminal are
its own), after the variables that would change how it runs, rather than configure it, are
refused."""

from __future__ import annotations

import fnmatch
import os
import subprocess
import sys
from typing import Iterable, NoReturn, Optional

import typer

from paramstore.cli.errors import fail

CANNOT_RUN = 127  # a program that can't be started, as a shell says it

#: Variables that `exec` will not set from a stored value unless named by --allow-env
#: (shell-style patterns, matched against the upper-cased variable name).  They decide which
#: program runs, what code it loads, which certificates it trusts, where it finds credentials
#: or sends its requests -- not the application's own settings.  Whoever may write one
#: parameter under the path (or the secret) could otherwise run code as whoever runs `exec`,
#: or redirect its traffic and secrets (/app/prod/ld-preload becomes LD_PRELOAD).
EXEC_REFUSED_VARIABLES = (
    # program lookup, the user's files, temporary files
    "PATH", "HOME", "SHELL", "TMPDIR", "TMP", "TEMP", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR",
    # dynamic loader, C library, character-set modules, resolver
    "LD_*", "DYLD_*", "GLIBC_TUNABLES", "MALLOC_*", "GCONV_PATH", "LOCPATH", "NLSPATH", "HOSTALIASES",
    "RES_OPTIONS", "LOCALDOMAIN",
    # shells run by or as the program
    "BASH_ENV", "ENV", "BASH_FUNC_*", "SHELLOPTS", "BASHOPTS", "PS4", "IFS", "CDPATH", "GLOBIGNORE",
    "PROMPT_COMMAND", "ZDOTDIR",
    # interpreters and runtimes: start-up files, module paths, extra options
    "PYTHON*", "NODE_OPTIONS", "NODE_PATH", "PERL5LIB", "PERL5OPT", "PERLLIB", "PERL5DB", "RUBYOPT", "RUBYLIB",
    "GEM_PATH", "GEM_HOME", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "CLASSPATH",
    # git, which runs the programs these name
    "GIT_SSH", "GIT_SSH_COMMAND", "GIT_ASKPASS", "SSH_ASKPASS", "GIT_EXEC_PATH", "GIT_CONFIG*",
    # TLS trust and proxies
    "OPENSSL_CONF", "OPENSSL_MODULES", "OPENSSL_ENGINES", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "FTP_PROXY",
    # AWS and paramstore credentials, profiles, endpoints, CA bundles
    "AWS_*", "PARAMSTORE_*",
)


def refused_variable(variable: str, allowed: set[str]) -> bool:
    """Whether `exec` refuses to set `variable` (EXEC_REFUSED_VARIABLES, less the --allow-env names)."""
    upper = variable.upper()
    return upper not in allowed and any(fnmatch.fnmatchcase(upper, pattern) for pattern in EXEC_REFUSED_VARIABLES)


def refuse_unsafe(variables: Iterable[tuple[str, str]], allow_env: Optional[list[str]], source: str) -> None:
    """End the command (exit 2), before anything runs, if one of the (variable, where it comes
    from) pairs is refused; the line names the variables and where they come from (`source`:
    "a parameter"), never their values."""
    allowed = {name.upper() for name in allow_env or []}
    refused = [f"{variable} (from {origin})" for variable, origin in variables if refused_variable(variable, allowed)]
    if refused:
        fail(f"refusing to set {', '.join(refused)}: a variable that changes how a program runs is taken from "
             f"{source} only when allowed with --allow-env NAME; nothing run")


def run(command: list[str], values: dict[str, str]) -> NoReturn:
    """Run `command` with `values` over this process's environment: in place of this process
    where the system can (POSIX), else as a child whose exit code becomes the command's."""
    env = {**os.environ, **values}
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "posix":
        try:
            os.execvpe(command[0], command, env)
        except OSError as exc:
            fail(f"cannot run {command[0]}: {exc.strerror}", CANNOT_RUN)
    try:
        code = subprocess.call(command, env=env)
    except OSError as exc:
        fail(f"cannot run {command[0]}: {exc.strerror}", CANNOT_RUN)
    raise typer.Exit(code)
