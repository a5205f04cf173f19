"""Subscriptions for other departments (civil affairs, the organisation department): webhooks.

Notify keeps a log of every public event it consumes (`notify_event_log`, in the order it
received them, each event once: written in the same transaction as the inbox claim). A
department registers a webhook — a URL, a secret, the event types it wants — starting after a
position of that log: 0 for everything from the start, or the last position it read from
`history` (paged), so it switches from history to live delivery with no gap and no duplicate.

Each webhook is delivered in log order by whichever notify instance holds its lease: POST of
`{"position", "event"}`, signed with HMAC-SHA256 over `<timestamp>.<body>` (headers
`X-Baodao-Timestamp`, `X-Baodao-Signature: sha256=<hex>`), retried with back-off, each attempt
in the delivery log. The cursor moves only after a 2xx, so delivery is at least once: a crash
after the POST and before the cursor moved repeats that one event, with the same
`X-Baodao-Event-Id` for the receiver to drop. Deliveries to a receiver reuse one kept-alive
HTTP connection (a receiver that closes it costs a new connection, nothing else).
"""
from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, Text, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from shared.contracts import ReceivedEvent

metadata = MetaData()

event_log = Table(
    "notify_event_log", metadata,
    Column("position", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("source", String(40), nullable=False),
    Column("event_type", String(100), nullable=False, index=True),
    Column("occurred_at", String(40), nullable=False),
    Column("envelope", Text, nullable=False),
)
webhooks = Table(
    "notify_webhooks", metadata,
    Column("webhook_id", String(36), primary_key=True),
    Column("department", String(100), nullable=False),
    Column("url", Text, nullable=False),
    Column("secret", String(200), nullable=False),
    Column("event_types", Text, nullable=False),        # JSON list of "source.EventType"
    Column("cursor", Integer, nullable=False),          # last log position delivered (or skipped)
    Column("failures", Integer, nullable=False, default=0),
    Column("next_attempt_at", String(40)),
    Column("leased_until", String(40)),
    Column("lease_owner", String(36)),
    Column("created_at", String(40), nullable=False),
)
webhook_log = Table(
    "notify_webhook_deliveries", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("webhook_id", String(36), nullable=False, index=True),
    Column("position", Integer, nullable=False),
    Column("event_id", String(36), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("outcome", String(20), nullable=False),       # delivered | failed
    Column("http_status", Integer),
    Column("error", Text),
    Column("at", String(40), nullable=False),
)


class WebhookRejected(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _key(source: str, event_type: str) -> str:
    return f"{source}.{event_type}"


def envelope_of(event: ReceivedEvent) -> dict:
    return {"event_id": event.event_id, "source": event.source, "event_type": event.event_type,
            "schema_version": event.schema_version, "occurred_at": event.occurred_at,
            "correlation_id": event.correlation_id, "data": event.data}


def take_log_turn(conn: Connection) -> None:
    """Wait for this transaction's turn to append to the log, before it touches anything else.

    On PostgreSQL a transaction-scoped advisory lock makes log appends commit in position order,
    so a reader that saw position N never later finds a smaller one committed (no gap for a
    webhook's cursor to skip). Taken first, it also orders every consuming transaction the same
    way (the lock, then directory rows, then the event store), so concurrent batches cannot
    deadlock on the directory's rows. SQLite has one writer anyway."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.notify_event_log'))")


def log_event(conn: Connection, event: ReceivedEvent) -> None:
    """Append the event to the log (once: its id is unique); after `take_log_turn`."""
    ins = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(ins(event_log).values(
        event_id=event.event_id, source=event.source, event_type=event.event_type, occurred_at=event.occurred_at,
        envelope=json.dumps(envelope_of(event), ensure_ascii=False)).on_conflict_do_nothing(
        index_elements=["event_id"]))


def log_events(conn: Connection, events: list[ReceivedEvent]) -> None:
    """`log_event` of many events with one statement; positions follow their order."""
    rows = {}
    for event in events:
        rows.setdefault(event.event_id, dict(
            event_id=event.event_id, source=event.source, event_type=event.event_type,
            occurred_at=event.occurred_at, envelope=json.dumps(envelope_of(event), ensure_ascii=False)))
    if not rows:
        return
    statement = _LOG_INSERTS.get(conn.dialect.name)
    if statement is None:
        ins = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        statement = _LOG_INSERTS[conn.dialect.name] = ins(event_log).on_conflict_do_nothing(
            index_elements=["event_id"]).returning(event_log.c.position)
    # an executemany with RETURNING: multi-row statements ("insertmanyvalues"), rows in order
    conn.execute(statement, list(rows.values()))


_LOG_INSERTS: dict[str, object] = {}


def _where_types(q, event_types: list[str]):
    from sqlalchemy import and_, or_

    clauses = []
    for t in event_types:
        source, _, name = t.partition(".")
        clauses.append(and_(event_log.c.source == source, event_log.c.event_type == name))
    return q.where(or_(*clauses)) if clauses else q.where(False)


def history(conn: Connection, event_types: list[str], after: int = 0, limit: int = 100) -> dict:
    """A page of the log for these event types, after position `after`; `last_position` is where
    the next page (or the webhook) starts."""
    limit = min(max(1, int(limit)), 1000)
    q = _where_types(select(event_log.c.position, event_log.c.envelope).where(event_log.c.position > int(after)),
                     event_types).order_by(event_log.c.position).limit(limit)
    rows = conn.execute(q).all()
    return {"events": [{"position": p, "event": json.loads(e)} for p, e in rows],
            "last_position": rows[-1][0] if rows else int(after)}


def head(conn: Connection) -> int:
    from sqlalchemy import func

    return int(conn.execute(select(func.coalesce(func.max(event_log.c.position), 0))).scalar_one())


def register(conn: Connection, department: str, url: str, secret: str, event_types: list[str],
             start_after: int | None, known_types: set[str]) -> dict:
    if not url.startswith(("http://", "https://")):
        raise WebhookRejected("invalid_url", "回调地址必须以 http:// 或 https:// 开头")
    if len(secret) < 16:
        raise WebhookRejected("weak_secret", "签名密钥至少 16 个字符")
    unknown = sorted(set(event_types) - known_types)
    if not event_types or unknown:
        raise WebhookRejected("unknown_event_type", f"未知的事件类型：{'、'.join(unknown) or '（未指定）'}")
    webhook_id = str(uuid.uuid4())
    cursor = head(conn) if start_after is None else int(start_after)
    conn.execute(webhooks.insert().values(
        webhook_id=webhook_id, department=department, url=url, secret=secret, event_types=json.dumps(event_types),
        cursor=cursor, failures=0, created_at=_now().isoformat()))
    return {"webhook_id": webhook_id, "starts_after": cursor}


def webhook_view(conn: Connection, webhook_id: str) -> dict | None:
    row = conn.execute(select(webhooks).where(webhooks.c.webhook_id == webhook_id)).first()
    if row is None:
        return None
    out = {k: v for k, v in row._mapping.items() if k not in ("secret", "lease_owner")}
    out["event_types"] = json.loads(out["event_types"])
    out["log"] = [dict(r._mapping) for r in conn.execute(
        select(webhook_log).where(webhook_log.c.webhook_id == webhook_id).order_by(webhook_log.c.id))]
    return out


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class WebhookDeliverer:
    """Delivers every webhook's backlog in order; one instance per webhook at a time (lease).

    A run keeps delivering a webhook page after page while it has a backlog (for at most
    `run_seconds`), over one kept-alive HTTP connection per receiver; each delivery's outcome
    commits before the next is sent. The lease is renewed whenever half of it has gone, before
    the next delivery (a page of slow deliveries can outlast a lease), and a run that finds it
    taken stops: another instance carries on from the committed cursor, never beside it."""

    def __init__(self, db, retry_delays=(1.0, 5.0, 30.0, 120.0, 600.0), lease_seconds: float = 30.0,
                 batch: int = 500, timeout: float = 10.0, run_seconds: float | None = None):
        self.db, self.retry_delays, self.lease_seconds = db, tuple(retry_delays), lease_seconds
        self.batch, self.timeout, self.owner = batch, timeout, str(uuid.uuid4())
        self.run_seconds = run_seconds if run_seconds is not None else lease_seconds / 3
        self._leased_at = 0.0   # time.monotonic() of the last lease taken or renewed
        self._http: dict[tuple[str, str], http.client.HTTPConnection] = {}
        self._direct: dict[tuple[str, str], bool] = {}   # False: through urllib (a proxy)

    def run_once(self) -> int:
        with self.db.transaction() as conn:
            ids = list(conn.execute(select(webhooks.c.webhook_id)).scalars())
        try:
            return sum(self.deliver(w) for w in ids)
        finally:
            self.close()

    def close(self) -> None:
        for connection in self._http.values():
            connection.close()
        self._http.clear()

    def _lease(self, webhook_id: str) -> dict | None:
        now = _now()
        with self.db.transaction() as conn:
            row = conn.execute(select(webhooks).where(webhooks.c.webhook_id == webhook_id)).first()
            if row is None or (row.next_attempt_at and row.next_attempt_at > now.isoformat()):
                return None
            taken = conn.execute(
                update(webhooks).where(webhooks.c.webhook_id == webhook_id)
                .where((webhooks.c.leased_until.is_(None)) | (webhooks.c.leased_until < now.isoformat())
                       | (webhooks.c.lease_owner == self.owner))
                .values(leased_until=(now + timedelta(seconds=self.lease_seconds)).isoformat(),
                        lease_owner=self.owner))
            if taken.rowcount != 1:
                return None
        self._leased_at = time.monotonic()
        return dict(row._mapping)

    def deliver(self, webhook_id: str) -> int:
        hook = self._lease(webhook_id)
        if hook is None:
            return 0
        delivered, until = 0, time.monotonic() + self.run_seconds
        try:
            while True:
                with self.db.transaction() as conn:
                    page = history(conn, json.loads(hook["event_types"]), hook["cursor"], self.batch)
                done, ok = self._deliver_page(hook, page["events"])
                delivered += done
                if not ok or len(page["events"]) < self.batch or time.monotonic() > until:
                    break
                renewed = self._lease(webhook_id)   # a full page: more to come, under a renewed lease
                if renewed is None:
                    break
                hook = renewed
        finally:
            with self.db.transaction() as conn:
                conn.execute(update(webhooks).where(webhooks.c.webhook_id == webhook_id)
                             .where(webhooks.c.lease_owner == self.owner).values(leased_until=None))
        return delivered

    def _deliver_page(self, hook: dict, items: list[dict]) -> tuple[int, bool]:
        """Deliver in order until one fails: (delivered, all delivered)."""
        delivered = 0
        for item in items:
            if time.monotonic() - self._leased_at > self.lease_seconds / 2:
                renewed = self._lease(hook["webhook_id"])
                if renewed is None:
                    return delivered, False   # the lease went to another instance: it carries on
                hook.update(failures=renewed["failures"], cursor=renewed["cursor"])
            status, error = self._post(hook, item)
            ok = status is not None and 200 <= status < 300
            with self.db.transaction() as conn:
                self._record(conn, hook, item, ok, status, error)
            if not ok:
                return delivered, False      # in order: the same event first, after the back-off
            delivered += 1
        return delivered, True

    def _record(self, conn: Connection, hook: dict, item: dict, ok: bool, status, error) -> None:
        """The attempt in the delivery log; the cursor moved past a delivered event, or the
        back-off after a failed one. Committed lazily (`_lazy_commit`)."""
        webhook_id, attempt = hook["webhook_id"], hook["failures"] + 1
        row = dict(webhook_id=webhook_id, position=item["position"], event_id=item["event"]["event_id"],
                   attempt=attempt, outcome="delivered" if ok else "failed", http_status=status, error=error,
                   at=_now().isoformat())
        if ok:
            hook["failures"], hook["cursor"] = 0, item["position"]
            if conn.dialect.name == "postgresql":   # the usual case, in one round trip
                conn.exec_driver_sql(_PG_DELIVERED, {**row, "owner": self.owner})
                return
        _lazy_commit(conn)
        conn.execute(webhook_log.insert().values(**row))
        if ok:
            conn.execute(update(webhooks).where(webhooks.c.webhook_id == webhook_id)
                         .where(webhooks.c.lease_owner == self.owner)
                         .values(cursor=item["position"], failures=0, next_attempt_at=None))
        else:
            delay = self.retry_delays[min(hook["failures"], len(self.retry_delays) - 1)]
            conn.execute(update(webhooks).where(webhooks.c.webhook_id == webhook_id)
                         .where(webhooks.c.lease_owner == self.owner)
                         .values(failures=attempt, next_attempt_at=(_now() + timedelta(seconds=delay)).isoformat()))

    def _post(self, hook: dict, item: dict) -> tuple[int | None, str | None]:
        body = json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8", "X-Baodao-Timestamp": timestamp,
            "X-Baodao-Signature": sign(hook["secret"], timestamp, body),
            "X-Baodao-Event-Id": item["event"]["event_id"], "X-Baodao-Webhook-Id": hook["webhook_id"]}
        url = urllib.parse.urlsplit(hook["url"])
        key = (url.scheme, url.netloc)
        if key not in self._direct:
            self._direct[key] = url.scheme in ("http", "https") and not _proxied(url)
        if not self._direct[key]:
            return self._post_urllib(hook["url"], body, headers)
        path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        for _ in range(2):
            connection = self._http.get(key)
            reused = connection is not None and connection.sock is not None
            if connection is None:
                cls = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
                connection = self._http[key] = cls(url.hostname, url.port, timeout=self.timeout)
            try:
                connection.request("POST", path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
            except (http.client.HTTPException, OSError) as exc:
                connection.close()
                if reused and isinstance(exc, (http.client.RemoteDisconnected, ConnectionResetError,
                                               BrokenPipeError)):
                    continue   # the receiver closed the idle kept-alive connection: once more on a new one
                return None, f"{exc.__class__.__name__}: {exc}"
            if 200 <= response.status < 300:
                return response.status, None
            return response.status, data[:300].decode("utf-8", "replace")
        return None, "ConnectionError: the receiver closed the connection twice"

    def _post_urllib(self, url: str, body: bytes, headers: dict) -> tuple[int | None, str | None]:
        """Through urllib (a configured proxy), one connection per request."""
        request = urllib.request.Request(url, data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, None
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()[:300].decode("utf-8", "replace")
        except (urllib.error.URLError, OSError) as exc:
            return None, f"{exc.__class__.__name__}: {exc}"


# A delivered event's outcome on PostgreSQL, as `_lazy_commit` and the two statements of the
# general path (the delivery log row, then the cursor if this instance still holds the lease).
_PG_DELIVERED = (
    "SET LOCAL synchronous_commit TO OFF; "
    "INSERT INTO notify_webhook_deliveries (webhook_id, position, event_id, attempt, outcome, http_status, error, at) "
    "VALUES (%(webhook_id)s, %(position)s, %(event_id)s, %(attempt)s, %(outcome)s, %(http_status)s, %(error)s, "
    "%(at)s); "
    "UPDATE notify_webhooks SET cursor = %(position)s, failures = 0, next_attempt_at = NULL "
    "WHERE webhook_id = %(webhook_id)s AND lease_owner = %(owner)s")


def _lazy_commit(conn: Connection) -> None:
    """Commit a delivery's outcome without waiting for the WAL to reach the disk (PostgreSQL's
    `synchronous_commit = off`, this transaction only): the commit costs no fsync, so one
    delivery no longer waits for one. A notify crash loses nothing (the commit is in the
    server); a database crash may lose the last fraction of a second of outcomes, and those
    events are delivered again with their `X-Baodao-Event-Id` — which at-least-once delivery
    allows. The consuming transactions (messages, inbox claims) keep synchronous commits."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")


def _proxied(url) -> bool:
    """Whether the environment routes this URL through a proxy (urllib honours it; a kept-alive
    connection of http.client would not)."""
    return bool(urllib.request.getproxies().get(url.scheme)) and not urllib.request.proxy_bypass(url.hostname or "")
