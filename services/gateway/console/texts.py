"""How the console says things to people (控制台用语): Beijing time and Chinese date forms, names
instead of ids, and plain-Chinese errors without internal codes.

Everything here is plain Python (no web framework): the Jinja filters and the `Names` helper
use it, and the tests call it directly.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import yaml

from shared.privacy import mask_phone

#: 北京时间 (UTC+8, no daylight saving): every time a person reads is in it.
BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
WEEKDAYS = "一二三四五六日"

#: Order states as a resident, a member or staff reads them.
STATE_NAMES = {"recorded": "已受理，待派单", "dispatched": "已派单，待接单", "published": "已发布，待党员认领",
               "accepted": "已接单", "escalated": "待重新安排", "completed": "服务完成，待社区查验",
               "verified": "社区已查验", "cancelled": "已取消", "merged": "已合并到其他需求"}
WISH_STATES = {"posted": "待认领", "claimed": "已认领", "fulfilled": "已圆梦"}
PARTY_NAMES = {"self": "党员自评", "leader": "领导点评", "residents": "群众测评", "community": "社区参评",
               "organisation": "组织考评"}
ROLE_NAMES = {"city_org": "市委组织部", "district_org": "区委组织部", "street_committee": "街道党工委",
              "community_staff": "社区党组织", "unit_secretary": "单位党组织", "member": "在职党员",
              "resident": "居民", "supervisory_committee": "社区议事监督委员会", "department": "委办局"}

_RULES_DIR = Path(__file__).resolve().parents[3] / "deploy" / "config" / "evaluation-rules"


def now_beijing() -> datetime:
    return datetime.now(BEIJING)


def _moment(value) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=BEIJING)
    else:
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return None
    if moment.tzinfo is None:          # the services write UTC
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(BEIJING)


def cn_datetime(value, with_year: bool | None = None) -> str:
    """"2026年12月8日（周二）19:00" in Beijing time; the year is left out within this year."""
    moment = _moment(value)
    if moment is None:
        return "—" if value in (None, "") else str(value)
    if with_year is None:
        with_year = moment.year != now_beijing().year
    day = f"{moment.year}年{moment.month}月{moment.day}日" if with_year else f"{moment.month}月{moment.day}日"
    return f"{day}（周{WEEKDAYS[moment.weekday()]}）{moment:%H:%M}"


def cn_date(value) -> str:
    """"2026年12月31日" (a date, or the Beijing day of a moment)."""
    if value in (None, ""):
        return "—"
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        value = date.fromisoformat(value)
    if isinstance(value, date) and not isinstance(value, datetime):
        return f"{value.year}年{value.month}月{value.day}日"
    moment = _moment(value)
    return f"{moment.year}年{moment.month}月{moment.day}日" if moment else str(value)


def cn_time(value) -> str:
    moment = _moment(value)
    return f"{moment:%H:%M}" if moment else "—"


def cn_window(start, end) -> str:
    """A service window: "12月8日（周二）19:00–22:00", or across days with both dates."""
    a, b = _moment(start), _moment(end)
    if a is None or b is None:
        return "—"
    if a.date() == b.date():
        return f"{cn_datetime(a)}–{b:%H:%M}"
    return f"{cn_datetime(a)} 至 {cn_datetime(b)}"


def period_name(period: str | None) -> str:
    """"2026H2" → "2026年下半年"."""
    m = re.fullmatch(r"(\d{4})H([12])", period or "")
    if not m:
        return period or "—"
    return f"{m.group(1)}年{'上' if m.group(2) == '1' else '下'}半年"


def current_period(today: date | None = None) -> str:
    today = today or now_beijing().date()
    return f"{today.year}H{1 if today.month <= 6 else 2}"


def yuan(fen) -> str:
    if fen is None:
        return "—"
    return f"{int(fen) / 100:,.2f} 元"


def stars(n) -> str:
    n = int(n or 0)
    return "★" * n + "☆" * (5 - n)


def masked_phone(phone) -> str:
    return mask_phone(phone) if phone else "—"


# -- 积分规则 names ---------------------------------------------------------------------------
_item_labels: dict[str, str] | None = None


def item_labels() -> dict[str, str]:
    """The point items' Chinese labels, from the rule files (the default one first, then the
    districts': a district may rename an item)."""
    global _item_labels
    if _item_labels is None:
        labels: dict[str, str] = {}
        for path in sorted(_RULES_DIR.glob("*.yaml"), key=lambda p: p.stem != "default"):
            try:
                items = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("items") or {}
            except (OSError, yaml.YAMLError):
                continue
            for key, spec in items.items():
                if isinstance(spec, dict) and spec.get("label"):
                    labels.setdefault(key, spec["label"])
        _item_labels = labels
    return _item_labels


def rule_name(rule_id: str | None, item: str | None = None, district_names: dict | None = None) -> str:
    """"xq:check_in@v2" → "西区积分规则（第2版）·到社区报到"."""
    m = re.fullmatch(r"([^:]+):([^@]+)@v(\d+)", rule_id or "")
    if not m:
        return item_labels().get(item or "", "积分规则")
    source, key, version = m.groups()
    label = item_labels().get(key, "积分项目")
    place = "通用" if source == "default" else (district_names or {}).get(source, "本区")
    return f"{place}积分规则（第{version}版）·{label}"


# -- plain-Chinese errors ------------------------------------------------------------------------
_MARSHMALLOW = [
    (r"Missing data for required field", "此项必填"),
    (r"Field may not be null", "此项必填"),
    (r"Not a valid (number|integer|float)", "请填写数字"),
    (r"Not a valid (aware )?datetime", "请填写正确的日期和时间"),
    (r"Not a valid date", "请填写正确的日期"),
    (r"Not a valid (string|boolean|list|mapping)", "填写的内容格式不正确"),
    (r"Not a valid URL", "请填写以 http:// 或 https:// 开头的网址"),
    (r"Unknown field", "多余的内容"),
    (r"Shorter than minimum length (\d+)", "内容太短"),
    (r"Longer than maximum length (\d+)", "内容太长"),
    (r"Length must be between (\d+) and (\d+)", r"长度应为 \1–\2 个字"),
    (r"Must be greater than or equal to ([\d.]+) and less than or equal to ([\d.]+)", r"应在 \1 到 \2 之间"),
    (r"Must be greater than or equal to ([\d.]+)", r"不能小于 \1"),
    (r"Must be less than or equal to ([\d.]+)", r"不能大于 \1"),
    (r"Must be one of", "请从列表中选择"),
    (r"Invalid value", "填写的内容不正确"),
]
_HAN = re.compile(r"[\u4e00-\u9fff]")


def plain_chinese(message) -> str:
    """One message a person can read: Chinese as the services wrote it, or marshmallow's English
    default put into Chinese; never a code."""
    if isinstance(message, (list, tuple)):
        message = next((m for m in message if isinstance(m, str)), message[0] if message else "")
    if isinstance(message, dict):
        return plain_chinese(next(iter(message.values()), ""))
    text = str(message)
    if _HAN.search(text):
        return text
    for pattern, chinese in _MARSHMALLOW:
        if re.search(pattern, text):
            return re.sub(r".*" + pattern + r".*", chinese, text, flags=re.S) if "\\" in chinese else chinese
    return "填写的内容不正确"


def field_errors(details: dict | None, rename: dict | None = None) -> dict[str, str]:
    """An API error's `details` ({field: [messages]} or nested) as {form field: one message}."""
    out: dict[str, str] = {}
    for key, value in (details or {}).items():
        name = (rename or {}).get(str(key), str(key))
        if isinstance(value, dict) and value and all(isinstance(k, int) or str(k).isdigit() for k in value):
            value = next(iter(value.values()))
        if isinstance(value, dict) and value and not any(isinstance(k, int) for k in value):
            # a nested object: name its first field's message after the outer field
            inner_key, inner = next(iter(value.items()))
            out.setdefault((rename or {}).get(f"{key}.{inner_key}", name), plain_chinese(inner))
            continue
        out.setdefault(name, plain_chinese(value))
    return out
