"""Parameter policies (paramstore.ssm.policies): parsing a PutParameter `Policies` string and the
schedule the sweeper follows, checked against aws_api.md §5.8
(Expiration / ExpirationNotification / NoChangeNotification, <= 10 policies, error classes) and
the `ParameterInlinePolicy` shape (§5.1).  Pure functions: no server, no database."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, strategies as st

from paramstore.ssm.errors import (
    IncompatiblePolicyException,
    InvalidPolicyAttributeException,
    InvalidPolicyTypeException,
    PoliciesLimitExceededException,
    ValidationException,
)
from paramstore.ssm.policies import fire_due, parse_policies, rearm_no_change, schedule

DAY = 86_400
HOUR = 3_600
NOW = datetime(2025, 1, 1, tzinfo=timezone.utc).timestamp()
EXPIRES = datetime(2025, 3, 1, tzinfo=timezone.utc)
EXPIRES_TS = EXPIRES.timestamp()

#: every error PutParameter may raise about Policies (aws_api.md §5.1 + the common ValidationException)
POLICY_ERRORS = (ValidationException, InvalidPolicyTypeException, InvalidPolicyAttributeException,
                 IncompatiblePolicyException, PoliciesLimitExceededException)


def expiration(timestamp: str = "2025-03-01T00:00:00.000Z") -> dict:
    return {"Type": "Expiration", "Version": "1.0", "Attributes": {"Timestamp": timestamp}}


def notice(before="15", unit="Days") -> dict:
    return {"Type": "ExpirationNotification", "Version": "1.0", "Attributes": {"Before": before, "Unit": unit}}


def no_change(after="20", unit="Days") -> dict:
    return {"Type": "NoChangeNotification", "Version": "1.0", "Attributes": {"After": after, "Unit": unit}}


def parse(*items, now: float = NOW) -> list:
    return parse_policies(json.dumps(list(items)), now).inline


def statuses(inline: list) -> list:
    return [(p["PolicyType"], p["PolicyStatus"]) for p in inline]


# --------------------------------------------------------------------------------------------
# parse_policies: accepted input and the ParameterInlinePolicy it produces


def test_aws_documented_example_is_accepted():
    items = [expiration(), notice("15", "Days"), no_change("20", "Days")]
    inline = parse(*items)
    assert [p["PolicyType"] for p in inline] == ["Expiration", "ExpirationNotification", "NoChangeNotification"]
    assert all(p["PolicyStatus"] == "Pending" for p in inline)
    assert [json.loads(p["PolicyText"]) for p in inline] == items
    assert all(set(p) == {"PolicyText", "PolicyType", "PolicyStatus"} for p in inline)


def test_empty_array_means_no_policies():
    assert parse_policies("[]", NOW).inline == []


@pytest.mark.parametrize("kind", [expiration(), no_change()])
def test_single_policy_alone_is_accepted(kind):
    assert statuses(parse(kind)) == [(kind["Type"], "Pending")]


def test_ten_policies_are_allowed():
    items = [expiration()] + [notice(str(n)) for n in range(1, 6)] + [no_change(str(n)) for n in range(1, 5)]
    assert len(items) == 10
    assert len(parse(*items)) == 10


def test_eleven_policies_exceed_the_limit():
    items = [expiration()] + [notice(str(n)) for n in range(1, 6)] + [no_change(str(n)) for n in range(1, 6)]
    assert len(items) == 11
    with pytest.raises(PoliciesLimitExceededException):
        parse(*items)


def test_limit_is_checked_even_when_every_item_is_valid_except_for_count():
    with pytest.raises(PoliciesLimitExceededException):
        parse(*[no_change(str(n)) for n in range(1, 12)])


def test_two_expiration_policies_are_incompatible():
    with pytest.raises(IncompatiblePolicyException):
        parse(expiration("2025-03-01T00:00:00Z"), expiration("2025-04-01T00:00:00Z"))


def test_expiration_notification_without_expiration_is_rejected():
    # a notice "before expiration" of a parameter that never expires can't be honoured
    with pytest.raises((IncompatiblePolicyException, InvalidPolicyAttributeException)):
        parse(notice())


# --------------------------------------------------------------------------------------------
# parse_policies: malformed input


@pytest.mark.parametrize("text", ["", "not json", "[", "[{]", "{'Type': 'Expiration'}"])
def test_policies_that_are_not_json_raise_a_policy_error(text):
    with pytest.raises(POLICY_ERRORS):
        parse_policies(text, NOW)


@pytest.mark.parametrize("text", ['{"Type": "Expiration"}', '"Expiration"', "42", "null", "true"])
def test_policies_that_are_not_a_json_array_raise_a_policy_error(text):
    with pytest.raises(POLICY_ERRORS):
        parse_policies(text, NOW)


@pytest.mark.parametrize("item", [
    {"Type": "Deletion", "Version": "1.0", "Attributes": {}},
    {"Version": "1.0", "Attributes": {"Timestamp": "2025-03-01T00:00:00Z"}},
    {"Type": None, "Version": "1.0", "Attributes": {}},
    {"Type": ["Expiration"], "Version": "1.0", "Attributes": {}},
    "Expiration", 7, None, [],
])
def test_unknown_policy_type_is_invalid_policy_type(item):
    with pytest.raises(InvalidPolicyTypeException):
        parse_policies(json.dumps([item]), NOW)


def test_unknown_type_after_valid_ones_is_still_rejected():
    with pytest.raises(InvalidPolicyTypeException):
        parse(expiration(), {"Type": "Rotation", "Version": "1.0", "Attributes": {}})


@pytest.mark.parametrize("item", [
    {"Type": "Expiration", "Version": "1.0"},
    {"Type": "Expiration", "Version": "1.0", "Attributes": "2025-03-01"},
    {"Type": "Expiration", "Version": "1.0", "Attributes": {}},
    {"Type": "Expiration", "Version": "1.0", "Attributes": {"Timestamp": 1740787200}},
    {"Type": "Expiration", "Version": "1.0", "Attributes": {"Timestamp": "next tuesday"}},
    {"Type": "Expiration", "Version": "1.0", "Attributes": {"Timestamp": "2025-13-01T00:00:00Z"}},
    {"Type": "Expiration", "Version": "2.0", "Attributes": {"Timestamp": "2025-03-01T00:00:00Z"}},
    {"Type": "NoChangeNotification", "Version": "1.0", "Attributes": {"After": "20"}},
    {"Type": "NoChangeNotification", "Version": "1.0", "Attributes": {"After": "20", "Unit": "Minutes"}},
    {"Type": "NoChangeNotification", "Version": "1.0", "Attributes": {"After": "20", "Unit": "Weeks"}},
    {"Type": "NoChangeNotification", "Version": "1.0", "Attributes": {"Unit": "Days"}},
    {"Type": "NoChangeNotification", "Version": "1.0", "Attributes": {"After": "0", "Unit": "Days"}},
    {"Type": "NoChangeNotification", "Version": "1.0", "Attributes": {"After": "-3", "Unit": "Hours"}},
    {"Type": "NoChangeNotification", "Version": "1.0", "Attributes": {"After": "1.5", "Unit": "Days"}},
    {"Type": "NoChangeNotification", "Version": "1.0", "Attributes": {"After": "ten", "Unit": "Days"}},
    {"Type": "NoChangeNotification", "Version": "1.0", "Attributes": {"Before": "20", "Unit": "Days"}},
])
def test_bad_attributes_are_invalid_policy_attribute(item):
    with pytest.raises(InvalidPolicyAttributeException):
        parse_policies(json.dumps([item]), NOW)


@pytest.mark.parametrize("attributes", [
    {"Before": "0", "Unit": "Days"},
    {"Before": "x", "Unit": "Hours"},
    {"Before": "5", "Unit": "Seconds"},
    {"After": "5", "Unit": "Days"},        # ExpirationNotification counts "Before", not "After"
])
def test_bad_expiration_notification_attributes(attributes):
    with pytest.raises(InvalidPolicyAttributeException):
        parse(expiration(), {"Type": "ExpirationNotification", "Version": "1.0", "Attributes": attributes})


@pytest.mark.parametrize("unit", ["Days", "Hours"])
@pytest.mark.parametrize("amount", ["1", "15", "365"])
def test_days_and_hours_with_a_positive_whole_number_are_accepted(unit, amount):
    assert len(parse(no_change(amount, unit))) == 1
    assert len(parse(expiration(), notice(amount, unit))) == 2


# --------------------------------------------------------------------------------------------
# Expiration timestamps


def test_expiration_in_the_past_is_rejected():
    with pytest.raises(InvalidPolicyAttributeException):
        parse(expiration("2024-12-31T23:59:59Z"))


def test_expiration_exactly_now_is_rejected_one_second_later_is_accepted():
    at_now = datetime.fromtimestamp(NOW, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    with pytest.raises(InvalidPolicyAttributeException):
        parse(expiration(at_now))
    later = datetime.fromtimestamp(NOW + 1, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert len(parse(expiration(later))) == 1


@pytest.mark.parametrize("timestamp", [
    "2025-03-01T00:00:00.000Z",       # AWS's documented form
    "2025-03-01T00:00:00Z",
    "2025-03-01T00:00:00+00:00",
    "2025-03-01T02:00:00+02:00",      # offset datetime: the same instant
    "2025-02-28T19:00:00-05:00",
])
def test_timestamp_forms_give_the_same_instant(timestamp):
    expires_at, _, _ = schedule(parse(expiration(timestamp)), NOW)
    assert expires_at == EXPIRES_TS


def test_aws_documented_offset_example_with_seconds_in_the_offset():
    # AWS user guide: "ISO_OFFSET_DATE_TIME format. Here is an example: 2019-11-01T22:13:48.87+10:30:00"
    # (moved into the future so that it is accepted)
    expires_at, _, _ = schedule(parse(expiration("2030-11-01T22:13:48.87+10:30:00")), NOW)
    assert expires_at == pytest.approx(datetime(2030, 11, 1, 11, 43, 48, 870_000, tzinfo=timezone.utc).timestamp())


@pytest.mark.parametrize("timestamp", ["2025-03-01T00:00:00", "2025-03-01", "20250301T000000Z"])
def test_timestamp_that_is_neither_iso_instant_nor_offset_datetime_is_rejected(timestamp):
    with pytest.raises(InvalidPolicyAttributeException):
        parse(expiration(timestamp))


def test_timestamp_offset_is_honoured_not_dropped():
    east, _, _ = schedule(parse(expiration("2025-03-01T00:00:00+05:00")), NOW)
    west, _, _ = schedule(parse(expiration("2025-03-01T00:00:00-05:00")), NOW)
    assert west - east == 10 * HOUR


# --------------------------------------------------------------------------------------------
# schedule: (expires_at, next expiration notice, next no-change notice)


def test_schedule_of_no_policies():
    assert schedule([], NOW) == (None, None, None)


def test_schedule_of_the_documented_example():
    inline = parse(expiration(), notice("15", "Days"), no_change("20", "Days"))
    last_modified = NOW + 5 * HOUR
    assert schedule(inline, last_modified) == (EXPIRES_TS, EXPIRES_TS - 15 * DAY, last_modified + 20 * DAY)


def test_hours_unit():
    inline = parse(expiration(), notice("6", "Hours"), no_change("3", "Hours"))
    assert schedule(inline, NOW) == (EXPIRES_TS, EXPIRES_TS - 6 * HOUR, NOW + 3 * HOUR)


def test_the_earliest_pending_notice_is_next():
    inline = parse(expiration(), notice("1", "Days"), notice("15", "Days"), notice("2", "Hours"),
                   no_change("30", "Days"), no_change("12", "Hours"))
    assert schedule(inline, NOW) == (EXPIRES_TS, EXPIRES_TS - 15 * DAY, NOW + 12 * HOUR)


def test_finished_notices_are_not_scheduled_but_expiration_still_is():
    inline = parse(expiration(), notice("15", "Days"), notice("1", "Days"), no_change("20", "Days"))
    inline = [{**p, "PolicyStatus": "Finished"} if p["PolicyType"] != "Expiration" and "15" in p["PolicyText"]
              else p for p in inline]
    assert schedule(inline, NOW) == (EXPIRES_TS, EXPIRES_TS - DAY, NOW + 20 * DAY)
    all_done = [{**p, "PolicyStatus": "Finished"} for p in inline]
    assert schedule(all_done, NOW) == (EXPIRES_TS, None, None)


def test_no_change_only():
    assert schedule(parse(no_change("2", "Days")), NOW) == (None, None, NOW + 2 * DAY)


@given(before=st.integers(1, 1000), after=st.integers(1, 1000), unit=st.sampled_from(["Days", "Hours"]),
       modified=st.floats(min_value=0, max_value=NOW, allow_nan=False))
def test_schedule_arithmetic(before, after, unit, modified):
    seconds = DAY if unit == "Days" else HOUR
    inline = parse(expiration(), notice(str(before), unit), no_change(str(after), unit))
    assert schedule(inline, modified) == (EXPIRES_TS, EXPIRES_TS - before * seconds, modified + after * seconds)


# --------------------------------------------------------------------------------------------
# fire_due: notifications due by `now` become Finished, once


def test_nothing_fires_before_it_is_due():
    inline = parse(expiration(), notice("15", "Days"), no_change("20", "Days"))
    out, fired = fire_due(inline, NOW, NOW + 20 * DAY - 1)
    assert fired == []
    assert out == inline


def test_no_change_fires_at_last_modified_plus_after():
    inline = parse(expiration(), notice("15", "Days"), no_change("20", "Days"))
    out, fired = fire_due(inline, NOW, NOW + 20 * DAY)
    assert fired == ["NoChangeNotification"]
    assert statuses(out) == [("Expiration", "Pending"), ("ExpirationNotification", "Pending"),
                             ("NoChangeNotification", "Finished")]


def test_expiration_notice_fires_before_expiration():
    inline = parse(expiration(), notice("15", "Days"), no_change("100", "Days"))
    out, fired = fire_due(inline, NOW, EXPIRES_TS - 15 * DAY - 1)
    assert fired == []
    out, fired = fire_due(inline, NOW, EXPIRES_TS - 15 * DAY)
    assert fired == ["ExpirationNotification"]
    assert statuses(out) == [("Expiration", "Pending"), ("ExpirationNotification", "Finished"),
                             ("NoChangeNotification", "Pending")]


def test_expiration_itself_is_never_marked_by_fire_due():
    inline = parse(expiration())
    out, fired = fire_due(inline, NOW, EXPIRES_TS + 365 * DAY)
    assert fired == [] and statuses(out) == [("Expiration", "Pending")]


def test_several_due_notices_fire_together_and_only_once():
    inline = parse(expiration(), notice("15", "Days"), notice("1", "Days"), no_change("2", "Days"))
    out, fired = fire_due(inline, NOW, EXPIRES_TS)
    assert sorted(fired) == ["ExpirationNotification", "ExpirationNotification", "NoChangeNotification"]
    again, fired_again = fire_due(out, NOW, EXPIRES_TS + DAY)
    assert fired_again == [] and again == out


def test_fire_due_fires_only_the_ones_due():
    inline = parse(expiration(), notice("15", "Days"), notice("1", "Days"))
    out, fired = fire_due(inline, NOW, EXPIRES_TS - 2 * DAY)
    assert fired == ["ExpirationNotification"]
    assert [json.loads(p["PolicyText"])["Attributes"].get("Before") for p in out
            if p["PolicyStatus"] == "Finished"] == ["15"]


def test_fire_due_does_not_mutate_its_input():
    inline = parse(expiration(), notice("15", "Days"), no_change("1", "Days"))
    snapshot = json.dumps(inline)
    fire_due(inline, NOW, EXPIRES_TS)
    assert json.dumps(inline) == snapshot


def test_fire_due_keeps_policy_text_and_order():
    inline = parse(no_change("1", "Hours"), expiration(), notice("1", "Hours"))
    out, _ = fire_due(inline, NOW, EXPIRES_TS)
    assert [p["PolicyText"] for p in out] == [p["PolicyText"] for p in inline]


@given(after=st.integers(1, 100), offset=st.integers(-3 * DAY, 3 * DAY))
def test_no_change_fires_iff_due(after, offset):
    inline = parse(no_change(str(after), "Hours"))
    due = NOW + after * HOUR
    _, fired = fire_due(inline, NOW, due + offset)
    assert (fired == ["NoChangeNotification"]) is (offset >= 0)


# --------------------------------------------------------------------------------------------
# rearm_no_change: a change restarts the NoChangeNotification clock, nothing else


def test_rearm_resets_only_no_change_notifications():
    inline = parse(expiration(), notice("15", "Days"), no_change("20", "Days"), no_change("2", "Days"))
    fired_all, _ = fire_due(inline, NOW, EXPIRES_TS)
    assert all(p["PolicyStatus"] == "Finished" for p in fired_all if p["PolicyType"] != "Expiration")
    rearmed = rearm_no_change(fired_all)
    assert statuses(rearmed) == [("Expiration", "Pending"), ("ExpirationNotification", "Finished"),
                                 ("NoChangeNotification", "Pending"), ("NoChangeNotification", "Pending")]
    assert [p["PolicyText"] for p in rearmed] == [p["PolicyText"] for p in inline]


def test_after_a_change_no_change_counts_from_the_new_modification_and_expiration_does_not_move():
    inline = parse(expiration(), notice("15", "Days"), no_change("20", "Days"))
    out, fired = fire_due(inline, NOW, NOW + 20 * DAY)
    assert fired == ["NoChangeNotification"]
    modified = NOW + 21 * DAY
    rearmed = rearm_no_change(out)
    expires_at, next_notice, next_no_change = schedule(rearmed, modified)
    assert expires_at == EXPIRES_TS                 # "Updating the value doesn't move the expiration date."
    assert next_notice == EXPIRES_TS - 15 * DAY
    assert next_no_change == modified + 20 * DAY
    _, fired = fire_due(rearmed, modified, modified + 20 * DAY - 1)
    assert fired == []
    _, fired = fire_due(rearmed, modified, modified + 20 * DAY)
    assert fired == ["NoChangeNotification"]


def test_rearm_of_pending_policies_changes_nothing():
    inline = parse(expiration(), notice("15", "Days"), no_change("20", "Days"))
    assert rearm_no_change(inline) == inline
    assert rearm_no_change([]) == []


def test_rearm_does_not_mutate_its_input():
    inline, _ = fire_due(parse(no_change("1", "Hours")), NOW, NOW + DAY)
    rearm_no_change(inline)
    assert statuses(inline) == [("NoChangeNotification", "Finished")]


# --------------------------------------------------------------------------------------------
# Round trip of accepted policies


policy_items = st.one_of(
    st.builds(notice, st.integers(1, 999).map(str), st.sampled_from(["Days", "Hours"])),
    st.builds(no_change, st.integers(1, 999).map(str), st.sampled_from(["Days", "Hours"])),
)


@given(st.lists(policy_items, max_size=9), st.integers(1, 10 * 365 * DAY))
def test_valid_policy_lists_round_trip(items, seconds_ahead):
    stamp = (datetime.fromtimestamp(NOW, timezone.utc) + timedelta(seconds=seconds_ahead)).isoformat()
    items = [expiration(stamp)] + items
    inline = parse(*items)
    assert [json.loads(p["PolicyText"]) for p in inline] == items
    assert [p["PolicyType"] for p in inline] == [i["Type"] for i in items]
    assert {p["PolicyStatus"] for p in inline} == {"Pending"}
    assert schedule(inline, NOW)[0] == pytest.approx(NOW + seconds_ahead)
