"""The registration nameko service: thin entrypoints over the handlers and read models."""
from __future__ import annotations

import base64
from datetime import date, datetime
from zoneinfo import ZoneInfo

from nameko.rpc import rpc
from nameko.timer import timer

from services.registration import domain, forms, handlers, readmodels, roster_import, schemas
from shared.application import Application
from shared.codec import EventCodec
from shared.domain import DomainError
from shared.eventstore import utcnow_iso
from shared.nameko_edge import CommandRejected, ApplicationProvider, EventSourcedService, WorkLogging, command

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
OVERDUE_BATCH = 200


def today() -> date:
    return datetime.now(LOCAL_TZ).date()


def build_application(database):
    return (Application(database, EventCodec("registration", domain.EVENTS)),
            [readmodels.RegistrationProjection()])


def document(filename: str, content: bytes, content_type: str) -> dict:
    return {"filename": filename, "content_type": content_type,
            "content_base64": base64.b64encode(content).decode("ascii")}


def not_found(what: str) -> CommandRejected:
    return CommandRejected("not_found", f"{what}不存在")


class RegistrationService(EventSourcedService):
    """报到: the community check-in programme."""

    name = "registration"
    letter_batch = 200   # letters per transaction of issue_letters

    app = ApplicationProvider(build_application)
    work_logging = WorkLogging()

    # -- hierarchy ----------------------------------------------------------------------------
    @command(schemas.RegisterCommunitySchema)
    def register_community(self, cmd):
        return self.app.execute(handlers.register_community, cmd)

    @command(schemas.AddGridSchema)
    def add_grid(self, cmd):
        return self.app.execute(handlers.add_grid, cmd)

    @command(schemas.AddBranchSchema)
    def add_branch(self, cmd):
        return self.app.execute(handlers.add_branch, cmd)

    @command(schemas.RegisterUnitSchema)
    def register_unit(self, cmd):
        return self.app.execute(handlers.register_unit, cmd)

    @command(schemas.OpenCampaignSchema)
    def open_campaign(self, cmd):
        return self.app.execute(handlers.open_campaign, cmd, today=today())

    # -- roster -------------------------------------------------------------------------------
    @command(schemas.EnrollMemberSchema)
    def enroll_member(self, cmd):
        return self.app.execute(handlers.enroll_member, cmd)

    @command(schemas.ImportRosterSchema)
    def import_roster(self, cmd):
        """A roster file (.xlsx or .csv): every bad row is reported and nothing is applied;
        a clean file is applied whole, in one transaction; re-importing it changes nothing."""
        try:
            content = base64.b64decode(cmd["content_base64"], validate=True)
        except ValueError:
            raise CommandRejected("unreadable_file", "名册文件内容不是有效的 base64 编码") from None
        lookup = self.app.query(readmodels.community_lookup)
        report = roster_import.import_roster(cmd["filename"], content, community_lookup=lookup,
                                             unit_id=cmd["unit_id"])
        result = {"ok": report.ok, "summary": report.summary(), "rows": report.total, "applied": False,
                  "errors": [{"row": e.row, "column": e.column, "reason": e.reason} for e in report.errors],
                  "accepted": report.accepted if not cmd["apply"] else []}
        if report.ok and cmd["apply"]:
            result.update(self.app.execute(handlers.enroll_members, cmd["unit_id"], report.accepted), applied=True)
        return result

    @rpc(expected_exceptions=CommandRejected)
    def enroll_members(self, unit_id, members):
        """A chunk of a validated roster, in one transaction (the import CLI sends chunks)."""
        try:
            commands = [schemas.EnrollMemberSchema().load({**m, "unit_id": unit_id}) for m in members]
        except Exception as exc:  # noqa: BLE001 - marshmallow's ValidationError
            raise CommandRejected("invalid_input", "名册数据有误，请先校验名册", getattr(exc, "messages", {})) from None
        try:
            return self.app.execute(handlers.enroll_members, unit_id, commands)
        except DomainError as exc:
            raise CommandRejected(exc.code, exc.message, exc.details) from None

    # -- letters and check-in -----------------------------------------------------------------
    @command(schemas.IssueLetterSchema)
    def issue_letter(self, cmd):
        return self.app.execute(handlers.issue_letter, cmd, issued_at=utcnow_iso())

    @command(schemas.IssueLettersSchema)
    def issue_letters(self, cmd):
        """Letters for every member of the unit who has none for the campaign yet."""
        pending = self.app.query(readmodels.members_without_letter, cmd["unit_id"], cmd["campaign_id"])
        issued = []
        for start in range(0, len(pending), self.letter_batch):
            issued += self.app.execute(handlers.issue_letters, cmd["unit_id"], cmd["campaign_id"],
                                             pending[start:start + self.letter_batch], cmd["to"],
                                             issued_at=utcnow_iso())
        return {"issued": len(issued), "letters": issued}

    @command(schemas.CheckInSchema)
    def check_in(self, cmd):
        # a deadline rush: the check-ins arriving together share one transaction
        return self.app.execute_together(handlers.check_in, cmd, checked_in_at=utcnow_iso())

    # -- deadlines and changes ----------------------------------------------------------------
    @command(schemas.RecordOverdueReasonSchema)
    def record_overdue_reason(self, cmd):
        return self.app.execute(handlers.record_overdue_reason, cmd)

    @command(schemas.MoveMemberSchema)
    def move_member(self, cmd):
        return self.app.execute(handlers.move_member, cmd)

    @command(schemas.ChangeWorkplaceSchema)
    def change_workplace(self, cmd):
        return self.app.execute(handlers.change_workplace, cmd)

    @command(schemas.RecordCardOpinionSchema)
    def record_card_opinion(self, cmd):
        return self.app.execute(handlers.record_card_opinion, cmd, today=today())

    @rpc
    def mark_overdue(self, as_of=None):
        """Mark every member past a deadline and unregistered as overdue (idempotent)."""
        day = date.fromisoformat(as_of) if as_of else today()
        marked, previous = 0, None
        while True:
            candidates = self.app.query(readmodels.overdue_candidates, day.isoformat(), OVERDUE_BATCH)
            if not candidates or candidates == previous:
                return {"as_of": day.isoformat(), "marked": marked}
            marked += self.app.execute(handlers.mark_overdue, candidates, today=day)
            previous = candidates

    @timer(interval=3600)
    def scan_overdue(self):
        self.mark_overdue()

    # -- posts, commitments, teams ------------------------------------------------------------
    @command(schemas.PublishPostSchema)
    def publish_post(self, cmd):
        return self.app.execute(handlers.publish_post, cmd)

    @command(schemas.ClaimPostSchema)
    def claim_post(self, cmd):
        return self.app.execute(handlers.claim_post, cmd)

    @command(schemas.MakeCommitmentSchema)
    def make_commitment(self, cmd):
        return self.app.execute(handlers.make_commitment, cmd, today=today())

    @command(schemas.FormTeamSchema)
    def form_team(self, cmd):
        return self.app.execute(handlers.form_team, cmd)

    @command(schemas.JoinTeamSchema)
    def join_team(self, cmd):
        return self.app.execute(handlers.join_team, cmd)

    @command(schemas.ElectTeamLeaderSchema)
    def elect_team_leader(self, cmd):
        return self.app.execute(handlers.elect_team_leader, cmd)

    # -- queries ------------------------------------------------------------------------------
    @rpc
    def unit_statistics(self, unit_id=None):
        return self.app.query(readmodels.unit_statistics, unit_id)

    @command(schemas.StatisticsQuerySchema)
    def statistics(self, q):
        return self.app.query(readmodels.statistics, q.pop("group_by"), **q)

    @rpc
    def roster(self, unit_id, page=1, page_size=50):
        return self.app.query(readmodels.roster, unit_id, page, page_size)

    @rpc
    def overdue_members(self, unit_id):
        return self.app.query(readmodels.overdue_members, unit_id)

    @command(schemas.OverdueQuerySchema)
    def overdue_list(self, q):
        """Overdue members in a unit, community, street or district; leading cadres first."""
        return self.app.query(readmodels.overdue_list, **q)

    @rpc
    def member(self, member_id):
        return self.app.query(readmodels.member_view, member_id)

    @rpc
    def letters_waiting(self, community_id):
        """Letters to the community whose member has not registered there yet (待报到)."""
        return self.app.query(readmodels.letters_waiting, community_id)

    @rpc
    def community_layout(self, community_id):
        """The community's grids and branches."""
        return self.app.query(readmodels.community_layout, community_id)

    @rpc
    def check_in_timeline(self, district_id=None, street_id=None):
        """Check-ins by street and day, and each street's members (the check-in rate over time)."""
        return self.app.query(readmodels.check_in_timeline, district_id, street_id)

    @rpc
    def campaigns(self, unit_id):
        """The unit's check-in campaigns with their deadlines."""
        return self.app.query(readmodels.unit_campaigns, unit_id)

    @rpc(expected_exceptions=CommandRejected)
    def place(self, kind, place_id):
        """A community, a unit, a street or a district by id (None if unknown)."""
        if kind not in ("community", "unit", "street", "district"):
            raise CommandRejected("invalid_input", "地点类型应为社区或单位")
        return self.app.query(readmodels.place_view, kind, place_id)

    @rpc
    def noticeboard(self, community_id):
        return self.app.query(readmodels.noticeboard, community_id)

    # -- printable forms ----------------------------------------------------------------------
    @command(schemas.StatisticsQuerySchema)
    def statistics_xlsx(self, q):
        group_by = q.pop("group_by")

        def build(conn):
            table = readmodels.statistics(conn, group_by, **q)
            scope_key, scope_kind = next(((v, k.removesuffix("_id")) for k, v in q.items() if v), (None, "district"))
            return table, readmodels.place_names(conn, scope_kind, scope_key), readmodels.overdue_list(conn, **q)

        table, scope, overdue = self.app.query(build)
        content = forms.statistics_xlsx("在职党员报到情况统计表", scope, table["rows"], table["totals"], utcnow_iso(),
                                        overdue=overdue)
        return document(f"报到情况统计表-{scope}.xlsx", content,
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")

    @rpc
    def roster_xlsx(self, unit_id):
        """在职党员名册 as .xlsx, in the import's columns (四个清, with 兴趣爱好)."""
        def build(conn):
            return readmodels.place_names(conn, "unit", unit_id), readmodels.roster_export(conn, unit_id)

        unit_name, rows = self.app.query(build)
        return document(f"在职党员名册-{unit_name}.xlsx", forms.roster_xlsx(unit_name, rows, utcnow_iso()),
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")

    @rpc
    def letter_pdf(self, letter_id):
        view = self.app.query(readmodels.letter_view, letter_id)
        if view is None:
            raise not_found("介绍信")
        return document(f"介绍信-{view['member_name']}.pdf", forms.introduction_letter_pdf(view), "application/pdf")

    @rpc
    def card_pdf(self, member_id, service_records=None):
        """登记卡; `service_records` (服务记录: the member's verified services, from dispatch's
        `service_records`) are printed in their row when given."""
        view = self.app.query(readmodels.card_view, member_id)
        if view is None:
            raise not_found("登记卡")
        view["service_records"] = list(service_records or [])
        return document(f"登记卡-{view['card_no']}.pdf", forms.registration_card_pdf(view), "application/pdf")

    @rpc
    def receipt_pdf(self, member_id):
        view = self.app.query(readmodels.card_view, member_id)
        if view is None:
            raise not_found("回执")
        return document(f"回执-{view['card_no']}.pdf", forms.receipt_pdf(view), "application/pdf")
