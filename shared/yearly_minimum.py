"""The yearly minimum (基本服务要求): one policy for every service that counts it.

Seed 002 (在职党员社区报到管理办法 二): "公开承诺每年完成志愿服务项目不少于2项，参与社区活动不少于6次";
seed 000: "每年开展服务次数原则上不少于2次"; seed 002 四: "对……虽报到但未达到基本服务要求的在职党员，取消当年
各类评先评优资格". Dispatch shows progress, reminds and fills the feedback card with it; evaluation
disqualifies with it. Both count the same things the same way:

- a **service** is a service record the community verified (dispatch's `ServiceVerified`) or a
  fulfilled wish (`WishFulfilled`, 圆梦行动), once for each member on it;
- an **activity** is a community activity attended (`AttendanceRecorded`, its `attended`);
- the **year** is the calendar year in Beijing time (a service verified on 31 December at 23:30
  Beijing time, 15:30 UTC, counts in that year).

The numbers come from one file (deploy/config/yearly-minimum.yaml): a default and per-district
overrides, validated at load; nothing half-valid is used. Pure: no nameko, SQLAlchemy or kombu.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime, timezone
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
DEFAULT_FILE = Path(__file__).resolve().parent.parent / "deploy" / "config" / "yearly-minimum.yaml"
FILE_ENV = "YEARLY_MINIMUM_FILE"

SERVICES, ACTIVITIES = "services", "activities"
#: Dispatch's events that count towards the minimum, what they count as, and the moment that
#: dates them (seed 002 二: 志愿服务项目 and 社区活动).
COUNTED_EVENTS = {
    "ServiceVerified": (SERVICES, "verified_at", "member_ids"),
    "WishFulfilled": (SERVICES, "fulfilled_at", "member_ids"),
    "AttendanceRecorded": (ACTIVITIES, "starts_at", "attended"),
}


class PolicyError(Exception):
    """The policy file is invalid; `problems` lists each one as "file: key: message"."""

    code = "invalid_yearly_minimum"

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("年度最低服务要求配置有误：\n" + "\n".join(problems))


def local_year(moment) -> int:
    """The year in Beijing of an ISO timestamp (naive ones are UTC); a date is its own year."""
    if isinstance(moment, date) and not isinstance(moment, datetime):
        return moment.year
    if isinstance(moment, str):
        if "T" not in moment and " " not in moment.strip():
            return int(moment[:4])
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(LOCAL_TZ).year


def counted_as(event_type: str) -> str | None:
    """"services", "activities" or None: what one of dispatch's events counts as."""
    found = COUNTED_EVENTS.get(event_type)
    return found[0] if found else None


def tally(event_type: str, data: dict) -> tuple[str, int, list[str]] | None:
    """(what it counts as, the Beijing year, the members it counts for) of a dispatch event, or
    None if it does not count. A member named twice on one record counts once."""
    found = COUNTED_EVENTS.get(event_type)
    if found is None:
        return None
    what, moment, members = found
    return what, local_year(data[moment]), list(dict.fromkeys(data[members]))


@dataclass(frozen=True)
class Minimum:
    """The numbers a member must reach in a year."""

    services: int
    activities: int

    def meets(self, services: int, activities: int) -> bool:
        return services >= self.services and activities >= self.activities

    def missing(self, services: int, activities: int) -> dict:
        return {SERVICES: max(0, self.services - services), ACTIVITIES: max(0, self.activities - activities)}

    def shortfalls(self, services: int, activities: int) -> list[str]:
        """Why a member is below it, in Chinese (empty when the minimum is met)."""
        reasons = []
        if services < self.services:
            reasons.append(f"全年参加服务项目 {services} 项，少于 {self.services} 项")
        if activities < self.activities:
            reasons.append(f"全年参加社区活动 {activities} 次，少于 {self.activities} 次")
        return reasons

    def as_dict(self) -> dict:
        return {SERVICES: self.services, ACTIVITIES: self.activities}


@dataclass(frozen=True)
class YearlyMinimumPolicy:
    default: Minimum
    districts: dict

    def for_district(self, district_id: str | None) -> Minimum:
        return self.districts.get(district_id or "", self.default)

    @classmethod
    def from_document(cls, raw, where: str = "yearly-minimum.yaml") -> "YearlyMinimumPolicy":
        """Raises PolicyError listing every problem of the document."""
        problems: list[str] = []

        def numbers(spec, key: str, base: dict | None) -> dict | None:
            if not isinstance(spec, dict):
                problems.append(f"{where}: {key}: 应为映射，如 {{services: 2, activities: 6}}")
                return None
            out = dict(base or {})
            for k, v in spec.items():
                if k not in (SERVICES, ACTIVITIES):
                    problems.append(f"{where}: {key}.{k}: 未知的字段，可用：services、activities")
                elif not isinstance(v, int) or isinstance(v, bool) or v < 0:
                    problems.append(f"{where}: {key}.{k}: 必须是不小于0的整数")
                else:
                    out[k] = v
            if base is None:
                for k in (SERVICES, ACTIVITIES):
                    if k not in spec:
                        problems.append(f"{where}: {key}.{k}: 缺少该项")
            return out

        if not isinstance(raw, dict):
            raise PolicyError([f"{where}: 文件内容应为键值映射 (YAML mapping)"])
        for key in raw:
            if key not in ("default", "districts"):
                problems.append(f"{where}: {key}: 未知的配置项")
        if "default" not in raw:
            problems.append(f"{where}: default: 缺少默认要求")
        default = numbers(raw.get("default", {}), "default", None)
        districts_raw = raw.get("districts") or {}
        districts = {}
        if not isinstance(districts_raw, dict):
            problems.append(f"{where}: districts: 应为 区编号 → 要求 的映射")
            districts_raw = {}
        for district, spec in districts_raw.items():
            found = numbers(spec, f"districts.{district}", default or {})
            if found is not None:
                districts[str(district)] = found
        if problems:
            raise PolicyError(problems)
        return cls(Minimum(**default), {d: Minimum(**n) for d, n in districts.items()})

    @classmethod
    def load(cls, path: str | Path | None = None) -> "YearlyMinimumPolicy":
        path = Path(path or os.environ.get(FILE_ENV) or DEFAULT_FILE)
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise PolicyError([f"{path}: 无法读取：{exc}"]) from None
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise PolicyError([f"{path}: 不是有效的 YAML：{exc}"]) from None
        return cls.from_document(raw, str(path))


@lru_cache(maxsize=8)
def _cached(path: str) -> YearlyMinimumPolicy:
    return YearlyMinimumPolicy.load(path)


def configured(path: str | Path | None = None) -> YearlyMinimumPolicy:
    """The policy of `path` (or $YEARLY_MINIMUM_FILE, or the repository's file), loaded once."""
    return _cached(str(path or os.environ.get(FILE_ENV) or DEFAULT_FILE))
