"""Schedule expressions (`rate(...)`, `cron(...)`, `at(...)`) and the thread that fires them.

`Schedule` (EventBridge rules, UTC) and `ScheduleV2` (EventBridge Scheduler, with an optional
time zone) events are fired on their expressions; `POST /_local/schedules/<Function>/<Event>`
fires one at once. cron supports the usual fields, lists, ranges, steps, `*`, `?` and month
and day names; `L`, `W` and `#` are rejected, and such a schedule can only be fired by hand.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from infra.local.console import say
from infra.local.provision import ACCOUNT_ID, REGION, STACK_NAME
from infra.local.runtime import LocalFunction

_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}
_MONTH_NAMES = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_MONTHS = {m: i for i, m in enumerate(_MONTH_NAMES, 1)}
_DAYS = {d: i for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], 1)}  # AWS: 1 = Sunday


class Rate:
    """rate(N unit): every N units, counted from when the stack started."""

    def __init__(self, seconds: int, anchor: datetime) -> None:
        self.period = timedelta(seconds=seconds)
        self.anchor = anchor

    def next_after(self, moment: datetime) -> datetime:
        periods = (moment - self.anchor) // self.period + 1
        return self.anchor + max(periods, 1) * self.period


class At:
    """at(yyyy-mm-ddThh:mm:ss): once."""

    def __init__(self, when: datetime) -> None:
        self.when = when

    def next_after(self, moment: datetime) -> datetime | None:
        return self.when if self.when > moment else None


class Cron:
    """cron(minutes hours day-of-month month day-of-week year), evaluated in a time zone."""

    def __init__(self, fields: list[str], tz: ZoneInfo) -> None:
        if len(fields) != 6:
            raise ValueError("cron() takes 6 fields: minutes hours day-of-month month day-of-week year")
        self.tz = tz
        self.minutes = _cron_field(fields[0], 0, 59)
        self.hours = _cron_field(fields[1], 0, 23)
        self.days = _cron_field(fields[2], 1, 31)
        self.months = _cron_field(fields[3], 1, 12, _MONTHS)
        self.weekdays = _cron_field(fields[4], 1, 7, _DAYS)
        self.years = _cron_field(fields[5], 1970, 2199)

    def _day_matches(self, day: date) -> bool:
        aws_weekday = (day.weekday() + 1) % 7 + 1  # Monday=0 in Python, Sunday=1 in AWS
        return (
            day.year in self.years
            and day.month in self.months
            and day.day in self.days
            and aws_weekday in self.weekdays
        )

    def next_after(self, moment: datetime) -> datetime | None:
        local = moment.astimezone(self.tz)
        day = local.date()
        for _ in range(366 * 5):
            if self._day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        candidate = datetime(day.year, day.month, day.day, hour, minute, tzinfo=self.tz)
                        if candidate > moment:
                            return candidate.astimezone(UTC)
            day += timedelta(days=1)
        return None


def _cron_field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int]:
    if text == "?":  # "any": the other day field decides
        return set(range(low, high + 1))
    values: set[int] = set()
    for part in text.upper().split(","):
        span, _, step = part.partition("/")
        if span == "*":
            start, end = low, high
        else:
            first, _, last = span.partition("-")
            start = _cron_value(first, names)
            end = _cron_value(last, names) if last else (high if step else start)
        values.update(range(start, end + 1, int(step or 1)))
    if not values or min(values) < low or max(values) > high:
        raise ValueError(f"cron field {text!r} is outside {low}-{high}")
    return values


def _cron_value(text: str, names: dict[str, int] | None) -> int:
    if names and text in names:
        return names[text]
    if not text.isdigit():
        raise ValueError(f"cron value {text!r} is not supported locally (L, W and # are not)")
    return int(text)


def parse_expression(expression: str, *, anchor: datetime, tz: str = "UTC"):
    """A Rate, Cron or At for a schedule expression; ValueError if it cannot be run locally."""
    match = re.fullmatch(r"(rate|cron|at)\((.*)\)", expression.strip())
    if not match:
        raise ValueError(f"not a schedule expression: {expression!r}")
    kind, body = match.groups()
    zone = ZoneInfo(tz)
    if kind == "rate":
        amount, _, unit = body.strip().partition(" ")
        if unit not in _UNITS or int(amount) < 1:
            raise ValueError(f"rate({body}): expected e.g. rate(5 minutes)")
        return Rate(int(amount) * _UNITS[unit], anchor)
    if kind == "at":
        return At(datetime.fromisoformat(body.strip()).replace(tzinfo=zone).astimezone(UTC))
    return Cron(body.split(), zone)


@dataclass
class Schedule:
    """A `Schedule` or `ScheduleV2` event of one function."""

    function: LocalFunction
    event_name: str
    kind: str
    expression: str
    input: str | dict | None
    enabled: bool
    timezone: str = "UTC"
    name: str = ""
    timer: Rate | Cron | At | None = field(default=None, repr=False)
    next_fire: datetime | None = None

    @classmethod
    def from_event(cls, function: LocalFunction, event_name: str, event: dict) -> Schedule:
        props = event.get("Properties", {}) or {}
        v2 = event["Type"] == "ScheduleV2"
        state = props.get("State", "ENABLED")
        return cls(
            function=function,
            event_name=event_name,
            kind=event["Type"],
            expression=props["ScheduleExpression" if v2 else "Schedule"],
            input=props.get("Input"),
            enabled=props.get("Enabled", True) not in (False, "false") and state != "DISABLED",
            timezone=props.get("ScheduleExpressionTimezone", "UTC") if v2 else "UTC",
            name=props.get("Name") or f"{STACK_NAME}-{function.logical_id}{event_name}"[:64],
        )

    @property
    def arn(self) -> str:
        if self.kind == "ScheduleV2":
            return f"arn:aws:scheduler:{REGION}:{ACCOUNT_ID}:schedule/default/{self.name}"
        return f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{self.name}"

    def event(self, now: datetime) -> dict:
        """The event's Input if it has one, else EventBridge's "Scheduled Event"."""
        if self.input is not None:
            return json.loads(self.input) if isinstance(self.input, str) else self.input
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.scheduler" if self.kind == "ScheduleV2" else "aws.events",
            "account": ACCOUNT_ID,
            "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION,
            "resources": [self.arn],
            "detail": {},
        }


class Scheduler(threading.Thread):
    """Fires each enabled schedule when its expression comes due."""

    def __init__(self, schedules: list[Schedule], fire: Callable[[Schedule], object]) -> None:
        super().__init__(name="schedules", daemon=True)
        self.schedules = schedules
        self.fire = fire
        self._stopping = threading.Event()
        now = datetime.now(UTC)
        for schedule in schedules:
            try:
                schedule.timer = parse_expression(schedule.expression, anchor=now, tz=schedule.timezone)
            except ValueError as exc:
                say(f"schedule {schedule.function.logical_id}/{schedule.event_name}: {exc}; fire it by hand")
                continue
            if schedule.enabled:
                schedule.next_fire = schedule.timer.next_after(now)

    def run(self) -> None:
        while not self._stopping.is_set():
            due = [s for s in self.schedules if s.next_fire is not None]
            if not due:
                self._stopping.wait()
                return
            soonest = min(s.next_fire for s in due)
            if self._stopping.wait(max(0.0, (soonest - datetime.now(UTC)).total_seconds())):
                return
            now = datetime.now(UTC)
            for schedule in due:
                if schedule.next_fire <= now:
                    schedule.next_fire = schedule.timer.next_after(now)
                    self.fire(schedule)

    def stop(self) -> None:
        self._stopping.set()
