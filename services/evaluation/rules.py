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

from shared.yearly_minimum import Minimum, YearlyMinimumPolicy, configured

ITEMS = ("check_in", "registration_overdue", "overdue_excused", "commitment_made", "service_verified",
         "service_rejected", "service_rated", "wish_fulfilled", "activity_attended", "activity_absent")
WEIGHT_KEYS = ("points", "self", "leader", "residents", "community", "organisation")
GRADES = ("优秀", "良好", "一般", "较差", "差")
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
    points_for_full_marks: int
    weights: dict
    thresholds: dict            # grade -> lowest score, for 优秀..较差
    community_stars: int
    district_candidates: int
    title_min_grade: str
    minimum: Minimum | None = None   # the district's yearly minimum (shared.yearly_minimum), set by RuleBook

    def rule_id(self, item: str) -> str:
        return f"{self.name}:{item}@v{self.version}"


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
        full = grading.get("points_for_full_marks")
        if not _is_int(full) or full <= 0:
            bad("grading.points_for_full_marks", "必须是正整数")
        weights = grading.get("weights")
        if not isinstance(weights, dict) or set(weights) != set(WEIGHT_KEYS):
            bad("grading.weights", f"必须且只能包含：{', '.join(WEIGHT_KEYS)}")
        elif not all(_is_number(w) and w >= 0 for w in weights.values()):
            bad("grading.weights", "权重必须是不小于0的数")
        elif abs(sum(weights.values()) - 1) > 1e-6:
            bad("grading.weights", f"权重之和必须为1，现为{sum(weights.values()):g}")
        thresholds = grading.get("thresholds")
        if not isinstance(thresholds, dict) or set(thresholds) != set(GRADES[:4]):
            bad("grading.thresholds", "必须给出 优秀、良好、一般、较差 四档的最低分（低于较差为差）")
        elif not all(_is_number(t) and 0 <= t <= 100 for t in thresholds.values()):
            bad("grading.thresholds", "分数线必须在0到100之间")
        elif not all(thresholds[a] > thresholds[b] for a, b in zip(GRADES[:3], GRADES[1:4])):
            bad("grading.thresholds", "分数线必须从优秀到较差依次降低")
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
                 points_for_full_marks=grading["points_for_full_marks"], weights=dict(grading["weights"]),
                 thresholds=dict(grading["thresholds"]), community_stars=titles["community_stars"],
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
