"""Working days by the Chinese official calendar (法定工作日): public holidays and the make-up
working days (调休上班) the State Council publishes each year, not plain weekdays.

The schedule comes from the `chinese-calendar` package (1.11.0 covers 2004-2026). A year it
does not cover can be added from configuration (`EXTRA_YEARS`: the schedule the State Council
publishes each autumn for the next year). A date in a year neither covers is refused with
`CalendarNotCovered`: a deadline is never computed by guessing from weekdays.
"""
from __future__ import annotations

from datetime import date, timedelta
from typing import Iterable, Mapping

from shared.domain import DomainError


class CalendarNotCovered(DomainError):
    code = "calendar_not_covered"


class WorkingCalendar:
    """Which days are working days, and deadlines counted in working days.

    Counting follows the civil code's rule for periods (民法典第二百零一条): the day the period
    starts is not counted, so `add_working_days(d, 3)` is the third working day after `d`.
    """

    def __init__(self, extra_years: Mapping[int, Mapping[str, Iterable]] | None = None):
        import chinese_calendar
        from chinese_calendar import constants

        self._package = chinese_calendar
        self._holidays = set(constants.holidays)
        self._workdays = set(constants.workdays)
        years = {d.year for d in self._holidays}
        self.package_years = range(min(years), max(years) + 1)
        self.extra_years: dict[int, tuple[set[date], set[date]]] = {}
        for year, schedule in (extra_years or {}).items():
            year = int(year)
            holidays = {date.fromisoformat(str(d)) for d in schedule.get("holidays", ())}
            workdays = {date.fromisoformat(str(d)) for d in schedule.get("workdays", ())}
            if any(d.year != year for d in holidays | workdays):
                raise ValueError(f"EXTRA_YEARS {year}: every date must be in {year}")
            if not holidays:
                raise ValueError(f"EXTRA_YEARS {year}: the year's holidays are required")
            self.extra_years[year] = (holidays, workdays)

    def covers(self, year: int) -> bool:
        return year in self.package_years or year in self.extra_years

    def covered_years(self) -> list[int]:
        return sorted(set(self.package_years) | set(self.extra_years))

    def _check(self, day: date) -> None:
        if not self.covers(day.year):
            raise CalendarNotCovered(
                f"尚未收录 {day.year} 年的法定节假日安排（已收录 {self.package_years.start}-"
                f"{self.package_years.stop - 1} 年），无法按工作日计算期限；"
                f"请更新 chinese-calendar 或在配置中补充该年安排", year=day.year)

    def is_working_day(self, day: date) -> bool:
        self._check(day)
        if day.year in self.extra_years:
            holidays, workdays = self.extra_years[day.year]
            if day in workdays:
                return True
            return day.weekday() < 5 and day not in holidays
        if day in self._workdays:
            return True
        return day.weekday() < 5 and day not in self._holidays

    def add_working_days(self, start: date, n: int) -> date:
        """The `n`-th working day after `start` (`start` itself not counted)."""
        if n < 1:
            raise ValueError("n must be positive")
        day, counted = start, 0
        while counted < n:
            day += timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after `start` up to and including `end`."""
        count, day = 0, start
        while day < end:
            day += timedelta(days=1)
            count += self.is_working_day(day)
        return count
