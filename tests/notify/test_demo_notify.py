"""The notify demo runs end to end and ends with the unit's inbox (two receipts, the verified
service filed with it, the report) and its report's paths."""
import subprocess
import sys

from tests.conftest import ROOT


def test_the_notify_demo(amqp_uri):
    done = subprocess.run([sys.executable, "-W", "ignore", "-m", "deploy.demo_notify", "--amqp-uri", amqp_uri,
                           "--database", "sqlite"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "市财政局 收件箱（共 4 条" in out and "【重要】2026年度在职党员到社区报到情况反馈" in out
    assert "情况反馈-市财政局-2026.pdf" in out and "情况反馈-市财政局-2026.xlsx" in out
    assert "状态 sent" in out and "民政局 webhook：已投递 3 个事件" in out
