"""External channels: email over SMTP, SMS and WeChat template messages through HTTP gateways.

Each sender takes one message and raises `SendFailed(reason, permanent)` when it could not
send it: permanent (the address is refused, the gateway rejects the request) gives the channel
up at once; otherwise the attempt is retried with back-off. The message id travels with every
send — as the email's Message-ID and as the gateways' `Idempotency-Key` — so a gateway drops a
repeated send after a crash (docs/notify.md).
"""
from __future__ import annotations

import json
import smtplib
import urllib.error
import urllib.request
from email.message import EmailMessage
from email.utils import formatdate


class SendFailed(Exception):
    def __init__(self, reason: str, permanent: bool = False):
        super().__init__(reason)
        self.reason, self.permanent = reason, permanent


class EmailSender:
    """SMTP (plain, or STARTTLS when `starttls`)."""

    def __init__(self, host: str, port: int = 25, sender: str = "notify@baodao.local", username: str | None = None,
                 password: str | None = None, starttls: bool = False, timeout: float = 10.0):
        self.host, self.port, self.sender = host, int(port), sender
        self.username, self.password, self.starttls, self.timeout = username, password, starttls, timeout

    def send(self, *, message_id: str, address: str, title: str, body: str, template: str) -> None:
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = self.sender, address, title
        mail["Message-ID"] = f"<{message_id}@baodao.notify>"
        mail["Date"] = formatdate(localtime=False)
        mail["X-Baodao-Template"] = template
        mail.set_content(body, charset="utf-8")
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            raise SendFailed(f"收件地址被拒绝: {address} ({exc.recipients})", permanent=True) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise SendFailed(f"SMTP 发送失败: {exc.__class__.__name__}: {exc}") from None


class HttpGatewaySender:
    """An SMS or WeChat template-message gateway: POST JSON to `url`, authenticated by `key`."""

    def __init__(self, channel: str, url: str, key: str, timeout: float = 10.0):
        self.channel, self.url, self.key, self.timeout = channel, url, key, timeout

    def send(self, *, message_id: str, address: str, title: str, body: str, template: str) -> None:
        payload = {"to": address, "template": template, "title": title, "content": body, "message_id": message_id}
        request = urllib.request.Request(
            self.url, data=json.dumps(payload, ensure_ascii=False).encode("utf-8"), method="POST",
            headers={"Content-Type": "application/json; charset=utf-8", "Authorization": f"Bearer {self.key}",
                     "Idempotency-Key": message_id})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:200].decode("utf-8", "replace")
            permanent = 400 <= exc.code < 500 and exc.code not in (408, 429)
            raise SendFailed(f"{self.channel} 网关返回 {exc.code}: {detail}", permanent=permanent) from None
        except (urllib.error.URLError, OSError) as exc:
            raise SendFailed(f"{self.channel} 网关不可达: {exc}") from None


def senders_from_config(cfg: dict) -> dict:
    """The configured channels: NOTIFY_SMTP {host, port, sender}, NOTIFY_SMS / NOTIFY_WECHAT {url, key}."""
    out = {}
    smtp = cfg.get("NOTIFY_SMTP") or {}
    if smtp.get("host"):
        out["email"] = EmailSender(smtp["host"], int(smtp.get("port") or 25), smtp.get("sender") or "notify@baodao.local",
                                   smtp.get("username") or None, smtp.get("password") or None,
                                   bool(smtp.get("starttls", False)))
    for channel, key in (("sms", "NOTIFY_SMS"), ("wechat", "NOTIFY_WECHAT")):
        gw = cfg.get(key) or {}
        if gw.get("url"):
            out[channel] = HttpGatewaySender(channel, gw["url"], gw.get("key") or "")
    return out
