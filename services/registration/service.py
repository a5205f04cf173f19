"""The registration nameko service: thin entrypoints over the handlers."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from nameko.rpc import rpc

from services.registration import domain, handlers, readmodels, schemas
from shared.application import Application, EventCodec
from shared.eventstore import utcnow_iso
from shared.nameko_support import EventSourcedApp, EventSourcedService, WorkLogging, command

LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def build_application(database):
    return Application(database, EventCodec("registration", domain.EVENTS)), [readmodels.RosterProjection()]


class RegistrationService(EventSourcedService):
    """报到: the community check-in programme."""

    name = "registration"

    app = EventSourcedApp(build_application)
    work_logging = WorkLogging()

    @command(schemas.RegisterCommunitySchema)
    def register_community(self, cmd):
        return self.app.execute(handlers.register_community, cmd)

    @command(schemas.RegisterUnitSchema)
    def register_unit(self, cmd):
        return self.app.execute(handlers.register_unit, cmd)

    @command(schemas.OpenCampaignSchema)
    def open_campaign(self, cmd):
        return self.app.execute(handlers.open_campaign, cmd, today=datetime.now(LOCAL_TZ).date())

    @command(schemas.EnrollMemberSchema)
    def enroll_member(self, cmd):
        return self.app.execute(handlers.enroll_member, cmd)

    @command(schemas.IssueLetterSchema)
    def issue_letter(self, cmd):
        return self.app.execute(handlers.issue_letter, cmd, issued_at=utcnow_iso())

    @command(schemas.CheckInSchema)
    def check_in(self, cmd):
        return self.app.execute(handlers.check_in, cmd, checked_in_at=utcnow_iso())

    @rpc
    def unit_statistics(self, unit_id=None):
        return self.app.query(readmodels.unit_statistics, unit_id)
