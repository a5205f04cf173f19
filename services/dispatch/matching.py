"""Matching for 下单: who should get a resident's order, and which demands may be duplicates.

Pure Python, standard library only (no nameko, SQLAlchemy or kombu): the dispatch service
loads the data and passes plain dicts in; everything here is deterministic.

- `slots_for_window` — the weekly availability slots ("周六上午", "周三晚上", …) that a requested
  service window overlaps, in Asia/Shanghai time.
- `rank_candidates` — scores members (or teams) of the community for a demand and explains each
  score in Chinese, for the staff member who dispatches. 聚焦聚力 / 避免扎堆: besides skills,
  availability and proximity, the score favours members with fewer orders in hand and fewer
  services this year, so the work does not pile up on the same few members.
- `similar_demands` — open demands that look like the same request recorded twice (a resident
  calls, and the grid worker records it again), for staff to merge.
"""
from __future__ import annotations

import heapq
from functools import lru_cache
import unicodedata
from datetime import datetime, timedelta
from typing import Iterable, Mapping
from zoneinfo import ZoneInfo

__all__ = [
    "CATEGORY_SKILLS", "DEFAULT_WEIGHTS", "URGENCY_AVAILABILITY_BOOST", "SLOT_PARTS", "WEEKDAY_NAMES",
    "FILLER_WORDS", "slots_for_window", "rank_candidates", "similar_demands", "description_similarity",
    "normalize_text",
]

TZ = ZoneInfo("Asia/Shanghai")

# -- configuration -----------------------------------------------------------------------------

#: Skill keywords that fit each demand category (shared.contracts.dispatch.CATEGORIES).
#: A member's free-text skill tag fits when it contains a keyword ("水电维修" ⊇ "维修") or, for
#: tags of two characters or more, is contained in one ("法律" ⊆ "法律咨询").
#: An empty tuple means the category needs no particular skill (everyone fits).
CATEGORY_SKILLS: dict[str, tuple[str, ...]] = {
    "爱心认领": ("爱心", "志愿服务", "微心愿", "捐助", "帮扶"),
    "义务劳动": ("义务劳动", "劳动", "保洁", "环境整治", "绿化", "志愿服务"),
    "信息咨询": ("信息咨询", "政策宣传", "政策", "宣讲", "社保", "办事指南"),
    "矛盾调处": ("矛盾调解", "调解", "调处", "心理疏导", "心理", "法律"),
    "助老": ("助老", "养老", "护理", "陪护", "陪伴", "健康", "家政", "心理疏导"),
    "助学": ("助学", "教育", "辅导", "教师", "家教", "心理疏导"),
    "助孤": ("助孤", "关爱", "陪伴", "教育", "辅导", "心理疏导"),
    "助残": ("助残", "康复", "护理", "陪护", "手语", "无障碍"),
    "助贫": ("助贫", "帮扶", "就业", "创业", "社保", "政策"),
    "法律援助": ("法律援助", "法律咨询", "法律", "律师", "公证"),
    "健康义诊": ("健康义诊", "义诊", "医疗", "医生", "护士", "护理", "健康", "中医"),
    "维修": ("维修", "水电", "电脑", "家电", "电器", "管道"),
    "其他": (),
}

#: Weights of the five factors; `rank_candidates(weights=...)` overrides some or all of them.
#: They are normalised to sum 1, so a score is always between 0 and 1.
DEFAULT_WEIGHTS: dict[str, float] = {
    "skill": 0.35, "availability": 0.25, "grid": 0.15, "load": 0.10, "fairness": 0.15,
}

#: Urgent demands care more about who is free in the window: the availability weight is
#: multiplied by this before the weights are normalised.
URGENCY_AVAILABILITY_BOOST: dict[str, float] = {"一般": 1.0, "较急": 1.25, "紧急": 1.5}

#: Parts of the day members declare availability for (hours, local time, half-open).
SLOT_PARTS: tuple[tuple[str, int, int], ...] = (("上午", 8, 12), ("下午", 12, 18), ("晚上", 18, 22))
WEEKDAY_NAMES = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")

#: Grid factor: same grid, same community but another grid, grid unknown, another community.
GRID_SAME, GRID_OTHER, GRID_UNKNOWN, GRID_OTHER_COMMUNITY = 1.0, 0.5, 0.3, 0.0
#: Availability factor when the window falls outside every slot (e.g. 22:00–08:00): neutral.
AVAILABILITY_NO_SLOT = 0.5
#: Seed 002: at least two service projects a year; below that a member is "behind".
YEARLY_MINIMUM_SERVICES = 2
#: From this many services this year on, the reason says to rotate (避免扎堆).
MANY_SERVICES = 6

#: Politeness and function words dropped before comparing descriptions, longest first.
FILLER_WORDS: tuple[str, ...] = (
    "能不能", "您好", "你好", "谢谢", "麻烦", "帮忙", "帮我", "一下", "能否", "可否", "尽快", "希望",
    "请", "的", "了", "吧", "吗", "呢", "啊", "呀", "来",
)


# -- time windows --------------------------------------------------------------------------------

def _local_naive(value: datetime | str) -> datetime:
    """A tz-aware datetime (or ISO 8601 string) as naive Asia/Shanghai wall time."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"时间须带时区: {value.isoformat()}")
    return value.astimezone(TZ).replace(tzinfo=None)


_ALL_SLOTS = tuple(day + part for day in WEEKDAY_NAMES for part, _, _ in SLOT_PARTS)


@lru_cache(maxsize=1024)  # the same demand is ranked again on every re-dispatch
def _window_slots(start: datetime | str, end: datetime | str) -> tuple[str, ...]:
    """The slots the window overlaps, in chronological order, without repeats."""
    s, e = _local_naive(start), _local_naive(end)
    if e < s:
        raise ValueError("时段的结束早于开始")
    if e - s >= timedelta(days=8):
        return _ALL_SLOTS
    instant = e == s
    found: dict[str, None] = {}
    day = datetime(s.year, s.month, s.day)
    while day <= e:
        name = WEEKDAY_NAMES[day.weekday()]
        for part, h0, h1 in SLOT_PARTS:
            slot_start, slot_end = day.replace(hour=h0), day + timedelta(hours=h1)
            if (slot_start <= s < slot_end) if instant else (s < slot_end and e > slot_start):
                found[name + part] = None
        day += timedelta(days=1)
    return tuple(found)


def slots_for_window(start: datetime | str, end: datetime | str) -> set[str]:
    """The availability slots ("周六上午", …) that the window [start, end) overlaps.

    Times must be timezone-aware; they are converted to Asia/Shanghai first. Slots are 上午
    08–12, 下午 12–18, 晚上 18–22; weekday 上午/下午 are returned too (they are working hours, so
    members do not declare them and matching simply finds nobody free then). A window of zero
    length gives the slot containing that instant; a window outside 08–22 gives an empty set.
    """
    return set(_window_slots(start, end))


# -- ranking ----------------------------------------------------------------------------------------

def _resolve_weights(weights: Mapping[str, float] | None, urgency: str) -> tuple[float, ...]:
    merged = dict(DEFAULT_WEIGHTS)
    if weights:
        unknown = set(weights) - set(DEFAULT_WEIGHTS)
        if unknown:
            raise ValueError(f"unknown weight(s): {', '.join(sorted(unknown))}")
        merged.update(weights)
    if any(w < 0 for w in merged.values()):
        raise ValueError("weights must not be negative")
    if urgency not in URGENCY_AVAILABILITY_BOOST:
        raise ValueError(f"unknown urgency: {urgency}")
    merged["availability"] *= URGENCY_AVAILABILITY_BOOST[urgency]
    total = sum(merged.values())
    if total <= 0:
        raise ValueError("at least one weight must be positive")
    return tuple(merged[k] / total for k in ("skill", "availability", "grid", "load", "fairness"))


def rank_candidates(demand: Mapping, candidates: Iterable[Mapping], *, limit: int | None = 10,
                    category_skills: Mapping[str, tuple[str, ...]] = CATEGORY_SKILLS,
                    weights: Mapping[str, float] | None = None) -> list[dict]:
    """The best `limit` candidates for a demand, best first, each with the reasons of its score.

    demand: category, grid_id (may be None), window_start, window_end (tz-aware ISO strings or
    datetimes), urgency (一般/较急/紧急; missing = 一般); community_id optional.
    candidate: member_id, name, skills, availability, grid_id, open_orders, services_this_year;
    optional kind ("member"/"team", default member), community_id, excluded (True = never
    returned, e.g. it already declined this order).

    Score = weighted sum (weights normalised to 1, availability boosted for urgent demands) of
      skill         1 when one of the candidate's skill tags fits the category, else 0
                    (1 for everybody when the category lists no keywords, e.g. 其他);
      availability  share of the window's slots the candidate is free in (0.5 for all when the
                    window lies outside every slot);
      grid          same grid 1.0, other grid of the community 0.5, unknown 0.3, another
                    community 0.0;
      load          1 / (1 + open_orders);
      fairness      1 / (1 + services_this_year).
    Ties: fewer services this year first, then member_id. Returns dicts
    {member_id, name, kind, score (rounded to 3 places), reasons (Chinese)}.
    """
    category = demand["category"]
    if category not in category_skills:
        raise ValueError(f"unknown category: {category}")
    keywords = tuple(k for k in category_skills[category] if k)
    keyword_set = frozenset(keywords)
    w_skill, w_avail, w_grid, w_load, w_fair = _resolve_weights(weights, demand.get("urgency") or "一般")
    window = _window_slots(demand["window_start"], demand["window_end"])
    n_window = len(window)
    demand_grid = demand.get("grid_id")
    demand_community = demand.get("community_id")

    fits: dict[str, bool] = {}  # skill tag -> fits the category (tags repeat across members)

    def fit(tag: str) -> bool:
        hit = tag in keyword_set or any(k in tag for k in keywords) or (
            len(tag) >= 2 and any(tag in k for k in keywords))
        fits[tag] = hit
        return hit

    scored = []
    append = scored.append
    for c in candidates:
        get = c.get
        if get("excluded"):
            continue
        if keywords:
            matched = []
            for tag in get("skills") or ():
                hit = fits.get(tag)
                if hit is None:
                    hit = fit(tag) if tag else False
                if hit:
                    matched.append(tag)
            skill = 1.0 if matched else 0.0
        else:
            matched, skill = None, 1.0
        if n_window:
            avail = get("availability") or ()
            free = [s for s in window if s in avail]
            availability = len(free) / n_window
        else:
            free, availability = None, AVAILABILITY_NO_SLOT
        grid_id, community = get("grid_id"), get("community_id")
        if demand_community and community and community != demand_community:
            grid = GRID_OTHER_COMMUNITY
        elif grid_id is None or demand_grid is None:
            grid = GRID_UNKNOWN
        else:
            grid = GRID_SAME if grid_id == demand_grid else GRID_OTHER
        open_orders, services = get("open_orders") or 0, get("services_this_year") or 0
        if open_orders < 0:
            open_orders = 0
        if services < 0:
            services = 0
        score = (w_skill * skill + w_avail * availability + w_grid * grid
                 + w_load / (1 + open_orders) + w_fair / (1 + services))
        # rounded so that float noise between equal sums cannot break the documented tie-break
        append(((-round(score, 9), services, str(c["member_id"])), score, c, matched, free, grid,
                open_orders, services))

    if limit is None:
        top = sorted(scored, key=lambda row: row[0])
    elif limit <= 0:
        return []
    else:
        top = heapq.nsmallest(limit, scored, key=lambda row: row[0])

    return [{
        "member_id": c["member_id"],
        "name": c.get("name", ""),
        "kind": c.get("kind") or "member",
        "score": round(score, 3),
        "reasons": _reasons(matched, free, n_window, grid, open_orders, services),
    } for _, score, c, matched, free, grid, open_orders, services in top]


_GRID_REASONS = {GRID_SAME: "同一网格", GRID_OTHER: "同社区其他网格", GRID_UNKNOWN: "网格未知",
                 GRID_OTHER_COMMUNITY: "非本社区"}


def _reasons(matched, free, n_window, grid, open_orders, services) -> list[str]:
    reasons = []
    if matched is None:
        reasons.append("该类别不限技能")
    elif matched:
        reasons.append("技能匹配：" + "、".join(dict.fromkeys(matched)))
    else:
        reasons.append("技能不匹配")
    if free is None:
        reasons.append("所求时段不在服务时段（08:00–22:00）内")
    elif len(free) == n_window:
        reasons.append("、".join(free) + "有空")
    elif free:
        reasons.append(f"{'、'.join(free)}有空（所求 {n_window} 个时段中的 {len(free)} 个）")
    else:
        reasons.append("所求时段无空闲")
    reasons.append(_GRID_REASONS[grid])
    reasons.append("当前无在办订单" if open_orders == 0 else f"在办订单 {open_orders} 件")
    if services < YEARLY_MINIMUM_SERVICES:
        reasons.append(f"今年已服务 {services} 次，优先安排（避免扎堆）")
    elif services >= MANY_SERVICES:
        reasons.append(f"今年已服务 {services} 次，较多，宜轮换（避免扎堆）")
    else:
        reasons.append(f"今年已服务 {services} 次")
    return reasons


# -- possible duplicates ------------------------------------------------------------------------

def normalize_text(text: str | None, *, drop_fillers: bool = True) -> str:
    """NFKC (full-width → half-width), lower case, only letters and digits (Chinese characters
    count as letters: punctuation and spaces go), then the FILLER_WORDS removed."""
    text = "".join(ch for ch in unicodedata.normalize("NFKC", text or "").lower() if ch.isalnum())
    if drop_fillers:
        for word in FILLER_WORDS:
            if word in text:
                text = text.replace(word, "")
    return text


def _bigrams(normalized: str) -> frozenset[str]:
    if len(normalized) < 2:
        return frozenset((normalized,)) if normalized else frozenset()
    return frozenset(normalized[i:i + 2] for i in range(len(normalized) - 1))


def description_similarity(a: str, b: str) -> float:
    """Jaccard similarity of the character bigrams of the two normalised descriptions (0–1).

    Bigram Jaccard rather than difflib: it ignores word order ("漏水的水龙头" / "水龙头漏水"),
    costs one set operation, and with the filler words removed it puts rephrasings of one
    request well above 0.6 ("厨房水龙头漏水，请帮忙修理" / "厨房的水龙头漏水了，麻烦来修一下":
    0.875) and different requests near 0.
    """
    x, y = _bigrams(normalize_text(a)), _bigrams(normalize_text(b))
    if not x or not y:
        return 0.0
    return len(x & y) / len(x | y)


def similar_demands(new: Mapping, open_demands: Iterable[Mapping], threshold: float = 0.6) -> list[str]:
    """demand_ids of open demands that may be the same request as `new`, most similar first.

    Only demands of the same community are compared, and never across two different known
    grids; among those, a demand is compared when it has the same grid and the same category,
    or the same normalised address. It is flagged when `description_similarity` ≥ threshold.
    """
    if not 0 < threshold <= 1:
        raise ValueError("threshold must be in (0, 1]")
    community, grid, category = new.get("community_id"), new.get("grid_id"), new.get("category")
    address = normalize_text(new.get("address"), drop_fillers=False)
    words = _bigrams(normalize_text(new.get("description")))
    if not words:
        return []
    own_id = new.get("demand_id")
    hits = []
    for d in open_demands:
        demand_id = d.get("demand_id")
        if demand_id is None or (own_id is not None and demand_id == own_id):
            continue
        if d.get("community_id") != community:
            continue
        other_grid = d.get("grid_id")
        if grid is not None and other_grid is not None and other_grid != grid:
            continue
        same_grid_and_category = grid is not None and other_grid == grid and d.get("category") == category
        if not same_grid_and_category and not (
                address and normalize_text(d.get("address"), drop_fillers=False) == address):
            continue
        other = _bigrams(normalize_text(d.get("description")))
        if not other:
            continue
        similarity = len(words & other) / len(words | other)
        if similarity >= threshold:
            hits.append((-similarity, str(demand_id), demand_id))
    hits.sort()
    return [demand_id for _, _, demand_id in hits]
