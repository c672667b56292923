"""Time limits in working days: weekends, the Spring Festival and its make-up Saturday, Beijing
time, and a year the holiday schedule does not know yet."""

from __future__ import annotations

import datetime as dt

from hub.domain import workdays

UTC = dt.UTC


def test_a_time_limit_skips_the_weekend() -> None:
    # submitted Friday 2026-12-04 10:00 in Beijing, one working day: due by the end of Monday
    assert workdays.deadline(dt.datetime(2026, 12, 4, 2, 0, tzinfo=UTC), 1) == \
        dt.datetime(2026, 12, 7, 16, 0, tzinfo=UTC)


def test_the_spring_festival_is_skipped_and_its_make_up_saturday_counts() -> None:
    # Thursday 2026-02-12, three working days: 13 Feb, Saturday 14 Feb (worked in lieu), then
    # nothing until Tuesday 24 Feb after the holiday
    assert workdays.deadline(dt.datetime(2026, 2, 12, 2, 0, tzinfo=UTC), 3) == \
        dt.datetime(2026, 2, 24, 16, 0, tzinfo=UTC)
    assert workdays.is_workday(dt.date(2026, 2, 14))
    assert not workdays.is_workday(dt.date(2026, 2, 18))


def test_the_day_is_the_day_in_beijing() -> None:
    # 17:00 UTC on Friday is 01:00 on Saturday in Beijing: "on the spot" means that Saturday
    assert workdays.deadline(dt.datetime(2026, 12, 4, 17, 0, tzinfo=UTC), 0) == \
        dt.datetime(2026, 12, 5, 16, 0, tzinfo=UTC)


def test_a_year_without_a_published_schedule_counts_monday_to_friday() -> None:
    assert workdays.is_workday(dt.date(2031, 1, 6))  # a Monday
    assert not workdays.is_workday(dt.date(2031, 1, 4))  # a Saturday
