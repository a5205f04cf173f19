"""Local stand-ins for the providers, as a separate process: a real SMTP server (aiosmtpd) and an
HTTP server that records every request (for the SMS/WeChat gateways and webhooks).

    python -m tests.notify.receivers --out DIR --smtp-port P --http-port Q

Writes DIR/smtp.jsonl and DIR/http.jsonl (one JSON object per line), and DIR/ready when both
listen. HTTP paths choose the behaviour:
  /ok/...        200, and a repeated Idempotency-Key is acknowledged as a duplicate (not accepted twice)
  /flaky<N>/...  503 for the first N requests of each Idempotency-Key, then as /ok
  /reject/...    400 (a permanent refusal)
SMTP refuses any recipient whose address starts with "refuse".
"""
from __future__ import annotations

import argparse
import json
import re
import threading
import time
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiosmtpd.controller import Controller


class Recorder:
    def __init__(self, path: Path):
        self.path, self.lock = path, threading.Lock()

    def write(self, record: dict) -> None:
        with self.lock, open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")


class SmtpHandler:
    def __init__(self, recorder: Recorder):
        self.recorder = recorder

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("refuse"):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        mail = message_from_bytes(envelope.content, policy=policy.default)
        self.recorder.write({"from": envelope.mail_from, "to": envelope.rcpt_tos, "subject": mail["Subject"],
                             "message_id": mail["Message-ID"], "body": mail.get_content(), "at": time.time()})
        return "250 Message accepted for delivery"


def http_handler(recorder: Recorder):
    seen_ok: set[str] = set()
    tries: dict[str, int] = {}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            key = self.headers.get("Idempotency-Key") or ""
            m = re.match(r"^/flaky(\d+)/", self.path)
            with lock:
                tries[key] = tries.get(key, 0) + 1
                if self.path.startswith("/reject/"):
                    status, outcome = 400, "rejected"
                elif m and tries[key] <= int(m.group(1)):
                    status, outcome = 503, "unavailable"
                elif key and key in seen_ok:
                    status, outcome = 200, "duplicate"
                else:
                    status, outcome = 200, "accepted"
                    if key:
                        seen_ok.add(key)
            recorder.write({"path": self.path, "headers": dict(self.headers.items()),
                            "body": body.decode("utf-8"), "status": status, "outcome": outcome, "at": time.time()})
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps({"outcome": outcome}).encode())

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--smtp-port", type=int, required=True)
    parser.add_argument("--http-port", type=int, required=True)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    controller = Controller(SmtpHandler(Recorder(out / "smtp.jsonl")), hostname="127.0.0.1", port=args.smtp_port)
    controller.start()
    server = ThreadingHTTPServer(("127.0.0.1", args.http_port), http_handler(Recorder(out / "http.jsonl")))
    (out / "ready").write_text("ok")
    try:
        server.serve_forever()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
