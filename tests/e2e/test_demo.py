"""The README's demo: it runs to completion, and fails fast without a broker."""
import subprocess
import sys

from deploy.processes import ROOT


def run_demo(*args, timeout=180):
    return subprocess.run([sys.executable, "-W", "ignore", "-m", "deploy.demo", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def test_the_demo_registers_a_district_and_delivers_every_receipt():
    result = run_demo("--members", "8")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "在职党员报到情况统计表" in out and "重复报到被拒绝" in out and "在职党员报到介绍信（回执）" in out
    total = next(line for line in out.splitlines() if line.startswith("合计")).split()
    assert total[1:3] == ["24", "21"] and total[-1] == "21"   # 24 members, 21 checked in, 21 receipts
    assert "OK: 21 receipts for 21 check-ins" in out


def test_the_demo_fails_fast_with_advice_when_no_broker_is_reachable():
    result = run_demo("--amqp-uri", "amqp://guest:guest@127.0.0.1:5999/", timeout=30)
    assert result.returncode == 2
    assert "RabbitMQ is not reachable" in result.stderr and "rabbitmq-server -detached" in result.stderr
