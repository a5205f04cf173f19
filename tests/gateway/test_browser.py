"""Browser tests in headless Chromium: the gateway's demo (`python -m services.gateway.serve
--demo`) on a fresh RabbitMQ vhost, driven by tests/gateway/browser_flow.py in its own process;
screenshots are kept as test artefacts."""
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from deploy.processes import ROOT

CHROMIUM = shutil.which("chromium")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium fonts-wqy-microhei)")
def test_a_resident_orders_staff_dispatch_the_member_serves_and_another_community_is_refused(amqp_uri, tmp_path):
    pytest.importorskip("playwright")
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "GATEWAY_PORT": str(port), "BAODAO_GATEWAY_DEMO_DIR": str(tmp_path / "data"),
           "PYTHONWARNINGS": "ignore", "HOME": str(tmp_path)}
    log = open(tmp_path / "demo.log", "wb")
    demo = subprocess.Popen([sys.executable, "-m", "services.gateway.serve", "--demo", "--host", "127.0.0.1",
                             "--amqp-uri", amqp_uri], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert demo.poll() is None, (tmp_path / "demo.log").read_text()[-3000:]
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline, "demo did not start"
                time.sleep(0.5)
        shots = tmp_path / "screenshots"
        flow = subprocess.run([sys.executable, str(ROOT / "tests" / "gateway" / "browser_flow.py"), "--base-url",
                               f"http://127.0.0.1:{port}", "--shots", str(shots), "--chromium", CHROMIUM],
                              cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert flow.returncode == 0, flow.stdout[-2000:] + flow.stderr[-4000:]
        assert {p.name for p in shots.iterdir()} >= {"community-dashboard.png", "member-page.png",
                                                     "resident-page.png", "refused-other-community.png",
                                                     "district-page.png"}
    finally:
        demo.terminate()
        try:
            demo.wait(20)
        except subprocess.TimeoutExpired:
            demo.kill()
        log.close()
