"""A browser stand-in for the console's WSGI tests: logs in through the form, sends each form
with the page's CSRF token and the site's Origin, and reads the flash message the next page
shows."""
from __future__ import annotations

import re
from html import unescape

from werkzeug.test import Client

from tests.gateway.conftest import PASSWORD

ORIGIN = "http://localhost"


class Browser:
    def __init__(self, app, username: str | None = None, password: str = PASSWORD):
        self.client = Client(app)
        self.token = ""
        self.home = None
        if username:
            response = self.client.post("/login", data={"username": username, "password": password},
                                        headers={"Origin": ORIGIN})
            assert response.status_code == 303, response.get_data(as_text=True)
            self.home = response.headers["Location"]
            self.token = csrf_of(self.client.get(self.home).get_data(as_text=True))

    def get(self, path, **kw):
        return self.client.get(path, **kw)

    def html(self, path) -> str:
        response = self.client.get(path)
        assert response.status_code == 200, (path, response.status_code, response.get_data(as_text=True)[-800:])
        return response.get_data(as_text=True)

    def post(self, path, data=None, *, token=True, origin=ORIGIN, **kw):
        data = dict(data or {})
        if token:
            data.setdefault("csrf_token", self.token)
        headers = kw.pop("headers", {})
        if origin:
            headers.setdefault("Origin", origin)
        return self.client.post(path, data=data, headers=headers, **kw)

    def submit(self, path, data=None, **kw) -> tuple[int, str]:
        """Post a form and follow a redirect: (status of the post, the page shown after it)."""
        response = self.post(path, data, **kw)
        if response.status_code == 303:
            return 303, self.html(response.headers["Location"])
        return response.status_code, response.get_data(as_text=True)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    return found.group(1) if found else ""


def flash_of(html: str) -> str:
    found = re.search(r'<div class="flash[^"]*"[^>]*>(.*?)</div>', html, re.S)
    return unescape(found.group(1)).strip() if found else ""


def field_error(html: str, name: str) -> str:
    found = re.search(r'id="f-' + re.escape(name) + r'-error">(.*?)</p>', html, re.S)
    return unescape(found.group(1)).strip() if found else ""
