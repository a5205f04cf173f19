"""Hostile input at the gateway's edge (no service is called): answered 4xx, never 500, and
nothing stored; a huge body refused on its Content-Length without being read."""
from __future__ import annotations

import io
import zipfile

import pytest
from werkzeug.test import Client, EnvironBuilder

from services.gateway.app import MAX_BODY
from tests.gateway.test_sessions import PASSWORD, bearer, gateway, login  # noqa: F401 - the fixture

pytestmark = pytest.mark.postgres


def post_raw(client, path, raw: bytes, token=None):
    headers = {"Content-Type": "application/json", **(bearer(token) if token else {})}
    return client.post(path, data=raw, headers=headers)


@pytest.mark.parametrize("raw", [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
                                 b'{"username": ' + b"[" * 40 + b"]" * 40 + b"}"])
def test_deeply_nested_json_is_refused(gateway, raw):  # noqa: F811
    response = post_raw(Client(gateway), "/api/v1/session", raw)
    assert response.status_code == 400 and response.json["error"]["code"] == "malformed_json"


def test_a_lone_surrogate_is_refused_and_nothing_stored(gateway):  # noqa: F811
    client = Client(gateway)
    response = post_raw(client, "/api/v1/session", b'{"username": "\\ud800", "password": "x"}')
    assert response.status_code == 400 and response.json["error"]["code"] == "malformed_json"
    token = login(client, "admin").json["token"]
    raw = ('{"username": "new-one", "password": "%s", "role": "city_org", "display_name": "\\ud800\\u5f20"}'
           % PASSWORD).encode()
    response = post_raw(client, "/api/v1/accounts", raw, token)
    assert response.status_code == 400 and gateway.accounts.get("new-one") is None


def test_a_huge_body_is_refused_on_its_length_without_being_read(gateway):  # noqa: F811
    class Unreadable(io.RawIOBase):
        def read(self, *args):
            raise AssertionError("the body was read")

        readinto = read

    environ = EnvironBuilder(path="/api/v1/session", method="POST", content_type="application/json").get_environ()
    environ["CONTENT_LENGTH"] = str(50 * 1024 * 1024)
    environ["wsgi.input"] = Unreadable()
    seen = {}
    body = b"".join(gateway(environ, lambda status, headers, *a: seen.setdefault("status", status)))
    assert seen["status"].startswith("413") and b"body_too_large" in body
    assert MAX_BODY < 50 * 1024 * 1024


def bomb(ratio_target=1000) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/worksheets/sheet1.xml", b"\0" * (20 * 1024 * 1024))   # deflates about 1000:1
    return out.getvalue()


def test_an_xlsx_zip_bomb_is_refused_before_it_is_unpacked(monkeypatch):
    from services.registration.roster_import import RosterFormatError, read_roster
    from shared.spreadsheet import ZipTooLarge, check_zip

    content = bomb()
    assert len(content) * 500 < 20 * 1024 * 1024
    with pytest.raises(ZipTooLarge):
        check_zip(content)
    import openpyxl

    monkeypatch.setattr(openpyxl, "load_workbook", lambda *a, **k: pytest.fail("the bomb was opened"))
    with pytest.raises(RosterFormatError) as exc:
        read_roster("名册.xlsx", content)
    assert "压缩" in str(exc.value)
    with pytest.raises(ZipTooLarge):   # or simply too big in all
        check_zip(content, max_total=10 * 1024 * 1024, max_ratio=10_000)
