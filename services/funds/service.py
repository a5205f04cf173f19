"""The funds nameko service: thin entrypoints over the handlers, read models and reports."""
from __future__ import annotations

import os
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from nameko.extensions import DependencyProvider
from nameko.rpc import rpc

from services.funds import domain, handlers, readmodels, reports, schemas
from services.funds.budget_import import BudgetFileError, parse_budget_csv
from services.funds.workdays import WorkingCalendar
from shared import metrics
from shared.application import Application
from shared.codec import EventCodec
from shared.db import PROJECT_ROOT
from shared.domain import DomainError, NotFound
from shared.nameko_edge import (
    CommandRejected, ApplicationProvider, EventSourcedService, WorkLogging, command, config_timer, subscribe,
)

DEMANDS = "funds.demands"
BEIJING = timezone(timedelta(hours=8))


def today() -> date:
    """The business date: today in Beijing."""
    return datetime.now(BEIJING).date()


def build_application(database):
    readmodels.demand_metadata.create_all(database.engine)
    return Application(database, EventCodec("funds", domain.EVENTS)), [readmodels.FundsProjection()]


_calendars: dict[str, WorkingCalendar] = {}


def calendar_for(config: dict) -> WorkingCalendar:
    extra = config.get("EXTRA_YEARS") or {}
    key = repr(sorted((str(k), repr(v)) for k, v in extra.items()))
    if key not in _calendars:
        _calendars[key] = WorkingCalendar(extra)
    return _calendars[key]


def calendar_status(calendar: WorkingCalendar, day: date, service: str = "funds") -> dict:
    """The working calendar as operators see it: the years covered and, from 60 days before the
    last covered day, the alert to configure next year (also the metric
    `baodao_calendar_covered_days_left`)."""
    until = calendar.covered_until()
    metrics.calendar_days_left.labels(service).set((until - day).days)
    return {"covered_years": [calendar.covered_years()[0], until.year], "covered_until": until.isoformat(),
            "alert": calendar.alert(day)}


def calendar_alert(calendar: WorkingCalendar, day: date, service: str = "funds") -> dict | None:
    """The readiness detail: the calendar's status while it alerts, else None."""
    status = calendar_status(calendar, day, service)
    return status if status["alert"] else None


class CalendarWatch(DependencyProvider):
    """Puts the calendar's alert in the service's readiness detail (`/ready` → details.calendar),
    only while there is one."""

    def start(self):                   # after every provider's setup: the application's probes exist
        provider = next((d for d in self.container.dependencies if isinstance(d, ApplicationProvider)), None)
        if provider is not None and getattr(provider, "probes", None) is not None:
            provider.probes.add_detail("calendar", self.alert)

    def alert(self):
        return calendar_alert(calendar_for(self.container.config), today(), self.container.service_name)


class FundsService(EventSourcedService):
    """社区党组织服务群众专项经费: budgets, projects, payments, the ledger and the yearly reports."""

    name = "funds"

    app = ApplicationProvider(build_application)
    work_logging = WorkLogging()
    calendar_watch = CalendarWatch()

    @property
    def calendar(self) -> WorkingCalendar:
        return calendar_for(self.app.config)

    def _where(self, project_id: str) -> tuple[str, int]:
        found = self.app.query(readmodels.locate_project, project_id)
        if not found:
            raise NotFound(f"项目 {project_id} 不存在")
        return found[0]

    @staticmethod
    def _on(cmd: dict) -> date:
        return cmd.get("on") or today()

    # -- dispatch's demands ---------------------------------------------------------------------------
    @subscribe("dispatch", "DemandRecorded")
    def on_demand_recorded(self, event):
        self.app.handle_once(event, handlers.demand_recorded, name=DEMANDS)

    # -- budget --------------------------------------------------------------------------------------
    @command(schemas.AllocateBudgetSchema)
    def allocate_budget(self, cmd):
        """下达年度经费; without an amount, the configured yearly amount (第五条)."""
        amount = cmd["allocated_fen"] or int(self.app.config.get("DEFAULT_ANNUAL_BUDGET_FEN", 0))
        return self.app.execute(handlers.allocate_budget, cmd["community_id"], cmd["community_name"], cmd["year"],
                                amount, cmd["source"], self._on(cmd))

    @rpc(expected_exceptions=CommandRejected)
    def import_budgets(self, csv_text, source="市财政", on=None):
        """Budgets from a CSV (see budget_import); every row checked before any is applied, and
        an import run twice changes nothing."""
        try:
            rows = parse_budget_csv(csv_text)
        except BudgetFileError as exc:
            raise CommandRejected("invalid_input", str(exc)) from None
        try:
            allocated_on = date.fromisoformat(on) if on else today()
        except (TypeError, ValueError):
            raise CommandRejected("invalid_input", "下达日期格式应为 YYYY-MM-DD") from None
        done = []
        for row in sorted(rows, key=lambda r: r["year"]):
            try:
                done.append(self.app.execute(handlers.allocate_budget, row["community_id"], row["community_name"],
                                             row["year"], row["allocated_fen"], source, allocated_on))
            except DomainError as exc:
                raise CommandRejected(exc.code, f"{row['community_id']} {row['year']}：{exc.message}",
                                      {"done": done}) from None
        return {"rows": done}

    # -- projects ------------------------------------------------------------------------------------
    @command(schemas.ProposeProjectSchema)
    def propose_project(self, cmd):
        """项目提议 (一事一议), linking the dispatch demands it answers."""
        elsewhere = [w for w in self.app.query(readmodels.locate_project, cmd["project_id"])
                     if w != (cmd["community_id"], cmd["year"])]
        if elsewhere:
            raise domain.RuleBroken(f"项目编号 {cmd['project_id']} 已被使用")
        linked = self.app.query(readmodels.known_demands, cmd["demand_ids"], fresh=False)
        return self.app.execute(handlers.propose_project, cmd, linked, self._on(cmd))

    @command(schemas.ApplySchema)
    def apply_for_project(self, cmd):
        return self.app.execute(handlers.apply_for_project, self._where(cmd["project_id"]), cmd, self._on(cmd))

    @command(schemas.JointMeetingSchema)
    def record_joint_meeting(self, cmd):
        return self.app.execute(handlers.record_joint_meeting, self._where(cmd["project_id"]), cmd, self._on(cmd))

    @command(schemas.NoticeSchema)
    def publish_notice(self, cmd):
        return self.app.execute(handlers.publish_notice, self._where(cmd["project_id"]), cmd, self._on(cmd),
                                self.calendar)

    @command(schemas.ObjectionSchema)
    def raise_objection(self, cmd):
        return self.app.execute(handlers.raise_objection, self._where(cmd["project_id"]), cmd, self._on(cmd))

    @command(schemas.ResolveObjectionSchema)
    def resolve_objection(self, cmd):
        return self.app.execute(handlers.resolve_objection, self._where(cmd["project_id"]), cmd, self._on(cmd))

    @command(schemas.ProjectStepSchema)
    def submit_project(self, cmd):
        return self.app.execute(handlers.submit_project, self._where(cmd["project_id"]), cmd, self._on(cmd),
                                self.calendar)

    @command(schemas.ApproveSchema)
    def approve_project(self, cmd):
        return self.app.execute(handlers.approve_project, self._where(cmd["project_id"]), cmd, self._on(cmd),
                                self.calendar)

    @command(schemas.ReasonedStepSchema)
    def reject_project(self, cmd):
        return self.app.execute(handlers.reject_project, self._where(cmd["project_id"]), cmd, self._on(cmd))

    @command(schemas.ReasonedStepSchema)
    def withdraw_project(self, cmd):
        return self.app.execute(handlers.withdraw_project, self._where(cmd["project_id"]), cmd, self._on(cmd))

    @command(schemas.ChangeSchema)
    def change_project(self, cmd):
        return self.app.execute(handlers.change_project, self._where(cmd["project_id"]), cmd, self._on(cmd))

    @command(schemas.AcceptSchema)
    def accept_project(self, cmd):
        return self.app.execute(handlers.accept_project, self._where(cmd["project_id"]), cmd, self._on(cmd))

    @command(schemas.PaySchema)
    def pay_project(self, cmd):
        return self.app.execute(handlers.pay_project, self._where(cmd["project_id"]), cmd, self._on(cmd),
                                self.calendar)

    # -- year end ------------------------------------------------------------------------------------
    @command(schemas.ReportSchema)
    def issue_report(self, cmd):
        """Generate the report (PDF and .xlsx) and record it handed in / posted."""
        on = self._on(cmd)
        account = self.app.query(readmodels.account_view, cmd["community_id"], cmd["year"])
        if account is None:
            raise domain.NoBudget(f"{cmd['year']} 年度尚未下达本社区的专项经费")
        # the files are written inside the command, before ReportIssued is committed: a report that
        # failed to render is not "issued" (nothing is recorded), and issuing again makes it
        account = self.app.query(readmodels.account_view, cmd["community_id"], cmd["year"], self.calendar)
        ledger = self.app.query(readmodels.ledger_entries, cmd["community_id"], cmd["year"], fresh=False)
        folder = self._reports_folder(cmd["community_id"], cmd["year"])
        return self.app.execute(handlers.issue_report, cmd["community_id"], cmd["year"], cmd["report"], on,
                                self.calendar, write_files=lambda notice: reports.write_report(
                                    folder, cmd["report"], account, ledger, on, notice))

    def _reports_folder(self, community_id: str, year: int) -> Path:
        base = Path(self.app.config.get("REPORTS_DIR") or os.environ.get("BAODAO_DATA_DIR", PROJECT_ROOT / "var"))
        return (base if self.app.config.get("REPORTS_DIR") else base / "funds-reports") / community_id / str(year)

    @command(schemas.CloseYearSchema)
    def close_year(self, cmd):
        return self.app.execute(handlers.close_year, cmd["community_id"], cmd["year"], cmd["by"], self._on(cmd))

    # -- time rules ----------------------------------------------------------------------------------
    @rpc
    def check_deadlines(self, as_of=None):
        """Remind reports due (FundsReportDue, once per report and threshold) and flag street
        committee decisions not made within 5 working days."""
        day = date.fromisoformat(as_of) if as_of else today()
        reminded = 0
        if day >= domain.first_reminder_day(day.year):     # nothing falls due before November
            reminded = sum(self.app.execute(handlers.remind_reports, [acc], day)
                           for acc in self.app.query(readmodels.accounts_to_remind, day.year))
        overdue = sum(self.app.execute(handlers.flag_overdue_decisions, [acc], day, self.calendar)
                      for acc in self.app.query(readmodels.accounts_with_pending_decisions, day.isoformat()))
        return {"as_of": day.isoformat(), "reminders": reminded, "overdue_decisions": overdue}

    @config_timer("DEADLINE_SCAN_SECONDS", 3600)
    def scan_deadlines(self):
        self.check_deadlines()

    # -- queries -------------------------------------------------------------------------------------
    @rpc
    def account(self, community_id, year):
        return self.app.query(readmodels.account_view, community_id, int(year), self.calendar)

    @rpc
    def project(self, project_id):
        found = self.app.query(readmodels.locate_project, project_id)
        return (self.app.query(readmodels.project_view, *found[0], project_id, self.calendar, fresh=False)
                if found else None)

    @rpc
    def ledger(self, community_id, year=None):
        return self.app.query(readmodels.ledger_entries, community_id, int(year) if year else None)

    @rpc
    def noticeboard(self, community_id, day=None):
        return self.app.query(readmodels.noticeboard, community_id, day or today().isoformat(), self.calendar)

    @rpc
    def audit_trail(self, community_id, year):
        """Every event of the community's fund account for the year, as recorded."""
        stream = domain.CommunityFundYear.stream_id_for(domain.CommunityFundYear.id_for(community_id, int(year)))
        store = self.app.application.store
        events = self.app.query(lambda conn: store.read_stream(stream, conn=conn), fresh=False)
        return [{"version": e.stream_version, "event_type": e.event_type, "occurred_at": e.occurred_at,
                 "actor": e.actor, "correlation_id": e.correlation_id, "data": e.data} for e in events]

    @rpc
    def supervision(self, community_id, year):
        """The supervisory committee's file of the year (第十四条): every project with its
        documents, notices, objections and payments, read only."""
        account = self.app.query(readmodels.account_view, community_id, int(year), self.calendar)
        if account is None:
            return None
        return readmodels.supervision_file(account, self.audit_trail(community_id, year), self.calendar)

    @rpc
    def health(self):
        """Readiness for operators, with the working calendar's coverage and alert."""
        return {**self.app.health(), "calendar": calendar_status(self.calendar, today())}

    @rpc(expected_exceptions=CommandRejected)
    def working_calendar(self, start, working_days):
        """The date `working_days` working days after `start` (official calendar)."""
        try:
            return self.calendar.add_working_days(date.fromisoformat(start), int(working_days)).isoformat()
        except DomainError as exc:
            raise CommandRejected(exc.code, exc.message) from None
