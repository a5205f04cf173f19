"""District point rules (记实积分规则): YAML files validated at load, one per district.

`default.yaml` applies to every district without its own file; `<district_id>.yaml` may say
`extends: default` and override any part (merged key by key). A file that breaks the schema is
refused at load with every problem listed by file and key, in Chinese, so an operator can fix it
before the service starts; nothing half-valid is ever used.

The yearly minimum (services and activities below which a member is disqualified) is not part
of these files: it is the one policy dispatch uses too (shared.yearly_minimum,
deploy/config/yearly-minimum.yaml); `RuleBook.for_district` hands it out with each district's rules.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from shared.contracts.evaluation import PARTIES
from shared.yearly_minimum import Minimum, YearlyMinimumPolicy, configured

ITEMS = ("check_in", "registration_overdue", "overdue_excused", "commitment_made", "service_verified",
         "service_rejected", "service_rated", "wish_fulfilled", "activity_attended", "activity_absent")
GRADES = ("优秀", "良好", "一般", "较差", "差")
# The grading of the first rules format: a weighted score of points and the five parties. Seed
# 001 社区参评 grades by the points total ("年底按积分高低分为优秀、良好、一般、较差和差"), so a
# file that still uses these keys is refused, naming the key.
RETIRED_GRADING_KEYS = ("weights", "thresholds", "points_for_full_marks")
DEFAULT = "default"


class RulesError(Exception):
    """A rules file is invalid; `problems` lists each one as "file: key: message"."""

    code = "invalid_rules"

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("积分规则文件有误：\n" + "\n".join(problems))


@dataclass(frozen=True)
class ItemRule:
    item: str
    label: str
    points: int = 0
    per_hour: float = 0.0
    by_rating: dict | None = None
    cap: int | None = None
    floor: int | None = None


@dataclass(frozen=True)
class Rules:
    """The rules of one district (or the default)."""

    name: str
    version: int
    items: dict
    accepted_overdue_reasons: tuple
    bands: dict                 # grade -> lowest points total, for 优秀..较差 (below 较差: 差)
    party_points: dict          # party -> ((lowest year score, points), ...) highest first
    community_stars: int
    district_candidates: int
    title_min_grade: str
    minimum: Minimum | None = None   # the district's yearly minimum (shared.yearly_minimum), set by RuleBook

    def rule_id(self, item: str) -> str:
        return f"{self.name}:{item}@v{self.version}"

    @property
    def bands_id(self) -> str:
        return self.rule_id("grading.bands")

    def party_points_for(self, party: str, score: float) -> tuple[int, float] | None:
        """(points, lowest score of the step) the district's `party_points` give a party's year
        score, or None when the district gives that party no points."""
        for lowest, points in self.party_points.get(party, ()):
            if score >= lowest:
                return points, lowest
        return None


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def validate(raw, where: str) -> list[str]:
    """Every problem of a (merged) rules document, as "where: key: message"."""
    problems: list[str] = []

    def bad(key: str, message: str) -> None:
        problems.append(f"{where}: {key}: {message}")

    if not isinstance(raw, dict):
        return [f"{where}: 文件内容应为键值映射 (YAML mapping)"]
    known = {"extends", "version", "items", "accepted_overdue_reasons", "grading", "titles"}
    for key in raw:
        if key == "minimum":
            bad(key, "年度最低服务要求已统一在 yearly-minimum.yaml 中配置，请从积分规则中删除")
        elif key not in known:
            bad(str(key), "未知的配置项")
    if not _is_int(raw.get("version")) or raw.get("version") < 1:
        bad("version", "必须是正整数")
    items = raw.get("items")
    if not isinstance(items, dict):
        bad("items", "缺少积分项目 (items)")
        items = {}
    for name in ITEMS:
        if name not in items:
            bad(f"items.{name}", "缺少该积分项目")
    for name, spec in items.items():
        key = f"items.{name}"
        if name not in ITEMS:
            bad(key, f"未知的积分项目，可用：{', '.join(ITEMS)}")
            continue
        if not isinstance(spec, dict):
            bad(key, "应为映射，如 {label: ..., points: 2}")
            continue
        for k in spec:
            if k not in ("label", "points", "per_hour", "by_rating", "cap", "floor"):
                bad(f"{key}.{k}", "未知的字段")
        if not isinstance(spec.get("label"), str) or not spec.get("label"):
            bad(f"{key}.label", "必须填写中文名称")
        if "points" in spec and not _is_int(spec["points"]):
            bad(f"{key}.points", "必须是整数")
        if "per_hour" in spec and (not _is_number(spec["per_hour"]) or spec["per_hour"] < 0):
            bad(f"{key}.per_hour", "必须是不小于0的数")
        if name == "service_rated":
            ratings = spec.get("by_rating")
            if not isinstance(ratings, dict) or sorted(ratings) != [1, 2, 3, 4, 5]:
                bad(f"{key}.by_rating", "必须为1到5星每一档给出分值")
            elif not all(_is_int(v) for v in ratings.values()):
                bad(f"{key}.by_rating", "分值必须是整数")
        elif "points" not in spec:
            bad(f"{key}.points", "缺少分值")
        if "cap" in spec and (not _is_int(spec["cap"]) or spec["cap"] < 0):
            bad(f"{key}.cap", "上限必须是不小于0的整数")
        if "floor" in spec and (not _is_int(spec["floor"]) or spec["floor"] > 0):
            bad(f"{key}.floor", "扣分下限必须是不大于0的整数")
    reasons = raw.get("accepted_overdue_reasons", [])
    if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
        bad("accepted_overdue_reasons", "必须是原因列表")
    grading = raw.get("grading")
    if not isinstance(grading, dict):
        bad("grading", "缺少评定办法 (grading)")
    else:
        for key in RETIRED_GRADING_KEYS:
            if key in grading:
                bad(f"grading.{key}", "旧版评定办法（按权重折算分数）已停用：请删除该项，改用 grading.bands "
                                      "按全年积分合计划分 优秀、良好、一般、较差 四档的最低积分（低于较差为差）")
        for key in grading:
            if key not in RETIRED_GRADING_KEYS and key not in ("bands", "party_points"):
                bad(f"grading.{key}", "未知的配置项（可用：bands、party_points）")
        bands = grading.get("bands")
        if not isinstance(bands, dict) or set(bands) != set(GRADES[:4]):
            bad("grading.bands", "必须给出 优秀、良好、一般、较差 四档的最低积分（低于较差为差）")
        elif not all(_is_int(b) for b in bands.values()):
            bad("grading.bands", "各档最低积分必须是整数")
        elif not all(bands[a] > bands[b] for a, b in zip(GRADES[:3], GRADES[1:4])):
            bad("grading.bands", "各档最低积分必须从优秀到较差依次降低")
        party_points = grading.get("party_points", {})
        if not isinstance(party_points, dict):
            bad("grading.party_points", "应为映射：评议方 → 分段列表")
            party_points = {}
        for party, steps in party_points.items():
            key = f"grading.party_points.{party}"
            if party not in PARTIES:
                bad(key, f"未知的评议方，可用：{', '.join(PARTIES)}")
                continue
            if not isinstance(steps, list) or not steps:
                bad(key, "应为分段列表，如 [{from: 90, points: 5}, {from: 0, points: -5}]")
                continue
            lows = []
            for i, step in enumerate(steps):
                if not isinstance(step, dict) or set(step) != {"from", "points"}:
                    bad(f"{key}[{i}]", "每段必须且只能包含 from（该方年度评分的下限，0到100）和 points（增减积分）")
                elif not _is_number(step["from"]) or not 0 <= step["from"] <= 100:
                    bad(f"{key}[{i}].from", "评分下限必须在0到100之间")
                elif not _is_int(step["points"]):
                    bad(f"{key}[{i}].points", "增减积分必须是整数")
                else:
                    lows.append(step["from"])
            if len(lows) == len(steps) and not all(a > b for a, b in zip(lows, lows[1:])):
                bad(key, "各段评分下限必须从高到低排列")
    titles = raw.get("titles")
    if not isinstance(titles, dict):
        bad("titles", "缺少评选名额 (titles)")
    else:
        for k in ("community_stars", "district_candidates"):
            if not _is_int(titles.get(k)) or titles.get(k) < 0:
                bad(f"titles.{k}", "必须是不小于0的整数")
        if titles.get("min_grade") not in GRADES:
            bad("titles.min_grade", f"必须是以下之一：{'、'.join(GRADES)}")
    return problems


def build(name: str, raw: dict) -> Rules:
    items = {}
    for item, spec in raw["items"].items():
        items[item] = ItemRule(item=item, label=spec["label"], points=spec.get("points", 0),
                               per_hour=float(spec.get("per_hour", 0)),
                               by_rating={int(k): v for k, v in spec["by_rating"].items()} if "by_rating" in spec else None,
                               cap=spec.get("cap"), floor=spec.get("floor"))
    grading, titles = raw["grading"], raw["titles"]
    return Rules(name=name, version=raw["version"], items=items,
                 accepted_overdue_reasons=tuple(raw.get("accepted_overdue_reasons", [])),
                 bands=dict(grading["bands"]),
                 party_points={party: tuple((step["from"], step["points"]) for step in steps)
                               for party, steps in grading.get("party_points", {}).items()},
                 community_stars=titles["community_stars"],
                 district_candidates=titles["district_candidates"], title_min_grade=titles["min_grade"])


class RuleBook:
    """Every district's rules, loaded from one directory; a district without a file gets the default."""

    def __init__(self, by_name: dict[str, Rules], minimum: YearlyMinimumPolicy | None = None):
        self.by_name = by_name
        self.minimum = minimum or configured()
        self._districts: dict[str, Rules] = {}

    def for_district(self, district_id: str | None) -> Rules:
        """The district's rules (or the default's) with the district's yearly minimum."""
        key = district_id or DEFAULT
        found = self._districts.get(key)
        if found is None:
            rules = self.by_name.get(key) or self.by_name[DEFAULT]
            found = self._districts[key] = replace(rules, minimum=self.minimum.for_district(district_id))
        return found

    @classmethod
    def from_documents(cls, documents: dict[str, object], where: dict[str, str] | None = None,
                       minimum: YearlyMinimumPolicy | None = None) -> "RuleBook":
        """`documents`: name → parsed YAML. Raises RulesError listing every problem of every file."""
        where = where or {n: f"{n}.yaml" for n in documents}
        problems: list[str] = []
        if DEFAULT not in documents:
            raise RulesError([f"缺少默认规则文件 {DEFAULT}.yaml"])
        rules = {}
        for name, raw in documents.items():
            merged = raw
            if isinstance(raw, dict) and "extends" in raw:
                base = raw["extends"]
                if base not in documents or not isinstance(documents[base], dict) or base == name:
                    problems.append(f"{where[name]}: extends: 找不到被继承的规则文件 {base!r}")
                    continue
                if "extends" in documents[base]:
                    problems.append(f"{where[name]}: extends: 只能继承一层（{base} 本身也是继承的）")
                    continue
                merged = merge(documents[base], {k: v for k, v in raw.items() if k != "extends"})
            found = validate(merged, where[name])
            problems.extend(found)
            if not found:
                rules[name] = build(name, merged)
        if problems:
            raise RulesError(problems)
        return cls(rules, minimum)

    @classmethod
    def load(cls, directory: str | Path, minimum: YearlyMinimumPolicy | None = None) -> "RuleBook":
        directory = Path(directory)
        files = sorted(directory.glob("*.yaml"))
        documents, where, problems = {}, {}, []
        for path in files:
            try:
                documents[path.stem] = yaml.safe_load(path.read_text(encoding="utf-8"))
                where[path.stem] = str(path)
            except (yaml.YAMLError, UnicodeDecodeError) as exc:
                problems.append(f"{path}: 不是有效的 YAML：{exc}")
        if problems:
            raise RulesError(problems)
        if not files:
            raise RulesError([f"{directory}: 目录中没有规则文件 (*.yaml)"])
        return cls.from_documents(documents, where, minimum)
