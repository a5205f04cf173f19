"""`python -m deploy.ops regrade`: reloads the rules if asked, regrades through evaluation's RPC
and prints each revised grade, old and new (a fake cluster proxy: no broker)."""
from contextlib import contextmanager

from deploy import ops


class FakeEvaluation:
    def __init__(self, refuse=False):
        self.calls, self.refuse = [], refuse

    def reload_rules(self, district_id=None):
        self.calls.append(("reload_rules", district_id))
        if self.refuse:
            raise RuntimeError("invalid_rules 积分规则文件有误")
        return {"district_id": district_id, "members": 2, "corrections": 0}

    def regrade(self, cmd):
        self.calls.append(("regrade", cmd))
        return {"district_id": cmd["district_id"], "year": cmd["year"], "members": 2, "revised": 1,
                "titles_withdrawn": 1, "changes": [{
                    "member_id": "m1", "old_grade": "优秀", "new_grade": "一般", "old_points": 147, "new_points": 147,
                    "old_rules": "xq:grading.bands@v2", "new_rules": "xq:grading.bands@v3",
                    "titles_withdrawn": ["社区服务之星"]}]}


def fake_proxy(monkeypatch, evaluation):
    class Proxy:
        pass

    proxy = Proxy()
    proxy.evaluation = evaluation

    @contextmanager
    def rpc(amqp_uri, timeout=600.0):
        yield proxy

    monkeypatch.setattr(ops, "evaluation_rpc", rpc)


def test_regrade_reloads_then_regrades_and_prints_old_and_new(monkeypatch, capsys):
    evaluation = FakeEvaluation()
    fake_proxy(monkeypatch, evaluation)
    assert ops.main(["regrade", "xq", "2026", "--reload", "--by", "zzb"]) == 0
    assert evaluation.calls == [("reload_rules", "xq"),
                                ("regrade", {"district_id": "xq", "year": 2026, "by": "zzb"})]
    out = capsys.readouterr().out
    assert "优秀 (147)" in out and "一般 (147)" in out and "xq:grading.bands@v3" in out and "社区服务之星" in out
    assert "1 grade(s) revised, 1 title(s) withdrawn" in out


def test_invalid_rules_stop_before_any_regrade(monkeypatch, capsys):
    evaluation = FakeEvaluation(refuse=True)
    fake_proxy(monkeypatch, evaluation)
    assert ops.main(["regrade", "xq", "2026", "--reload"]) == 1
    assert [c[0] for c in evaluation.calls] == ["reload_rules"]
    assert "积分规则文件有误" in capsys.readouterr().err
