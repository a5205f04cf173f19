"""What the community's records count as: the "六个一" of seed 004 and the tick boxes of the
在职党员社区表现反馈卡 (seed 002 附件5). Pure policy: no nameko, SQLAlchemy or kombu.

Seed 004 (西固区 "双管双评双提升"): "六个一"活动,即:开展一次志愿服务活动……;参加一次社区党组织活动……;
进行一次与群众面对面交流活动……;进行一次政策宣讲……;提出一条好的建议……;办好一件社区实事. Each kind
is counted from what dispatch records: a verified service (接单服务, 组团服务) or a fulfilled wish
(圆梦行动), attendance at an activity of a given kind, a team visit to residents (组团走访), an
adopted proposal (建议) and a verified practical deed (实事).
"""
from __future__ import annotations

from shared.contracts.dispatch import CARD_ACTIVITY_MODES, CARD_ACTIVITY_TYPES, CARD_OVERALL  # noqa: F401
from shared.yearly_minimum import LOCAL_TZ, local_year  # noqa: F401 - the year the minimum counts in

#: The six kinds, in the seed's order, with the seed's words.
SIX_ONES = {
    "volunteer_service": "开展一次志愿服务活动",
    "branch_activity": "参加一次社区党组织活动",
    "face_to_face_talk": "进行一次与群众面对面交流活动",
    "policy_talk": "进行一次政策宣讲",
    "good_proposal": "提出一条好的建议",
    "practical_deed": "办好一件社区实事",
}

#: Activity kinds (shared.contracts.dispatch.ACTIVITY_KINDS) → the 六个一 kind attending one counts as.
SIX_ONES_OF_ACTIVITY = {
    "志愿服务": "volunteer_service",       # 积极参与……志愿服务活动
    "三会一课": "branch_activity",          # 以普通党员的身份参加社区"三会一课"
    "主题党日": "branch_activity",
    "座谈交流": "face_to_face_talk",        # 定期与社区党员群众座谈,了解群众所需所盼
    "政策宣讲": "policy_talk",              # 宣传全区经济社会发展态势和……重大决策部署
}

# -- 在职党员社区表现反馈卡 (seed 002 附件5) --------------------------------------------------------
# CARD_ACTIVITY_TYPES — 参加活动类型 (multi-select): seed 002 五.3(5) "积极参加志愿服务、社区文化、卫生、
# 环保,平安创建等活动" and seed 000 "社区文化、卫生、环保、平安创建等活动"; 社区党组织活动 and 政策宣传 from
# 六个一. CARD_ACTIVITY_MODES — 参加活动方式 (multi-select): seed 002 六.3 设岗定责、组团服务、菜单服务、
# 圆梦行动、主题活动. CARD_OVERALL — the community's overall judgement (one box). They are the
# contract's (shared.contracts.dispatch), which validates the card's event.

CARD_TYPE_OF_ACTIVITY = {"志愿服务": "志愿服务", "三会一课": "社区党组织活动", "主题党日": "社区党组织活动",
                         "座谈交流": "社区党组织活动", "政策宣讲": "政策宣传", "节日活动": "社区文化",
                         "卫生环保": "卫生环保", "平安创建": "平安创建", "其他": "其他"}
#: Activity kinds that are organisational life rather than a 主题活动 (seed 002 六.3 主题活动: "在传统
#: 节日、重要纪念日以及其他特殊时间节点,组织策划系列主题活动").
NOT_THEMED = ("三会一课", "座谈交流")
#: How a service record was done → 参加活动方式.
CARD_MODE_OF_RECORD = {"order": "菜单服务", "team_order": "组团服务", "wish": "圆梦行动"}


def quarter_of(day) -> int:
    return (day.month - 1) // 3 + 1


def six_ones_tally(*, service_records: int, activity_kinds: dict[str, int], team_visits: int,
                   adopted_proposals: int, verified_deeds: int) -> dict[str, int]:
    """How many of each kind a member did in a year, from the counts of what was recorded."""
    tally = dict.fromkeys(SIX_ONES, 0)
    tally["volunteer_service"] += service_records
    for kind, count in activity_kinds.items():
        if kind in SIX_ONES_OF_ACTIVITY:
            tally[SIX_ONES_OF_ACTIVITY[kind]] += count
    tally["face_to_face_talk"] += team_visits
    tally["good_proposal"] += adopted_proposals
    tally["practical_deed"] += verified_deeds
    return tally


def card_ticks(*, record_sources: list[str], activity_kinds: list[str], posts_claimed: bool = False,
               extra_types=(), extra_modes=()) -> tuple[list[str], list[str]]:
    """(参加活动类型, 参加活动方式) ticked on the card, in the card's order: what the records show,
    plus what the community ticks from what it knows beyond them (e.g. a claimed post, 设岗定责)."""
    types, modes = set(extra_types), set(extra_modes)
    if record_sources:
        types.add("志愿服务")
    for source in record_sources:
        modes.add(CARD_MODE_OF_RECORD[source])
    for kind in activity_kinds:
        types.add(CARD_TYPE_OF_ACTIVITY.get(kind, "其他"))
        if kind not in NOT_THEMED:
            modes.add("主题活动")
    if posts_claimed:
        modes.add("设岗定责")
    return [t for t in CARD_ACTIVITY_TYPES if t in types], [m for m in CARD_ACTIVITY_MODES if m in modes]
