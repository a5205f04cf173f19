"""Accounts (账号), roles and expiring tokens.

Passwords are hashed with scrypt (hashlib, n=2**14, r=8, p=1, 16-byte salt); tokens are
HMAC-SHA256-signed `{sub, exp, iat, jti}` payloads that expire (default 8 hours) and name the
account, which is loaded on every request, so a disabled account loses access at once; a
logout revokes its token (`gw_revoked_tokens`), a password change every earlier token of the
account (`gw_token_cutoffs`).

Each role is scoped to its place in the hierarchy:

| role               | 中文             | scope                                   |
|--------------------|------------------|-----------------------------------------|
| city_org           | 市委组织部       | the whole city                          |
| district_org       | 区委组织部       | one district (district_id)              |
| street_committee   | 街道党工委       | one street (street_id, district_id)     |
| community_staff    | 社区党组织工作人员 | one community (community_id, ...)       |
| unit_secretary     | 单位党组织书记   | one unit (unit_id, district_id)         |
| member             | 在职党员         | themselves (member_id, unit_id)         |
| resident           | 居民             | themselves (resident_id, community_id)  |
| supervisory_committee | 社区议事监督委员会 | one community, read only (community_id, ...) |
| department         | 委办局（部门）   | the event types it was granted          |

A department account (civil affairs, health, ...) is created by the city or a district
organisation department with the event types it may read (`gw_department_grants`); it sees
only those, through the department API (services/gateway/routes/departments.py).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import asdict, dataclass

from sqlalchemy import Boolean, Column, Float, Integer, MetaData, String, Table, Text, func, select

from shared.db import Database

ROLES = {
    "city_org": "市委组织部",
    "district_org": "区委组织部",
    "street_committee": "街道党工委",
    "community_staff": "社区工作人员",
    "unit_secretary": "单位党组织书记",
    "member": "在职党员",
    "resident": "居民",
    "supervisory_committee": "社区议事监督委员会",
    "department": "委办局",
}
#: The place fields each role must carry.
SCOPE_FIELDS = {
    "city_org": (),
    "district_org": ("district_id",),
    "street_committee": ("street_id", "district_id"),
    "community_staff": ("community_id", "street_id", "district_id"),
    "unit_secretary": ("unit_id", "district_id"),
    "member": ("member_id", "unit_id"),
    "resident": ("resident_id", "community_id"),
    "supervisory_committee": ("community_id", "street_id", "district_id"),
    "department": (),
}
PLACE_FIELDS = ("district_id", "street_id", "community_id", "unit_id", "member_id", "resident_id")

SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}

metadata = MetaData()
accounts = Table(
    "gw_accounts", metadata,
    Column("username", String(64), primary_key=True),
    Column("password_hash", String(200), nullable=False),
    Column("role", String(30), nullable=False, index=True),
    Column("display_name", String(100), nullable=False),
    Column("district_id", String(100), index=True),
    Column("street_id", String(100), index=True),
    Column("community_id", String(100), index=True),
    Column("unit_id", String(100), index=True),
    Column("member_id", String(100)),
    Column("resident_id", String(100)),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_by", String(64)),
)
login_failures = Table(
    "gw_login_failures", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, index=True),
    Column("failed_at", Float, nullable=False),
)

#: Sessions ended before their expiry: one token (logout, by its `jti`) or every token of an
#: account issued before a moment (a password change: `username`, `not_before`).
revoked_tokens = Table(
    "gw_revoked_tokens", metadata,
    Column("jti", String(64), primary_key=True),
    Column("expires_at", Float, nullable=False),
)
token_cutoffs = Table(
    "gw_token_cutoffs", metadata,
    Column("username", String(64), primary_key=True),
    Column("not_before", Float, nullable=False),
)
department_grants = Table(
    "gw_department_grants", metadata,
    Column("username", String(64), primary_key=True),
    Column("event_types", Text, nullable=False),   # JSON list of "source.EventType"
    Column("granted_by", String(64)),
)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **SCRYPT)
    return "scrypt${n}${r}${p}${salt}${digest}".format(
        salt=base64.b64encode(salt).decode(), digest=base64.b64encode(digest).decode(), **SCRYPT)


def verify_password(password: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(base64.b64decode(digest)))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, base64.b64decode(digest))


# A hash to compare against when the username is unknown, so a miss costs the same time.
_DUMMY_HASH = hash_password(secrets.token_hex(8))


@dataclass(frozen=True)
class Principal:
    """Who is calling: the account, its role and its place."""

    username: str
    role: str
    display_name: str
    district_id: str | None = None
    street_id: str | None = None
    community_id: str | None = None
    unit_id: str | None = None
    member_id: str | None = None
    resident_id: str | None = None

    @property
    def role_name(self) -> str:
        return ROLES[self.role]

    def actor(self) -> dict:
        """What the kernel stamps on every event this principal's commands append."""
        scope = {k: v for k in PLACE_FIELDS if (v := getattr(self, k))}
        return {"user_id": self.username, "name": self.display_name, "role": self.role, "scope": scope}

    def public(self) -> dict:
        return {**{k: v for k, v in asdict(self).items() if v is not None}, "role_name": self.role_name}


class Tokens:
    """Signed, expiring bearer tokens."""

    def __init__(self, secret: str, ttl_seconds: int = 8 * 3600):
        self.key = hashlib.sha256(secret.encode()).digest()
        self.ttl = int(ttl_seconds)

    def issue(self, username: str, now: float | None = None) -> tuple[str, int]:
        moment = time.time() if now is None else now
        exp = int(moment + self.ttl)
        claims = {"sub": username, "exp": exp, "iat": round(moment, 6), "jti": secrets.token_hex(16)}
        payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        return f"{payload}.{self._sign(payload)}", exp

    def _sign(self, payload: str) -> str:
        return base64.urlsafe_b64encode(hmac.new(self.key, payload.encode(), "sha256").digest()).decode().rstrip("=")

    def verify(self, token: str, now: float | None = None) -> str | None:
        """The username, or None if the token is forged, malformed or expired."""
        claims = self.claims(token, now)
        return claims["sub"] if claims else None

    def claims(self, token: str, now: float | None = None) -> dict | None:
        """`{sub, exp, iat, jti}` of a genuine unexpired token, else None (revocation is the
        account store's: `AccountStore.session`)."""
        try:
            payload, signature = token.split(".")
            if not hmac.compare_digest(signature, self._sign(payload)):
                return None
            data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (ValueError, TypeError):
            return None
        moment = time.time() if now is None else now
        if not isinstance(data, dict) or not isinstance(data.get("exp"), int) or data["exp"] <= moment:
            return None
        if not isinstance(data.get("sub"), str):
            return None
        return data


class LoginThrottle:
    """Too many failed logins for one username lock it for a while: at most `attempts` failures
    within `window` seconds. The failures are rows in the accounts database, so every gateway
    process behind a load balancer sees the same count (a guesser cannot spread attempts over
    the replicas)."""

    def __init__(self, database: Database, attempts: int = 5, window: float = 600.0):
        self.db, self.attempts, self.window = database, attempts, window
        metadata.create_all(database.engine, tables=[login_failures])

    def _recent(self, conn, username: str, now: float) -> list[float]:
        return list(conn.execute(select(login_failures.c.failed_at)
                                 .where(login_failures.c.username == username)
                                 .where(login_failures.c.failed_at > now - self.window)
                                 .order_by(login_failures.c.failed_at)).scalars())

    def locked_for(self, username: str, now: float | None = None) -> float:
        """Seconds until `username` may try again (0 if not locked)."""
        now = time.time() if now is None else now
        with self.db.transaction() as conn:
            recent = self._recent(conn, username, now)
        return self._wait(recent, now)

    def _wait(self, recent: list[float], now: float) -> float:
        if len(recent) < self.attempts:
            return 0.0
        return max(0.0, recent[-self.attempts] + self.window - now)

    def attempt(self, username: str, now: float | None = None) -> float:
        """Before checking a password: 0 and the attempt counted as a failure (`succeeded`
        clears it), or the seconds still locked and nothing counted. Atomic per username (an
        advisory lock on PostgreSQL, the one writer on SQLite), so concurrent guesses cannot
        all pass the check before any failure is recorded."""
        now = time.time() if now is None else now
        with self.db.transaction() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext(current_schema() || %(key)s))",
                                     {"key": f".gw_login.{username}"})
            conn.execute(login_failures.delete().where(login_failures.c.username == username)
                         .where(login_failures.c.failed_at <= now - self.window))
            wait = self._wait(self._recent(conn, username, now), now)
            if wait:
                return wait
            conn.execute(login_failures.insert().values(username=username, failed_at=now))
        return 0.0

    def failed(self, username: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self.db.transaction() as conn:
            conn.execute(login_failures.delete().where(login_failures.c.username == username)
                         .where(login_failures.c.failed_at <= now - self.window))
            conn.execute(login_failures.insert().values(username=username, failed_at=now))

    def succeeded(self, username: str) -> None:
        with self.db.transaction() as conn:
            conn.execute(login_failures.delete().where(login_failures.c.username == username))


class AccountStore:
    def __init__(self, database: Database):
        self.db = database
        metadata.create_all(database.engine)

    def create(self, username: str, password: str, role: str, display_name: str, created_by: str | None = None,
               **place) -> Principal:
        values = {k: place.get(k) for k in PLACE_FIELDS}
        with self.db.transaction() as conn:
            if conn.execute(select(accounts.c.username).where(accounts.c.username == username)).first():
                raise ValueError("exists")
            conn.execute(accounts.insert().values(username=username, password_hash=hash_password(password), role=role,
                                                  display_name=display_name, active=True, created_by=created_by,
                                                  **values))
        return Principal(username=username, role=role, display_name=display_name, **values)

    def ensure(self, username: str, password: str, role: str, display_name: str, **place) -> Principal:
        """Create the account unless it exists (demo and bootstrap accounts)."""
        found = self.get(username)
        if found is not None:
            return found
        try:
            return self.create(username, password, role, display_name, **place)
        except ValueError:
            return self.get(username)

    def get(self, username: str) -> Principal | None:
        with self.db.transaction() as conn:
            row = conn.execute(select(accounts).where(accounts.c.username == username)
                               .where(accounts.c.active.is_(True))).first()
        return self._principal(row) if row else None

    def authenticate(self, username: str, password: str) -> Principal | None:
        with self.db.transaction() as conn:
            row = conn.execute(select(accounts).where(accounts.c.username == username)
                               .where(accounts.c.active.is_(True))).first()
        if row is None:
            verify_password(password, _DUMMY_HASH)
            return None
        return self._principal(row) if verify_password(password, row.password_hash) else None

    def resident_communities(self, resident_id: str) -> set[str]:
        """The communities of the resident accounts that hold `resident_id` (active or not)."""
        with self.db.transaction() as conn:
            return set(conn.execute(select(accounts.c.community_id).where(accounts.c.role == "resident")
                                    .where(accounts.c.resident_id == resident_id)).scalars())
    def session(self, claims: dict) -> Principal | None:
        """The active account of a token's claims, unless the token was revoked (logout) or
        issued before the account's cut-off (a password change)."""
        username = claims["sub"]
        with self.db.transaction() as conn:
            if claims.get("jti") and conn.execute(select(revoked_tokens.c.jti)
                                                  .where(revoked_tokens.c.jti == claims["jti"])).first():
                return None
            cutoff = conn.execute(select(token_cutoffs.c.not_before)
                                  .where(token_cutoffs.c.username == username)).scalar()
            if cutoff is not None and float(claims.get("iat") or 0) < cutoff:
                return None
            row = conn.execute(select(accounts).where(accounts.c.username == username)
                               .where(accounts.c.active.is_(True))).first()
        return self._principal(row) if row else None

    def revoke(self, claims: dict) -> None:
        """End one session (logout): its token no longer works, though not yet expired."""
        if not claims.get("jti"):
            return
        with self.db.transaction() as conn:
            conn.execute(revoked_tokens.delete().where(revoked_tokens.c.expires_at < time.time()))
            if not conn.execute(select(revoked_tokens.c.jti).where(revoked_tokens.c.jti == claims["jti"])).first():
                conn.execute(revoked_tokens.insert().values(jti=claims["jti"], expires_at=float(claims["exp"])))

    def revoke_all(self, username: str, now: float | None = None) -> None:
        """End every session of the account issued until now."""
        moment = time.time() if now is None else now
        with self.db.transaction() as conn:
            conn.execute(token_cutoffs.delete().where(token_cutoffs.c.username == username))
            conn.execute(token_cutoffs.insert().values(username=username, not_before=moment))

    def set_password(self, username: str, password: str) -> None:
        """The new password; every token issued before it stops working."""
        with self.db.transaction() as conn:
            conn.execute(accounts.update().where(accounts.c.username == username)
                         .values(password_hash=hash_password(password)))
        self.revoke_all(username)

    def disable(self, username: str) -> None:
        """A disabled account can no longer log in, and its live tokens stop working."""
        with self.db.transaction() as conn:
            conn.execute(accounts.update().where(accounts.c.username == username).values(active=False))

    def set_grants(self, username: str, event_types: list[str], granted_by: str | None = None) -> list[str]:
        """The event types a department account may read (replacing those it had)."""
        types = sorted(set(event_types))
        with self.db.transaction() as conn:
            conn.execute(department_grants.delete().where(department_grants.c.username == username))
            conn.execute(department_grants.insert().values(username=username, event_types=json.dumps(types),
                                                           granted_by=granted_by))
        return types

    def grants(self, username: str) -> list[str]:
        with self.db.transaction() as conn:
            found = conn.execute(select(department_grants.c.event_types)
                                 .where(department_grants.c.username == username)).scalar()
        return json.loads(found) if found else []

    def list(self, filters: dict, page: int, page_size: int) -> dict:
        q = select(accounts)
        for key, value in filters.items():
            q = q.where(accounts.c[key] == value)
        with self.db.transaction() as conn:
            total = conn.execute(select(func.count()).select_from(q.subquery())).scalar_one()
            rows = conn.execute(q.order_by(accounts.c.username).limit(page_size).offset((page - 1) * page_size)).all()
        return {"total": total, "page": page, "page_size": page_size,
                "items": [self._principal(r).public() for r in rows]}

    @staticmethod
    def _principal(row) -> Principal:
        return Principal(username=row.username, role=row.role, display_name=row.display_name,
                         **{k: getattr(row, k) for k in PLACE_FIELDS})
