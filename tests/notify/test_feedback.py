"""情况反馈: the unit's yearly report as PDF and .xlsx, in its inbox; on schedule and on demand."""

import openpyxl
import pypdf

from services.notify import feedback, handlers, readmodels
from tests.notify import events as ev
from tests.notify.conftest import NOW


def feed_a_year(notify):
    notify.receive(ev.unit(), ev.community())
    notify.receive(ev.enrolled("m1", "张三"), ev.checked_in("m1", "张三"), ev.enrolled("m2", "李四"),
                   ev.checked_in("m2", "李四"), ev.enrolled("m3", "王五"))
    notify.receive(ev.verified("d1", ["m1"], 3.0), ev.verified("d2", ["m1", "m2"], 1.5),
                   ev.verified("d0", ["m1"], 9.0, at="2025-12-01T01:00:00+00:00"),   # last year: not counted
                   ev.attended("a1", ["m1", "m2"], ["m3"]), ev.attended("a2", ["m2"]),
                   ev.rejected("d3", ["m2"]))


def test_figures_of_a_unit_year(notify):
    feed_a_year(notify)
    figures = notify.query(readmodels.feedback_figures, "czj", 2026)
    by_name = {m["name"]: m for m in figures["members"]}
    assert by_name["张三"]["services"] == 2 and by_name["张三"]["hours"] == 4.5
    assert by_name["李四"]["activities"] == 2 and by_name["李四"]["rejected"] == 1
    assert not by_name["王五"]["registered"] and by_name["王五"]["services"] == 0
    assert figures["totals"] == {"members": 3, "registered": 2, "services": 3, "hours": 6.0, "activities": 3,
                                 "rejected": 1, "vetoed": 0}


def test_the_report_as_pdf_and_xlsx_sent_to_the_units_inbox_once_per_occasion(notify, tmp_path):
    feed_a_year(notify)
    figures = notify.query(readmodels.feedback_figures, "czj", 2026)
    files = feedback.write_report(figures, tmp_path, "2026-12-15T08:00:00+08:00")
    pdf, xlsx = files
    text = "".join(p.extract_text() for p in pypdf.PdfReader(pdf).pages)
    assert "市财政局2026年度在职党员到社区报到服务情况反馈" in text
    assert "在册党员3名，已报到2名" in text and "张三" in text and "未报到" in text
    ws = openpyxl.load_workbook(xlsx).active
    rows = {r[0]: r for r in ws.iter_rows(min_row=4, values_only=True) if r[0] in ("张三", "李四", "王五")}
    assert rows["张三"][3] == 2 and rows["张三"][4] == 4.5 and rows["李四"][5] == 2 and rows["王五"][1] == "未报到"
    for _ in range(2):   # the yearly run on two instances, or twice: one message
        notify.do(handlers.send_feedback_report(notify.notifier, figures, [str(f) for f in files], "yearly", NOW))
    notify.do(handlers.send_feedback_report(notify.notifier, figures, [str(f) for f in files], "on-demand-1", NOW))
    reports = notify.query(readmodels.inbox, "unit", "czj", 1, 20, False, "feedback_report_unit")
    assert reports["total"] == 2 and all(m["important"] for m in reports["items"])
    body = reports["items"][0]["body"]
    assert "在册党员3名，已报到2名；完成服务3次，共6.0小时" in body and pdf.name in body and xlsx.name in body
    assert str(tmp_path) not in body                           # the server's paths stay on the server
    assert notify.query(readmodels.delivery, handlers.feedback_message_id("czj", 2026, "yearly")) is not None


def test_a_unit_whose_id_and_name_hold_odd_characters_gets_its_report_inside_the_report_folder(notify, tmp_path):
    feed_a_year(notify)
    figures = notify.query(readmodels.feedback_figures, "czj", 2026)
    figures = {**figures, "unit_id": "../../etc", "unit_name": "财政/局<b>\r\n\x07"}
    pdf, xlsx = feedback.write_report(figures, tmp_path / "reports", "2026-12-15T08:00:00+08:00")
    for path in (pdf, xlsx):
        assert (tmp_path / "reports") in path.resolve().parents and "/" not in path.name
    assert "财政_局_b_" in pdf.name
    title = openpyxl.load_workbook(xlsx).active["A1"].value
    assert title.startswith("财政/局<b>") and "\x07" not in title and title.endswith("2026年度在职党员到社区报到服务情况反馈")
    assert "财政/局<b>" in "".join(p.extract_text() for p in pypdf.PdfReader(pdf).pages)
    found = feedback.latest_report(tmp_path / "reports", "../../etc", 2026, "xlsx")
    assert found["filename"] == xlsx.name and found["content_type"].endswith("spreadsheetml.sheet")
    assert feedback.latest_report(tmp_path / "reports", "../../etc", 2026, "exe") is None
    assert feedback.latest_report(tmp_path / "reports", "czj", 2026, "pdf") is None


def test_a_unit_with_a_long_name_and_id_still_gets_its_files(notify, tmp_path):
    """Registration takes unit names of 100 characters; 77 CJK characters already made the file
    name longer than the 255 bytes a file system allows (OSError, and the yearly run stopped at
    that unit). Names are cut by bytes; a long id gets a folder told apart by its digest."""
    feed_a_year(notify)
    figures = notify.query(readmodels.feedback_figures, "czj", 2026)
    for unit_id, name in (("czj", "财" * 100), ("单位" * 40, "市财政局"), ("单位" * 40 + "乙", "市财政局")):
        files = feedback.write_report({**figures, "unit_id": unit_id, "unit_name": name}, tmp_path,
                                      "2026-12-15T08:00:00+08:00")
        assert all(f.exists() and len(f.name.encode()) <= 255 and len(f.parent.parent.name.encode()) <= 255
                   for f in files)
        assert feedback.latest_report(tmp_path, unit_id, 2026, "pdf")["filename"] == files[0].name
    assert feedback.unit_folder(tmp_path, "单位" * 40, 2026) != feedback.unit_folder(tmp_path, "单位" * 40 + "乙", 2026)
