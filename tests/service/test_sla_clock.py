"""The SLA clock: first response, next response and resolution from a ticket's history."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from kith.plugins.service.sla import ALWAYS, BusinessCalendar, Event, SlaSpecError, Targets, sla_clock

UTC = dt.UTC
BERLIN = ZoneInfo("Europe/Berlin")
HOUR = 3600
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
#: Berlin office: 09:00-12:00 and 13:00-17:00 on weekdays (7 h a day), Christmas off
OFFICE = BusinessCalendar.from_spec(
    {
        "timezone": "Europe/Berlin",
        "hours": {day: ["09:00-12:00", "13:00-17:00"] for day in WEEKDAYS},
        "holidays": ["2025-12-25", "2025-12-26"],
    }
)


def b(day: int, hour: int, minute: int = 0, month: int = 6) -> dt.datetime:
    """A Berlin time in June 2025 (2 June is a Monday)."""
    return dt.datetime(2025, month, day, hour, minute, tzinfo=BERLIN)


def created(at: dt.datetime) -> Event:
    return Event.created(at)


def test_ticket_created_outside_hours() -> None:
    history = [created(b(2, 7))]  # Monday 07:00, before opening
    clock = sla_clock(history, targets=Targets(first_response=2 * HOUR), calendar=OFFICE, now=b(2, 8, 30))
    first = clock.first_response
    assert (first.state, first.elapsed, first.deadline) == ("running", 0, b(2, 11))
    assert first.started_at == b(2, 7)
    assert clock.next_response.state == "not_due"


def test_ticket_created_on_a_holiday() -> None:
    # Christmas Day (Thursday) and Boxing Day are holidays, then the weekend
    history = [created(b(25, 10, month=12))]
    clock = sla_clock(history, targets=Targets(first_response=HOUR), calendar=OFFICE, now=b(26, 12, month=12))
    assert clock.first_response.elapsed == 0
    assert clock.first_response.deadline == b(29, 10, month=12)


def test_24_7_calendar() -> None:
    history = [created(b(7, 23))]  # Saturday night
    clock = sla_clock(history, targets=Targets(first_response=4 * HOUR), calendar=ALWAYS, now=b(8, 1))
    assert clock.first_response.elapsed == 2 * HOUR
    assert clock.first_response.deadline == b(8, 3)


def test_lunch_break_does_not_count() -> None:
    history = [created(b(2, 11))]
    clock = sla_clock(history, targets=Targets(resolution=3 * HOUR), calendar=OFFICE, now=b(2, 13, 30))
    assert clock.resolution.elapsed == 1.5 * HOUR
    assert clock.resolution.deadline == b(2, 15)


def test_ticket_paused_then_solved_in_one_change() -> None:
    history = [
        created(b(2, 9)),
        Event.status(b(2, 10), paused=True),  # waiting on the customer
        Event.status(b(2, 15), solved=True),  # straight from waiting to solved
    ]
    clock = sla_clock(history, targets=Targets(resolution=2 * HOUR), calendar=OFFICE, now=b(3, 9))
    resolution = clock.resolution
    assert (resolution.state, resolution.met_at, resolution.breached_at) == ("met", b(2, 15), None)
    assert resolution.elapsed == HOUR
    assert resolution.paused == 4 * HOUR  # 10-12 and 13-15
    assert clock.resolution_time == HOUR and clock.paused_time == 4 * HOUR
    assert clock.solved and not clock.paused


def test_pause_during_lunch_counts_no_paused_time_for_lunch() -> None:
    history = [created(b(2, 9)), Event.status(b(2, 11), paused=True), Event.status(b(2, 14))]
    clock = sla_clock(history, targets=Targets(resolution=7 * HOUR), calendar=OFFICE, now=b(2, 15))
    assert clock.paused_time == 2 * HOUR  # 11-12 and 13-14, not the lunch hour
    assert clock.resolution.paused == 2 * HOUR
    assert clock.resolution.elapsed == 3 * HOUR
    # 4 h left from 15:00: two today, two tomorrow
    assert clock.resolution.deadline == b(3, 11)


def test_paused_target_has_no_deadline_and_resumes_where_it_stopped() -> None:
    history = [created(b(2, 9)), Event.status(b(2, 10), paused=True)]
    paused = sla_clock(history, targets=Targets(first_response=2 * HOUR), calendar=OFFICE, now=b(2, 16))
    assert (paused.first_response.state, paused.first_response.deadline) == ("paused", None)
    assert paused.first_response.warning_at is None and paused.next_change() is None
    resumed = sla_clock(
        [*history, Event.status(b(3, 9))], targets=Targets(first_response=2 * HOUR), calendar=OFFICE, now=b(3, 9)
    )
    assert resumed.first_response.state == "running"
    assert resumed.first_response.deadline == b(3, 10)


def test_policy_target_edited_while_open() -> None:
    history = [
        created(b(2, 9)),
        Event.customer_message(b(2, 9)),
        Event.status(b(2, 14), paused=True),
        Event.status(b(2, 15)),
    ]
    now = b(2, 16)
    before = sla_clock(history, targets=Targets(resolution=8 * HOUR), calendar=OFFICE, now=now)
    assert (before.resolution.state, before.resolution.deadline) == ("running", b(3, 11))
    # the policy now allows 5 h: the same history, computed again, is already past it
    after = sla_clock(history, targets=Targets(resolution=5 * HOUR), calendar=OFFICE, now=now)
    assert after.resolution.state == "breached"
    assert after.resolution.breached_at == b(2, 16) and after.resolution.deadline == b(2, 16)
    # ... and a looser one moves the deadline out
    looser = sla_clock(history, targets=Targets(resolution=14 * HOUR), calendar=OFFICE, now=now)
    assert looser.resolution.deadline == b(4, 10)


def test_calendar_edited_while_open() -> None:
    history = [created(b(6, 16))]  # Friday 16:00
    targets = Targets(first_response=3 * HOUR)
    weekdays = sla_clock(history, targets=targets, calendar=OFFICE, now=b(6, 17))
    assert weekdays.first_response.deadline == b(9, 11)
    with_saturdays = BusinessCalendar.from_spec(
        {**OFFICE.to_spec(), "hours": {**OFFICE.to_spec()["hours"], "sat": ["10:00-14:00"]}}
    )
    edited = sla_clock(history, targets=targets, calendar=with_saturdays, now=b(6, 17))
    assert edited.first_response.deadline == b(7, 12)


def test_agent_in_another_time_zone() -> None:
    # the agent in New York replies at their 09:00, which is 15:00 in Berlin: only the
    # instant matters, and the clock counts Berlin's working hours
    new_york = ZoneInfo("America/New_York")
    history = [created(b(2, 9)), Event.agent_reply(dt.datetime(2025, 6, 2, 9, tzinfo=new_york))]
    clock = sla_clock(history, targets=Targets(first_response=8 * HOUR), calendar=OFFICE, now=b(2, 18))
    first = clock.first_response
    assert (first.state, first.met_at) == ("met", b(2, 15))
    assert first.met_at is not None and first.met_at.tzinfo is UTC
    assert clock.first_response_time == 5 * HOUR
    # a customer writing from Tokyo at their 23:00 is Berlin's 16:00
    tokyo = dt.datetime(2025, 6, 2, 23, tzinfo=ZoneInfo("Asia/Tokyo"))
    later = sla_clock(
        [*history, Event.customer_message(tokyo)],
        targets=Targets(next_response=HOUR),
        calendar=OFFICE,
        now=b(2, 16, 30),
    )
    assert later.next_response.started_at == b(2, 16)
    assert later.next_response.deadline == b(2, 17)


def test_next_response_vs_first_response_precedence() -> None:
    targets = Targets(first_response=4 * HOUR, next_response=HOUR)
    history = [
        created(b(2, 9)),
        Event.customer_message(b(2, 10)),  # still waiting for the first response
        Event.agent_reply(b(2, 11)),
        Event.customer_message(b(2, 14)),
        Event.customer_message(b(2, 14, 30)),  # does not restart the running cycle
    ]
    before_reply = sla_clock(history, targets=targets, calendar=OFFICE, now=b(2, 10, 30))
    assert before_reply.first_response.state == "running"
    assert before_reply.next_response.state == "not_due"
    clock = sla_clock(history, targets=targets, calendar=OFFICE, now=b(2, 14, 45))
    assert (clock.first_response.state, clock.first_response.met_at) == ("met", b(2, 11))
    assert clock.first_response.deadline == b(2, 14)  # the deadline it beat
    assert clock.next_response.started_at == b(2, 14)
    assert clock.next_response.deadline == b(2, 15)
    assert len(clock.next_response_cycles) == 1
    answered = sla_clock([*history, Event.agent_reply(b(2, 15, 30))], targets=targets, calendar=OFFICE, now=b(2, 16))
    assert answered.next_response.state == "met"
    assert answered.next_response.breached_at == b(2, 15)


def test_reopen_after_solve_resumes_resolution() -> None:
    targets = Targets(resolution=4 * HOUR)
    history = [
        created(b(2, 9)),
        Event.agent_reply(b(2, 10)),
        Event.status(b(2, 11), solved=True),
        Event.status(b(3, 9)),  # reopened the next morning
        Event.status(b(3, 10), solved=True),
    ]
    reopened = sla_clock(history, targets=targets, calendar=OFFICE, now=b(3, 9, 30))
    assert reopened.resolution.state == "running"
    assert reopened.resolution.elapsed == 2.5 * HOUR  # two hours on Monday, half an hour today
    assert reopened.resolution.met_at is None and reopened.resolution_time is None
    assert reopened.resolution.deadline == b(3, 11)
    assert reopened.next_response.state == "not_due"  # reopened by an agent: nothing to answer
    solved_again = sla_clock(history, targets=targets, calendar=OFFICE, now=b(4, 9))
    assert (solved_again.resolution.state, solved_again.resolution.met_at) == ("met", b(3, 10))
    assert solved_again.resolution_time == 3 * HOUR
    assert solved_again.resolution.breached_at is None
    # the time while solved (Monday 11:00 to Tuesday 09:00) never counted
    assert solved_again.resolution.paused == 0 and solved_again.paused_time == 0


@pytest.mark.parametrize("message_first", [True, False], ids=["message-then-reopen", "reopen-then-message"])
def test_reopen_by_customer_message(message_first: bool) -> None:
    targets = Targets(next_response=2 * HOUR, resolution=10 * HOUR)
    reopen = [Event.customer_message(b(3, 9)), Event.status(b(3, 9))]
    history = [
        created(b(2, 9)),
        Event.agent_reply(b(2, 10)),
        Event.status(b(2, 11), solved=True),
        *(reopen if message_first else reopen[::-1]),
    ]
    clock = sla_clock(history, targets=targets, calendar=OFFICE, now=b(3, 10))
    assert clock.next_response.state == "running"
    assert clock.next_response.started_at == b(3, 9)
    assert clock.next_response.deadline == b(3, 11)
    assert clock.resolution.elapsed == 3 * HOUR  # resumed, not restarted


def test_solved_ticket_owes_no_response() -> None:
    targets = Targets(first_response=8 * HOUR, next_response=HOUR)
    history = [
        created(b(2, 9)),
        Event.agent_reply(b(2, 9, 30)),
        Event.customer_message(b(2, 10)),
        Event.status(b(2, 10, 30), solved=True),
        Event.customer_message(b(2, 11)),  # "thanks!" on the solved ticket
    ]
    clock = sla_clock(history, targets=targets, calendar=OFFICE, now=b(3, 12))
    assert (clock.next_response.state, clock.next_response.deadline) == ("not_due", None)
    assert clock.next_response.elapsed == 0.5 * HOUR
    assert clock.next_change() is None
    # a ticket solved before any reply is not breached on its first response either
    unanswered = sla_clock(
        [created(b(2, 9)), Event.status(b(2, 10), solved=True)], targets=targets, calendar=OFFICE, now=b(9, 9)
    )
    assert unanswered.first_response.state == "not_due" and unanswered.first_response_time is None


def test_reply_with_solve_at_the_same_instant_meets_the_response() -> None:
    history = [
        created(b(2, 9)),
        Event.agent_reply(b(2, 9, 30)),
        Event.customer_message(b(2, 10)),
        Event.status(b(2, 10, 30), solved=True),  # listed first, applied after the reply
        Event.agent_reply(b(2, 10, 30)),
    ]
    clock = sla_clock(history, targets=Targets(next_response=HOUR), calendar=OFFICE, now=b(2, 12))
    assert (clock.next_response.state, clock.next_response.met_at) == ("met", b(2, 10, 30))


def test_breach_of_a_met_late_target_reports_breached_at() -> None:
    history = [created(b(2, 9)), Event.agent_reply(b(2, 14))]
    clock = sla_clock(history, targets=Targets(first_response=2 * HOUR), calendar=OFFICE, now=b(2, 15))
    first = clock.first_response
    assert (first.state, first.met_at, first.breached_at) == ("met", b(2, 14), b(2, 11))
    assert first.met_late and first.deadline == b(2, 11)
    assert clock.first_response_time == 4 * HOUR
    # still unanswered: breached, from the deadline on
    open_ = sla_clock(history[:1], targets=Targets(first_response=2 * HOUR), calendar=OFFICE, now=b(2, 13))
    assert (open_.first_response.state, open_.first_response.breached_at) == ("breached", b(2, 11))
    assert open_.next_change() is None


def test_met_exactly_at_the_deadline_is_on_time() -> None:
    history = [created(b(2, 9)), Event.agent_reply(b(2, 11))]
    clock = sla_clock(history, targets=Targets(first_response=2 * HOUR), calendar=OFFICE, now=b(2, 11))
    assert (clock.first_response.state, clock.first_response.breached_at) == ("met", None)
    no_reply = sla_clock(history[:1], targets=Targets(first_response=2 * HOUR), calendar=OFFICE, now=b(2, 11))
    assert no_reply.first_response.state == "breached"
    # solved with no time to spare, then reopened: over its goal again at once
    solved = [created(b(2, 9)), Event.status(b(2, 11), solved=True), Event.status(b(2, 14))]
    reopened = sla_clock(solved, targets=Targets(resolution=2 * HOUR), calendar=OFFICE, now=b(2, 15))
    assert (reopened.resolution.state, reopened.resolution.breached_at) == ("breached", b(2, 14))


def test_warning_at_80_percent() -> None:
    history = [created(b(2, 9))]
    targets = Targets(first_response=5 * HOUR)  # warns after 4 h: 09-12, 13-14
    early = sla_clock(history, targets=targets, calendar=OFFICE, now=b(2, 10))
    assert early.first_response.warning_at == b(2, 14)
    assert early.next_change() == b(2, 14)
    warned = sla_clock(history, targets=targets, calendar=OFFICE, now=b(2, 14, 30))
    assert warned.first_response.state == "running"
    assert warned.first_response.warning_at == b(2, 14)  # when it was reached
    assert warned.next_change() == b(2, 15)  # now the deadline is next
    half = sla_clock(history, targets=targets, calendar=OFFICE, now=b(2, 10), warn_at=0.5)
    assert half.first_response.warning_at == b(2, 11, 30)
    assert sla_clock(history, targets=targets, calendar=OFFICE, now=b(2, 10), warn_at=None).next_change() == b(2, 15)


def test_targets_and_history_are_validated() -> None:
    with pytest.raises(SlaSpecError) as caught:
        Targets(first_response=0, resolution=float("nan"))
    assert [e.field for e in caught.value.errors] == ["first_response", "resolution"]
    with pytest.raises(SlaSpecError, match="warn_at"):
        sla_clock([created(b(2, 9))], targets=Targets(), calendar=OFFICE, now=b(2, 10), warn_at=1.5)
    with pytest.raises(ValueError, match="timezone-aware"):
        Event.agent_reply(dt.datetime(2025, 6, 2, 9))
    with pytest.raises(ValueError, match="starts with one 'created'"):
        sla_clock([Event.agent_reply(b(2, 9))], targets=Targets(), calendar=OFFICE, now=b(2, 10))
    with pytest.raises(ValueError, match="now must be a timezone-aware"):
        sla_clock([created(b(2, 9))], targets=Targets(), calendar=OFFICE, now=dt.datetime(2025, 6, 2, 10))


def test_events_after_now_are_ignored_and_nothing_is_remembered() -> None:
    history = [created(b(2, 9)), Event.agent_reply(b(2, 12, 30))]
    targets = Targets(first_response=2 * HOUR)
    as_of_ten = sla_clock(history, targets=targets, calendar=OFFICE, now=b(2, 10))
    assert as_of_ten.first_response.state == "running"
    assert sla_clock(history, targets=targets, calendar=OFFICE, now=b(2, 10)) == as_of_ten
    assert sla_clock(reversed(history), targets=targets, calendar=OFFICE, now=b(2, 10)) == as_of_ten


def test_reopen_before_any_reply_resumes_the_first_response() -> None:
    targets = Targets(first_response=3 * HOUR, next_response=HOUR)
    history = [
        created(b(2, 9)),
        Event.status(b(2, 10), solved=True),  # closed without a word
        Event.customer_message(b(3, 9)),
        Event.status(b(3, 9)),
    ]
    clock = sla_clock(history, targets=targets, calendar=OFFICE, now=b(3, 10))
    # an hour on Monday before it was closed, an hour this morning: one hour left
    assert (clock.first_response.state, clock.first_response.elapsed) == ("running", 2 * HOUR)
    assert clock.first_response.deadline == b(3, 11)
    assert clock.next_response.state == "not_due"  # the first response comes first
