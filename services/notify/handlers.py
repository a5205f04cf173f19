"""Notify's service layer: events from other services become messages; messages are delivered.

`Notifier.handle` runs inside the inbox claim of one event (Application.handle_once): it keeps
the directory up to date, then records every message the rules table plans for the event. A
message's id comes from the event id, the template and the recipient, so a redelivered event —
or two timers on two instances — can never record a message twice.
"""
from __future__ import annotations

import importlib
from datetime import date, datetime, timedelta

from services.notify import readmodels as rm
from services.notify import webhooks
from services.notify.domain import (
    EXTERNAL_CHANNELS, DeliveryPolicy, Message, Recipient, RenderedMessage, message_id_for,
)
from services.notify.rules import (
    ALL_RULES, LOCAL_TZ, SCHEDULED_TEMPLATES, PlannedMessage, Rule, chinese_date, plan_messages,
)
from services.notify.templates import Templates
from shared.application import Context
from shared.contracts import ContractError, ReceivedEvent, get_contract

OPTIONAL_CONTRACT_MODULES = ("shared.contracts.evaluation", "shared.contracts.funds")


# -- which rules are active ----------------------------------------------------------------------
def active_rules(rules: list[Rule] = ALL_RULES) -> tuple[list[Rule], list[Rule]]:
    """(active, inactive): a rule is active when its event's contract exists. The evaluation and
    funds contracts live on other branches until merged; their rules wake up by themselves."""
    for module in OPTIONAL_CONTRACT_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError:
            pass
    active, inactive = [], []
    for rule in rules:
        try:
            get_contract(rule.source, rule.event_type)
            active.append(rule)
        except ContractError:
            inactive.append(rule)
    return active, inactive


def _has_contract(source: str, event_type: str) -> bool:
    try:
        get_contract(source, event_type)
        return True
    except ContractError:
        return False


def allowed_placeholders(rule: Rule) -> set[str]:
    """The event's fields (its contract's; the agreed ones while the contract is not merged)."""
    try:
        fields = set(get_contract(rule.source, rule.event_type).schema.fields)
    except ContractError:
        fields = set(rule.agreed_fields)
    return fields | set(rule.provides)


def load_templates(rules: list[Rule], directory=None) -> Templates:
    """Every template of the rules (active or waiting) and of the timers, checked against what
    fills it."""
    needed: dict[str, set] = {}
    for rule in rules:
        needed.setdefault(rule.template, set()).update(allowed_placeholders(rule))
    for name, provides in SCHEDULED_TEMPLATES.items():
        needed.setdefault(name, set()).update(provides)
    kwargs = {"directory": directory} if directory is not None else {}
    return Templates(needed, **kwargs)


# -- the directory, from the other services' events ----------------------------------------------
def _community(d, data, at=None):
    d.upsert(rm.dir_communities, {"community_id": data["community_id"], "name": data["name"]}, ["community_id"])


def _unit(d, data, at=None):
    d.upsert(rm.dir_units, {"unit_id": data["unit_id"], "name": data["name"]}, ["unit_id"])


def _enrolled(d, data, at=None):
    d.upsert(rm.dir_members, {"member_id": data["member_id"], "name": data["name"], "unit_id": data["unit_id"],
                              "phone": data.get("phone")}, ["member_id"])


def _checked_in(d, data, at=None):
    d.upsert(rm.dir_units, {"unit_id": data["unit_id"], "name": data["unit_name"]}, ["unit_id"])
    d.upsert(rm.dir_communities, {"community_id": data["community_id"], "name": data["community_name"]},
             ["community_id"])
    d.upsert(rm.dir_members, {"member_id": data["member_id"], "name": data["member_name"],
                              "unit_id": data["unit_id"], "community_id": data["community_id"], "registered": True},
             ["member_id"])


def _moved(d, data, at=None):
    d.update_member(data["member_id"], registered=False, community_id=data["to_community_id"])


def _workplace_changed(d, data, at=None):
    d.upsert(rm.dir_units, {"unit_id": data["to_unit_id"], "name": data["to_unit_name"]}, ["unit_id"])
    d.update_member(data["member_id"], registered=False, unit_id=data["to_unit_id"])


def _campaign(d, data, at=None):
    d.upsert(rm.dir_campaigns, {"campaign_id": data["campaign_id"], "unit_id": data["unit_id"],
                                "title": data["title"], "deadline": data["deadline"]}, ["campaign_id", "unit_id"])


def _joined_team(d, data, at=None):
    d.upsert(rm.dir_team_members, {"team_id": data["team_id"], "member_id": data["member_id"]},
             ["team_id", "member_id"])
    d.upsert(rm.dir_members, {"member_id": data["member_id"], "name": data["member_name"]}, ["member_id"])


def _demand(d, data, at=None):
    d.upsert(rm.dir_demands, {k: data.get(k) for k in ("demand_id", "community_id", "resident_id", "resident_name",
                                                       "category", "description", "address", "window_start")},
             ["demand_id"])


def _offered_to(d, data, at=None):
    who = data["assignee"]
    members = d.team_members(who["id"]) if who["kind"] == "team" else [who["id"]]
    for m in members:
        d.upsert(rm.dir_offers, {"demand_id": data["demand_id"], "member_id": m}, ["demand_id", "member_id"])


def _published(d, data, at=None):
    for m in d.registered_in(data["community_id"]):
        d.upsert(rm.dir_offers, {"demand_id": data["demand_id"], "member_id": m}, ["demand_id", "member_id"])


def _year(iso_timestamp: str) -> int:
    return datetime.fromisoformat(iso_timestamp).astimezone(LOCAL_TZ).year


def _verified(d, data, at=None):
    share = float(data["hours"])
    for m in data["member_ids"]:
        d.add_to_year(m, _year(data["verified_at"]), services=1, hours=share)


def _attended(d, data, at=None):
    for m in data["attended"]:
        d.add_to_year(m, _year(data["starts_at"]), activities=1)


def _rejected(d, data, at=None):
    for m in data["member_ids"]:
        d.add_to_year(m, _year(at), rejected=1)


def _graded(d, data, at=None):
    d.add_to_year(data["member_id"], int(data["year"]), grade=data["grade"], stars=int(data["stars"]))


def _vetoed(d, data, at=None):
    d.add_to_year(data["member_id"], int(data["year"]), vetoed=True)


DIRECTORY_UPDATES = {
    ("registration", "CommunityRegistered"): _community,
    ("registration", "UnitRegistered"): _unit,
    ("registration", "MemberEnrolled"): _enrolled,
    ("registration", "MemberCheckedIn"): _checked_in,
    ("registration", "MemberMoved"): _moved,
    ("registration", "MemberChangedWorkplace"): _workplace_changed,
    ("registration", "CampaignOpened"): _campaign,
    ("registration", "MemberJoinedTeam"): _joined_team,
    ("dispatch", "DemandRecorded"): _demand,
    ("dispatch", "OrderDispatched"): _offered_to,
    ("dispatch", "OrderPublished"): _published,
    ("dispatch", "ServiceVerified"): _verified,
    ("dispatch", "ServiceRejected"): _rejected,
    ("dispatch", "AttendanceRecorded"): _attended,
    ("evaluation", "GradeAssigned"): _graded,
    ("evaluation", "MemberVetoed"): _vetoed,
}
# The directory is updated after the messages of the same event are planned, except for these
# (the event's own message needs what it brings: the check-in receipt names the unit).
UPDATE_FIRST = {("registration", "MemberCheckedIn"), ("dispatch", "DemandRecorded"),
                ("dispatch", "OrderDispatched"), ("dispatch", "OrderPublished")}


# Directory updates that change what `recipient_for` finds (a member's roster phone): in a batch,
# the messages planned before such an event are given their recipients before it is applied.
RECIPIENT_WRITERS = {("registration", "MemberEnrolled")}


def _recipient(kind: str, rid: str, contact: dict | None, roster_phone: str | None) -> Recipient:
    contact = contact or {}
    addresses = {"email": contact.get("email"), "sms": contact.get("phone"), "wechat": contact.get("wechat")}
    if kind == "member" and not addresses["sms"]:
        addresses["sms"] = roster_phone
    channels = tuple(c for c in contact.get("channels", ()) if c in EXTERNAL_CHANNELS)
    return Recipient(kind, rid, channels, {c: a for c, a in addresses.items() if a})


def recipient_for(directory: rm.SqlDirectory, kind: str, rid: str) -> Recipient:
    """The recipient with their preferred external channels (none: the inbox only)."""
    contact = directory.contact(kind, rid)
    phone = None
    if kind == "member" and not (contact or {}).get("phone"):
        member = directory.member(rid)
        phone = member.get("phone") if member else None
    return _recipient(kind, rid, contact, phone)


def recipients_for(directory: rm.SqlDirectory, wanted) -> dict[tuple[str, str], Recipient]:
    """`recipient_for` of many (kind, id) with two reads, whatever their number."""
    wanted = set(wanted)
    if not wanted:
        return {}
    found = directory.contacts_of(wanted)
    members = [rid for kind, rid in wanted if kind == "member" and not (found.get((kind, rid)) or {}).get("phone")]
    phones = directory.phones_of(members) if members else {}
    return {(kind, rid): _recipient(kind, rid, found.get((kind, rid)), phones.get(rid) if kind == "member" else None)
            for kind, rid in wanted}


class Notifier:
    """The rules table at work, for one service instance."""

    def __init__(self, rules: list[Rule] | None = None, templates: Templates | None = None):
        every = ALL_RULES if rules is None else rules
        self.rules, self.inactive = active_rules(every)
        self.templates = templates or load_templates(every)
        self.by_key: dict[tuple[str, str], list[Rule]] = {}
        for rule in self.rules:
            self.by_key.setdefault(rule.key, []).append(rule)
        self.consumed = set(self.event_types())

    def event_types(self) -> list[tuple[str, str]]:
        """Every (source, event type) notify must consume (those whose contract exists)."""
        return sorted(set(self.by_key) | {k for k in DIRECTORY_UPDATES if _has_contract(*k)})

    def handle(self, uow, event: ReceivedEvent, now: datetime) -> list[str]:
        directory = rm.SqlDirectory(uow.conn)
        planned = self.plan(directory, event)
        return [self.record(uow, directory, p, event.event_id, now) for p in planned]

    def plan(self, directory: rm.SqlDirectory, event: ReceivedEvent) -> list[PlannedMessage]:
        """Keep the directory up to date with the event; its messages (not recorded yet)."""
        key = (event.source, event.event_type)
        update = DIRECTORY_UPDATES.get(key)
        if update and key in UPDATE_FIRST:
            update(directory, event.data, event.occurred_at)
        planned = plan_messages(self.by_key.get(key, []), event.data, directory)
        if update and key not in UPDATE_FIRST:
            update(directory, event.data, event.occurred_at)
        return planned

    def handle_batch(self, uow, events: list[ReceivedEvent], now: datetime) -> list[str]:
        """`handle` for many events with set-based work: the directory's upserts one statement
        per table, the recipients' contacts in two reads, the message streams in one read and
        every message in one append — the same messages, directory and causations as `handle`
        applied to each event in turn."""
        directory = rm.SqlDirectory(uow.conn, buffered=True)
        planned: list[tuple[ReceivedEvent, PlannedMessage]] = []
        ids: list[str] = []
        for event in events:
            key = (event.source, event.event_type)
            if key not in self.consumed:
                continue
            if key in RECIPIENT_WRITERS and planned:
                ids += self.record_many(uow, directory, planned, now)
                planned = []
            planned += [(event, p) for p in self.plan(directory, event)]
        ids += self.record_many(uow, directory, planned, now)
        directory.flush()
        return ids

    def record_many(self, uow, directory: rm.SqlDirectory, planned: list[tuple[ReceivedEvent, PlannedMessage]],
                    now: datetime) -> list[str]:
        """`record` of many messages, each stamped with the event that caused it."""
        if not planned:
            return []
        rendered = [self.templates.render(p.template, p.values) for _, p in planned]
        recipients = recipients_for(directory, [(p.recipient_kind, p.recipient_id) for _, p in planned])
        ids = [message_id_for(e.event_id, p.template, p.recipient_kind, p.recipient_id) for e, p in planned]
        uow.load_many(*[(Message, i) for i in ids])
        contexts: dict[str, Context] = {}
        for (event, p), text, message_id in zip(planned, rendered, ids):
            context = contexts.get(event.event_id)
            if context is None:
                context = contexts[event.event_id] = Context(correlation_id=event.correlation_id,
                                                             causation_id=event.event_id, actor=event.actor)
            message = uow.load(Message, message_id, context=context)
            message.queue(recipient=recipients[(p.recipient_kind, p.recipient_id)], template=p.template,
                          rendered=text, caused_by_event_id=event.event_id, now=now, important=p.important)
        return ids

    def record(self, uow, directory: rm.SqlDirectory, planned: PlannedMessage, caused_by: str,
               now: datetime) -> str:
        rendered = self.templates.render(planned.template, planned.values)
        message_id = message_id_for(caused_by, planned.template, planned.recipient_kind, planned.recipient_id)
        message = uow.load(Message, message_id)
        message.queue(recipient=recipient_for(directory, planned.recipient_kind, planned.recipient_id),
                      template=planned.template, rendered=rendered, caused_by_event_id=caused_by, now=now,
                      important=planned.important)
        return message_id


def consume(notifier: Notifier, uow, event: ReceivedEvent, now: datetime) -> None:
    """An event from another service: its messages, and its place in the departments' log."""
    webhooks.take_log_turn(uow.conn)   # first: one order of locks for every consuming transaction
    if (event.source, event.event_type) in notifier.consumed:
        notifier.handle(uow, event, now)
    webhooks.log_event(uow.conn, event)


def consume_batch(notifier: Notifier, uow, events: list[ReceivedEvent], now: datetime) -> None:
    """`consume` of a batch of events (each once, in order) with set-based work; the kernel falls
    back to `consume` one by one if it fails."""
    webhooks.take_log_turn(uow.conn)
    notifier.handle_batch(uow, events, now)
    webhooks.log_events(uow.conn, events)


# -- scheduled messages ----------------------------------------------------------------------------
def deadline_reminders(notifier: Notifier, today: date, now: datetime, days_before: int = 30):
    """A month before a campaign's deadline, to each member of its unit not yet registered."""

    def handler(uow) -> list[str]:
        directory = rm.SqlDirectory(uow.conn)
        ids = []
        horizon = (today + timedelta(days=days_before)).isoformat()
        for campaign in rm.campaigns_due(uow.conn, horizon, today.isoformat()):
            unit = directory.unit(campaign["unit_id"]) or {}
            days_left = (date.fromisoformat(campaign["deadline"]) - today).days
            for member in rm.unregistered_members_of(uow.conn, campaign["unit_id"]):
                ids.append(notifier.record(uow, directory, PlannedMessage(
                    "registration_deadline_member", "member", member["member_id"],
                    {"member_name": member["name"], "campaign_title": campaign["title"],
                     "deadline_cn": chinese_date(campaign["deadline"]), "unit_name": unit.get("name", "所在单位"),
                     "days_left": days_left}, False),
                    f"deadline-reminder:{campaign['unit_id']}:{campaign['campaign_id']}", now))
        return ids

    return handler


def midyear_notes(notifier: Notifier, year: int, summary: dict, now: datetime):
    """The mid-year note to members behind on the yearly minimum (from dispatch's summary; each
    member's row carries the minimum of the member's district)."""

    def handler(uow) -> list[str]:
        directory = rm.SqlDirectory(uow.conn)
        default = summary["minimum"]
        return [notifier.record(uow, directory, PlannedMessage(
            "midyear_behind_member", "member", m["member_id"],
            {"member_name": m["name"], "year": year, "services": m["services"], "activities": m["activities"],
             "min_services": m.get("minimum", default)["services"],
             "min_activities": m.get("minimum", default)["activities"]}, False),
            f"midyear-note:{year}", now) for m in summary["behind"]]

    return handler


def feedback_cause(unit_id: str, year: int, occasion: str) -> str:
    return f"feedback-report:{unit_id}:{year}:{occasion}"


def feedback_message_id(unit_id: str, year: int, occasion: str) -> str:
    return message_id_for(feedback_cause(unit_id, year, occasion), "feedback_report_unit", "unit", unit_id)


def send_feedback_report(notifier: Notifier, figures: dict, files: list[str], occasion: str, now: datetime):
    """The report's message in the unit's inbox (情况反馈), once per occasion ("yearly", or an
    on-demand request's id)."""

    def handler(uow) -> str:
        directory = rm.SqlDirectory(uow.conn)
        unit_id, year = figures["unit_id"], figures["year"]
        return notifier.record(uow, directory, PlannedMessage(
            "feedback_report_unit", "unit", unit_id,
            # file names, not the server's paths: the unit downloads them from its page
            {**figures["totals"], "unit_name": figures["unit_name"], "year": year,
             "files": "、".join(f.replace("\\", "/").rsplit("/", 1)[-1] for f in files)}, True),
            feedback_cause(unit_id, year, occasion), now)

    return handler


# -- reading and delivering ------------------------------------------------------------------------
def mark_read(uow, message_id: str, now: datetime) -> bool:
    return uow.load(Message, message_id).mark_read(now)


def start_attempt(uow, message_id: str, now: datetime):
    """Record the attempt before sending: (channel, attempt, address, rendered) or None."""
    message = uow.load(Message, message_id)
    started = message.start_attempt(now)
    if started is None:
        return None
    channel, attempt = started
    q = message.queued
    return {"message_id": message_id, "channel": channel, "attempt": attempt, "address": q.addresses[channel],
            "title": q.title, "body": q.body, "template": q.template}


def record_sent(uow, message_id: str, channel: str, attempt: int, now: datetime) -> None:
    uow.load(Message, message_id).record_sent(channel, attempt, now)


def record_failure(uow, message_id: str, channel: str, attempt: int, reason: str, now: datetime,
                   policy: DeliveryPolicy, permanent: bool) -> None:
    uow.load(Message, message_id).record_failure(channel, attempt, reason, now, policy, permanent)


def recover_crashed(uow, message_id: str, now: datetime, policy: DeliveryPolicy) -> str | None:
    return uow.load(Message, message_id).recover_crashed_attempt(now, policy)


def rendered_of(title: str, body: str) -> RenderedMessage:
    return RenderedMessage(title, body)
