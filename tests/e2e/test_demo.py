"""The README's demo: it runs to completion, and fails fast without a broker."""
import re
import subprocess
import sys
import uuid

from deploy.pg import drop_database
from deploy.processes import ROOT


def run_demo(*args, timeout=180):
    return subprocess.run([sys.executable, "-W", "ignore", "-m", "deploy.demo", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def test_the_demo_registers_a_district_and_delivers_every_receipt(amqp_uri, tmp_path):
    # its own vhost, database and files: another run of the demo (or of these tests) may be going on
    database = f"baodao_demo_{uuid.uuid4().hex[:8]}"
    try:
        result = run_demo("--members", "8", "--amqp-uri", amqp_uri, "--pg-database", database,
                          "--out-dir", str(tmp_path / "demo"))
    finally:
        drop_database("postgresql://postgres@localhost:5432/", database)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "在职党员报到情况统计表" in out and "重复报到被拒绝" in out and "在职党员报到介绍信（回执）" in out
    assert "整份退回" in out and "第 6 行 [联系方式]" in out and "新增 8 名" in out     # the roster import
    assert "搬家重新报到" in out and "公示栏" in out
    week = out[out.index("幸福社区的一周"):]                                   # dispatch's week
    assert "疑似重复需求" in week and "推荐人选" in week and "技能匹配" in week
    assert "谢绝后，订单转给" in week and "未在时限内接单，订单转给" in week and "抢单被拒" in week
    assert week.count("已查验") == 5 and re.search(r"微心愿：.*由\S+(局|医院|公司|协会)认领，已实现", week)
    total = next(line for line in out.splitlines() if line.startswith("合计")).split()
    assert total[1:4] == ["32", "28", "4"]   # 32 members, 28 registered, 4 overdue
    assert "OK: 29 receipts for 29 check-ins (32 members, 4 overdue)" in out   # the mover registered twice
    assert "报到情况统计表-西区.xlsx" in out


def test_the_demo_fails_fast_with_advice_when_no_broker_is_reachable():
    result = run_demo("--amqp-uri", "amqp://guest:guest@127.0.0.1:5999/", timeout=30)
    assert result.returncode == 2
    assert "RabbitMQ is not reachable" in result.stderr and "rabbitmq-server -detached" in result.stderr
