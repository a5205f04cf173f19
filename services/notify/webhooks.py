"""Subscriptions for other departments (civil affairs, the organisation department): webhooks.

Notify keeps a log of every public event it consumes (`notify_event_log`, in the order it
received them, each event once: written in the same transaction as the inbox claim). A
department registers a webhook — a URL, a secret, the event types it wants — starting after a
position of that log: 0 for everything from the start, or the last position it read from
`history` (paged), so it switches from history to live delivery with no gap and no duplicate.

Each webhook is delivered in log order by whichever notify instance holds its lease: POST of
`{"position", "event"}`, signed the Standard Webhooks way (headers `webhook-id` — the event's
id, the same on every retry —, `webhook-timestamp`, `webhook-signature: v1,<base64
HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`, the key being the base64 part of the webhook's
`whsec_` secret), retried with back-off, each attempt in the delivery log. The cursor moves only
after a 2xx, so delivery is at least once: a crash after the POST and before the cursor moved
repeats that one event, with the same `webhook-id` for the receiver to drop. Deliveries to a
receiver reuse one kept-alive HTTP connection (a receiver that closes it costs a new
connection, nothing else). A paused webhook keeps its cursor and delivers nothing until resumed.

What leaves is masked (`for_departments`): the personal fields an event's contract marks (a
member's phone, a resident's id — an Open311 phone or email —, a resident's name) as the
noticeboard masks them (shared/privacy.py); the full data stays in notify's log.

Targets are checked (`TargetPolicy`) when a webhook is registered and again whenever a
connection to it is opened: the host name is resolved, and an address on loopback, link-local
(169.254.0.0/16), a private or otherwise non-public range, or one of the platform's own hosts is
refused unless the operator allow-lists it (`WEBHOOK_ALLOWED_TARGETS`). Redirects are not followed.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import ipaddress
import json
import secrets as secrets_
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import (
    Boolean, Column, Connection, Integer, MetaData, String, Table, Text, func, select, text, update,
)
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
    Column("paused", Boolean, nullable=False, default=False, server_default=text("false")),
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
    return {"events": [{"position": p, "event": for_departments(json.loads(e))} for p, e in rows],
            "last_position": rows[-1][0] if rows else int(after)}


def for_departments(envelope: dict) -> dict:
    """The envelope as it may leave the platform: the personal fields its contract marks
    (phone numbers, residents' ids, names) masked as the noticeboard masks them."""
    from shared.contracts import ContractError, get_contract
    from shared.privacy import mask_personal

    try:
        schema = get_contract(envelope["source"], envelope["event_type"]).schema
    except ContractError:
        return envelope
    return {**envelope, "data": mask_personal(schema, envelope.get("data") or {})}


def head(conn: Connection) -> int:
    from sqlalchemy import func

    return int(conn.execute(select(func.coalesce(func.max(event_log.c.position), 0))).scalar_one())


#: A webhook secret: "whsec_" and the base64 of at least this many random bytes (Standard Webhooks).
SECRET_PREFIX = "whsec_"
SECRET_MIN_BYTES = 24


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets_.token_bytes(32)).decode()


def _secret_key(secret: str) -> bytes | None:
    """The signing key of a `whsec_` secret, or None if it is not one (or too short)."""
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
        return None
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
    except ValueError:
        return None
    return key if len(key) >= SECRET_MIN_BYTES else None


class TargetPolicy:
    """Where a webhook may send events (against server-side request forgery).

    A target's host name is resolved; every address must be public: not loopback, link-local
    (169.254.0.0/16, where cloud metadata answers), private (10/8, 172.16/12, 192.168/16,
    fc00::/7), shared (100.64/10), multicast, reserved or unspecified, and not an address of the
    platform's own hosts (the broker, the database, the gateway: `platform_hosts`). An operator
    may allow-list host names, addresses or networks (`allowed`), e.g. a department's server on
    the government intranet."""

    def __init__(self, allowed=(), platform_hosts=(), resolve=None):
        self.allowed_names: set[str] = set()
        self.allowed_networks: list = []
        for entry in _entries(allowed):
            try:
                self.allowed_networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self.allowed_names.add(entry.lower().rstrip("."))
        self.platform_names = {h.lower().rstrip(".") for h in _entries(platform_hosts)}
        self.resolve = resolve or _resolve

    @classmethod
    def from_config(cls, cfg: dict) -> "TargetPolicy":
        platform = list(_entries(cfg.get("WEBHOOK_PLATFORM_HOSTS")))
        for key in ("AMQP_URI", "DATABASE_URL"):
            host = urllib.parse.urlsplit(str(cfg.get(key) or "")).hostname
            if host:
                platform.append(host)
        return cls(allowed=cfg.get("WEBHOOK_ALLOWED_TARGETS"), platform_hosts=platform)

    def _allowed(self, address) -> bool:
        return any(address in net for net in self.allowed_networks if net.version == address.version)

    def check(self, url: str) -> None:
        """Refuse (WebhookRejected) a target this policy does not let events go to."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise WebhookRejected("invalid_url", "回调地址必须以 http:// 或 https:// 开头并包含主机名")
        host = parts.hostname.lower().rstrip(".")
        if host in self.allowed_names:
            return
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise WebhookRejected("invalid_url", "回调地址的端口不正确") from None
        addresses = self.resolve(host, port)
        if not addresses:
            raise WebhookRejected("unresolvable_target", f"回调地址的主机名无法解析：{host}")
        platform = set()
        for name in self.platform_names:
            platform |= set(self.resolve(name, port) or ())
        for address in addresses:
            if self._allowed(address):
                continue
            if host in self.platform_names or address in platform:
                raise WebhookRejected("forbidden_target", "回调地址不能指向本平台自身的服务器")
            if not _public(address):
                raise WebhookRejected("forbidden_target",
                                      "回调地址不能指向本机、内网或链路本地地址（如需内网地址，请运维人员加入白名单）")


def _entries(value) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        value = value.split(",")
    return [str(v).strip() for v in value if str(v).strip()]


def _resolve(host: str, port: int) -> list:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        return []
    out = []
    for info in infos:
        try:
            out.append(ipaddress.ip_address(info[4][0].split("%")[0]))
        except ValueError:
            continue
    return out


def _public(address) -> bool:
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.version == 6 and address.sixtofour is not None:
        address = address.sixtofour
    return address.is_global and not (address.is_loopback or address.is_link_local or address.is_private
                                      or address.is_multicast or address.is_reserved or address.is_unspecified)


def register(conn: Connection, department: str, url: str, secret: str | None, event_types: list[str],
             start_after: int | None, known_types: set[str], policy: TargetPolicy | None = None) -> dict:
    """A new webhook; its secret (given, or made here when None) is in the answer, and only there."""
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise WebhookRejected("invalid_url", "回调地址必须以 http:// 或 https:// 开头")
    if len(url) > 2000:
        raise WebhookRejected("invalid_url", "回调地址过长")
    if secret is None:
        secret = new_secret()
    elif _secret_key(secret) is None:
        raise WebhookRejected("weak_secret", f"签名密钥应为 whsec_ 加至少 {SECRET_MIN_BYTES} 字节的 base64")
    unknown = sorted(set(event_types) - known_types)
    if not event_types or unknown:
        raise WebhookRejected("unknown_event_type", f"未知的事件类型：{'、'.join(unknown) or '（未指定）'}")
    if start_after is not None and int(start_after) < 0:
        raise WebhookRejected("invalid_input", "起始位置不能为负数")
    (policy or TargetPolicy()).check(url)
    webhook_id = str(uuid.uuid4())
    cursor = head(conn) if start_after is None else int(start_after)
    conn.execute(webhooks.insert().values(
        webhook_id=webhook_id, department=department, url=url, secret=secret, event_types=json.dumps(event_types),
        cursor=cursor, failures=0, created_at=_now().isoformat(), paused=False))
    return {"webhook_id": webhook_id, "starts_after": cursor, "secret": secret}


def _summary(row) -> dict:
    out = {k: v for k, v in row._mapping.items() if k not in ("secret", "lease_owner", "leased_until")}
    out["event_types"] = json.loads(out["event_types"])
    out["paused"] = bool(out.get("paused"))
    return out


def _owned(q, department: str | None):
    return q if department is None else q.where(webhooks.c.department == department)


def webhook_view(conn: Connection, webhook_id: str, department: str | None = None) -> dict | None:
    """The webhook and its whole delivery log (of `department` only, when given)."""
    row = conn.execute(_owned(select(webhooks).where(webhooks.c.webhook_id == webhook_id), department)).first()
    if row is None:
        return None
    out = _summary(row)
    out["log"] = [dict(r._mapping) for r in conn.execute(
        select(webhook_log).where(webhook_log.c.webhook_id == webhook_id).order_by(webhook_log.c.id))]
    return out


def webhooks_of(conn: Connection, department: str) -> list[dict]:
    """A department's webhooks (no secrets, no logs), oldest first."""
    rows = conn.execute(select(webhooks).where(webhooks.c.department == department)
                        .order_by(webhooks.c.created_at, webhooks.c.webhook_id)).all()
    return [_summary(r) for r in rows]


def deliveries(conn: Connection, webhook_id: str, department: str, page: int = 1, page_size: int = 20) -> dict | None:
    """A page of the department's webhook's delivery log, newest first; None if not its webhook."""
    if conn.execute(_owned(select(webhooks.c.webhook_id).where(webhooks.c.webhook_id == webhook_id),
                           department)).first() is None:
        return None
    page, page_size = max(1, int(page)), min(max(1, int(page_size)), 200)
    total = conn.execute(select(func.count()).select_from(webhook_log)
                         .where(webhook_log.c.webhook_id == webhook_id)).scalar_one()
    rows = conn.execute(select(webhook_log).where(webhook_log.c.webhook_id == webhook_id)
                        .order_by(webhook_log.c.id.desc()).limit(page_size).offset((page - 1) * page_size)).all()
    return {"total": total, "page": page, "page_size": page_size, "items": [dict(r._mapping) for r in rows]}


def set_paused(conn: Connection, webhook_id: str, department: str, paused: bool) -> dict | None:
    """Pause (keep the cursor, deliver nothing) or resume; None if not the department's webhook."""
    done = conn.execute(_owned(update(webhooks).where(webhooks.c.webhook_id == webhook_id), department)
                        .values(paused=bool(paused), next_attempt_at=None))
    if done.rowcount != 1:
        return None
    return _summary(conn.execute(select(webhooks).where(webhooks.c.webhook_id == webhook_id)).first())


def delete(conn: Connection, webhook_id: str, department: str) -> bool:
    """Remove the department's webhook and its delivery log."""
    done = conn.execute(_owned(webhooks.delete().where(webhooks.c.webhook_id == webhook_id), department))
    if done.rowcount != 1:
        return False
    conn.execute(webhook_log.delete().where(webhook_log.c.webhook_id == webhook_id))
    return True


def sign(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    """`webhook-signature` of Standard Webhooks: `v1,` and the base64 HMAC-SHA256 of
    `<msg_id>.<timestamp>.<body>` under the secret's key."""
    key = _secret_key(secret)
    if key is None:   # a secret stored before secrets were whsec_: its bytes are the key
        key = secret.encode()
    mac = hmac.new(key, msg_id.encode() + b"." + timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


class WebhookDeliverer:
    """Delivers every webhook's backlog in order; one instance per webhook at a time (lease).

    A run keeps delivering a webhook page after page while it has a backlog (for at most
    `run_seconds`), over one kept-alive HTTP connection per receiver; each delivery's outcome
    commits before the next is sent. The lease is renewed whenever half of it has gone, before
    the next delivery (a page of slow deliveries can outlast a lease), and a run that finds it
    taken stops: another instance carries on from the committed cursor, never beside it."""

    def __init__(self, db, retry_delays=(1.0, 5.0, 30.0, 120.0, 600.0), lease_seconds: float = 30.0,
                 batch: int = 500, timeout: float = 10.0, run_seconds: float | None = None,
                 policy: TargetPolicy | None = None):
        self.db, self.retry_delays, self.lease_seconds = db, tuple(retry_delays), lease_seconds
        self.policy = policy or TargetPolicy()
        self.batch, self.timeout, self.owner = batch, timeout, str(uuid.uuid4())
        self.run_seconds = run_seconds if run_seconds is not None else lease_seconds / 3
        self._leased_at = 0.0   # time.monotonic() of the last lease taken or renewed
        self._http: dict[tuple[str, str], http.client.HTTPConnection] = {}
        self._direct: dict[tuple[str, str], bool] = {}   # False: through urllib (a proxy)

    def run_once(self) -> int:
        with self.db.transaction() as conn:
            ids = list(conn.execute(select(webhooks.c.webhook_id).where(webhooks.c.paused.is_(False))).scalars())
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
            if row is None or row.paused or (row.next_attempt_at and row.next_attempt_at > now.isoformat()):
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
        timestamp, msg_id = str(int(time.time())), item["event"]["event_id"]
        headers = {
            "Content-Type": "application/json; charset=utf-8", "webhook-id": msg_id,
            "webhook-timestamp": timestamp, "webhook-signature": sign(hook["secret"], msg_id, timestamp, body),
            "X-Baodao-Webhook-Id": hook["webhook_id"]}
        url = urllib.parse.urlsplit(hook["url"])
        key = (url.scheme, url.netloc)
        if key not in self._http or self._http[key].sock is None:
            try:   # checked again on every new connection: the name may now resolve elsewhere
                self.policy.check(hook["url"])
            except WebhookRejected as exc:
                return None, f"{exc.code}: {exc.message}"
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
            with _NO_REDIRECTS.open(request, timeout=self.timeout) as response:
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


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an error: it could lead to a target the policy refuses."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_NO_REDIRECTS = urllib.request.build_opener(_RefuseRedirects)


def _proxied(url) -> bool:
    """Whether the environment routes this URL through a proxy (urllib honours it; a kept-alive
    connection of http.client would not)."""
    return bool(urllib.request.getproxies().get(url.scheme)) and not urllib.request.proxy_bypass(url.hostname or "")
