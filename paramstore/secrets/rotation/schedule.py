"""Rotation schedules as RotateSecret takes them: `AutomaticallyAfterDays` (1-1000) or a
`ScheduleExpression`, `rate(N hours|days)` (at least every 4 hours) or a six-field
`cron(minutes hours day-of-month month day-of-week year)` in UTC, plus an optional
`Duration` window ("3h").  Pure code: `next_rotation(rules, after)` is the next due time."""

from __future__ import annotations

import calendar
import re
from datetime import datetime, timedelta, timezone
from typing import Optional

from paramstore.secrets.errors import InvalidParameterException

_RATE = re.compile(r"rate\(\s*(\d+)\s+(hour|hours|day|days)\s*\)\Z")
_CRON = re.compile(r"cron\((.*)\)\Z")
_DURATION = re.compile(r"([1-9]|1[0-9]|2[0-4])h\Z")
MIN_RATE_HOURS = 4
_MONTHS = {m.upper(): i for i, m in enumerate(calendar.month_abbr) if m}
_DAYS = {d: i for i, d in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), 1)}  # AWS: 1 = Sunday


def check_rules(rules: dict) -> dict:
    """The rules as stored, or InvalidParameterException."""
    days, expression = rules.get("AutomaticallyAfterDays"), rules.get("ScheduleExpression")
    if days is not None and expression is not None:
        raise InvalidParameterException("You can't specify both AutomaticallyAfterDays and ScheduleExpression.")
    if days is None and expression is None:
        raise InvalidParameterException("You must specify AutomaticallyAfterDays or ScheduleExpression.")
    if expression is not None:
        _parse(expression)
    if "Duration" in rules and not _DURATION.match(rules["Duration"]):
        raise InvalidParameterException("The rotation window Duration must be between 1h and 24h, such as 3h.")
    return {k: rules[k] for k in ("AutomaticallyAfterDays", "ScheduleExpression", "Duration") if k in rules}


def next_rotation(rules: dict, after: float) -> float:
    """The first rotation time after `after` (epoch seconds)."""
    if rules.get("AutomaticallyAfterDays") is not None:
        return after + rules["AutomaticallyAfterDays"] * 86400.0
    parsed = _parse(rules["ScheduleExpression"])
    if isinstance(parsed, float):
        return after + parsed
    return parsed.next_after(after)


def _parse(expression: str) -> "float | _Cron":
    rate = _RATE.match(expression.strip())
    if rate:
        amount, unit = int(rate.group(1)), rate.group(2)
        hours = amount * (24 if unit.startswith("day") else 1)
        if hours < MIN_RATE_HOURS:
            raise InvalidParameterException(f"The schedule expression {expression} rotates more often than every "
                                            f"{MIN_RATE_HOURS} hours.")
        return hours * 3600.0
    cron = _CRON.match(expression.strip())
    if cron:
        return _Cron(cron.group(1), expression)
    raise InvalidParameterException(f"The schedule expression {expression} isn't valid: use rate() or cron().")


class _Cron:
    """minutes hours day-of-month month day-of-week year; `*`, `?`, lists, ranges, steps
    and month/day names (day-of-week 1-7 = SUN-SAT); one of the two day fields is `?`."""

    _LIMITS = ((0, 59), (0, 23), (1, 31), (1, 12), (1, 7), (1970, 2199))

    def __init__(self, body: str, expression: str) -> None:
        fields = body.split()
        bad = InvalidParameterException(f"The schedule expression {expression} isn't a valid cron expression.")
        if len(fields) != 6 or (fields[2] == "?") == (fields[4] == "?"):
            raise bad
        try:
            self.sets = [self._field(text, lo, hi, i) for i, (text, (lo, hi)) in enumerate(zip(fields, self._LIMITS))]
        except (ValueError, KeyError):
            raise bad from None

    @staticmethod
    def _field(text: str, lo: int, hi: int, index: int) -> Optional[set[int]]:
        if text in ("*", "?"):
            return None
        names = _MONTHS if index == 3 else _DAYS if index == 4 else {}
        out: set[int] = set()
        for part in text.split(","):
            part, _, step_text = part.partition("/")
            step = int(step_text) if step_text else 1
            if part == "*":
                start, end = lo, hi
            elif "-" in part:
                a, b = part.split("-", 1)
                start, end = int(names.get(a.upper(), a)), int(names.get(b.upper(), b))
            else:
                start = int(names.get(part.upper(), part))
                end = hi if step_text else start
            if not lo <= start <= end <= hi or step < 1:
                raise ValueError(text)
            out.update(range(start, end + 1, step))
        return out

    def _ok(self, index: int, value: int) -> bool:
        allowed = self.sets[index]
        return allowed is None or value in allowed

    def next_after(self, after: float) -> float:
        t = datetime.fromtimestamp(after, timezone.utc).replace(second=0, microsecond=0) + timedelta(minutes=1)
        for _ in range(366 * 24 * 60 * 5):  # at most five years of minutes, skipping whole days and hours
            dow = (t.isoweekday() % 7) + 1  # Sunday = 1
            if not (self._ok(5, t.year) and self._ok(3, t.month) and self._ok(2, t.day) and self._ok(4, dow)):
                t = (t + timedelta(days=1)).replace(hour=0, minute=0)
                continue
            if not self._ok(1, t.hour):
                t = (t + timedelta(hours=1)).replace(minute=0)
                continue
            if not self._ok(0, t.minute):
                t += timedelta(minutes=1)
                continue
            return t.timestamp()
        raise InvalidParameterException("The cron expression never matches a future time.")
