"""Published results (公布): a community's ranking and grades once the year is closed, names masked."""
from services.evaluation import readmodels
from tests.evaluation.test_year import active_member


def test_a_communitys_results_are_published_once_the_year_is_closed_names_masked(ev):
    """Seed 001: "定期在一定范围内公布"."""
    ev.community("yh", district_id="xq", name="友好社区")
    active_member(ev, "m1", "张三丰")
    active_member(ev, "m2", "李小四", services=0)
    active_member(ev, "m3", "王五", community_id="yh")
    before = ev.query(readmodels.published_results, "xf", 2026)
    assert before["published"] is False and before["results"] == []
    assert before["member_ids"] == ["m1", "m2"] and before["unit_ids"] == ["czj"]
    ev.close_year("xq", 2026)
    after = ev.query(readmodels.published_results, "xf", 2026)
    assert after["published"] is True and [r["rank"] for r in after["results"]] == [1, 2]
    assert all(r["grade"] and "*" in r["name"] for r in after["results"])
    assert "张三丰" not in str(after["results"]) and "王五" not in str(after["results"])   # masked; yh's not here
    assert ev.query(readmodels.published_results, "xf", 2025)["published"] is False
    assert ev.query(readmodels.communities_of, unit_id="czj") == ["xf", "yh"]
    assert ev.query(readmodels.communities_of, member_id="m3") == ["yh"]
