"""The rules files: validated at load, every problem named by file and key, in Chinese."""
import copy
from pathlib import Path

import pytest
import yaml

from services.evaluation.rules import RuleBook, RulesError

RULES_DIR = Path(__file__).resolve().parents[2] / "deploy" / "config" / "evaluation-rules"


def default():
    return yaml.safe_load((RULES_DIR / "default.yaml").read_text(encoding="utf-8"))


def problems_of(documents):
    with pytest.raises(RulesError) as refused:
        RuleBook.from_documents(documents)
    return refused.value.problems


def test_the_shipped_files_load_and_the_override_merges_key_by_key():
    book = RuleBook.load(RULES_DIR)
    xq, other = book.for_district("xq"), book.for_district("nowhere")
    assert (xq.items["service_verified"].per_hour, xq.items["check_in"].points) == (3, 10)
    assert xq.bands == other.bands and xq.party_points["residents"][0] == (90, 5) and other.party_points == {}
    assert other.name == "default" and other.rule_id("check_in") == "default:check_in@v1"


@pytest.mark.parametrize("change, expected", [
    (lambda d: d["items"]["check_in"].update(points="ten"), "default.yaml: items.check_in.points: 必须是整数"),
    (lambda d: d["items"].pop("wish_fulfilled"), "default.yaml: items.wish_fulfilled: 缺少该积分项目"),
    (lambda d: d["items"].update(bribe={"label": "x", "points": 1}), "default.yaml: items.bribe: 未知的积分项目"),
    (lambda d: d["items"]["activity_attended"].update(cap=-1), "items.activity_attended.cap: 上限必须是不小于0的整数"),
    (lambda d: d["items"]["activity_absent"].update(floor=3), "items.activity_absent.floor: 扣分下限必须是不大于0的整数"),
    (lambda d: d["items"]["service_rated"]["by_rating"].pop(3), "items.service_rated.by_rating: 必须为1到5星每一档给出分值"),
    (lambda d: d["grading"]["bands"].update(良好=150), "grading.bands: 各档最低积分必须从优秀到较差依次降低"),
    (lambda d: d["grading"]["bands"].pop("较差"), "grading.bands: 必须给出 优秀、良好、一般、较差 四档的最低积分"),
    (lambda d: d["grading"]["bands"].update(一般=40.5), "grading.bands: 各档最低积分必须是整数"),
    (lambda d: d["grading"].update(party_points={"friends": [{"from": 0, "points": 1}]}),
     "grading.party_points.friends: 未知的评议方"),
    (lambda d: d["grading"].update(party_points={"residents": [{"from": 50, "points": 1}, {"from": 90, "points": 5}]}),
     "grading.party_points.residents: 各段评分下限必须从高到低排列"),
    (lambda d: d["grading"].update(party_points={"leader": [{"from": 120, "points": 1}]}),
     "grading.party_points.leader[0].from: 评分下限必须在0到100之间"),
    (lambda d: d.update(minimum={"services": 2, "activities": 6}), "minimum: 年度最低服务要求已统一在 yearly-minimum.yaml"),
    (lambda d: d["titles"].update(min_grade="特优"), "titles.min_grade: 必须是以下之一"),
    (lambda d: d.update(bonus=1), "default.yaml: bonus: 未知的配置项"),
])
def test_a_broken_rule_is_refused_with_its_file_and_key(change, expected):
    doc = default()
    change(doc)
    problems = problems_of({"default": doc})
    assert any(expected in p for p in problems), problems


def test_every_problem_of_every_file_is_listed_at_once():
    doc = default()
    doc["items"]["check_in"]["points"] = 1.5
    doc["grading"]["bands"]["优秀"] = 1
    override = {"extends": "default", "version": 3, "items": {"service_verified": {"per_hour": -1}}}
    problems = problems_of({"default": doc, "xq": override})
    assert len([p for p in problems if p.startswith("default.yaml")]) == 2
    assert any(p.startswith("xq.yaml: items.service_verified.per_hour") for p in problems)


def test_an_override_must_extend_an_existing_file_and_a_default_must_exist():
    assert problems_of({"default": default(), "xq": {"extends": "nowhere", "version": 2}}) == [
        "xq.yaml: extends: 找不到被继承的规则文件 'nowhere'"]
    assert problems_of({"xq": default()}) == ["缺少默认规则文件 default.yaml"]


def test_a_file_that_is_not_yaml_is_refused(tmp_path):
    (tmp_path / "default.yaml").write_text("items: [unclosed", encoding="utf-8")
    with pytest.raises(RulesError) as refused:
        RuleBook.load(tmp_path)
    assert "不是有效的 YAML" in str(refused.value)


def test_the_service_refuses_to_start_on_a_bad_file(tmp_path):
    from services.evaluation.service import Rules

    doc = copy.deepcopy(default())
    doc["grading"]["bands"]["优秀"] = "很多"
    (tmp_path / "default.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    provider = Rules()

    class Container:
        config = {"EVALUATION_RULES_DIR": str(tmp_path)}

    provider.container = Container()
    with pytest.raises(RulesError) as refused:
        provider.setup()
    assert "grading.bands: 各档最低积分必须是整数" in str(refused.value)


@pytest.mark.parametrize("key", ["weights", "thresholds", "points_for_full_marks"])
def test_a_file_of_the_old_weighted_form_is_refused_naming_the_key(key):
    """Seed 001 社区参评: "年底按积分高低分为优秀、良好、一般、较差和差" — grading is by the points
    total, so a weighted score's keys (in the default or in a district's override) are refused."""
    old = {"weights": {"points": 0.5, "self": 0.05, "leader": 0.15, "residents": 0.1, "community": 0.1,
                       "organisation": 0.1},
           "thresholds": {"优秀": 85, "良好": 70, "一般": 55, "较差": 40}, "points_for_full_marks": 100}
    doc = default()
    doc["grading"][key] = old[key]
    assert any(p.startswith(f"default.yaml: grading.{key}: 旧版评定办法（按权重折算分数）已停用") and "grading.bands" in p
               for p in problems_of({"default": doc}))
    override = {"extends": "default", "version": 2, "grading": {key: old[key]}}
    assert any(p.startswith(f"xq.yaml: grading.{key}: 旧版评定办法") for p in
               problems_of({"default": default(), "xq": override}))
