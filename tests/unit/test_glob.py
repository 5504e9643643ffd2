"""The IAM glob matcher (kms_core.policy.glob): the same answers as a regex reference, and
work that grows linearly with the input, also for patterns that make a backtracking regex
take exponential time."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings, strategies as st

from kms_core.policy.glob import Template, compile_glob, compile_template, count_steps, fold


def reference(pattern: str, ignore_case: bool = False) -> re.Pattern:
    """fnmatch-like: `*` any run, `?` one character, everything else literal."""
    body = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile(body, re.S | (re.I if ignore_case else 0))


def ref_template(pattern: str, values: dict) -> re.Pattern:
    out, pos = [], 0
    for m in re.finditer(r"\$\{([^}]+)\}", pattern):
        out.append(reference(pattern[pos:m.start()]).pattern)
        out.append(re.escape(values[m.group(1)]))
        pos = m.end()
    out.append(reference(pattern[pos:]).pattern)
    return re.compile("".join(out), re.S)


PATTERN_CHARS = "ab-*?"
TEXT_CHARS = "abAB-*?\n"
patterns = st.text(alphabet=PATTERN_CHARS + "AB", max_size=12)
texts = st.text(alphabet=TEXT_CHARS, max_size=16)


@settings(max_examples=600, deadline=None)
@given(patterns, texts, st.booleans())
def test_agrees_with_regex_reference(pattern, text, ignore_case):
    expected = reference(pattern, ignore_case).fullmatch(text) is not None
    assert compile_glob(pattern, ignore_case).fullmatch(text) is expected


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab?*", max_size=8), st.integers(0, 3).flatmap(
    lambda k: st.lists(st.text(alphabet="a*?", max_size=3), min_size=k, max_size=k)),
    st.text(alphabet="ab*?", max_size=14))
def test_substituted_variables_are_literal(glob_text, values, text):
    # interleave variables ${v0}, ${v1}, ... into the glob text
    pattern = glob_text
    for i in range(len(values)):
        cut = (i * 3) % (len(pattern) + 1)
        pattern = pattern[:cut] + "${v%d}" % i + pattern[cut:]
    template = compile_template(pattern)
    bound = dict(zip(template.specs, values))
    got = template.bind(tuple(bound[s] for s in template.specs)).fullmatch(text)
    assert got is (ref_template(pattern, bound).fullmatch(text) is not None)


@pytest.mark.parametrize("pattern,text,expected", [
    ("*", "", True), ("**", "anything", True), ("?", "", False), ("?", "\n", True),
    ("kms:*", "kms:Encrypt", True), ("kms:*", "km:Encrypt", False),
    ("arn:aws:kms:*:111122223333:key/*", "arn:aws:kms:us-east-1:111122223333:key/k", True),
    ("arn:aws:kms:*:111122223333:key/*", "arn:aws:kms:us-east-1:444455556666:key/k", False),
    ("a*a", "a", False), ("a*a", "aa", True), ("*ab?", "xaab", False), ("*ab?", "xabz", True),
    ("?*?", "a", False), ("?*?", "ab", True), ("a?c*a?c", "abcabc", True), ("a?c*a?c", "abcab", False),
    ("*a?b*", "ab", False), ("*a?b*", "xaxbx", True), ("*-*-x", "--x", True), ("*-*-x", "-x", False),
])
def test_examples(pattern, text, expected):
    assert compile_glob(pattern).fullmatch(text) is expected
    assert (reference(pattern).fullmatch(text) is not None) is expected


def test_ignore_case_is_the_same_as_re_ignorecase_for_tricky_characters():
    tricky = "iIıİsSſkKKµμσςΣßẞﬅﬆ"
    for p in tricky:
        for t in tricky:
            assert compile_glob(p, True).fullmatch(t) is (reference(p, True).fullmatch(t) is not None), (p, t)
            assert compile_glob("?" + p + "*", True).fullmatch("x" + t + "yy") is \
                (reference("?" + p + "*", True).fullmatch("x" + t + "yy") is not None), (p, t)
    assert compile_glob("KMS:DESCRIBE*", True).fullmatch("kms:DescribeKey")
    assert len(fold("İstanbul ΣΑΣ")) == len("İstanbul ΣΑΣ")


def test_equivalence_table_matches_re():
    casefix = pytest.importorskip("re._casefix")
    from kms_core.policy import glob
    groups = {frozenset([a, *others]) for a, others in casefix._EXTRA_CASES.items()}
    assert groups == {frozenset(g) for g in glob._EQUIVALENT}


def test_shapes_and_cache():
    assert type(compile_glob("*")).__name__ == "_Anything"
    assert type(compile_glob("***")).__name__ == "_Anything"
    assert type(compile_glob("kms:Encrypt", True)).__name__ == "_Literal"
    assert type(compile_glob("a?c")).__name__ == "_Fixed"
    assert type(compile_glob("kms:*", True)).__name__ == "_Prefix"
    assert type(compile_glob("**/key")).__name__ == "_Suffix"
    assert type(compile_glob("a?*")).__name__ == "_Starred"
    assert type(compile_glob("arn:aws:kms:*:111122223333:key/*")).__name__ == "_Literals"
    assert compile_glob("kms:*") is compile_glob("kms:*")
    assert compile_glob("kms:*", True) is not compile_glob("kms:*")
    assert isinstance(compile_template("home/${aws:username}/*"), Template)


ADVERSARIAL = ["*-*-*-*-*-*-x", "*a*a*a*a*a*a*b", "?*?*?*?*?*x", "*-?-*-?-*-?-*x", "*aaaaaaaaab*",
               "*a?a?a?a?a?b*", "-*-*-*-*-*-*-", "*?-?*?-?*?-?*?-?x"]


def inputs(pattern: str, n: int) -> list[str]:
    """Texts of length n: uniform ones, and ones that satisfy the pattern's last segment so
    the search for the middle segments has to run through the whole text."""
    tail = pattern.rsplit("*", 1)[-1].replace("?", "a")
    head = pattern.split("*", 1)[0].replace("?", "a")
    texts = ["-" * n, "a" * n, ("a-" * n)[:n], "a" * (n - 1) + "b", "-" * (n - 1) + "x"]
    for filler in ("-", "a", "b", "a-", "-a"):
        body = (filler * n)[: n - len(head) - len(tail)]
        texts.append(head + body + tail)
        texts.append(head + "a-" * 2 + "c" * (len(body) - 4) + tail)
    return texts


@pytest.mark.parametrize("pattern", ADVERSARIAL)
def test_step_count_grows_linearly(pattern):
    sizes = (100, 200, 400, 1000)
    by_size = {n: inputs(pattern, n) for n in sizes}
    assert all(len(t) == n for n in sizes for t in by_size[n])
    for which in range(len(by_size[100])):
        steps = {n: count_steps(pattern, by_size[n][which]) for n in sizes}
        for n, s in steps.items():
            assert s <= 2 * n * len(pattern) + 10, (pattern, n, s)
        assert steps[1000] <= 11 * steps[100] + 10, (pattern, steps)
        assert steps[400] <= 5 * steps[100] + 10, (pattern, steps)


@pytest.mark.parametrize("pattern", ADVERSARIAL)
def test_adversarial_inputs_agree_with_the_reference_at_small_sizes(pattern):
    # the reference regex backtracks badly, so only short inputs here
    for n in (14, 16, 20):
        for text in inputs(pattern, n) + ["-" * n, "a" * n + "b"]:
            assert compile_glob(pattern).fullmatch(text) is (reference(pattern).fullmatch(text) is not None)


def test_a_long_adversarial_input_is_a_bounded_amount_of_work():
    # a backtracking regex makes ~C(1000, 6) attempts here; the matcher at most ~n * m
    text = "-" * 10_000
    for pattern in ADVERSARIAL:
        assert count_steps(pattern, text) <= 2 * len(text) * len(pattern)
        assert count_steps(pattern, text, ignore_case=True) <= 2 * len(text) * len(pattern)
        compile_glob(pattern).fullmatch(text)
    assert compile_glob("*-*-*-*-*-*-x").fullmatch("-" * 10_000 + "x")
    assert not compile_glob("*-*-*-*-*-*-x").fullmatch("-" * 10_000)
    assert not compile_glob("*-*-*-*-*-*-x").fullmatch("-" * 4 + "a" * 10_000 + "-x")
    assert count_steps("*-*-*-*-*-*-x", "-" * 4 + "a" * 10_000 + "-x") >= 10_000  # it did scan


def test_a_backtracking_regex_would_not_finish():
    # the motivating case: a regex needs seconds for 100 characters, the matcher ~n steps
    assert count_steps("*-*-*-*-*-*-x", "-" * 99 + "y") < 10
    assert count_steps("*-*-*-*-*-*-?", "-" * 5 + "a" * 100) <= 2 * 106 * 13


def test_count_steps():
    # one step per candidate position plus one per character comparison
    assert count_steps("*", "abc") == 0
    assert count_steps("abc", "abc") == 5
    assert count_steps("abc", "abcd") == 1      # the length differs: nothing compared
    assert count_steps("*b", "aab") == 2
    assert count_steps("*x*b", "aaxb") == 2 + 3 * 2   # the tail b, then x tried at 0, 1, 2


def test_segment_search_regexes_have_nothing_to_backtrack_into():
    # segments with `?` are found with a regex of literal characters and `.` only: no
    # quantifier, group or alternation, so the regex engine tries each start position once
    parser = pytest.importorskip("re._parser")
    glob = compile_glob("x*a?b.c??d*[?]*(?)|*?-?*y")
    searches = [s.search for s in glob.middles if s.search is not None]
    assert len(searches) == 4
    for search in searches:
        ops = {str(op) for op, _ in parser.parse(search.__self__.pattern, re.S)}
        assert ops <= {"LITERAL", "ANY"}, (search.__self__.pattern, ops)
    assert glob.fullmatch("x-aXb.c12d-[!]-(!)|z-!-y")
    assert not glob.fullmatch("x-aXb.c12d-[!]-(!)-z-!-y")
