"""Working days by the Chinese official calendar (法定工作日): public holidays and the make-up
working days (调休上班) the State Council publishes each year, not plain weekdays.

The schedule comes from the `chinese-calendar` package (1.11.0 covers 2004-2026). A year it
does not cover can be added from configuration (`EXTRA_YEARS`: the schedule the State Council
publishes each autumn for the next year). Until a later year is covered, its days are counted
Monday to Friday, and every deadline whose count runs through such a year is *provisional*
(待法定节假日安排公布后复核): it is computed again, from the step's date, once the year is
configured. A date before the package's first year is refused with `CalendarNotCovered`.
From `ALERT_DAYS` before the last covered day, `alert()` tells the operator to add next year.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Iterable, Mapping

from shared.domain import DomainError


class CalendarNotCovered(DomainError):
    code = "calendar_not_covered"


#: How a deadline counted over a year without the official schedule is marked wherever shown.
PROVISIONAL_NOTE = "待法定节假日安排公布后复核"
#: From this many days before the last covered day, operators are alerted to add next year.
ALERT_DAYS = 60


@dataclass(frozen=True)
class Deadline:
    """A deadline counted in working days; `provisional` when the count ran through a year
    whose official schedule is not known yet (Monday-Friday were counted)."""

    on: date
    provisional: bool

    def as_dict(self, key: str) -> dict:
        return {key: self.on.isoformat(), f"{key}_provisional": self.provisional,
                **({f"{key}_note": PROVISIONAL_NOTE} if self.provisional else {})}


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

    def covered_until(self) -> date:
        """The last day of the unbroken run of covered years."""
        year = self.package_years.stop - 1
        while year + 1 in self.extra_years:
            year += 1
        return date(year, 12, 31)

    def _check(self, day: date) -> None:
        if day.year < self.package_years.start:
            raise CalendarNotCovered(
                f"尚未收录 {day.year} 年的法定节假日安排（已收录 {self.package_years.start} 年起），"
                f"无法按工作日计算期限", year=day.year)

    def is_working_day(self, day: date) -> bool:
        """A working day; in a year not covered yet, Monday to Friday (provisional)."""
        self._check(day)
        if not self.covers(day.year):
            return day.weekday() < 5
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

    def is_provisional(self, start: date, end: date) -> bool:
        """Whether a count from `start` (exclusive) to `end` ran through a year not covered."""
        return any(not self.covers(year) for year in range(start.year, end.year + 1)
                   if date(year, 12, 31) > start)

    def deadline(self, start: date, n: int) -> Deadline:
        """`add_working_days` marked provisional where it counted weekdays of an uncovered year."""
        end = self.add_working_days(start, n)
        return Deadline(end, self.is_provisional(start, end))

    def alert(self, today: date) -> dict | None:
        """The operator's alert from `ALERT_DAYS` before the last covered day: add next year's
        official schedule (EXTRA_YEARS) or a newer chinese-calendar."""
        until = self.covered_until()
        days_left = (until - today).days
        if days_left > ALERT_DAYS:
            return None
        return {"covered_until": until.isoformat(), "days_left": days_left, "missing_year": until.year + 1,
                "message": f"法定节假日安排仅收录至 {until.year} 年，{until.year + 1} 年的工作日暂按周一至周五计算"
                           f"（{PROVISIONAL_NOTE}）；请在 EXTRA_YEARS 中配置 {until.year + 1} 年安排"
                           f"或更新 chinese-calendar"}

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after `start` up to and including `end`."""
        count, day = 0, start
        while day < end:
            day += timedelta(days=1)
            count += self.is_working_day(day)
        return count
