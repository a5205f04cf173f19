"""Working days by the official calendar: holidays and make-up working days, and a clear
refusal for a year the calendar does not cover."""
from datetime import date

import pytest

from services.funds.workdays import PROVISIONAL_NOTE, CalendarNotCovered, WorkingCalendar

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


def test_a_year_beyond_the_coverage_counts_weekdays_and_is_provisional():
    """After the package's last year, Monday to Friday count, and the deadline says so."""
    assert CAL.covered_years()[0] == 2004 and CAL.covered_years()[-1] == 2026
    assert CAL.covered_until() == date(2026, 12, 31)
    # Tue 29 Dec: Wed 30, Thu 31 Dec (official), Fri 1 Jan 2027 (a weekday: counted, provisionally)
    deadline = CAL.deadline(date(2026, 12, 29), 3)
    assert deadline.on == date(2027, 1, 1) and deadline.provisional
    assert deadline.as_dict("ends_on") == {"ends_on": "2027-01-01", "ends_on_provisional": True,
                                           "ends_on_note": PROVISIONAL_NOTE}
    assert not CAL.deadline(date(2026, 12, 21), 3).provisional      # ends Thu 24 Dec, inside 2026
    assert not CAL.is_provisional(date(2026, 12, 31), date(2026, 12, 31))
    with pytest.raises(CalendarNotCovered) as refused:
        CAL.is_working_day(date(2003, 6, 2))             # before the package's first year
    assert refused.value.code == "calendar_not_covered"


def test_operators_are_alerted_from_sixty_days_before_the_calendar_ends():
    assert CAL.alert(date(2026, 10, 31)) is None                          # 61 days left
    alert = CAL.alert(date(2026, 11, 1))
    assert alert["days_left"] == 60 and alert["missing_year"] == 2027 and "EXTRA_YEARS" in alert["message"]
    assert CAL.alert(date(2027, 1, 3))["days_left"] == -3                  # still alerting once run out
    configured = WorkingCalendar({2027: {"holidays": ["2027-01-01"]}})
    assert configured.covered_until() == date(2027, 12, 31) and configured.alert(date(2026, 12, 1)) is None


def test_a_published_schedule_from_configuration_extends_the_calendar():
    cal = WorkingCalendar({2027: {"holidays": ["2027-01-01", "2027-01-04"], "workdays": ["2027-01-09"]}})
    assert not cal.is_working_day(date(2027, 1, 4))        # a Monday off
    assert cal.is_working_day(date(2027, 1, 9))            # a Saturday at work
    # Thu 31 Dec, (1 Jan off, weekend, 4 Jan off) Tue 5 Jan, Wed 6 Jan
    assert cal.add_working_days(date(2026, 12, 30), 3) == date(2027, 1, 6)
    with pytest.raises(ValueError):
        WorkingCalendar({2027: {"holidays": ["2028-01-01"]}})


def test_the_alert_shows_in_the_readiness_detail_and_as_a_metric():
    from services.funds.service import calendar_alert, calendar_status
    from shared import metrics

    probes = metrics.Probes("funds-cal-test")
    probes.started = True
    day = {"today": date(2026, 10, 1)}
    probes.add_detail("calendar", lambda: calendar_alert(CAL, day["today"], "funds-cal-test"))
    ready, body = probes.readiness()
    assert ready and "details" not in body                                    # 91 days left: quiet
    assert metrics.REGISTRY.get_sample_value("baodao_calendar_covered_days_left", {"service": "funds-cal-test"}) == 91
    day["today"] = date(2026, 12, 8)
    ready, body = probes.readiness()
    assert ready, "an alert never makes the service unready"
    assert body["details"]["calendar"]["alert"]["missing_year"] == 2027
    assert body["details"]["calendar"]["covered_until"] == "2026-12-31"
    assert metrics.REGISTRY.get_sample_value("baodao_calendar_covered_days_left", {"service": "funds-cal-test"}) == 23
    configured = WorkingCalendar({2027: {"holidays": ["2027-01-01"]}})
    assert calendar_status(configured, date(2026, 12, 8), "funds-cal-test")["alert"] is None
