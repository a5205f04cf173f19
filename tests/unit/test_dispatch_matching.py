"""Matching for 下单: slots of a window, ranking of candidates, possible duplicate demands."""
import random
import timeit
from datetime import datetime, timedelta, timezone

import pytest

from services.dispatch.matching import (
    CATEGORY_SKILLS, DEFAULT_WEIGHTS, description_similarity, normalize_text, rank_candidates,
    similar_demands, slots_for_window,
)
from shared.contracts.dispatch import CATEGORIES

# 2026-06-06 is a Saturday. 09:30–11:00 in Shanghai = 01:30–03:00 UTC.
SAT_MORNING = dict(window_start="2026-06-06T01:30:00+00:00", window_end="2026-06-06T03:00:00+00:00")


def demand(**kw):
    d = dict(demand_id="d-001", community_id="c-xingfu", category="法律援助", grid_id="g-01",
             urgency="一般", **SAT_MORNING)
    d.update(kw)
    return d


def member(member_id, name, **kw):
    m = dict(member_id=member_id, name=name, skills=[], availability=[], grid_id="g-01", open_orders=0,
             services_this_year=0)
    m.update(kw)
    return m


def ids(ranked):
    return [r["member_id"] for r in ranked]


def has_chinese(text):
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


# -- configuration ----------------------------------------------------------------------------

def test_every_contract_category_has_a_skill_configuration():
    assert set(CATEGORY_SKILLS) == set(CATEGORIES)
    assert "法律咨询" in CATEGORY_SKILLS["法律援助"] and "护理" in CATEGORY_SKILLS["健康义诊"]
    assert abs(sum(DEFAULT_WEIGHTS.values()) - 1) < 1e-9


# -- slots_for_window --------------------------------------------------------------------------

def test_a_utc_timestamp_on_saturday_morning_in_shanghai():
    start = datetime(2026, 6, 6, 1, 30, tzinfo=timezone.utc)
    assert slots_for_window(start, start + timedelta(hours=1, minutes=30)) == {"周六上午"}


def test_utc_friday_evening_is_already_saturday_in_shanghai():
    # Fri 2026-06-05 23:00 UTC = Sat 07:00 Shanghai; until Sat 13:00 Shanghai.
    start = datetime(2026, 6, 5, 23, 0, tzinfo=timezone.utc)
    assert slots_for_window(start, start + timedelta(hours=6)) == {"周六上午", "周六下午"}


def test_slots_across_days_and_boundaries():
    # Fri 19:00 → Sat 12:00 Shanghai: the end touches 下午 without overlapping it.
    assert slots_for_window("2026-06-05T19:00:00+08:00", "2026-06-06T12:00:00+08:00") == {"周五晚上", "周六上午"}
    # Weekday working hours are still returned (nobody will be free then).
    assert slots_for_window("2026-06-03T10:00:00+08:00", "2026-06-03T19:00:00+08:00") == {
        "周三上午", "周三下午", "周三晚上"}
    # At night: no slot at all; a zero-length window gives the slot of its instant.
    assert slots_for_window("2026-06-03T22:30:00+08:00", "2026-06-04T07:00:00+08:00") == set()
    assert slots_for_window("2026-06-07T15:00:00+08:00", "2026-06-07T15:00:00+08:00") == {"周日下午"}
    assert len(slots_for_window("2026-06-01T00:00:00+08:00", "2026-06-20T00:00:00+08:00")) == 21


def test_naive_or_reversed_windows_are_refused():
    with pytest.raises(ValueError):
        slots_for_window(datetime(2026, 6, 6, 9), datetime(2026, 6, 6, 11))
    with pytest.raises(ValueError):
        slots_for_window("2026-06-06T11:00:00+08:00", "2026-06-06T09:00:00+08:00")


# -- rank_candidates ---------------------------------------------------------------------------

def test_a_skilled_free_same_grid_unloaded_member_comes_first():
    candidates = [
        member("m-wang", "王建国", skills=["书法", "文艺"], availability=["周六上午"]),
        member("m-li", "李秀英", skills=["法律咨询", "政策宣传"], availability=["周六上午", "周日下午"]),
        member("m-zhao", "赵志强", skills=["法律咨询"], availability=["周日下午"]),
        member("m-sun", "孙丽", skills=["律师"], availability=["周六上午"], grid_id="g-02"),
        member("m-zhou", "周涛", skills=["法律咨询"], availability=["周六上午"], open_orders=3),
    ]
    ranked = rank_candidates(demand(), candidates)
    assert ranked[0]["member_id"] == "m-li"
    assert ranked[0]["reasons"] == ["技能匹配：法律咨询", "周六上午有空", "同一网格", "当前无在办订单",
                                    "今年已服务 0 次，优先安排（避免扎堆）"]
    assert ranked[0]["kind"] == "member" and ranked[0]["name"] == "李秀英"
    assert ranked[0]["score"] == 1.0
    assert ranked[-1]["member_id"] == "m-wang"  # free and near, but no legal skill
    assert "技能不匹配" in ranked[-1]["reasons"]
    by_id = {r["member_id"]: r for r in ranked}
    assert "所求时段无空闲" in by_id["m-zhao"]["reasons"]
    assert "同社区其他网格" in by_id["m-sun"]["reasons"]
    assert "在办订单 3 件" in by_id["m-zhou"]["reasons"]
    assert all(isinstance(r["score"], float) for r in ranked)
    assert [r["score"] for r in ranked] == sorted((r["score"] for r in ranked), reverse=True)


def test_fairness_puts_the_member_with_fewer_services_first_among_equals():
    same = dict(skills=["水电维修"], availability=["周六上午"])
    candidates = [member("m-01", "陈刚", services_this_year=7, **same),
                  member("m-02", "刘洋", services_this_year=1, **same),
                  member("m-03", "黄敏", services_this_year=3, **same)]
    ranked = rank_candidates(demand(category="维修"), candidates)
    assert ids(ranked) == ["m-02", "m-03", "m-01"]
    assert "今年已服务 1 次，优先安排（避免扎堆）" in ranked[0]["reasons"]
    assert "今年已服务 7 次，较多，宜轮换（避免扎堆）" in ranked[-1]["reasons"]


def test_exact_ties_are_broken_by_services_then_member_id():
    same = dict(skills=["护理"], availability=["周六上午"])
    candidates = [member("m-b", "乙", **same), member("m-a", "甲", **same)]
    assert ids(rank_candidates(demand(category="健康义诊"), candidates)) == ["m-a", "m-b"]
    # Equal scores by different routes: services this year still decides first.
    w = dict(skill=0, availability=0, grid=0, load=0.5, fairness=0.5)
    candidates = [member("m-a", "甲", open_orders=0, services_this_year=1),
                  member("m-b", "乙", open_orders=1, services_this_year=0)]
    ranked = rank_candidates(demand(), candidates, weights=w)
    assert ranked[0]["score"] == ranked[1]["score"] and ids(ranked) == ["m-b", "m-a"]


def test_excluded_candidates_are_never_returned():
    best = member("m-declined", "吴婷", skills=["法律咨询"], availability=["周六上午"], excluded=True)
    others = [member(f"m-{i:02}", f"党员{i}", skills=["政策宣传"]) for i in range(5)]
    ranked = rank_candidates(demand(), [best, *others], limit=None)
    assert "m-declined" not in ids(ranked) and len(ranked) == 5
    assert rank_candidates(demand(), [best]) == []


def test_limit_is_respected():
    candidates = [member(f"m-{i:03}", f"党员{i}", skills=["心理疏导"], services_this_year=i % 4) for i in range(30)]
    assert len(rank_candidates(demand(category="矛盾调处"), candidates)) == 10
    assert len(rank_candidates(demand(category="矛盾调处"), candidates, limit=3)) == 3
    assert rank_candidates(demand(category="矛盾调处"), candidates, limit=0) == []
    full = rank_candidates(demand(category="矛盾调处"), candidates, limit=None)
    assert ids(full)[:3] == ids(rank_candidates(demand(category="矛盾调处"), candidates, limit=3))


def test_reasons_are_chinese_and_cover_every_factor():
    candidates = [member("t-1", "幸福社区法律服务队", kind="team", skills=["法律"], availability=["周六上午"],
                         grid_id=None, open_orders=2, services_this_year=4)]
    [ranked] = rank_candidates(demand(), candidates)
    assert ranked["kind"] == "team"
    assert ranked["reasons"] == ["技能匹配：法律", "周六上午有空", "网格未知", "在办订单 2 件", "今年已服务 4 次"]
    assert all(has_chinese(r) for r in ranked["reasons"])


def test_partial_availability_and_category_without_skills():
    d = demand(category="其他", window_start="2026-06-06T10:00:00+08:00", window_end="2026-06-06T20:00:00+08:00")
    [ranked] = rank_candidates(d, [member("m-1", "郑华", skills=["文艺"], availability=["周六下午"])])
    assert ranked["reasons"][:2] == ["该类别不限技能", "周六下午有空（所求 3 个时段中的 1 个）"]


def test_weights_are_configurable_and_validated():
    near_busy = member("m-near", "近而忙", skills=["维修"], availability=[], open_orders=0)
    far_free = member("m-far", "远而闲", skills=["维修"], availability=["周六上午"], grid_id="g-09")
    d = demand(category="维修")
    assert ids(rank_candidates(d, [near_busy, far_free]))[0] == "m-far"
    assert ids(rank_candidates(d, [near_busy, far_free], weights={"availability": 0, "grid": 1}))[0] == "m-near"
    with pytest.raises(ValueError):
        rank_candidates(d, [near_busy], weights={"distance": 1})
    with pytest.raises(ValueError):
        rank_candidates(d, [near_busy], weights={"skill": -1})
    with pytest.raises(ValueError):
        rank_candidates(demand(category="跑腿"), [near_busy])


def test_urgent_demands_weigh_availability_more():
    # Skilled but busy in the window vs. unskilled but free: availability decides when 紧急.
    skilled = member("m-skilled", "有技能", skills=["护理"], availability=[])
    free = member("m-free", "有空闲", skills=["书法"], availability=["周六上午"])
    w = dict(skill=0.3, availability=0.28, grid=0.14, load=0.14, fairness=0.14)
    assert ids(rank_candidates(demand(category="助老"), [skilled, free], weights=w))[0] == "m-skilled"
    assert ids(rank_candidates(demand(category="助老", urgency="紧急"), [skilled, free], weights=w))[0] == "m-free"


def test_custom_category_skills():
    mapping = {**CATEGORY_SKILLS, "助学": ("书法",)}
    candidates = [member("m-1", "甲", skills=["书法"]), member("m-2", "乙", skills=["辅导"])]
    assert ids(rank_candidates(demand(category="助学"), candidates, category_skills=mapping)) == ["m-1", "m-2"]
    assert ids(rank_candidates(demand(category="助学"), candidates)) == ["m-2", "m-1"]


SKILLS = ["法律咨询", "健康义诊", "护理", "电脑维修", "政策宣传", "心理疏导", "矛盾调解", "书法", "文艺", "水电维修"]
SLOTS = ["周一晚上", "周二晚上", "周三晚上", "周四晚上", "周五晚上", "周六上午", "周六下午", "周六晚上",
         "周日上午", "周日下午", "周日晚上"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"


def community_of(n, seed=7):
    rng = random.Random(seed)
    return [member(f"m-{i:03d}", rng.choice(SURNAMES) + rng.choice(["伟", "芳", "娜", "敏", "静", "强", "磊", "洋"]),
                   skills=rng.sample(SKILLS, rng.randint(1, 3)), availability=rng.sample(SLOTS, rng.randint(1, 6)),
                   grid_id=f"g-{rng.randint(1, 6):02d}", open_orders=rng.randint(0, 3),
                   services_this_year=rng.randint(0, 8), excluded=rng.random() < 0.05)
            for i in range(n)]


def test_ranking_a_community_is_deterministic():
    candidates = community_of(100)
    first = rank_candidates(demand(category="健康义诊"), candidates)
    assert first == rank_candidates(demand(category="健康义诊"), list(reversed(candidates)))
    assert len(first) == 10 and len(set(ids(first))) == 10


def test_timing_100_candidates_x_1000_rankings(capsys):
    candidates = community_of(100)
    d = demand(category="维修")
    rank_candidates(d, candidates)
    total = timeit.timeit(lambda: rank_candidates(d, candidates), number=1000)
    with capsys.disabled():
        print(f"\nrank_candidates: 100 candidates × 1000 rankings = {total * 1000:.0f} ms "
              f"({total * 1e6 / 1000:.0f} µs per ranking)")


# -- similar_demands ---------------------------------------------------------------------------

def open_demand(demand_id, description, **kw):
    d = dict(demand_id=demand_id, community_id="c-xingfu", grid_id="g-01", category="维修",
             address="幸福小区3号楼2单元101室", description=description)
    d.update(kw)
    return d


def test_a_rephrased_request_is_a_possible_duplicate():
    assert description_similarity("厨房水龙头漏水，请帮忙修理", "厨房的水龙头漏水了，麻烦来修一下") >= 0.6
    new = open_demand("d-new", "厨房的水龙头漏水了，麻烦来修一下")
    existing = [open_demand("d-1", "厨房水龙头漏水，请帮忙修理"),
                open_demand("d-2", "楼道灯不亮了，晚上看不清", address="幸福小区5号楼"),
                open_demand("d-3", "需要法律咨询")]
    assert similar_demands(new, existing) == ["d-1"]


def test_different_requests_do_not_match_even_at_the_same_address():
    assert description_similarity("水龙头漏水", "需要法律咨询") < 0.6
    new = open_demand("d-new", "水龙头漏水")
    assert similar_demands(new, [open_demand("d-1", "需要法律咨询", category="法律援助")]) == []


def test_a_different_grid_never_matches():
    new = open_demand("d-new", "厨房水龙头漏水，请帮忙修理")
    assert similar_demands(new, [open_demand("d-1", "厨房水龙头漏水，请帮忙修理", grid_id="g-02",
                                              address="幸福小区8号楼1单元")]) == []
    assert similar_demands(new, [open_demand("d-1", "厨房水龙头漏水，请帮忙修理", grid_id="g-02")]) == []
    assert similar_demands(new, [open_demand("d-1", "厨房水龙头漏水，请帮忙修理", community_id="c-heping")]) == []


def test_same_address_matches_across_categories_and_unknown_grid():
    new = open_demand("d-new", "独居老人家里水管爆了，请尽快派人", category="助老", grid_id=None,
                      address="幸福小区 3号楼 2单元 101室")
    existing = [open_demand("d-1", "独居老人家水管爆了，尽快派人！", category="维修"),
                open_demand("d-2", "独居老人家水管爆了，尽快派人！", category="维修", address="幸福小区4号楼")]
    assert similar_demands(new, existing) == ["d-1"]


def test_same_grid_and_category_matches_with_another_address_and_results_are_ordered():
    new = open_demand("d-new", "小区路灯坏了，请帮忙修一下", address="幸福小区东门")
    existing = [open_demand("d-9", "小区的路灯坏了，请修一下", address="东门口"),
                open_demand("d-5", "小区路灯坏了", address="幸福小区北门"),
                open_demand("d-7", "小区路灯坏了，请帮忙修一下", address="幸福小区东门外"),
                open_demand("d-8", "小区路灯坏了", category="义务劳动", address="北门")]
    assert similar_demands(new, existing) == ["d-7", "d-9", "d-5"]
    assert similar_demands(new, existing, threshold=0.95) == ["d-7", "d-9"]


def test_the_new_demand_itself_is_not_reported():
    new = open_demand("d-1", "厨房水龙头漏水")
    assert similar_demands(new, [new]) == []


def test_normalize_text_strips_punctuation_spaces_full_width_and_fillers():
    assert normalize_text("请帮忙：３号楼　２单元，谢谢！") == "3号楼2单元"
    assert normalize_text("Ｗｉ－Ｆｉ 连不上了", drop_fillers=False) == "wifi连不上了"
