"""Working days (工作日) in mainland China, for the catalogue's time limits (承诺时限).

A time limit of N working days counts the working days after the day of submission (Beijing
time) and ends at the close of the Nth; 0 means the same day. Which days are working days comes
from ``chinese_calendar`` (the State Council's yearly schedule of holidays and make-up working
days). For a year it does not know yet (the schedule is published each November), Monday to
Friday are taken as working days: a deadline may then fall on a holiday, never earlier than it
should.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

import chinese_calendar

__all__ = ["BEIJING", "deadline", "is_workday"]

BEIJING = ZoneInfo("Asia/Shanghai")


def is_workday(day: dt.date) -> bool:
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:  # a year the installed schedule does not cover
        return day.weekday() < 5


@lru_cache(maxsize=4096)
def _last_day(start: dt.date, working_days: int) -> dt.date:
    day, counted = start, 0
    while counted < working_days:
        day += dt.timedelta(days=1)
        if is_workday(day):
            counted += 1
    return day


def deadline(submitted: dt.datetime, working_days: int) -> dt.datetime:
    """The moment (UTC) the time limit runs out: midnight after its last working day."""
    if working_days < 0:
        raise ValueError("working_days must be >= 0")
    start = submitted.astimezone(BEIJING).date()
    last = _last_day(start, working_days)
    return dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0), BEIJING) \
        .astimezone(dt.UTC)
