"""Micro-benchmark of the IAM glob matcher (kms_core.policy.glob).

Prints the time per match for patterns that make a backtracking regex take exponential
time, at input sizes 100 / 1,000 / 10,000, next to a regex built the old way (`*` -> `.*`)
for the sizes where that still finishes (it runs in a child process that is killed after
a few seconds, so this never hangs), and the time for typical hot-path patterns.

    .venv/bin/python tools/bench_glob.py
"""

from __future__ import annotations

import multiprocessing
import os
import re
import sys
import timeit

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from kms_core.policy.glob import compile_glob, compile_template, count_steps  # noqa: E402

ADVERSARIAL = [
    ("*-*-*-*-*-*-x", "-"),
    ("*a*a*a*a*a*a*b", "a"),
    ("?*?*?*?*?*x", "a"),
    ("*-?-*-?-*-?-*x", "-"),
]
SIZES = (100, 1_000, 10_000)
REGEX_SIZE_CAP = 1_000          # the old regex only runs for inputs up to this size ...
REGEX_TIMEOUT_SECONDS = 5.0     # ... and is abandoned after this long

ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
HOT_PATH = [
    ("kms:*", "kms:Encrypt", True),
    ("kms:Encrypt", "kms:Encrypt", True),
    ("kms:GenerateDataKey*", "kms:GenerateDataKeyWithoutPlaintext", True),
    ("arn:aws:kms:*:111122223333:key/*", ARN, False),
    (ARN, ARN, False),
    ("*", ARN, False),
]


def old_regex(pattern: str, ignore_case: bool = False) -> re.Pattern:
    body = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile(body, re.S | (re.I if ignore_case else 0))


def per_call(fn, budget: float = 0.2) -> float:
    """Seconds per call of fn(), timed for about `budget` seconds."""
    timer = timeit.Timer(fn)
    number, elapsed = timer.autorange()
    if elapsed < budget:
        number = max(1, int(number * budget / max(elapsed, 1e-9)))
        elapsed = timer.timeit(number)
    return elapsed / number


def _time_regex(pattern: str, text: str, out) -> None:
    compiled = old_regex(pattern)
    out.send(per_call(lambda: compiled.fullmatch(text), budget=0.05))


def regex_time(pattern: str, text: str) -> str:
    if len(text) > REGEX_SIZE_CAP:
        return "not run"
    receive, send = multiprocessing.Pipe(duplex=False)
    child = multiprocessing.Process(target=_time_regex, args=(pattern, text, send), daemon=True)
    child.start()
    child.join(REGEX_TIMEOUT_SECONDS)
    if child.is_alive():
        child.kill()
        child.join()
        return f"> {REGEX_TIMEOUT_SECONDS:.0f} s"
    return fmt(receive.recv()) if receive.poll() else "failed"


def fmt(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    if seconds >= 1e-6:
        return f"{seconds * 1e6:.2f} us"
    return f"{seconds * 1e9:.0f} ns"


def main() -> None:
    print("Adversarial patterns (text: the filler character repeated, no match)")
    print(f"{'pattern':<20}{'size':>7}  {'glob':>10}  {'steps':>7}  {'old regex':>10}")
    for pattern, filler in ADVERSARIAL:
        for size in SIZES:
            text = filler * size
            glob = compile_glob(pattern)
            t = per_call(lambda: glob.fullmatch(text))
            print(f"{pattern:<20}{size:>7}  {fmt(t):>10}  {count_steps(pattern, text):>7}  "
                  f"{regex_time(pattern, text):>10}")

    print()
    print("Adversarial patterns whose last segment matches (the middle search scans the text)")
    print(f"{'pattern':<20}{'size':>7}  {'glob':>10}  {'steps':>7}  {'old regex':>10}")
    for pattern, text_of in [("*-*-*-*-*-*-x", lambda n: "-" * 4 + "a" * (n - 6) + "-x"),
                             ("*a*a*a*a*a*a*b", lambda n: "a" * 4 + "c" * (n - 5) + "b"),
                             ("*-?-*-?-*-?-*x", lambda n: "-a--a-" + "b" * (n - 7) + "x"),
                             # every position is a candidate that fails on its last character
                             ("*a?a?a?b*", lambda n: "a" * n)]:
        for size in SIZES:
            text = text_of(size)
            glob = compile_glob(pattern)
            t = per_call(lambda: glob.fullmatch(text))
            print(f"{pattern:<20}{size:>7}  {fmt(t):>10}  {count_steps(pattern, text):>7}  "
                  f"{regex_time(pattern, text):>10}")

    print()
    print("Hot-path patterns (compiled once; per match)")
    print(f"{'pattern':<50}{'glob':>10}  {'old regex':>10}")
    for pattern, text, ignore_case in HOT_PATH:
        glob = compile_glob(pattern, ignore_case)
        regex = old_regex(pattern, ignore_case)
        assert glob.fullmatch(text) is (regex.fullmatch(text) is not None)
        t_glob = per_call(lambda: glob.fullmatch(text))
        t_regex = per_call(lambda: regex.fullmatch(text))
        label = pattern if len(pattern) <= 48 else pattern[:45] + "..."
        print(f"{label:<50}{fmt(t_glob):>10}  {fmt(t_regex):>10}")

    template = "arn:aws:kms:*:111122223333:key/${aws:PrincipalTag/key}"
    compiled = compile_template(template)
    values = ("1234abcd-12ab-34cd-56ef-1234567890ab",)
    t_bind = per_call(lambda: compiled.bind(values).fullmatch(ARN))
    print(f"{'(policy variable, bound per request) ' + template[:12] + '...':<50}{fmt(t_bind):>10}")


if __name__ == "__main__":
    main()
