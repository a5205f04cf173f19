"""The registration service over the real broker: import, letters, overdue, printable forms."""
import base64
import io
import subprocess
import sys

import openpyxl
import pytest
from nameko.standalone.rpc import ClusterRpcProxy
from pypdf import PdfReader

from deploy.processes import ROOT
from services.registration.roster_import import make_roster_xlsx
from services.registration.service import RegistrationService
from shared.nameko_edge import CommandRejected
from tests.messaging.helpers import running

ROWS = [
    {"name": "张伟", "gender": "男", "age": 41, "position": "科长", "phone": "13800000001", "skills": "法律咨询、调解",
     "willingness": "周末调解", "residence_community": "幸福社区", "status": "正式", "leading_cadre": "是"},
    {"name": "李娜", "gender": "女", "age": 29, "position": "科员", "phone": 13800000002, "skills": "健康义诊",
     "willingness": "义诊", "residence_community": "yg", "status": "预备", "leading_cadre": "否"},
    {"name": "王强", "gender": "男", "age": 35, "position": "科员", "phone": "13800000003", "skills": "",
     "willingness": "", "residence_community": "幸福社区", "status": "正式", "leading_cadre": "否"},
]


@pytest.fixture
def rpc(amqp_uri, tmp_path):
    config = {"AMQP_URI": amqp_uri, "DATABASE_URL": f"sqlite:///{tmp_path}/registration.db",
              "TOPOLOGY": "tests.messaging.test_consuming:no_topology"}
    with running(RegistrationService, config=config), ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=30) as proxy:
        reg = proxy.registration
        for cid, name, prefix in (("xf", "幸福社区", "XF"), ("yg", "阳光社区", "YG")):
            reg.register_community({"community_id": cid, "name": name, "district_id": "xq", "district_name": "西区",
                                    "street_id": "hp", "street_name": "和平街道", "card_prefix": prefix})
        reg.register_unit({"unit_id": "czj", "name": "市财政局", "kind": "机关", "district_id": "xq"})
        reg.open_campaign({"unit_id": "czj", "campaign_id": "2099", "title": "报到", "deadline": "2099-12-31"})
        yield reg


def pdf_text(document) -> str:
    pages = PdfReader(io.BytesIO(base64.b64decode(document["content_base64"]))).pages
    return "".join("".join(page.extract_text().split()) for page in pages)


def upload(reg, content, filename="名册.xlsx", apply=True):
    return reg.import_roster({"unit_id": "czj", "filename": filename, "apply": apply,
                              "content_base64": base64.b64encode(content).decode()})


def test_a_roster_with_bad_rows_is_reported_whole_and_nothing_is_applied(rpc):
    bad = ROWS + [{**ROWS[0], "name": "重复", "phone": "13800000001"},
                  {**ROWS[1], "phone": "12345", "residence_community": "不存在社区"}]
    result = upload(rpc, make_roster_xlsx(bad))
    assert result["ok"] is False and result["applied"] is False
    by_row = {(e["row"], e["column"]) for e in result["errors"]}
    assert {(6, "联系方式"), (7, "联系方式"), (7, "居住社区")} <= by_row   # title row, header, then rows 3..7
    assert rpc.roster("czj")["total"] == 0


def test_a_clean_roster_is_imported_once(rpc):
    first = upload(rpc, make_roster_xlsx(ROWS))
    assert first["ok"] and first["applied"] and first["created"] == 3
    again = upload(rpc, make_roster_xlsx(ROWS))
    assert again["created"] == 0 and again["unchanged"] == 3
    roster = rpc.roster("czj")
    assert roster["total"] == 3 and {m["name"] for m in roster["items"]} == {"张伟", "李娜", "王强"}
    assert {m["residence_community_id"] for m in roster["items"]} == {"xf", "yg"}


def test_an_unreadable_file_is_refused_clearly(rpc):
    result = upload(rpc, b"not a spreadsheet at all", filename="名册.xlsx")
    assert result["ok"] is False and result["errors"][0]["reason"]
    with pytest.raises(CommandRejected) as refused:
        rpc.import_roster({"unit_id": "czj", "filename": "x.csv", "content_base64": "***"})
    assert refused.value.code == "unreadable_file"


def test_letters_check_in_overdue_and_the_printed_forms(rpc):
    upload(rpc, make_roster_xlsx(ROWS))
    letters = rpc.issue_letters({"unit_id": "czj", "campaign_id": "2099"})
    assert letters["issued"] == 3 and rpc.issue_letters({"unit_id": "czj", "campaign_id": "2099"})["issued"] == 0
    first = letters["letters"][0]
    card = rpc.check_in({"member_id": first["member_id"], "letter_id": first["letter_id"],
                         "community_id": first["community_id"], "availability": ["周六上午"]})
    marked = rpc.mark_overdue("2100-01-01")
    assert marked["marked"] == 2 and rpc.mark_overdue("2100-01-02")["marked"] == 0
    late = rpc.overdue_members("czj")
    rpc.record_overdue_reason({"member_id": late[0]["member_id"], "obligation_id": "2099", "reason": "外派"})

    member = rpc.member(first["member_id"])
    text = pdf_text(rpc.letter_pdf(first["letter_id"]))
    assert "在职党员报到介绍信" in text and "市财政局" in text and first["community_name"] in text
    assert f"{member['name']}同志系" in text

    text = pdf_text(rpc.card_pdf(first["member_id"]))
    assert card["card_no"] in text and "周六上午" in text and member["name"] in text
    assert member["phone"] not in text and member["phone"][-4:] in text          # masked on the card

    text = pdf_text(rpc.receipt_pdf(first["member_id"]))
    assert "回执" in text and "特此回复" in text and card["card_no"] in text
    assert f"{member['name']}同志已到我处报到" in text

    xlsx = rpc.statistics_xlsx({"group_by": "unit", "district_id": "xq"})
    sheet = openpyxl.load_workbook(io.BytesIO(base64.b64decode(xlsx["content_base64"]))).active
    cells = [[c for c in row if c is not None] for row in sheet.iter_rows(values_only=True)]
    flat = [str(c) for row in cells for c in row]
    assert "在职党员报到情况统计表" in flat and "市财政局" in flat
    unit_row = next(row for row in cells if "市财政局" in row)
    assert unit_row[2:5] == [3, 1, 2] and any("外派 1" in str(c) for c in unit_row)

    with pytest.raises(CommandRejected) as missing:
        rpc.letter_pdf("no-such-letter")
    assert missing.value.code == "not_found"


def test_the_import_cli_reports_every_bad_row_and_writes_the_error_file(rpc, amqp_uri, tmp_path):
    path = tmp_path / "名册.xlsx"
    path.write_bytes(make_roster_xlsx(ROWS + [{**ROWS[0], "gender": "未知", "phone": "13800000009"}]))
    result = subprocess.run([sys.executable, "-W", "ignore", "-m", "services.registration.import_cli", str(path),
                             "--unit", "czj", "--amqp-uri", amqp_uri], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1 and "第 6 行 [性别]" in result.stdout and "一行也没有导入" in result.stdout
    assert "性别" in path.with_suffix(".errors.csv").read_bytes().decode("utf-8-sig")
    path.write_bytes(make_roster_xlsx(ROWS))
    result = subprocess.run([sys.executable, "-W", "ignore", "-m", "services.registration.import_cli", str(path),
                             "--unit", "czj", "--amqp-uri", amqp_uri], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0 and "新增 3 名" in result.stdout and "3/3" in result.stderr
    assert rpc.roster("czj")["total"] == 3
