"""Sessions on the gateway's own accounts database (PostgreSQL; no service is called): tokens
revoked by logout and by a password change, guesses counted before they are checked (so
concurrent ones are locked out too), wrong old passwords counted, no probing for usernames by
disabling, and the demo's token secret random and kept."""
from __future__ import annotations

import threading

import pytest
from werkzeug.test import Client

from services.gateway.accounts import AccountStore, Tokens
from services.gateway.app import Gateway
from shared.db import Database
from tests.conftest import PG_URL, fresh_schema

PASSWORD = "mima-12345678"
pytestmark = pytest.mark.postgres


@pytest.fixture
def gateway():
    db = Database(PG_URL, schema=fresh_schema())
    accounts = AccountStore(db)
    accounts.ensure("admin", PASSWORD, "city_org", "市委组织部管理员")
    accounts.ensure("org-xq", PASSWORD, "district_org", "西区组织部", district_id="xq")
    accounts.ensure("org-dc", PASSWORD, "district_org", "东区组织部", district_id="dc")
    accounts.ensure("dept-x", PASSWORD, "department", "某局", district_id="xq")
    yield Gateway(rpc=None, accounts=accounts, tokens=Tokens("test-secret", 3600))
    db.drop_schema()
    db.dispose()


def login(client, username, password=PASSWORD):
    return client.post("/api/v1/session", json={"username": username, "password": password})


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_logout_revokes_the_token_and_only_that_one(gateway):
    client = Client(gateway)
    first, second = login(client, "org-xq").json["token"], login(client, "org-xq").json["token"]
    assert client.delete("/api/v1/session", headers=bearer(first)).status_code == 200
    assert client.get("/api/v1/me", headers=bearer(first)).status_code == 401
    assert client.get("/api/v1/me", headers=bearer(second)).status_code == 200     # another session lives on


def test_a_password_change_revokes_every_earlier_token(gateway):
    client = Client(gateway)
    old, other = login(client, "org-xq").json["token"], login(client, "org-xq").json["token"]
    changed = client.post("/api/v1/me/password", json={"old_password": PASSWORD, "new_password": "xin-mima-87654321"},
                          headers=bearer(old))
    assert changed.status_code == 200
    for token in (old, other):
        assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401
    assert client.get("/api/v1/me", headers=bearer(changed.json["token"])).status_code == 200
    assert login(client, "org-xq", "xin-mima-87654321").status_code == 200


def test_concurrent_wrong_guesses_are_locked_out_after_five(gateway):
    statuses, start = [], threading.Barrier(15)

    def guess():
        start.wait()
        statuses.append(login(Client(gateway), "org-xq", "wrong-guess").status_code)

    threads = [threading.Thread(target=guess) for _ in range(15)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [401] * 5 + [429] * 10
    assert login(Client(gateway), "org-xq").status_code == 429     # even the right password, until the window ends


def test_wrong_old_passwords_are_counted(gateway):
    client = Client(gateway)
    token = login(client, "org-dc").json["token"]
    body = {"old_password": "wrong-guess", "new_password": "xin-mima-87654321"}
    statuses = [client.post("/api/v1/me/password", json=body, headers=bearer(token)).status_code for _ in range(7)]
    assert statuses == [400] * 5 + [429] * 2
    right = client.post("/api/v1/me/password", json={**body, "old_password": PASSWORD}, headers=bearer(token))
    assert right.status_code == 429


def test_disabling_outside_ones_scope_is_not_found_like_a_missing_name(gateway):
    client = Client(gateway)
    token = login(client, "org-dc").json["token"]
    outside = client.post("/api/v1/accounts/dept-x/disable", headers=bearer(token))
    missing = client.post("/api/v1/accounts/no-such-user/disable", headers=bearer(token))
    assert outside.status_code == missing.status_code == 404 and outside.json == missing.json


def test_the_demo_token_secret_is_random_and_kept(tmp_path):
    import stat

    from services.gateway.demo import stored_secret

    first = stored_secret(tmp_path)
    assert str(tmp_path) not in first and len(first) >= 64
    assert stored_secret(tmp_path) == first                          # the same after a restart
    assert stat.S_IMODE((tmp_path / "gateway-secret").stat().st_mode) == 0o600


def test_the_console_logout_revokes_the_cookies_token(gateway):
    client = Client(gateway)
    signed_in = client.post("/login", data={"username": "org-xq", "password": PASSWORD},
                            headers={"Origin": "http://localhost"})
    assert signed_in.status_code == 303
    token = client.get_cookie("baodao_token").value
    assert Client(gateway).get("/api/v1/me", headers=bearer(token)).status_code == 200
    assert client.get("/logout").status_code == 303
    assert Client(gateway).get("/api/v1/me", headers=bearer(token)).status_code == 401
