"""The fund's rules on the pure domain model: every step of a project and every refusal."""
from datetime import date

import pytest

from services.funds.domain import (
    CommunityFundYear, ForbiddenExpense, NoBudget, NotFound, OverBudget, RuleBroken, SmallGroupLimit, WrongStage,
    yuan,
)
from services.funds.workdays import WorkingCalendar

CAL = WorkingCalendar()
D = date.fromisoformat
THREE_SIGNATURES = [{"role": "community_secretary", "name": "李书记", "signed_on": "2026-06-01"},
                    {"role": "construction_committee_director", "name": "王主任", "signed_on": "2026-06-01"},
                    {"role": "street_secretary", "name": "赵书记", "signed_on": "2026-06-02"}]


def fund(budget=5_000_000, year=2026, previous=None) -> CommunityFundYear:
    f = CommunityFundYear(CommunityFundYear.id_for("xf", year))
    f.allocate(community_name="幸福社区", allocated_fen=budget, previous=previous, source="市财政", on=D(f"{year}-01-05"))
    return f


def propose(f, pid="p1", amount=1_000_000, small=False, lines=None, category="便民利民服务", payee="organisation",
            on="2026-03-02"):
    f.propose(project_id=pid, title=f"项目{pid}", category=category, description="居民需求", amount_fen=amount,
              lines=lines if lines is not None else [{"item": "材料", "kind": "服务用品", "amount_fen": amount}],
              small_beneficiary_group=small, beneficiaries=200, demand_ids=["d1"], payee_kind=payee, by="社区党委",
              on=D(on))


def to_notice(f, pid="p1", posted="2026-03-09"):
    f.apply_for(pid, preliminary_consent_by="党工委张", plan="方案", by="社区党委", on=D("2026-03-03"))
    assert f.record_joint_meeting(pid, on=D("2026-03-05"), attendees=15, resident_representatives=7, votes_for=13,
                                  votes_against=2, minutes="讨论通过")
    return f.publish_notice(pid, on=D(posted), calendar=CAL)


def to_approved(f, pid="p1"):
    to_notice(f, pid)
    f.submit(pid, by="社区党委", on=D("2026-03-13"), calendar=CAL)
    f.approve(pid, by="党工委张", construction_committee_by="建管委刘", on=D("2026-03-16"))


def to_accepted(f, pid="p1"):
    to_approved(f, pid)
    f.accept(pid, quality="合格", residents_surveyed=50, residents_satisfied=46, by="党工委专人", on=D("2026-05-28"),
             acting_as="street_committee")


def pay(f, pid="p1", amount=1_000_000, pay_id="pay1", voucher="invoice", signatures=THREE_SIGNATURES, final=False):
    return f.pay(pid, payment_id=pay_id, amount_fen=amount, payee="某服务公司", voucher=voucher,
                 invoice_no="No.0001" if voucher == "invoice" else None, signatures=signatures, on=D("2026-06-02"),
                 final=final, calendar=CAL)


def types(f):
    return [e.event_type for e in f.collect_pending()]


def test_a_project_from_proposal_to_payment_emits_each_step():
    f = fund()
    propose(f)
    assert to_notice(f).on == D("2026-03-12")              # Mon 9 Mar + 3 working days
    decide_by = f.submit("p1", by="社区党委", on=D("2026-03-13"), calendar=CAL)
    assert decide_by.on == D("2026-03-20") and not decide_by.provisional
    assert f.approve("p1", by="党工委张", construction_committee_by="建管委刘", on=D("2026-03-16")) is False
    f.accept("p1", quality="优良", residents_surveyed=50, residents_satisfied=48, by="专人", on=D("2026-05-28"), acting_as="street_committee")
    assert pay(f) is True
    assert types(f) == ["BudgetAllocated", "ProjectProposed", "ProjectApplied", "JointMeetingDecided",
                        "NoticePublished", "ProjectSubmitted", "ProjectApproved", "ProjectAccepted", "PaymentMade",
                        "NoticePublished"]
    assert f.projects["p1"].state == "paid" and f.paid_fen == 1_000_000
    replayed = CommunityFundYear.replay(f.id, [])
    assert replayed.version == 0


def test_replaying_the_stream_rebuilds_the_same_account():
    f = fund()
    propose(f)
    to_accepted(f)
    events = f.collect_pending()
    again = CommunityFundYear.replay(f.id, events)
    assert (again.budget_fen, again.reserved_fen, again.projects["p1"].state) == (5_000_000, 1_000_000, "accepted")


def test_small_beneficiary_group_spending_at_exactly_twenty_percent_is_allowed_one_fen_more_is_not():
    f = fund(budget=5_000_001)                          # 20% = 1,000,000.2 fen: the limit is 1,000,000
    propose(f, "s1", amount=600_000, small=True)
    propose(f, "s2", amount=400_000, small=True)        # exactly 1,000,000 fen
    with pytest.raises(SmallGroupLimit) as refused:
        propose(f, "s3", amount=1, small=True)
    assert refused.value.code == "small_group_limit"
    assert "20%" in refused.value.message and "上限 10,000.00 元" in refused.value.message
    propose(f, "big", amount=1, small=False)            # the same fen for everyone is fine


def test_the_limit_counts_carried_over_surplus_and_releases_rejected_projects():
    last = fund(budget=1_000_000, year=2025)
    last.close(by="财务", on=D("2025-12-31"))
    f = fund(budget=4_000_000, previous=last)
    assert (f.carried_over_fen, f.budget_fen, f.small_group_limit_fen) == (1_000_000, 5_000_000, 1_000_000)
    propose(f, "s1", amount=1_000_000, small=True)
    f.withdraw("s1", reason="需求已由其他渠道解决", by="社区党委", on=D("2026-03-03"))
    propose(f, "s2", amount=1_000_000, small=True)     # the withdrawn one no longer counts


def test_no_spending_beyond_the_budget():
    f = fund(budget=2_000_000)
    propose(f, "a", amount=1_500_000)
    with pytest.raises(OverBudget) as refused:
        propose(f, "b", amount=500_001)
    assert "尚可安排 5,000.00 元" in refused.value.message
    propose(f, "b", amount=500_000)


def test_forbidden_expenses_and_categories_are_refused_with_the_rule():
    f = fund()
    for kind, words in (("社区办公开支", "办公开支"), ("社区工作者工资补贴", "工资"), ("物业单位承担费用", "物业单位")):
        with pytest.raises(ForbiddenExpense) as refused:
            propose(f, "x", amount=1000, lines=[{"item": "某项", "kind": kind, "amount_fen": 1000}])
        assert words in refused.value.message and refused.value.code == "forbidden_expense"
    with pytest.raises(ForbiddenExpense):
        propose(f, "x", category="社区办公")
    assert not f.pending[1:]                            # nothing but the allocation was recorded


def test_budget_lines_must_sum_exactly_and_amounts_are_integer_fen():
    f = fund()
    with pytest.raises(RuleBroken, match="不符"):
        propose(f, "x", amount=1000, lines=[{"item": "a", "kind": "服务用品", "amount_fen": 999}])
    with pytest.raises(RuleBroken, match="整数"):
        propose(f, "x", amount=10.5)
    with pytest.raises(RuleBroken, match="整数"):
        CommunityFundYear("xf:2027").allocate(community_name="幸福社区", allocated_fen=1e6, previous=None, source="市财政",
                                              on=D("2027-01-05"))


def test_no_budget_no_project():
    f = CommunityFundYear("xf:2026")
    with pytest.raises(NoBudget):
        propose(f)


def test_an_objection_parks_the_project_until_resolved():
    f = fund()
    propose(f)
    to_notice(f)
    f.raise_objection("p1", objection_id="o1", raised_by="居民陈", content="选址不合理", on=D("2026-03-10"))
    with pytest.raises(WrongStage, match="搁置"):
        f.submit("p1", by="社区党委", on=D("2026-03-13"), calendar=CAL)
    f.resolve_objection("p1", objection_id="o1", resolution="协商一致，调整选址", republish=False, by="议事监督委员会",
                        on=D("2026-03-12"))
    f.submit("p1", by="社区党委", on=D("2026-03-13"), calendar=CAL)
    assert f.projects["p1"].state == "submitted"


def test_a_resolution_that_changes_the_plan_needs_a_new_notice():
    f = fund()
    propose(f)
    to_notice(f)
    f.raise_objection("p1", objection_id="o1", raised_by="居民陈", content="金额偏高", on=D("2026-03-10"))
    f.resolve_objection("p1", objection_id="o1", resolution="修改方案后重新公示", republish=True, by="社区党委",
                        on=D("2026-03-11"))
    with pytest.raises(WrongStage):
        f.submit("p1", by="社区党委", on=D("2026-03-13"), calendar=CAL)
    assert f.publish_notice("p1", on=D("2026-03-11"), calendar=CAL).on == D("2026-03-16")


def test_the_notice_runs_three_full_working_days_before_submission():
    f = fund()
    propose(f)
    ends = to_notice(f, posted="2026-09-30")            # across National Day
    assert ends.on == D("2026-10-10")
    with pytest.raises(RuleBroken, match="公示期至 2026-10-10"):
        f.submit("p1", by="社区党委", on=D("2026-10-09"), calendar=CAL)
    assert f.submit("p1", by="社区党委", on=D("2026-10-12"), calendar=CAL).on == D("2026-10-19")


def test_a_failed_joint_meeting_rejects_the_project_and_frees_the_money():
    f = fund(budget=1_000_000)
    propose(f, amount=1_000_000)
    f.apply_for("p1", preliminary_consent_by="党工委张", plan="方案", by="社区党委", on=D("2026-03-03"))
    assert f.record_joint_meeting("p1", on=D("2026-03-05"), attendees=15, resident_representatives=7, votes_for=7,
                                  votes_against=8, minutes="分歧较大") is False
    assert f.projects["p1"].state == "rejected" and f.reserved_fen == 0
    with pytest.raises(RuleBroken, match="居民代表"):
        propose(f, "p2")
        f.apply_for("p2", preliminary_consent_by="张", plan="方案", by="社区党委", on=D("2026-03-03"))
        f.record_joint_meeting("p2", on=D("2026-03-05"), attendees=9, resident_representatives=0, votes_for=9,
                               votes_against=0, minutes="")


def test_steps_out_of_order_are_refused():
    f = fund()
    propose(f)
    with pytest.raises(WrongStage, match="不能公示"):
        f.publish_notice("p1", on=D("2026-03-09"), calendar=CAL)
    with pytest.raises(WrongStage, match="尚未通过综合验收"):
        pay(f)
    with pytest.raises(WrongStage):
        f.accept("p1", quality="合格", residents_surveyed=1, residents_satisfied=1, by="x", on=D("2026-05-01"), acting_as="street_committee")
    with pytest.raises(RuleBroken, match="早于上一环节"):
        f.apply_for("p1", preliminary_consent_by="张", plan="方案", by="社区党委", on=D("2026-03-01"))


def test_the_street_committee_decision_is_due_in_five_working_days_and_late_ones_are_flagged_once():
    f = fund()
    propose(f)
    to_notice(f)
    f.submit("p1", by="社区党委", on=D("2026-03-13"), calendar=CAL)   # Fri → decide by Fri 20 Mar
    assert f.flag_overdue_decisions(D("2026-03-20")) == []
    assert f.flag_overdue_decisions(D("2026-03-23")) == ["p1"]
    assert f.flag_overdue_decisions(D("2026-03-24")) == []            # never twice
    assert f.approve("p1", by="党工委张", construction_committee_by="建管委刘", on=D("2026-03-24")) is True


def test_changes_need_the_committees_recorded_consent_and_keep_the_limits():
    f = fund(budget=2_000_000)
    propose(f)
    to_approved(f)
    with pytest.raises(RuleBroken, match="党工委同意"):
        f.change("p1", change="增加数量", reason="需求增加", amount_fen=None, lines=None, small_beneficiary_group=None,
                 consent_by=" ", consent_on=D("2026-04-01"), on=D("2026-04-02"))
    with pytest.raises(OverBudget):
        f.change("p1", change="扩大范围", reason="需求增加", amount_fen=2_000_001,
                 lines=[{"item": "材料", "kind": "服务用品", "amount_fen": 2_000_001}], small_beneficiary_group=None,
                 consent_by="党工委张", consent_on=D("2026-04-01"), on=D("2026-04-02"))
    f.change("p1", change="扩大范围", reason="需求增加", amount_fen=1_200_000,
             lines=[{"item": "材料", "kind": "服务用品", "amount_fen": 1_000_000},
                    {"item": "安装", "kind": "购买服务", "amount_fen": 200_000}],
             small_beneficiary_group=None, consent_by="党工委张", consent_on=D("2026-04-01"), on=D("2026-04-02"))
    assert f.projects["p1"].amount_fen == 1_200_000


def test_acceptance_needs_quality_and_satisfaction():
    f = fund()
    propose(f)
    to_approved(f)
    with pytest.raises(RuleBroken, match="不合格"):
        f.accept("p1", quality="不合格", residents_surveyed=10, residents_satisfied=2, by="x", on=D("2026-05-28"), acting_as="street_committee")
    with pytest.raises(RuleBroken, match="满意度"):
        f.accept("p1", quality="合格", residents_surveyed=0, residents_satisfied=0, by="x", on=D("2026-05-28"), acting_as="street_committee")


def test_payment_needs_the_three_signatures_in_order_or_the_payees_where_no_invoice_can_exist():
    f = fund()
    propose(f)
    to_accepted(f)
    with pytest.raises(RuleBroken, match="依次"):
        pay(f, signatures=list(reversed(THREE_SIGNATURES)))
    with pytest.raises(RuleBroken, match="依次"):
        pay(f, signatures=THREE_SIGNATURES[:2])
    with pytest.raises(RuleBroken, match="帮扶资助"):
        pay(f, voucher="payee_signature", signatures=[{"role": "payee", "name": "某公司", "signed_on": "2026-06-02"}])
    with pytest.raises(OverBudget, match="超过批准金额"):
        pay(f, amount=1_000_001)
    assert pay(f, amount=400_000) is True
    assert pay(f, amount=400_000) is False               # the same payment id again: recorded once
    assert f.projects["p1"].state == "accepted"
    assert pay(f, amount=600_000, pay_id="pay2") is True  # sums exactly to the approved amount: finished
    assert f.projects["p1"].state == "paid" and f.paid_fen == 1_000_000


def test_aid_paid_against_the_payees_signature_and_published_for_three_working_days():
    f = fund()
    propose(f, pid="aid", amount=300_000, small=True, payee="aid", category="特困群体服务",
            lines=[{"item": "大病救助", "kind": "救助资助", "amount_fen": 300_000}])
    to_accepted(f, "aid")
    f.collect_pending()
    pay(f, "aid", amount=300_000, voucher="payee_signature",
        signatures=[{"role": "payee", "name": "困难户周某", "signed_on": "2026-06-02"}])
    paid, notice = f.collect_pending()
    assert paid.voucher == "payee_signature" and notice.notice == "project_completion"
    assert (notice.posted_on, notice.ends_on) == ("2026-06-02", "2026-06-05")


def test_reminders_a_month_and_a_week_before_each_report_never_twice():
    f = fund()
    f.collect_pending()
    assert f.remind_reports(D("2026-10-30")) == []                     # 32 days before 1 Dec
    assert f.remind_reports(D("2026-11-01")) == [("street_report", "month")]
    assert f.remind_reports(D("2026-11-02")) == []
    assert f.remind_reports(D("2026-11-20")) == [("yearly_summary", "month")]
    assert f.remind_reports(D("2026-11-24")) == [("street_report", "week")]
    assert f.remind_reports(D("2026-11-25")) == []
    f.issue_report("yearly_summary", on=D("2026-12-10"), calendar=CAL)
    assert f.remind_reports(D("2026-12-14")) == []                     # posted: no reminder any more
    events = [e for e in f.collect_pending() if e.event_type == "FundsReportDue"]
    assert [(e.report, e.days_left, e.due_date) for e in events] == [
        ("street_report", 30, "2026-12-01"), ("yearly_summary", 30, "2026-12-20"), ("street_report", 7, "2026-12-01")]
    again = CommunityFundYear.replay(f.id, [*fund().collect_pending(), *events])
    assert again.remind_reports(D("2026-11-26")) == []                 # replayed state remembers them


def test_no_reminder_can_fall_due_before_the_first_reminder_day():
    from services.funds.domain import first_reminder_day
    day = first_reminder_day(2026)
    assert day == D("2026-11-01")
    f = fund()
    assert f.remind_reports(D("2026-10-31")) == [] and f.remind_reports(day) == [("street_report", "month")]


def test_a_first_scan_inside_the_last_week_sends_only_the_week_reminder():
    f = fund()
    assert f.remind_reports(D("2026-12-15")) == [("yearly_summary", "week")]
    assert f.remind_reports(D("2026-12-16")) == []


def test_the_yearly_summary_is_posted_for_five_working_days():
    f = fund()
    f.collect_pending()
    assert f.issue_report("yearly_summary", on=D("2026-12-18"), calendar=CAL).on == D("2026-12-25")
    issued, notice = f.collect_pending()
    assert (issued.late, notice.working_days) == (False, 5)
    assert f.issue_report("yearly_summary", on=D("2026-12-18"), calendar=CAL) is None
    f.issue_report("street_report", on=D("2026-12-02"), calendar=CAL)
    assert f.collect_pending()[0].late is True


def test_closing_carries_the_surplus_exactly_into_next_year():
    last = fund(budget=5_000_000, year=2025)
    propose(last, amount=1_234_567, on="2025-03-02")
    last.apply_for("p1", preliminary_consent_by="张", plan="方案", by="社区党委", on=D("2025-03-03"))
    with pytest.raises(RuleBroken, match="未办结"):
        last.close(by="财务", on=D("2025-12-31"))
    last.withdraw("p1", reason="并入下年", by="社区党委", on=D("2025-12-30"))
    assert last.close(by="财务", on=D("2025-12-31")) == 5_000_000
    f = fund(budget=4_000_000, previous=last)
    assert f.budget_fen == 9_000_000
    with pytest.raises(RuleBroken, match="已结账"):
        propose(last, "late", on="2025-12-31")


def test_a_year_closed_after_next_years_allocation_carries_its_surplus_over_once():
    last = fund(budget=3_000_000, year=2025)
    propose(last, amount=1_000_001, on="2025-03-02")
    to_accepted(last)
    last.pay("p1", payment_id="x", amount_fen=1_000_001, payee="某公司", voucher="invoice", invoice_no="No.9",
             signatures=THREE_SIGNATURES, on=D("2026-06-02"), final=True, calendar=CAL)   # paid the next year
    this = fund(budget=4_000_000, previous=last)        # allocated while last year is still open
    assert this.carried_over_fen == 0
    this.collect_pending()
    assert last.close(by="财务", on=D("2026-06-03"), following=this) == 1_999_999
    [carried] = this.collect_pending()
    assert (carried.event_type, carried.from_year, carried.amount_fen) == ("SurplusCarriedOver", 2025, 1_999_999)
    assert this.budget_fen == 5_999_999 and this.small_group_limit_fen == 1_199_999


def test_an_allocation_imported_twice_is_applied_once_and_a_different_amount_is_refused():
    f = fund()
    assert f.allocate(community_name="幸福社区", allocated_fen=5_000_000, previous=None, source="市财政",
                      on=D("2026-01-06")) is False
    with pytest.raises(RuleBroken, match="不能重复下达"):
        f.allocate(community_name="幸福社区", allocated_fen=6_000_000, previous=None, source="市财政", on=D("2026-01-06"))


def test_yuan_formatting_is_exact():
    assert yuan(123_456_789) == "1,234,567.89" and yuan(5) == "0.05" and yuan(-100) == "-1.00"


def test_the_street_committee_may_reject_and_the_money_is_free_again():
    f = fund(budget=1_000_000)
    propose(f, amount=1_000_000)
    to_notice(f)
    with pytest.raises(WrongStage, match="不能不予批准"):
        f.reject("p1", reason="不符合使用范围", by="党工委张", on=D("2026-03-13"))
    f.submit("p1", by="社区党委", on=D("2026-03-13"), calendar=CAL)
    f.reject("p1", reason="与政府已安排项目重复", by="党工委张", on=D("2026-03-18"))
    assert f.projects["p1"].state == "rejected" and f.reserved_fen == 0
    with pytest.raises(WrongStage):
        f.approve("p1", by="党工委张", construction_committee_by="建管委刘", on=D("2026-03-19"))
    propose(f, "p2", amount=1_000_000, on="2026-03-20")


def test_objections_are_taken_only_while_the_plan_is_on_notice():
    f = fund()
    propose(f)
    with pytest.raises(WrongStage, match="公示期间"):
        f.raise_objection("p1", objection_id="o1", raised_by="居民", content="反对", on=D("2026-03-03"))
    to_notice(f)
    f.raise_objection("p1", objection_id="o1", raised_by="居民甲", content="反对一", on=D("2026-03-10"))
    f.raise_objection("p1", objection_id="o2", raised_by="居民乙", content="反对二", on=D("2026-03-10"))
    f.resolve_objection("p1", objection_id="o1", resolution="已解释", republish=False, by="监督委员会", on=D("2026-03-11"))
    assert f.projects["p1"].state == "parked"                     # one objection still open
    with pytest.raises(NotFound):
        f.resolve_objection("p1", objection_id="o1", resolution="再次", republish=False, by="x", on=D("2026-03-11"))
    f.resolve_objection("p1", objection_id="o2", resolution="已协商", republish=False, by="监督委员会", on=D("2026-03-11"))
    assert f.projects["p1"].state == "on_notice"


# -- seed 003: who accepts, who signs, in whose name -------------------------------------------------
def test_the_comprehensive_acceptance_is_the_street_committees_not_the_communitys():
    """第十二条: "项目开始后，社区党工委要组织专人，定期跟进项目开展情况，在项目完成时，对项目质量、
    群众满意度等方面进行综合验收。" The community that ran the project does not accept it."""
    from services.funds.domain import WrongBody
    f = fund()
    propose(f)
    to_approved(f)
    with pytest.raises(WrongBody) as refused:
        f.accept("p1", quality="优良", residents_surveyed=50, residents_satisfied=48, by="周书记",
                 on=D("2026-05-28"), acting_as="community")
    assert refused.value.code == "wrong_body" and "社区党工委" in refused.value.message
    assert f.projects["p1"].state == "approved"
    f.accept("p1", quality="优良", residents_surveyed=50, residents_satisfied=48, by="党工委专人",
             on=D("2026-05-28"), acting_as="street_committee")
    assert f.projects["p1"].state == "accepted"


def test_the_invoice_is_signed_by_three_different_people_in_the_articles_order():
    """第十三条: "社区党委通知承办单位开具发票，分别由社区党委书记、社区建设管理委员会主任、
    社区党工委书记依次在发票上签字确认"."""
    f = fund()
    propose(f)
    to_accepted(f)
    twice = [dict(THREE_SIGNATURES[0]), dict(THREE_SIGNATURES[1]), {**THREE_SIGNATURES[2], "name": "李书记"}]
    with pytest.raises(RuleBroken) as refused:
        pay(f, signatures=twice)
    assert "同一人不能签两次" in refused.value.message
    bracketed = [dict(THREE_SIGNATURES[0]), {**THREE_SIGNATURES[1], "name": " 李书记（建管委） "},
                 dict(THREE_SIGNATURES[2])]
    with pytest.raises(RuleBroken):
        pay(f, signatures=bracketed)                 # the same person with a role in brackets
    wrong_role = [dict(THREE_SIGNATURES[0]), {**THREE_SIGNATURES[1], "role": "street_secretary"},
                  dict(THREE_SIGNATURES[2])]
    with pytest.raises(RuleBroken):
        pay(f, signatures=wrong_role)
    assert f.projects["p1"].paid_fen == 0
    assert pay(f) is True


def test_consent_and_approval_are_given_in_a_persons_real_name():
    """第十条: "社区党委就项目及经费使用方案征得社区党工委初步同意后"; 第十一条: "经社区党工委、
    社区建设管理委员会主要领导审批同意后"; 第十一条: "须报社区党工委同意". A consent or an approval
    is a person's: a blank name or an office's name is refused."""
    from services.funds.domain import NotAPerson, check_person_name
    for bad in ("", "   ", "\t", "和平街道党工委", "社区建设管理委员会", "街道办公室", "（党工委）"):
        with pytest.raises(NotAPerson) as refused:
            check_person_name(bad, "审批人")
        assert refused.value.code == "real_name_required"
    for good in ("张明", "张明（党工委）", "阿依古丽·买买提", "赵志刚"):
        assert check_person_name(good, "审批人") == good

    f = fund()
    propose(f)
    with pytest.raises(NotAPerson):
        f.apply_for("p1", preliminary_consent_by="  ", plan="方案", by="社区党委", on=D("2026-03-03"))
    with pytest.raises(NotAPerson):
        f.apply_for("p1", preliminary_consent_by="和平街道党工委", plan="方案", by="社区党委", on=D("2026-03-03"))
    to_notice(f)
    f.submit("p1", by="社区党委", on=D("2026-03-13"), calendar=CAL)
    for approver, director in (("和平街道党工委", "刘强"), ("赵志刚", " "), ("赵志刚", "社区建设管理委员会")):
        with pytest.raises(NotAPerson):
            f.approve("p1", by=approver, construction_committee_by=director, on=D("2026-03-16"))
    f.approve("p1", by="赵志刚", construction_committee_by="刘强", on=D("2026-03-16"))
    for consent in ("   ", "和平街道办公室"):
        with pytest.raises(RuleBroken if not consent.strip() else NotAPerson):
            f.change("p1", change="增加灯具", reason="楼栋增加", amount_fen=None, lines=None,
                     small_beneficiary_group=None, consent_by=consent, consent_on=D("2026-04-01"), on=D("2026-04-02"))
    assert f.projects["p1"].state == "approved"


def test_property_management_only_for_old_or_abandoned_estates():
    """第八条(4): "物业管理服务。老旧小区和物业弃管小区环境整治、绿化亮化、卫生保洁、治安防控，以及相关
    公共设施的管护维修等。" 第四条: 专项经费不得用于 "应由物业单位承担的费用"."""
    from shared.contracts.funds import ESTATES as CONTRACT_ESTATES
    from services.funds.domain import ESTATES
    assert ESTATES == CONTRACT_ESTATES
    f = fund()
    for estate in (None, "其他小区"):
        with pytest.raises(ForbiddenExpense) as refused:
            f.propose(project_id="pm", title="小区绿化", category="物业管理服务", description="绿化补植", amount_fen=100_000,
                      lines=[{"item": "苗木", "kind": "服务用品", "amount_fen": 100_000}], small_beneficiary_group=False,
                      beneficiaries=300, demand_ids=[], payee_kind="organisation", by="社区党委", on=D("2026-03-02"),
                      estate=estate)
        assert "老旧小区和物业弃管小区" in refused.value.message and "物业单位承担" in refused.value.message
    assert "pm" not in f.projects
    for i, estate in enumerate(("老旧小区", "物业弃管小区")):
        f.propose(project_id=f"pm{i}", title="小区绿化", category="物业管理服务", description="绿化补植",
                  amount_fen=100_000, lines=[{"item": "苗木", "kind": "服务用品", "amount_fen": 100_000}],
                  small_beneficiary_group=False, beneficiaries=300, demand_ids=[], payee_kind="organisation",
                  by="社区党委", on=D("2026-03-02"), estate=estate)
    events = f.collect_pending()
    assert [e.estate for e in events if e.event_type == "ProjectProposed"] == ["老旧小区", "物业弃管小区"]


def test_a_project_states_its_budget_lines():
    """第十条: "社区党委就项目及经费使用方案征得社区党工委初步同意后，填写《……专项经费使用申请审批表》";
    第十八条: "按事前预算、事中监督、事后审计的步骤进行全过程监督". A project without budget lines
    (只有总额) is refused, at proposal and at a change."""
    f = fund()
    with pytest.raises(RuleBroken) as refused:
        propose(f, lines=[])
    assert "经费明细" in refused.value.message and "p1" not in f.projects
    propose(f)
    to_approved(f)
    with pytest.raises(RuleBroken):
        f.change("p1", change="去掉明细", reason="简化", amount_fen=None, lines=[], small_beneficiary_group=None,
                 consent_by="赵志刚", consent_on=D("2026-04-01"), on=D("2026-04-02"))


# -- the calendar running out -----------------------------------------------------------------------
HOLIDAYS_2027 = {2027: {"holidays": ["2027-01-01"], "workdays": []}}


def test_a_deadline_in_january_2027_is_provisional_and_follows_the_holidays_configured_later():
    """第十条: "通过后将结果在社区公示栏公示（3个工作日以上），公示无异议后，形成最终使用方案……报社区
    党工委审批"; 第十一条: "社区党工委在接到申请审批表5个工作日内……". Counted over 2027 before its
    official schedule is known, the deadline is provisional; once the year is configured it is
    counted again from the step's date."""
    f = fund()
    propose(f)
    f.apply_for("p1", preliminary_consent_by="张明", plan="方案", by="社区党委", on=D("2026-12-21"))
    f.record_joint_meeting("p1", on=D("2026-12-22"), attendees=15, resident_representatives=7, votes_for=13,
                           votes_against=0, minutes="通过")
    ends = f.publish_notice("p1", on=D("2026-12-29"), calendar=CAL)        # Wed 30, Thu 31 Dec, Fri 1 Jan
    assert ends.on == D("2027-01-01") and ends.provisional
    configured = WorkingCalendar(HOLIDAYS_2027)                               # 1 Jan is a holiday after all
    assert configured.deadline(D("2026-12-29"), 3).on == D("2027-01-04")
    with pytest.raises(RuleBroken) as early:                                  # the notice now runs to Mon 4 Jan
        f.submit("p1", by="社区党委", on=D("2027-01-04"), calendar=configured)
    assert "2027-01-04" in early.value.message
    decide_by = f.submit("p1", by="社区党委", on=D("2027-01-05"), calendar=CAL)
    assert decide_by.on == D("2027-01-12") and decide_by.provisional           # Mon-Fri of 2027
    # with 2027 configured (a holiday on Fri 8 Jan, say), the decision is due a day later: not late on 13 Jan
    later = WorkingCalendar({2027: {"holidays": ["2027-01-01", "2027-01-08"]}})
    assert f.flag_overdue_decisions(D("2027-01-13"), later) == []
    assert f.flag_overdue_decisions(D("2027-01-13"), CAL) == ["p1"]
