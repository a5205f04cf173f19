"""The gateway as people and other systems reach it: the demo (`python -m
services.gateway.serve --demo`, eventlet's WSGI server) on a fresh RabbitMQ vhost, then
- browser tests in headless Chromium (tests/gateway/browser_flow.py in its own process, as
  Playwright's sync API does not run under eventlet's monkey patching), screenshots kept;
- schemathesis against the served OpenAPI document: no 5xx on any generated input."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from deploy.broker import rabbitmqctl
from deploy.processes import ROOT

CHROMIUM = shutil.which("chromium")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(amqp_uri, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("served")
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "GATEWAY_PORT": str(port), "BAODAO_GATEWAY_DEMO_DIR": str(tmp / "data"),
           "PYTHONWARNINGS": "ignore", "HOME": str(tmp),
           "QUEUE_TYPE": os.environ.get("QUEUE_TYPE", "quorum")}  # the type of the session vhost's queues
    log = open(tmp / "demo.log", "wb")
    demo = subprocess.Popen([sys.executable, "-m", "services.gateway.serve", "--demo", "--host", "127.0.0.1",
                             "--amqp-uri", amqp_uri], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert demo.poll() is None, (tmp / "demo.log").read_text()[-3000:]
            try:
                urllib.request.urlopen(f"{base}/login", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline, "demo did not start"
                time.sleep(0.5)
        yield base, tmp
    finally:
        demo.terminate()
        try:
            demo.wait(20)
        except subprocess.TimeoutExpired:
            demo.kill()
        log.close()
    assert "gateway_unhandled" not in (tmp / "demo.log").read_text(errors="replace")


def test_a_folded_header_line_is_not_a_500_with_a_traceback(served):
    """An X-Correlation-Id continued on a folded line must not reach a response header (it
    did, and eventlet answered 500 with the Python traceback in the body)."""
    base, _ = served
    host, port = base.rsplit("/", 1)[-1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Correlation-Id: a\r\n  b\r\n"
                     b"Connection: close\r\n\r\n")
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    head = answer.split(b"\r\n", 1)[0]
    assert b" 500 " not in head and b"Traceback" not in answer, answer[:300]


#: The browser journeys, one test each (tests/gateway/browser_flow.py), and the screenshots each
#: must leave for the README.
JOURNEY_SHOTS = {
    "resident": {"resident-home.png", "resident-demand.png", "resident-noticeboard.png"},
    "member": {"member-report-to.png", "member-home.png", "member-community.png", "member-points.png"},
    "community": {"community-home.png", "community-checked-in.png", "fund-project.png"},
    "unit": {"unit-home.png", "unit-double-evaluation.png"},
    "street": {"street-fund.png"},
    "district": {"district-home.png", "district-closed.png"},   # last: it closes the half year and the year
}


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium fonts-wqy-microhei)")
@pytest.mark.parametrize("journey", list(JOURNEY_SHOTS))
def test_in_chromium_the_role_does_its_jobs_on_a_phone_and_every_page_passes_axe(served, journey):
    """tests/gateway/browser_flow.py --journey <role>: the role's jobs at 390×844 through console
    pages only, axe-core on every page. With BAODAO_SCREENSHOTS=docs/screenshots the phone
    screenshots of the README are refreshed from this run."""
    pytest.importorskip("playwright")
    base, tmp = served
    shots = tmp / f"screenshots-{journey}"
    flow = subprocess.run([sys.executable, str(ROOT / "tests" / "gateway" / "browser_flow.py"), "--base-url", base,
                           "--shots", str(shots), "--chromium", CHROMIUM, "--journey", journey],
                          cwd=ROOT, capture_output=True, text=True, timeout=540)
    assert flow.returncode == 0, flow.stdout[-4000:] + flow.stderr[-4000:]
    assert "browser journeys: ok" in flow.stdout
    made = {p.name for p in shots.iterdir() if p.suffix == ".png"}
    assert JOURNEY_SHOTS[journey] <= made, made
    target = os.environ.get("BAODAO_SCREENSHOTS")
    if target:
        out = ROOT / target
        out.mkdir(parents=True, exist_ok=True)
        for name in made:
            shutil.copyfile(shots / name, out / f"console-{name}")


def test_schemathesis_finds_no_server_error_on_the_served_openapi_document(served):
    schemathesis = shutil.which("schemathesis", path=str(ROOT / ".venv" / "bin")) or shutil.which("schemathesis")
    if schemathesis is None:
        pytest.skip("needs schemathesis")
    base, tmp = served
    request = urllib.request.Request(f"{base}/api/v1/session", method="POST", headers={"Content-Type": "application/json"},
                                     data=json.dumps({"username": "admin", "password": "baodao-demo-2026"}).encode())
    token = json.loads(urllib.request.urlopen(request, timeout=10).read())["token"]
    run = subprocess.run([schemathesis, "run", f"{base}/openapi.json", "--checks", "not_a_server_error",
                          "-H", f"Authorization: Bearer {token}", "--max-examples", "6", "--workers", "2", "--seed", "20261129"],
                         cwd=tmp, capture_output=True, text=True, timeout=540)   # its cache stays out of the tree
    assert run.returncode == 0, run.stdout[-5000:]
    assert "passed" in run.stdout


def test_the_plain_server_starts_from_its_config_and_answers_503_while_services_are_away(tmp_path):
    """`python -m services.gateway.serve` with GATEWAY_PORT, an admin password and no services on
    its vhost: it serves the OpenAPI document and logins, and says in Chinese that a service is
    unavailable instead of failing."""
    vhost = "baodao-gw-plain-" + str(int(time.time() * 1000) % 100000)
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "GATEWAY_PORT": str(port), "GATEWAY_ADMIN_PASSWORD": "admin-pass-123",
           "AMQP_URI": f"amqp://guest:guest@localhost:5672/{vhost}", "DATABASE_URL": f"sqlite:///{tmp_path}/gw.db",
           "RPC_TIMEOUT": "5", "PYTHONWARNINGS": "ignore", "HOME": str(tmp_path)}
    server = subprocess.Popen([sys.executable, "-m", "services.gateway.serve"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None
            try:
                doc = json.loads(urllib.request.urlopen(f"{base}/openapi.json", timeout=2).read())
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.3)
        assert doc["info"]["title"] == "报到平台 API"
        login = urllib.request.Request(f"{base}/api/v1/session", method="POST",
                                       headers={"Content-Type": "application/json"},
                                       data=json.dumps({"username": "admin", "password": "admin-pass-123"}).encode())
        token = json.loads(urllib.request.urlopen(login, timeout=10).read())["token"]
        away = urllib.request.Request(f"{base}/api/v1/communities/xf", headers={"Authorization": f"Bearer {token}"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(away, timeout=30)
        assert refused.value.code == 503
        assert json.loads(refused.value.read())["error"] == {"code": "service_unavailable",
                                                             "message": "服务暂时不可用，请稍后重试"}
    finally:
        server.terminate()
        server.wait(20)
        rabbitmqctl("delete_vhost", vhost)
