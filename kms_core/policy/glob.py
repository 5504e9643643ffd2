"""IAM wildcard matching without backtracking.

Policy globs (`Action`, `Resource`, `StringLike`, `ArnLike`) know two wildcards: `*` any run
of characters (also none) and `?` exactly one character; everything else is literal.  A
backtracking regex (`.*-.*-.*-x`) takes exponential time on hostile input, so patterns are
compiled here into a matcher that needs O(len(text) * len(pattern)) character comparisons
at worst, i.e. time linear in the input for a given pattern:

* the pattern is split at `*` into segments, each a fixed-length run of literal characters
  and `?` (a pattern without `*` is one segment that must cover the whole text);
* the first segment must match at the start of the text and the last one at its end;
* the segments in between are placed leftmost-first, in order, each after the previous one
  (placing a segment as early as possible never rules out a placement of the later ones, so
  no alternative is ever retried).

Common shapes are special-cased: a pattern without wildcards is a string comparison, one
of only `*` matches everything, `prefix*` and `*suffix` are `str.startswith` /
`str.endswith`, and segments without `?` are found with `str.find`; a segment with `?` is
found with a regex of literal characters and `.` only (no quantifier or alternation, so
nothing to backtrack into: one attempt per start position).  Compiled matchers are cached
by pattern.

Policy-variable substitutions are literal text: `compile_template` splits a pattern at its
`${...}` variables once, and `Template.bind` builds the matcher for a request's values.

`ignore_case=True` (action names) compares as `re.IGNORECASE` does: each character by its
simple lower-case mapping, with the few characters that `re` also treats as equal (e.g.
`ſ`/`s`, `ı`/`i`, `ς`/`σ`) folded together, so a fold never changes the text's length.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Callable, Iterable, Optional, Sequence, TypeVar

__all__ = ["Glob", "Template", "compile_glob", "compile_template", "count_steps", "fold"]

# Characters that `re.IGNORECASE` treats as equal beyond their lower-case forms (the table
# in CPython's `re._casefix`); each folds to the smallest code point of its group.
_EQUIVALENT = (
    (0x69, 0x131), (0x73, 0x17F), (0xB5, 0x3BC), (0x345, 0x3B9, 0x1FBE), (0x390, 0x1FD3),
    (0x3B0, 0x1FE3), (0x3B2, 0x3D0), (0x3B5, 0x3F5), (0x3B8, 0x3D1), (0x3BA, 0x3F0),
    (0x3C0, 0x3D6), (0x3C1, 0x3F1), (0x3C2, 0x3C3), (0x3C6, 0x3D5), (0x432, 0x1C80),
    (0x434, 0x1C81), (0x43E, 0x1C82), (0x441, 0x1C83), (0x442, 0x1C84, 0x1C85),
    (0x44A, 0x1C86), (0x463, 0x1C87), (0x1C88, 0xA64B), (0x1E61, 0x1E9B), (0xFB05, 0xFB06),
)
_CANONICAL = {chr(c): chr(group[0]) for group in _EQUIVALENT for c in group[1:]}


def _fold_char(ch: str) -> str:
    low = "i" if ch == "\u0130" else ch.lower()   # U+0130's full lower case is two characters
    return _CANONICAL.get(low, low)


def fold(text: str) -> str:
    """Case-fold for ignore-case matching; keeps the length (so `?` stays one character)."""
    if text.isascii():
        return text.lower()
    return "".join(map(_fold_char, text))


class _Segment:
    """A fixed-length piece of a pattern between two `*`: literal runs and `?` gaps."""

    __slots__ = ("length", "plain", "runs", "search")

    def __init__(self, pieces: list[str | int]) -> None:
        # pieces: literal strings and ints (a number of `?`), in order
        runs: list[tuple[int, str]] = []
        offset = 0
        for piece in pieces:
            if isinstance(piece, int):
                offset += piece
            elif runs and runs[-1][0] + len(runs[-1][1]) == offset:
                runs[-1] = (runs[-1][0], runs[-1][1] + piece)
                offset += len(piece)
            else:
                runs.append((offset, piece))
                offset += len(piece)
        self.length = offset
        self.runs = tuple(runs)
        # without `?` there is at most one run (adjacent literals were merged above)
        self.plain: Optional[str] = None if sum(len(r) for _, r in runs) != offset else \
            (runs[0][1] if runs else "")
        # Finding a segment with `?` in C: a regex of only literal characters and `.` has no
        # quantifier or alternation, so it has nothing to backtrack into; `search` tries each
        # start position once, with at most `length` comparisons each.
        self.search: Optional[Callable[[str, int, int], Optional[re.Match[str]]]] = None
        if self.plain is None and runs:
            body, end = [], 0
            for offset, run in runs:
                body.append("." * (offset - end) + re.escape(run))
                end = offset + len(run)
            body.append("." * (self.length - end))
            self.search = re.compile("".join(body), re.S).search

    def at(self, text: str, i: int) -> bool:
        """Does the segment match at text[i:]?  (The caller checks i + length <= len(text).)"""
        if self.plain is not None:
            return text.startswith(self.plain, i)
        for offset, run in self.runs:
            if not text.startswith(run, i + offset):
                return False
        return True

    def find(self, text: str, start: int, stop: int) -> int:
        """The leftmost i >= start where the segment matches inside text[:stop], or -1."""
        last = stop - self.length
        if last < start:
            return -1
        if self.plain is not None:
            return text.find(self.plain, start, stop)
        if self.search is None:   # only `?`: any position will do
            return start
        found = self.search(text, start, stop)
        return -1 if found is None else found.start()


class _CountingSegment(_Segment):
    """The same search, one character comparison at a time, counting them: tests and the
    benchmark use it to show the work grows linearly with the text (`str.find`,
    `str.startswith` and the segment regexes do the same search in C, within the same
    O(len(text) * len(segment)))."""

    __slots__ = ("steps",)

    steps: list[int]   # shared counter, set by count_steps

    def at(self, text: str, i: int) -> bool:
        self.steps[0] += self.length > 0
        for offset, run in self.runs:
            for k, ch in enumerate(run):
                self.steps[0] += 1
                if text[i + offset + k] != ch:
                    return False
        return True

    def find(self, text: str, start: int, stop: int) -> int:
        for i in range(start, stop - self.length + 1):
            if self.at(text, i):
                return i
        return -1


class Glob:
    """A compiled IAM glob: `fullmatch(text)` is true when the whole text matches."""

    __slots__ = ("pattern", "ignore_case")

    def __init__(self, pattern: str, ignore_case: bool) -> None:
        self.pattern = pattern
        self.ignore_case = ignore_case

    def fullmatch(self, text: str) -> bool:  # pragma: no cover - overridden
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.pattern!r}, ignore_case={self.ignore_case})"


class _Anything(Glob):
    __slots__ = ()

    def fullmatch(self, text: str) -> bool:
        return True


class _Literal(Glob):
    __slots__ = ("literal",)

    def __init__(self, pattern: str, ignore_case: bool, literal: str) -> None:
        super().__init__(pattern, ignore_case)
        self.literal = literal

    def fullmatch(self, text: str) -> bool:
        return (fold(text) if self.ignore_case else text) == self.literal


class _Fixed(Glob):
    """No `*`: one segment with `?` that must cover the whole text."""

    __slots__ = ("segment",)

    def __init__(self, pattern: str, ignore_case: bool, segment: _Segment) -> None:
        super().__init__(pattern, ignore_case)
        self.segment = segment

    def fullmatch(self, text: str) -> bool:
        if self.ignore_case:
            text = fold(text)
        return len(text) == self.segment.length and self.segment.at(text, 0)


class _Prefix(Glob):
    """`literal*`"""

    __slots__ = ("prefix",)

    def __init__(self, pattern: str, ignore_case: bool, prefix: str) -> None:
        super().__init__(pattern, ignore_case)
        self.prefix = prefix

    def fullmatch(self, text: str) -> bool:
        return (fold(text) if self.ignore_case else text).startswith(self.prefix)


class _Suffix(Glob):
    """`*literal`"""

    __slots__ = ("suffix",)

    def __init__(self, pattern: str, ignore_case: bool, suffix: str) -> None:
        super().__init__(pattern, ignore_case)
        self.suffix = suffix

    def fullmatch(self, text: str) -> bool:
        return (fold(text) if self.ignore_case else text).endswith(self.suffix)


class _Literals(Glob):
    """head * middle * ... * tail without `?`: `str.startswith`, `str.endswith`, `str.find`."""

    __slots__ = ("head", "head_length", "tail", "tail_length", "middles", "middle", "min_stop")

    head: str
    tail: str
    middles: tuple[str, ...]

    def __init__(self, pattern: str, ignore_case: bool, segments: Sequence[_Segment]) -> None:
        super().__init__(pattern, ignore_case)
        # _build passes only segments whose `plain` is set (no `?`)
        self.head, self.tail = segments[0].plain, segments[-1].plain  # type: ignore[assignment]  # plain is set
        self.head_length, self.tail_length = len(self.head), len(self.tail)
        self.middles = tuple(s.plain for s in segments[1:-1] if s.length)  # type: ignore[misc]  # plain is set
        self.middle = self.middles[0] if len(self.middles) == 1 else None   # the common shape
        # the text minus its tail must hold the head and the middles
        self.min_stop = self.head_length + sum(map(len, self.middles))

    def fullmatch(self, text: str) -> bool:
        if self.ignore_case:
            text = fold(text)
        if not text.startswith(self.head):
            return False
        stop = len(text) - self.tail_length
        if stop < self.min_stop or (self.tail_length and not text.endswith(self.tail)):
            return False
        if self.middle is not None:
            return text.find(self.middle, self.head_length, stop) >= 0
        pos = self.head_length
        for middle in self.middles:
            i = text.find(middle, pos, stop)
            if i < 0:
                return False
            pos = i + len(middle)
        return True


class _Starred(Glob):
    """head * middle * ... * tail with `?`: head at the start, tail at the end, middles
    leftmost, each through its segment's `at` / `find`."""

    __slots__ = ("head", "tail", "middles", "min_length")

    def __init__(self, pattern: str, ignore_case: bool, segments: Sequence[_Segment]) -> None:
        super().__init__(pattern, ignore_case)
        self.head, self.tail = segments[0], segments[-1]
        self.middles = tuple(s for s in segments[1:-1] if s.length)
        self.min_length = sum(s.length for s in segments)

    def fullmatch(self, text: str) -> bool:
        if self.ignore_case:
            text = fold(text)
        n = len(text)
        if n < self.min_length:
            return False
        head, tail = self.head, self.tail
        stop = n - tail.length
        if not head.at(text, 0) or not tail.at(text, stop):
            return False
        pos = head.length
        for segment in self.middles:
            i = segment.find(text, pos, stop)
            if i < 0:
                return False
            pos = i + segment.length
        return True


_S = TypeVar("_S", bound=_Segment)


def _segments(items: Iterable[tuple[str, bool]], segment_type: type[_S]) -> list[_S]:
    """Split (text, is_glob) items into the segments between `*`s; only glob text has
    wildcards, other text (substituted variables) is literal."""
    segments: list[list[str | int]] = [[]]
    for text, is_glob in items:
        if not text:
            continue
        if not is_glob:
            segments[-1].append(text)
            continue
        for k, part in enumerate(text.split("*")):
            if k:
                segments.append([])
            pieces = segments[-1]
            for j, run in enumerate(part.split("?")):
                if j:
                    if pieces and isinstance(pieces[-1], int):
                        pieces[-1] += 1
                    else:
                        pieces.append(1)
                if run:
                    pieces.append(run)
    return [segment_type(pieces) for pieces in segments]


def _build(pattern: str, items: tuple[tuple[str, bool], ...], ignore_case: bool) -> Glob:
    if ignore_case:
        items = tuple((fold(text), is_glob) for text, is_glob in items)
    segments = _segments(items, _Segment)
    if len(segments) == 1:
        only = segments[0]
        if only.plain is not None:
            return _Literal(pattern, ignore_case, only.plain)
        return _Fixed(pattern, ignore_case, only)
    head, *middles, tail = segments
    if not any(s.length for s in middles):
        if head.length == 0 and tail.length == 0:
            return _Anything(pattern, ignore_case)
        if tail.length == 0 and head.plain is not None:
            return _Prefix(pattern, ignore_case, head.plain)
        if head.length == 0 and tail.plain is not None:
            return _Suffix(pattern, ignore_case, tail.plain)
    if all(s.plain is not None for s in segments):
        return _Literals(pattern, ignore_case, segments)
    return _Starred(pattern, ignore_case, segments)


@lru_cache(maxsize=4096)
def compile_glob(pattern: str, ignore_case: bool = False) -> Glob:
    """The matcher for an IAM glob (`*`, `?`); cached per pattern."""
    return _build(pattern, ((pattern, True),), ignore_case)


_VARIABLE = re.compile(r"\$\{([^}]+)\}")


class Template:
    """A glob with `${...}` policy variables, split once: `specs` are the variables' inner
    texts in order, and `bind(values)` gives the matcher with those values as literal text."""

    __slots__ = ("pattern", "parts", "specs")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        parts, specs, pos = [], [], 0
        for m in _VARIABLE.finditer(pattern):
            parts.append(pattern[pos:m.start()])
            specs.append(m.group(1))
            pos = m.end()
        parts.append(pattern[pos:])
        self.parts = tuple(parts)    # glob text around the variables: len(specs) + 1 items
        self.specs = tuple(specs)

    def bind(self, values: tuple[str, ...]) -> Glob:
        if sum(map(len, values)) <= 1024:
            return _bind(self, values)
        return self._bind(values)

    def _bind(self, values: tuple[str, ...]) -> Glob:
        items = [(self.parts[0], True)]
        for value, part in zip(values, self.parts[1:]):
            items.append((value, False))
            items.append((part, True))
        return _build(self.pattern, tuple(items), False)


@lru_cache(maxsize=2048)
def _bind(template: Template, values: tuple[str, ...]) -> Glob:
    return template._bind(values)


@lru_cache(maxsize=1024)
def compile_template(pattern: str) -> Template:
    return Template(pattern)


def count_steps(pattern: str, text: str, ignore_case: bool = False) -> int:
    """Character comparisons the matching algorithm makes for `pattern` against `text`
    (candidate positions tried count one each); wildcard-free and `*`-only patterns go the
    general way here.  For measurements only: the matchers above do the same search in C."""
    counter = [0]
    if ignore_case:
        pattern, text = fold(pattern), fold(text)
    segments = _segments(((pattern, True),), _CountingSegment)
    for s in segments:
        s.steps = counter
    if len(segments) == 1:
        counter[0] += 1
        if len(text) == segments[0].length:
            segments[0].at(text, 0)
    else:
        _Starred(pattern, False, segments).fullmatch(text)
    return counter[0]
