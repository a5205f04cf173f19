"""Evaluation (五评议 and 记实积分): the member's points record, the five parties' inputs, the
year's grade (5★…1★), the veto (一票否决), disqualification and titles.

Pure domain model. One `MemberRecord` stream per member holds every fact about the member that
other services reported (FactRecorded), the ledger lines those facts earned under the
district's rules (PointsRecorded), the five parties' inputs and the year's results. A fact is
keyed by the id of the event that reported it, so a redelivered event never adds points twice.
A `DistrictCalendar` stream holds which half-year periods (2026H1, 2026H2) are closed; a fact
dated in a closed period lands in the next open one, never silently in a closed one.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from services.evaluation.rules import GRADES, Rules
from shared.domain import Aggregate, DomainError, DomainEvent

PARTIES = ("self", "leader", "residents", "community", "organisation")
PARTY_NAMES = {"self": "党员自评", "leader": "领导点评", "residents": "群众测评", "community": "社区参评",
               "organisation": "组织考评"}
# Who may record each party's input, and what their scope must match on the member.
PARTY_ROLES = {"self": ("member", "member_id"), "leader": ("unit_leader", "unit_id"),
               "residents": ("resident_panel", "community_id"), "community": ("community_staff", "community_id"),
               "organisation": ("organisation_department", "district_id")}
ROLE_NAMES = {"member": "党员本人", "unit_leader": "单位党组织负责人", "resident_panel": "社区居民代表评议组",
              "community_staff": "社区党组织", "organisation_department": "组织部门"}
STARS = dict(zip(GRADES, (5, 4, 3, 2, 1)))
TITLE_STAR, TITLE_CANDIDATE = "社区服务之星", "身边最美在职党员候选"

# which rule item a fact earns
FACT_ITEMS = {"checked_in": "check_in", "overdue": "registration_overdue", "overdue_reason": "overdue_excused",
              "commitment": "commitment_made", "service_verified": "service_verified",
              "service_rejected": "service_rejected", "service_rated": "service_rated",
              "wish_fulfilled": "wish_fulfilled", "activity_attended": "activity_attended",
              "activity_absent": "activity_absent"}


class PeriodClosedError(DomainError):
    code = "period_closed"


class WrongRole(DomainError):
    code = "wrong_role"


class AlreadyGraded(DomainError):
    code = "already_graded"


# -- periods --------------------------------------------------------------------------------
def period_of(day: date) -> str:
    return f"{day.year:04d}H{1 if day.month <= 6 else 2}"   # "0058H2" still parses as year 58


def next_period(period: str) -> str:
    year, half = int(period[:4]), period[5]
    return f"{year:04d}H2" if half == "1" else f"{year + 1:04d}H1"


def periods_of_year(year: int) -> tuple[str, str]:
    return f"{year:04d}H1", f"{year:04d}H2"


def land(period: str, closed) -> str:
    """The first period from `period` on that is not closed (late facts move forward)."""
    while period in closed:
        period = next_period(period)
    return period


# -- events ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class FactRecorded(DomainEvent):
    member_id: str
    kind: str
    source_event_id: str
    source_event_type: str
    occurred_on: str
    period: str
    district_id: str
    community_id: str
    unit_id: str
    member_name: str
    hours: float = 0.0
    rating: int | None = None
    reason: str = ""
    accepted: bool = False


@dataclass(frozen=True)
class PointsRecorded(DomainEvent):
    member_id: str
    community_id: str
    unit_id: str
    district_id: str
    period: str
    points: int
    item: str
    rule_id: str
    source_event_id: str
    source_event_type: str
    reason: str


@dataclass(frozen=True)
class PartyInput(DomainEvent):
    member_id: str
    period: str
    party: str
    score: float
    comment: str
    by_role: str
    by_id: str
    revision: int


class SelfEvaluationSubmitted(PartyInput):
    pass


class LeaderReviewRecorded(PartyInput):
    pass


class ResidentRatingRecorded(PartyInput):
    pass


class CommunityScoreRecorded(PartyInput):
    pass


class OrganisationAssessmentRecorded(PartyInput):
    pass


PARTY_EVENTS = {"self": SelfEvaluationSubmitted, "leader": LeaderReviewRecorded, "residents": ResidentRatingRecorded,
                "community": CommunityScoreRecorded, "organisation": OrganisationAssessmentRecorded}


@dataclass(frozen=True)
class PeriodClosed(DomainEvent):
    district_id: str
    period: str
    closed_by: str


@dataclass(frozen=True)
class GradeAssigned(DomainEvent):
    member_id: str
    member_name: str
    unit_id: str
    community_id: str
    district_id: str
    year: int
    grade: str
    stars: int
    points: int
    score: float
    explanation: list


@dataclass(frozen=True)
class MemberVetoed(DomainEvent):
    member_id: str
    member_name: str
    unit_id: str
    community_id: str
    year: int
    statement: str
    by_id: str


@dataclass(frozen=True)
class MemberDisqualified(DomainEvent):
    member_id: str
    member_name: str
    unit_id: str
    community_id: str
    year: int
    reasons: list


@dataclass(frozen=True)
class TitleAwarded(DomainEvent):
    member_id: str
    member_name: str
    unit_id: str
    community_id: str
    district_id: str
    year: int
    title: str
    rank: int


@dataclass(frozen=True)
class DoubleEvaluationPublished(DomainEvent):
    unit_id: str
    year: int
    members: int


EVENTS = (FactRecorded, PointsRecorded, *PARTY_EVENTS.values(), PeriodClosed, GradeAssigned, MemberVetoed,
          MemberDisqualified, TitleAwarded, DoubleEvaluationPublished)


# -- points --------------------------------------------------------------------------------
def points_for(fact: FactRecorded, rules: Rules) -> list[tuple[str, int, str]]:
    """The rule items a fact earns before caps: (item, points, why), in Chinese."""
    item_name = FACT_ITEMS.get(fact.kind)
    if item_name is None or (fact.kind == "overdue_reason" and not fact.accepted):
        return []
    rule = rules.items[item_name]
    if fact.kind == "service_verified":
        extra = round(rule.per_hour * fact.hours)
        return [(item_name, rule.points + extra,
                 f"{rule.label}：{fact.hours:g} 小时，{rule.points} + {fact.hours:g}×{rule.per_hour:g} 分")]
    if fact.kind == "service_rated":
        return [(item_name, rule.by_rating[fact.rating], f"{rule.label}：{fact.rating} 星")]
    detail = f"（{fact.reason}）" if fact.reason else ""
    return [(item_name, rule.points, f"{rule.label}{detail}")]


def bounded(points: int, so_far: int, cap: int | None, floor: int | None) -> int:
    """`points` limited so the item's yearly total stays within its cap (and floor)."""
    if points > 0 and cap is not None:
        return max(0, min(points, cap - so_far))
    if points < 0 and floor is not None:
        return min(0, max(points, floor - so_far))
    return points


@dataclass
class GradeResult:
    grade: str
    stars: int
    points: int
    score: float
    explanation: list
    disqualified: list
    eligible: bool


@dataclass
class PartyEntry:
    score: float
    comment: str
    by_role: str
    by_id: str
    revision: int


class MemberRecord(Aggregate):
    """记实: one member's facts, ledger, five-party inputs and yearly results."""

    stream_prefix = "evaluation-member"

    def __init__(self, member_id: str):
        super().__init__(member_id)
        self.name = ""
        self.unit_id = ""
        self.community_id = ""
        self.district_id = ""
        self.facts: dict[str, FactRecorded] = {}
        self.line_points: dict[tuple[str, str], int] = {}     # (source event, item) -> points so far
        self.line_period: dict[str, str] = {}                 # source event -> period it landed in
        self.item_totals: dict[tuple[int, str], int] = {}     # (year, item) -> points so far
        self.period_points: dict[str, int] = {}
        self.parties: dict[tuple[str, str], list[PartyEntry]] = {}
        self.grades: dict[int, GradeAssigned] = {}
        self.vetoes: dict[int, MemberVetoed] = {}
        self.disqualified: dict[int, list] = {}
        self.titles: set[tuple[int, str]] = set()

    # -- state ---------------------------------------------------------------------------
    def apply(self, event: DomainEvent) -> None:
        if isinstance(event, FactRecorded):
            self.facts[event.source_event_id] = event
            self.line_period[event.source_event_id] = event.period
            self.name = event.member_name or self.name
            self.unit_id = event.unit_id or self.unit_id
            # where the member serves: set by check-in and moves (and the residence at
            # enrolment until then), never by where one activity took place
            if event.kind in ("checked_in", "moved") or (event.kind == "enrolled" and not self.community_id):
                self.community_id, self.district_id = event.community_id, event.district_id
            elif not self.district_id:
                self.district_id = event.district_id
        elif isinstance(event, PointsRecorded):
            key = (event.source_event_id, event.item)
            self.line_points[key] = self.line_points.get(key, 0) + event.points
            ykey = (int(event.period[:4]), event.item)
            self.item_totals[ykey] = self.item_totals.get(ykey, 0) + event.points
            self.period_points[event.period] = self.period_points.get(event.period, 0) + event.points
        elif isinstance(event, PartyInput):
            self.parties.setdefault((event.period, event.party), []).append(
                PartyEntry(event.score, event.comment, event.by_role, event.by_id, event.revision))
        elif isinstance(event, GradeAssigned):
            self.grades[event.year] = event
        elif isinstance(event, MemberVetoed):
            self.vetoes[event.year] = event
        elif isinstance(event, MemberDisqualified):
            self.disqualified[event.year] = list(event.reasons)
        elif isinstance(event, TitleAwarded):
            self.titles.add((event.year, event.title))

    def closed_for_me(self, district_closed) -> set[str]:
        """The district's closed periods plus both halves of every year already graded."""
        if not self.grades:
            return district_closed
        closed = set(district_closed)
        for year in self.grades:
            closed.update(periods_of_year(year))
        return closed

    def points_in(self, year: int) -> int:
        return sum(self.period_points.get(p, 0) for p in periods_of_year(year))

    # -- facts and points ----------------------------------------------------------------
    def record_fact(self, *, kind: str, source_event_id: str, source_event_type: str, occurred_on: date,
                    rules: Rules, district_closed, member_name: str = "", unit_id: str = "",
                    community_id: str = "", district_id: str = "", hours: float = 0.0, rating: int | None = None,
                    reason: str = "") -> bool:
        """Record what an event means for this member and the points it earns; False when the
        event was already recorded (a redelivery)."""
        if source_event_id in self.facts:
            return False
        unplaced_before = not self.district_id
        period = land(period_of(occurred_on), self.closed_for_me(district_closed))
        accepted = kind == "overdue_reason" and reason in rules.accepted_overdue_reasons
        fact = self._trigger(FactRecorded(
            member_id=self.id, kind=kind, source_event_id=source_event_id, source_event_type=source_event_type,
            occurred_on=occurred_on.isoformat(), period=period, district_id=district_id or self.district_id,
            community_id=community_id or self.community_id, unit_id=unit_id or self.unit_id,
            member_name=member_name or self.name, hours=float(hours), rating=rating, reason=reason,
            accepted=accepted))
        year = int(period[:4])
        for item, raw, why in points_for(fact, rules):
            rule = rules.items[item]
            so_far = self.item_totals.get((year, item), 0)
            points = bounded(raw, so_far, rule.cap, rule.floor)
            if points != raw:
                limit = rule.cap if raw > 0 else rule.floor
                why += f"；年度{'上限' if raw > 0 else '扣分下限'} {limit} 分，本次计 {points} 分"
            if period != period_of(occurred_on):
                why += f"；发生于已关闭的 {period_of(occurred_on)}，计入 {period}"
            self._line(period, points, item, rules.rule_id(item), fact, why)
        if unplaced_before and self.district_id and any(not f.district_id for f in self.facts.values()):
            # Facts that arrived before the member's district was known were scored by the
            # default rules: now it is known, they are scored by the district's, whatever the
            # order the events came in.
            self.recompute(rules, district_closed, only_unplaced=True)
        return True

    def _line(self, period: str, points: int, item: str, rule_id: str, fact: FactRecorded, why: str) -> None:
        self._trigger(PointsRecorded(
            member_id=self.id, community_id=self.community_id, unit_id=self.unit_id, district_id=self.district_id,
            period=period, points=points, item=item, rule_id=rule_id, source_event_id=fact.source_event_id,
            source_event_type=fact.source_event_type, reason=why))

    def recompute(self, rules: Rules, district_closed, only_unplaced: bool = False) -> int:
        """After a rules change: what every fact in an open period earns under `rules`, with
        caps counted in the order the facts came; each difference becomes a correcting line.
        Lines of closed periods stay as they are. Returns the number of correcting lines."""
        closed = self.closed_for_me(district_closed)
        totals: dict[tuple[int, str], int] = {}
        corrections = []
        for fact in list(self.facts.values()):
            year = int(fact.period[:4])
            earned = {item: (raw, why) for item, raw, why in points_for(fact, rules)}
            items = set(earned) | {item for (src, item) in self.line_points if src == fact.source_event_id}
            for item in sorted(items):
                actual = self.line_points.get((fact.source_event_id, item), 0)
                if fact.period in closed or (only_unplaced and fact.district_id):
                    expected = actual
                else:
                    raw, _ = earned.get(item, (0, ""))
                    rule = rules.items[item]
                    expected = bounded(raw, totals.get((year, item), 0), rule.cap, rule.floor)
                totals[(year, item)] = totals.get((year, item), 0) + expected
                if expected != actual:
                    label = rules.items[item].label
                    why = "确定所属区后按该区规则重算" if only_unplaced else "规则调整重算"
                    corrections.append((fact, item, expected - actual,
                                        f"{why}（{rules.rule_id(item)}）：{label} 由 {actual} 分改为 {expected} 分"))
        for fact, item, delta, why in corrections:
            self._line(fact.period, delta, item, rules.rule_id(item), fact, why)
        return len(corrections)

    # -- the five parties ------------------------------------------------------------------
    def submit_party_input(self, *, party: str, period: str, score: float, comment: str, by_role: str, by_id: str,
                           by_scope: str, district_closed) -> int:
        """One party's input for a half year; a second submission amends it (revision + 1)."""
        role, scope_attr = PARTY_ROLES[party]
        if by_role != role:
            raise WrongRole(f"{PARTY_NAMES[party]}须由{ROLE_NAMES[role]}提交", party=party, role=role)
        if party == "self":
            if by_id != self.id:
                raise WrongRole("党员自评只能由党员本人提交")
        elif by_scope != getattr(self, scope_attr):
            raise WrongRole(f"{PARTY_NAMES[party]}须由该党员所在的{ROLE_NAMES[role]}提交")
        if period in self.closed_for_me(district_closed):
            raise PeriodClosedError(f"{period} 已关闭，评议结果已冻结，不能再提交或修改")
        if not comment.strip():
            raise DomainError("请填写评议意见" if party != "self" else "请填写书面述职报告")
        revision = len(self.parties.get((period, party), [])) + 1
        self._trigger(PARTY_EVENTS[party](member_id=self.id, period=period, party=party, score=float(score),
                                          comment=comment, by_role=by_role, by_id=by_id, revision=revision))
        return revision

    def party_score(self, year: int, party: str) -> tuple[float | None, list[str]]:
        """The party's year score: the mean of the latest input of each half year."""
        scores = [(p, self.parties[(p, party)][-1].score) for p in periods_of_year(year) if (p, party) in self.parties]
        if not scores:
            return None, []
        return sum(s for _, s in scores) / len(scores), [f"{p} {s:g}" for p, s in scores]

    # -- veto, grade, titles ---------------------------------------------------------------
    def veto(self, *, year: int, statement: str, by_role: str, by_id: str, by_scope: str) -> None:
        """一票否决: the community's written statement that the member did not serve."""
        if by_role != "community_staff" or by_scope != self.community_id:
            raise WrongRole("一票否决须由党员报到社区的社区党组织出具书面评价")
        if not statement.strip():
            raise DomainError("请填写书面评价（未服务社区群众的情况说明）")
        if year in self.grades:
            raise AlreadyGraded(f"{year} 年度评定已完成，不能再否决")
        if year in self.vetoes:
            return
        self._trigger(MemberVetoed(member_id=self.id, member_name=self.name, unit_id=self.unit_id,
                                   community_id=self.community_id, year=year, statement=statement, by_id=by_id))

    def disqualification_reasons(self, year: int, rules: Rules) -> list[str]:
        facts = list(self.facts.values())
        reasons = []
        registered = any(f.kind == "checked_in" and int(f.occurred_on[:4]) <= year for f in facts)
        excused = [f for f in facts if f.kind == "overdue_reason" and f.accepted and int(f.occurred_on[:4]) <= year]
        if not registered:
            refused = [f.reason for f in facts if f.kind == "overdue_reason" and not f.accepted]
            if not excused:
                reasons.append("无故未到社区报到" + (f"（逾期原因：{refused[-1]}）" if refused else ""))
        else:
            in_year = [f for f in facts if int(f.period[:4]) == year]
            services = len({f.source_event_id for f in in_year if f.kind == "service_verified"})
            activities = sum(1 for f in in_year if f.kind == "activity_attended")
            if services < rules.min_services:
                reasons.append(f"全年参加服务项目 {services} 项，少于 {rules.min_services} 项")
            if activities < rules.min_activities:
                reasons.append(f"全年参加社区活动 {activities} 次，少于 {rules.min_activities} 次")
        return reasons

    def evaluate(self, year: int, rules: Rules) -> GradeResult:
        """The year's grade from points and the five parties, explained line by line."""
        points = self.points_in(year)
        w = rules.weights
        points_part = min(max(points, 0) / rules.points_for_full_marks, 1.0) * 100
        score = w["points"] * points_part
        lines = [f"记实积分 {points} 分（满分线 {rules.points_for_full_marks} 分）折合 {points_part:.1f} 分 × 权重 "
                 f"{w['points']:g} = {w['points'] * points_part:.2f}"]
        for party in PARTIES:
            value, parts = self.party_score(year, party)
            if value is None:
                lines.append(f"{PARTY_NAMES[party]} 未提交，按 0 分计 × 权重 {w[party]:g} = 0.00")
                continue
            score += w[party] * value
            lines.append(f"{PARTY_NAMES[party]} {value:.1f} 分（{'，'.join(parts)}）× 权重 {w[party]:g} = "
                         f"{w[party] * value:.2f}")
        score = round(score, 2)
        grade = next((g for g in GRADES[:4] if score >= rules.thresholds[g]), "差")
        if grade == "差":
            lines.append(f"合计 {score:.2f} 分，低于较差线 {rules.thresholds['较差']:g} 分 → 差（1★）")
        else:
            lines.append(f"合计 {score:.2f} 分 ≥ {grade}线 {rules.thresholds[grade]:g} 分 → {grade}（{STARS[grade]}★）")
        reasons = self.disqualification_reasons(year, rules)
        if year in self.vetoes:
            lines.append(f"一票否决：{self.vetoes[year].statement}（取消评先评优、提拔考察和转正资格）")
        for r in reasons:
            lines.append(f"取消当年评先评优资格：{r}")
        eligible = not reasons and year not in self.vetoes
        return GradeResult(grade, STARS[grade], points, score, lines, reasons, eligible)

    def assign_grade(self, year: int, rules: Rules) -> GradeResult:
        """At year end: grade the member once (a second call returns the recorded grade)."""
        if year in self.grades:
            g = self.grades[year]
            reasons = self.disqualified.get(year, [])
            return GradeResult(g.grade, g.stars, g.points, g.score, list(g.explanation), reasons,
                               not reasons and year not in self.vetoes)
        result = self.evaluate(year, rules)
        self._trigger(GradeAssigned(member_id=self.id, member_name=self.name, unit_id=self.unit_id,
                                    community_id=self.community_id, district_id=self.district_id, year=year,
                                    grade=result.grade, stars=result.stars, points=result.points,
                                    score=result.score, explanation=result.explanation))
        if result.disqualified:
            self._trigger(MemberDisqualified(member_id=self.id, member_name=self.name, unit_id=self.unit_id,
                                             community_id=self.community_id, year=year,
                                             reasons=result.disqualified))
        return result

    def award_title(self, year: int, title: str, rank: int) -> bool:
        if year not in self.grades:
            raise DomainError("年度评定完成后才能评选")
        if (year, title) in self.titles:
            return False
        if self.disqualified.get(year) or year in self.vetoes:
            raise DomainError("该党员已被取消当年评先评优资格")
        self._trigger(TitleAwarded(member_id=self.id, member_name=self.name, unit_id=self.unit_id,
                                   community_id=self.community_id, district_id=self.district_id, year=year,
                                   title=title, rank=rank))
        return True


class DistrictCalendar(Aggregate):
    """A district's evaluation periods: which half years are closed (frozen)."""

    stream_prefix = "evaluation-district"

    def __init__(self, district_id: str):
        super().__init__(district_id)
        self.closed: set[str] = set()

    def apply(self, event: DomainEvent) -> None:
        if isinstance(event, PeriodClosed):
            self.closed.add(event.period)

    def close(self, period: str, by: str) -> bool:
        """Close `period` (and any earlier open period of the same year); False if already closed."""
        if period in self.closed:
            return False
        if period.endswith("H2") and f"{period[:4]}H1" not in self.closed:
            self._trigger(PeriodClosed(district_id=self.id, period=f"{period[:4]}H1", closed_by=by))
        self._trigger(PeriodClosed(district_id=self.id, period=period, closed_by=by))
        return True


class UnitBoard(Aggregate):
    """A unit's double-evaluation publications (双评)."""

    stream_prefix = "evaluation-unit"

    def __init__(self, unit_id: str):
        super().__init__(unit_id)
        self.published: dict[int, int] = {}

    def apply(self, event: DomainEvent) -> None:
        if isinstance(event, DoubleEvaluationPublished):
            self.published[event.year] = event.members

    def publish(self, year: int, members: int) -> None:
        if members == 0:
            raise DomainError("该单位本年度没有可评议的党员")
        self._trigger(DoubleEvaluationPublished(unit_id=self.id, year=year, members=members))
