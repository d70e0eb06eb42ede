"""The SLA clock: a ticket's targets as a pure function of its history.

``sla_clock(history, targets=..., calendar=..., now=...)`` replays the history (events
up to ``now``) and reports each target.  Nothing is carried over from an earlier
computation, so after a policy or calendar edit the figures are simply computed again
from the same history with the new targets or calendar.

Only working time of the calendar counts.  The targets:

``first_response``
    Owed from ``created`` until the first ``agent_reply``.
``next_response``
    Owed from a ``customer_message`` that arrives after the first agent reply (and after
    the last one) until the next ``agent_reply``.  It never runs while the first
    response is still owed (the first response takes precedence); a second customer
    message while it already runs does not restart it.
``resolution``
    Owed from ``created`` until the ticket is solved.  Time while solved does not
    count; a reopen resumes it with the time already used, so a solved, reopened and
    solved again ticket's figures are cumulative.

Solving a ticket ends what it owes: a running next-response cycle stops being due
(``not_due``; a solved ticket owes no response) and the first response is not due while
solved.  When the ticket reopens, a first response still never given resumes with its
time used, and a customer message that arrived while it was solved (the usual cause of
a reopen, in either order at the same instant) starts a next response at the reopen.

A ``status`` event with ``paused=True`` stops every running target's clock; the working
time spent paused is counted (per target, and in total) as paused time.  A status event
that is both paused and solved counts as solved.  A ticket that goes from paused straight
to solved stops its resolution clock at that instant with the pause excluded.

Deadlines are instants: a target's deadline is the earliest instant at which its working
time reaches the target (``BusinessCalendar.add``).  A target met at or before its
deadline is met on time; one still owed at its deadline is ``breached`` from that
instant on, and one met later is ``met`` with ``breached_at`` set (met late).  Events at
the same instant apply in the order created, then messages and replies (as given), then
status changes, so a reply sent with "solve" meets the response target.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, get_args

from kith.plugins.service.sla.calendar import BusinessCalendar, SlaSpecError
from kith.sdk import FieldError

EventKind = Literal["created", "customer_message", "agent_reply", "status"]
TargetName = Literal["first_response", "next_response", "resolution"]
State = Literal["running", "paused", "met", "breached", "not_due"]

_UTC = dt.UTC
_ZERO = dt.timedelta()
_ORDER: dict[str, int] = {"created": 0, "customer_message": 1, "agent_reply": 1, "status": 2}


@dataclass(frozen=True)
class Event:
    """One thing that happened to a ticket; ``paused`` and ``solved`` belong to ``status``.

    A ``status`` event carries the state the ticket is in from then on (which statuses
    pause the clock or count as solved is the plugin's choice), not a delta.
    """

    at: dt.datetime
    kind: EventKind
    paused: bool = False
    solved: bool = False

    def __post_init__(self) -> None:
        if self.kind not in get_args(EventKind):
            raise ValueError(f"unknown event kind {self.kind!r}; use one of {', '.join(get_args(EventKind))}")
        if not isinstance(self.at, dt.datetime) or self.at.tzinfo is None or self.at.utcoffset() is None:
            raise ValueError(f"an event's time must be a timezone-aware datetime, got {self.at!r}")
        if self.kind != "status" and (self.paused or self.solved):
            raise ValueError(f"only a status event is paused or solved, not {self.kind}")

    @classmethod
    def created(cls, at: dt.datetime) -> Event:
        return cls(at, "created")

    @classmethod
    def customer_message(cls, at: dt.datetime) -> Event:
        return cls(at, "customer_message")

    @classmethod
    def agent_reply(cls, at: dt.datetime) -> Event:
        return cls(at, "agent_reply")

    @classmethod
    def status(cls, at: dt.datetime, *, paused: bool = False, solved: bool = False) -> Event:
        return cls(at, "status", paused=paused, solved=solved)


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0


@dataclass(frozen=True)
class Targets:
    """Working seconds allowed per target; ``None`` measures without a goal (never breached)."""

    first_response: float | None = None
    next_response: float | None = None
    resolution: float | None = None

    def __post_init__(self) -> None:
        problems = [
            FieldError(name, "invalid", f"must be a positive number of working seconds, not {value!r}")
            for name in get_args(TargetName)
            if (value := getattr(self, name)) is not None and not _positive(value)
        ]
        if problems:
            raise SlaSpecError(problems)


@dataclass(frozen=True)
class TargetClock:
    """One target as of ``now`` (for ``next_response``: its latest cycle).

    ``deadline`` is None while paused or not due; for a met target it is the deadline in
    force when it was met, for a breached one the instant it passed.  ``warning_at`` is
    when the warning share was (or, while running, will be) reached.  ``elapsed`` and
    ``paused`` are working seconds.
    """

    name: TargetName
    goal: float | None
    state: State
    started_at: dt.datetime | None
    deadline: dt.datetime | None
    warning_at: dt.datetime | None
    elapsed: float
    paused: float
    met_at: dt.datetime | None
    breached_at: dt.datetime | None

    @property
    def met_late(self) -> bool:
        return self.met_at is not None and self.breached_at is not None


@dataclass(frozen=True)
class SlaClock:
    """Every target of one ticket as of ``now``, and the figures reports need."""

    now: dt.datetime
    first_response: TargetClock
    next_response: TargetClock
    resolution: TargetClock
    #: every next-response cycle, oldest first (the last one is ``next_response``)
    next_response_cycles: tuple[TargetClock, ...]
    #: working seconds from creation to the first reply (pauses and solved time excluded)
    first_response_time: float | None
    #: working seconds the ticket was open and not paused, while it is solved (cumulative)
    resolution_time: float | None
    #: working seconds the ticket spent paused (and not solved)
    paused_time: float
    solved: bool
    paused: bool

    @property
    def targets(self) -> tuple[TargetClock, TargetClock, TargetClock]:
        return (self.first_response, self.next_response, self.resolution)

    def next_change(self) -> dt.datetime | None:
        """The next instant a target changes state on its own (a warning or a breach), for a
        scheduler; None when only a new event can change anything."""
        upcoming = [
            moment
            for target in self.targets
            if target.state == "running"
            for moment in (target.warning_at, target.deadline)
            if moment is not None and moment > self.now
        ]
        return min(upcoming, default=None)


@dataclass(eq=False)
class _Cycle:
    name: TargetName
    started_at: dt.datetime
    goal: dt.timedelta | None
    warn: dt.timedelta | None
    elapsed: dt.timedelta = _ZERO
    paused: dt.timedelta = _ZERO
    met_at: dt.datetime | None = None
    warned_at: dt.datetime | None = None
    breached_at: dt.datetime | None = None
    deadline_at_met: dt.datetime | None = None
    ended: bool = False  # stopped being due without being met (the ticket was solved)


def _cycle(name: TargetName, started_at: dt.datetime, goal: float | None, warn_at: float | None) -> _Cycle:
    return _Cycle(
        name,
        started_at,
        goal=None if goal is None else dt.timedelta(seconds=goal),
        warn=None if goal is None or warn_at is None else dt.timedelta(seconds=goal * warn_at),
    )


@dataclass
class _Replay:
    calendar: BusinessCalendar
    targets: Targets
    warn_at: float | None
    first: _Cycle
    resolution: _Cycle
    cycles: list[_Cycle] = field(default_factory=list)  # next-response cycles
    solved: bool = False
    paused: bool = False
    replied: bool = False
    wrote_while_solved: bool = False
    paused_total: dt.timedelta = _ZERO

    # -- what is owed, and time passing -------------------------------------------------

    def owed(self) -> list[_Cycle]:
        if self.solved:
            return []
        owed = [self.resolution]
        if not self.replied:
            owed.append(self.first)
        if (waiting := self.open_next()) is not None:
            owed.append(waiting)
        return owed

    def open_next(self) -> _Cycle | None:
        """The next-response cycle still waiting for a reply, if any (never while solved)."""
        last = self.cycles[-1] if self.cycles else None
        return last if last is not None and last.met_at is None and not last.ended else None

    def advance(self, start: dt.datetime, end: dt.datetime) -> None:
        owed = self.owed()
        if end <= start or not owed:
            return
        worked = self.calendar.working_time(start, end)
        if self.paused:
            self.paused_total += worked
            for cycle in owed:
                cycle.paused += worked
            return
        for cycle in owed:
            cycle.warned_at = cycle.warned_at or self.crossing(cycle, cycle.warn, start, worked)
            cycle.breached_at = cycle.breached_at or self.crossing(cycle, cycle.goal, start, worked)
            cycle.elapsed += worked

    def crossing(
        self, cycle: _Cycle, threshold: dt.timedelta | None, start: dt.datetime, worked: dt.timedelta
    ) -> dt.datetime | None:
        if threshold is None or not cycle.elapsed < threshold <= cycle.elapsed + worked:
            return None
        return self.calendar.add(start, threshold - cycle.elapsed)

    def catch_up(self, at: dt.datetime) -> None:
        """A cycle owed again (a reopen) that already used its time is past its thresholds now.

        Only a target met exactly at its deadline and then reopened gets here.
        """
        for cycle in self.owed():
            if cycle.warn is not None and cycle.warned_at is None and cycle.elapsed >= cycle.warn:
                cycle.warned_at = at
            if cycle.goal is not None and cycle.breached_at is None and cycle.elapsed >= cycle.goal:
                cycle.breached_at = at

    def projected(self, cycle: _Cycle, threshold: dt.timedelta | None, at: dt.datetime) -> dt.datetime | None:
        """When a running cycle reaches ``threshold``, from ``at`` on."""
        if threshold is None or cycle.elapsed >= threshold:
            return None
        return self.calendar.add(at, threshold - cycle.elapsed)

    def met(self, cycle: _Cycle, at: dt.datetime) -> None:
        running = cycle in self.owed() and not self.paused
        cycle.met_at = at
        if cycle.breached_at == at:  # met at its very deadline: on time
            cycle.breached_at = None
        if cycle.warned_at == at:
            cycle.warned_at = None
        if cycle.breached_at is not None:
            cycle.deadline_at_met = cycle.breached_at
        elif running and cycle.goal is not None:
            cycle.deadline_at_met = self.calendar.add(at, cycle.goal - cycle.elapsed)

    # -- events ---------------------------------------------------------------------------

    def apply(self, event: Event, at: dt.datetime) -> None:
        if event.kind == "customer_message":
            if self.solved:
                self.wrote_while_solved = True
            elif self.replied and self.open_next() is None:
                self.start_next(at)
        elif event.kind == "agent_reply":
            if not self.replied:
                self.met(self.first, at)
                self.replied = True
            elif (waiting := self.open_next()) is not None:
                self.met(waiting, at)
            self.wrote_while_solved = False
        elif event.kind == "status":
            self.change_status(event, at)

    def start_next(self, at: dt.datetime) -> None:
        self.cycles.append(_cycle("next_response", at, self.targets.next_response, self.warn_at))

    def change_status(self, event: Event, at: dt.datetime) -> None:
        if event.solved and not self.solved:
            self.met(self.resolution, at)
            if (waiting := self.open_next()) is not None:
                waiting.ended = True
            self.wrote_while_solved = False
        reopened = self.solved and not event.solved
        self.solved, self.paused = event.solved, event.paused
        if reopened:
            self.resolution.met_at = self.resolution.deadline_at_met = None
            if self.wrote_while_solved and self.replied:
                self.start_next(at)
            self.wrote_while_solved = False
            self.catch_up(at)

    # -- the answer -------------------------------------------------------------------------

    def report(self, cycle: _Cycle | None, name: TargetName, goal: float | None, now: dt.datetime) -> TargetClock:
        if cycle is None:
            return TargetClock(name, goal, "not_due", None, None, None, 0.0, 0.0, None, None)
        owed = cycle in self.owed()
        state: State
        deadline = warning_at = None
        if cycle.met_at is not None:
            state, deadline = "met", cycle.deadline_at_met
        elif cycle.breached_at is not None:
            state, deadline = "breached", cycle.breached_at
        elif not owed:
            state = "not_due"
        elif self.paused:
            state = "paused"
        else:
            state = "running"
            deadline = self.projected(cycle, cycle.goal, now)
            warning_at = self.projected(cycle, cycle.warn, now)
        return TargetClock(
            name=name,
            goal=goal,
            state=state,
            started_at=cycle.started_at,
            deadline=deadline,
            warning_at=cycle.warned_at or warning_at,
            elapsed=cycle.elapsed.total_seconds(),
            paused=cycle.paused.total_seconds(),
            met_at=cycle.met_at,
            breached_at=cycle.breached_at,
        )


def _history(history: Iterable[Event], now: dt.datetime) -> list[Event]:
    events = sorted((e for e in history if e.at <= now), key=lambda e: (e.at, _ORDER[e.kind]))
    if not events:
        raise ValueError("the history has no event up to now: a ticket's history starts with 'created'")
    if events[0].kind != "created" or any(e.kind == "created" for e in events[1:]):
        raise ValueError("a ticket's history starts with one 'created' event, before everything else")
    return events


def sla_clock(
    history: Iterable[Event],
    *,
    targets: Targets,
    calendar: BusinessCalendar,
    now: dt.datetime,
    warn_at: float | None = 0.8,
) -> SlaClock:
    """Every target of a ticket as of ``now``, from its history (events after ``now`` are ignored).

    ``warn_at`` is the share of a target after which it warns (None: no warnings).
    """
    if not isinstance(now, dt.datetime) or now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be a timezone-aware datetime, got {now!r}")
    if warn_at is not None and not 0 < warn_at <= 1:
        raise SlaSpecError([FieldError("warn_at", "invalid", f"a share between 0 and 1, not {warn_at!r}")])
    now = now.astimezone(_UTC)
    events = _history(history, now)
    created = events[0].at.astimezone(_UTC)
    replay = _Replay(
        calendar,
        targets,
        warn_at,
        first=_cycle("first_response", created, targets.first_response, warn_at),
        resolution=_cycle("resolution", created, targets.resolution, warn_at),
    )
    at = created
    for event in events[1:]:
        moment = event.at.astimezone(_UTC)
        replay.advance(at, moment)
        replay.apply(event, moment)
        at = moment
    replay.advance(at, now)
    cycles = tuple(replay.report(c, "next_response", targets.next_response, now) for c in replay.cycles)
    return SlaClock(
        now=now,
        first_response=replay.report(replay.first, "first_response", targets.first_response, now),
        next_response=cycles[-1] if cycles else replay.report(None, "next_response", targets.next_response, now),
        resolution=replay.report(replay.resolution, "resolution", targets.resolution, now),
        next_response_cycles=cycles,
        first_response_time=replay.first.elapsed.total_seconds() if replay.replied else None,
        resolution_time=replay.resolution.elapsed.total_seconds() if replay.solved else None,
        paused_time=replay.paused_total.total_seconds(),
        solved=replay.solved,
        paused=replay.paused,
    )
