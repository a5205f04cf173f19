"""Working days by the official calendar: holidays and make-up working days, and a clear
refusal for a year the calendar does not cover."""
from datetime import date

import pytest

from services.funds.workdays import CalendarNotCovered, WorkingCalendar

CAL = WorkingCalendar()


def test_national_day_week_is_skipped_and_the_make_up_saturday_counts():
    # 2026: 1-7 Oct off (with 25-27 Sep for Mid-Autumn), Saturday 10 Oct is a working day
    assert not CAL.is_working_day(date(2026, 10, 1))
    assert not CAL.is_working_day(date(2026, 10, 5))        # a Monday inside the holiday
    assert CAL.is_working_day(date(2026, 10, 10))           # 调休上班 on a Saturday
    # posted on Wed 30 Sep: Thu 8, Fri 9, Sat 10 Oct are the three working days
    assert CAL.add_working_days(date(2026, 9, 30), 3) == date(2026, 10, 10)
    # plain weekday counting would have given Mon 5 Oct


def test_spring_festival_2026():
    # 15-23 Feb off; Saturdays 14 and 28 Feb are make-up working days
    assert CAL.is_working_day(date(2026, 2, 14)) and CAL.is_working_day(date(2026, 2, 28))
    assert not CAL.is_working_day(date(2026, 2, 16))
    # submitted Thu 12 Feb: Fri 13, Sat 14, Tue 24, Wed 25, Thu 26 → decide by 26 Feb
    assert CAL.add_working_days(date(2026, 2, 12), 5) == date(2026, 2, 26)
    assert CAL.working_days_between(date(2026, 2, 12), date(2026, 2, 26)) == 5


def test_the_start_day_is_not_counted_and_weekends_are_skipped():
    assert CAL.add_working_days(date(2026, 11, 23), 3) == date(2026, 11, 26)   # Mon → Thu
    assert CAL.add_working_days(date(2026, 11, 27), 3) == date(2026, 12, 2)    # Fri → Wed
    assert CAL.add_working_days(date(2026, 11, 28), 1) == date(2026, 11, 30)   # posted on a Saturday


def test_a_year_beyond_the_packages_coverage_is_refused_not_guessed():
    assert CAL.covered_years()[0] == 2004 and CAL.covered_years()[-1] == 2026
    with pytest.raises(CalendarNotCovered) as refused:
        CAL.add_working_days(date(2026, 12, 29), 3)       # would run into 2027
    assert refused.value.code == "calendar_not_covered" and "2027" in refused.value.message
    with pytest.raises(CalendarNotCovered):
        CAL.is_working_day(date(2003, 6, 2))


def test_a_published_schedule_from_configuration_extends_the_calendar():
    cal = WorkingCalendar({2027: {"holidays": ["2027-01-01", "2027-01-04"], "workdays": ["2027-01-09"]}})
    assert not cal.is_working_day(date(2027, 1, 4))        # a Monday off
    assert cal.is_working_day(date(2027, 1, 9))            # a Saturday at work
    # Thu 31 Dec, (1 Jan off, weekend, 4 Jan off) Tue 5 Jan, Wed 6 Jan
    assert cal.add_working_days(date(2026, 12, 30), 3) == date(2027, 1, 6)
    with pytest.raises(ValueError):
        WorkingCalendar({2027: {"holidays": ["2028-01-01"]}})
