"""The city's whole flow over RPC, shared by the end-to-end benchmark, the scale tests and the
fault suite: a city (districts, communities, units, members), check-ins, and full service-order
lifecycles (点单 record -> 下单 dispatch -> 接单 accept -> complete -> verify -> rate), plus the
reconciliation of what the services stored against what the callers were told.

What is observable depends on which services are deployed: notifications to the resident
(notify's rules on dispatch's events) and points (evaluation's PointsAwarded/PointsDeducted) are detected from
the service classes' subscriptions (deploy/processes.py SERVICE_CLASSES) and measured only when
present.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from shared.contracts.dispatch import CATEGORIES

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
TZ = timezone(timedelta(hours=8))
LIFECYCLE_STEPS = ("record_demand", "dispatch_order", "accept_order", "complete_service", "verify_service",
                   "rate_service")
RETRYABLE = ("not_registered_here", "not_found", "unknown_member")  # read models a step depends on are still catching up


@dataclass
class City:
    """A city of `districts` districts with `communities` communities each, `units` units per
    district and `members` members per unit, each living (and reporting) in a community of the
    unit's district."""

    tag: str
    districts: int = 2
    communities: int = 3
    units: int = 2
    members: int = 5
    seed: int = 7

    def community_ids(self) -> list[str]:
        return [self.community_id(d, c) for d in range(self.districts) for c in range(self.communities)]

    def community_id(self, d: int, c: int) -> str:
        return f"{self.tag}-sq{d}-{c}"

    def unit_id(self, d: int, u: int) -> str:
        return f"{self.tag}-dw{d}-{u}"

    def member_specs(self) -> list[dict]:
        rng = random.Random(self.seed)
        specs = []
        for d in range(self.districts):
            for u in range(self.units):
                for m in range(self.members):
                    n = len(specs)
                    specs.append({"unit_id": self.unit_id(d, u), "person_key": f"{self.tag}-p{n:06d}",
                                  "name": rng.choice(SURNAMES) + rng.choice(("伟", "芳", "娜", "敏", "静", "强")),
                                  "gender": rng.choice(("男", "女")), "phone": f"139{n:08d}",
                                  "residence_community_id": self.community_id(d, rng.randrange(self.communities)),
                                  "skills": rng.sample(CATEGORIES[:6], rng.randint(0, 2))})
        return specs


def setup_city(rpc, city: City) -> None:
    reg = rpc.registration
    for d in range(city.districts):
        for c in range(city.communities):
            reg.register_community({"community_id": city.community_id(d, c), "name": f"第{d + 1}区第{c + 1}社区",
                                    "district_id": f"{city.tag}-q{d}", "district_name": f"第{d + 1}区",
                                    "street_id": f"{city.tag}-jd{d}", "street_name": f"第{d + 1}街道",
                                    "card_prefix": f"Q{d}C{c}"})
        for u in range(city.units):
            unit_id = city.unit_id(d, u)
            reg.register_unit({"unit_id": unit_id, "name": f"第{d + 1}区第{u + 1}单位", "kind": "机关",
                               "district_id": f"{city.tag}-q{d}", "linked_community_id": city.community_id(d, 0)})
            reg.open_campaign({"unit_id": unit_id, "campaign_id": "2026", "title": "2026年在职党员到社区报到",
                               "deadline": "2099-12-31"})


def check_in(rpc, spec: dict) -> dict:
    """Enrol one member, issue the letter to the residence community and check in there."""
    reg = rpc.registration
    member = reg.enroll_member(spec)
    letter = reg.issue_letter({"member_id": member["member_id"], "campaign_id": "2026"})
    card = reg.check_in({"member_id": member["member_id"], "letter_id": letter["letter_id"],
                         "community_id": letter["community_id"]})
    return {"member_id": member["member_id"], "community_id": letter["community_id"], "unit_id": spec["unit_id"],
            "card_no": card.get("card_no") if isinstance(card, dict) else None, "checked_in_at": time.time()}


def demand_payload(rng: random.Random, demand_id: str, community_id: str, resident_id: str) -> dict:
    category = rng.choice(CATEGORIES)
    start = (datetime.now(TZ) + timedelta(days=rng.randint(1, 14))).replace(hour=19, minute=0, second=0,
                                                                             microsecond=0)
    return {"demand_id": demand_id, "community_id": community_id, "resident_id": resident_id,
            "resident_name": rng.choice(SURNAMES) + rng.choice(("大爷", "阿姨", "女士", "先生")),
            "category": category, "description": f"{category}：{rng.randint(1, 30)}号楼{rng.randint(101, 2603)}室需要帮助",
            "address": f"{community_id} {rng.randint(1, 30)}号楼", "window_start": start.isoformat(),
            "window_end": (start + timedelta(hours=2)).isoformat(), "recorded_by": f"staff-{community_id}"}


def _call(fn, payload, *, retry_for: float = 30.0):
    """One command; refusals that only mean "a read model is catching up" are retried."""
    from shared.nameko_edge import CommandRejected

    deadline = time.monotonic() + retry_for
    while True:
        try:
            return fn(payload)
        except CommandRejected as exc:
            if exc.code not in RETRYABLE or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@dataclass
class Lifecycle:
    demand_id: str
    resident_id: str
    member_id: str
    started: float = 0.0            # wall clock (time.time) before record_demand
    recorded: float = 0.0           # record_demand answered: DemandRecorded is stored
    finished: float = 0.0           # rate_service answered
    steps_ms: dict = field(default_factory=dict)
    error: str | None = None
    detail: str | None = None


def run_lifecycle(rpc, job: Lifecycle, rng: random.Random, community_id: str) -> Lifecycle:
    d = rpc.dispatch
    who = {"kind": "member", "id": job.member_id}
    calls = (
        ("record_demand", lambda: d.record_demand(demand_payload(rng, job.demand_id, community_id, job.resident_id))),
        ("dispatch_order", lambda: _call(d.dispatch_order, {"demand_id": job.demand_id, "by": f"staff-{community_id}",
                                                            "candidates": [who]})),
        ("accept_order", lambda: _call(d.accept_order, {"demand_id": job.demand_id, "who": who})),
        ("complete_service", lambda: _call(d.complete_service, {
            "demand_id": job.demand_id, "who": who, "hours": 1.5, "participants": 1,
            "content": "已上门完成服务，居民满意"})),
        ("verify_service", lambda: _call(d.verify_service, {"demand_id": job.demand_id, "by": f"staff-{community_id}"})),
        ("rate_service", lambda: _call(d.rate_service, {"demand_id": job.demand_id, "resident_id": job.resident_id,
                                                        "rating": 5, "comment": "很满意"})),
    )
    job.started = time.time()
    step = ""
    try:
        for step, call in calls:
            t0 = time.perf_counter()
            call()
            job.steps_ms[step] = (time.perf_counter() - t0) * 1000.0
            if step == "record_demand":
                job.recorded = time.time()
    except Exception as exc:  # noqa: BLE001 - counted and reported by the caller
        job.error = f"{step}:{getattr(exc, 'code', type(exc).__name__)}"
        job.detail = str(exc)[:500]
        return job
    job.finished = time.time()
    return job


# -- what the deployed services make observable ---------------------------------------------------
def observable_outcomes(service_names) -> dict:
    """Which downstream outcomes of a lifecycle the deployed service classes produce."""
    from deploy.processes import SERVICE_CLASSES
    from deploy.topology import service_classes
    from shared.topology import subscriptions_of

    subs = [s for cls in service_classes() if cls.name in service_names for s in subscriptions_of(cls)]
    return {
        "resident_notifications": any(s.service == "notify" and s.source == "dispatch" for s in subs),
        "points": "evaluation" in SERVICE_CLASSES and "evaluation" in service_names
                  and any(s.service == "evaluation" and s.source == "dispatch" for s in subs),
        "unit_receipts": any(s.service == "notify" and s.event_type == "MemberCheckedIn" for s in subs),
        "dispatch_directory": any(s.service == "dispatch" and s.event_type == "MemberCheckedIn" for s in subs),
    }


# -- reconciliation from the databases -------------------------------------------------------------
def _rows(conn, sql: str, **params):
    from sqlalchemy import text

    return conn.execute(text(sql), params).all()


def _table_exists(conn, schema: str, table: str) -> bool:
    return bool(_rows(conn, "SELECT 1 FROM information_schema.tables WHERE table_schema = :s AND table_name = :t",
                      s=schema, t=table))


def reconcile(database_url: str, prefix: str, *, checked_in: list[dict], lifecycles: list[Lifecycle],
              outcomes: dict) -> dict:
    """Compare what the callers were told (accepted commands) with what is stored.

    - every accepted command is an event in dispatch's / registration's store, exactly once;
    - every MemberCheckedIn reached dispatch's directory and notify's unit inbox exactly once;
    - every lifecycle's resident got each notification once (if notify has the rules);
    - every ServiceVerified/ServiceRated earned points once (if evaluation is deployed).
    Returns counts, with `lost` and `duplicated` per check (both must be 0).
    """
    from sqlalchemy import create_engine

    done = [j for j in lifecycles if j.error is None]
    engine = create_engine(database_url)
    report: dict = {}
    try:
        with engine.connect() as conn:
            reg, dis, ntf = f"{prefix}registration", f"{prefix}dispatch", f"{prefix}notify"
            # registration: one MemberCheckedIn per accepted check-in
            members = {c["member_id"] for c in checked_in}
            counts = dict(_rows(conn, f'SELECT data::json->>\'member_id\', count(*) FROM "{reg}".events '
                                      "WHERE event_type = 'MemberCheckedIn' GROUP BY 1"))
            report["check_ins"] = _compare(members, counts)
            if outcomes.get("dispatch_directory"):
                rows = dict(_rows(conn, f'SELECT member_id, 1 FROM "{dis}".rm_directory WHERE registered'))
                applied = dict(_rows(conn, f'SELECT e.data::json->>\'member_id\', count(*) FROM "{dis}".inbox i '
                                           f'JOIN "{reg}".events e ON e.event_id = i.event_id '
                                           "WHERE i.handler = 'dispatch.directory' GROUP BY 1"))
                report["directory"] = _compare(members, applied)
                report["directory"]["rows_missing"] = len(members - set(rows))
            if outcomes.get("unit_receipts"):
                receipts = dict(_rows(conn, f'SELECT e.data::json->>\'member_id\', count(*) FROM "{ntf}".events m '
                                            f'JOIN "{reg}".events e ON e.event_id = m.data::json->>\'caused_by_event_id\' '
                                            "WHERE m.event_type = 'MessageRecorded' "
                                            "AND m.data::json->>'template' = 'check_in_receipt' GROUP BY 1"))
                report["unit_receipts"] = _compare(members, receipts)
            # dispatch: each step of each finished lifecycle stored once
            expected_types = ("DemandRecorded", "OrderDispatched", "OrderAccepted", "ServiceCompleted",
                              "ServiceVerified", "ServiceRated")
            per_stream = {}
            for stream_id, event_type, n in _rows(conn, f'SELECT stream_id, event_type, count(*) FROM "{dis}".events '
                                                        "WHERE event_type = ANY(:t) GROUP BY 1, 2",
                                                  t=list(expected_types)):
                per_stream.setdefault(stream_id, {})[event_type] = n
            lost = dup = 0
            for j in done:
                got = per_stream.get(f"order-{j.demand_id}") or per_stream.get(j.demand_id) or {}
                for t in expected_types:
                    n = got.get(t, 0)
                    lost += n == 0
                    dup += max(0, n - 1)
            report["order_events"] = {"expected": len(done) * len(expected_types), "lost": lost, "duplicated": dup}
            rated = {r[0] for r in _rows(conn, f'SELECT demand_id FROM "{dis}".rm_orders WHERE rating IS NOT NULL')}
            report["orders_read_model"] = {"expected": len(done), "lost": sum(1 for j in done if j.demand_id not in rated),
                                           "rated_rows": len(rated)}
            if outcomes.get("resident_notifications") and _table_exists(conn, ntf, "rm_inbox_messages"):
                msgs = _rows(conn, f'SELECT recipient_id, data FROM (SELECT m.data::json->>\'recipient_id\' AS recipient_id, '
                                   f"(m.data::json->>'caused_by_event_id') || ' ' || (m.data::json->>'template') AS data "
                                   f"FROM \"{ntf}\".events m "
                                   "WHERE m.event_type = 'MessageRecorded' "
                                   "AND m.data::json->>'recipient_kind' = 'resident') x")
                by_resident: dict = {}
                for rid, cause in msgs:
                    by_resident.setdefault(rid, []).append(cause)
                residents = {j.resident_id for j in done}
                got = {r: len(v) for r, v in by_resident.items() if r in residents}
                report["resident_notifications"] = {
                    "expected_residents": len(residents), "messages": sum(got.values()),
                    "lost": len(residents - set(got)),
                    "duplicated": sum(len(v) - len(set(v)) for v in by_resident.values())}
            if outcomes.get("points") and _table_exists(conn, f"{prefix}evaluation", "events"):
                pts = _rows(conn, f'SELECT data::json->>\'source_event_id\', data::json->>\'rule_id\', '
                                  f'data::json->>\'member_id\', count(*) FROM "{prefix}evaluation".events '
                                  "WHERE event_type IN ('PointsAwarded', 'PointsDeducted', 'PointsRecorded') GROUP BY 1, 2, 3")
                report["points"] = {"records": sum(r[3] for r in pts),
                                    "duplicated": sum(r[3] - 1 for r in pts if r[3] > 1),
                                    "members_with_points": len({r[2] for r in pts})}
    finally:
        engine.dispose()
    report["lost"] = sum(v.get("lost", 0) for v in report.values() if isinstance(v, dict))
    report["duplicated"] = sum(v.get("duplicated", 0) for v in report.values() if isinstance(v, dict))
    return report


def _compare(expected_keys: set, counts: dict) -> dict:
    return {"expected": len(expected_keys), "lost": sum(1 for k in expected_keys if not counts.get(k)),
            "duplicated": sum(max(0, n - 1) for k, n in counts.items() if k in expected_keys)}
