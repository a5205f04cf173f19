"""The fund's yearly documents, generated from the read models:

- the yearly report to the street committee (年度使用情况报告, due 1 December, 第十六条);
- the yearly public summary (年度使用情况汇总公示, due 20 December, on the noticeboard for 5
  working days, 第十五条);

each as a PDF (reportlab, Chinese in the built-in CID font STSong-Light) and an .xlsx workbook
(openpyxl: 概况, 项目, 台账 sheets). Amounts are shown in yuan from integer fen, exactly.
"""
from __future__ import annotations

import io
from datetime import date
from pathlib import Path
from xml.sax.saxutils import escape

from services.funds.domain import REPORT_NAMES, yuan
from services.funds.workdays import PROVISIONAL_NOTE

FONT = "STSong-Light"


def _rate(account_project: dict) -> str:
    surveyed = account_project.get("residents_surveyed") or 0
    if not surveyed:
        return "—"
    return f"{account_project['residents_satisfied'] * 100 // surveyed}%"


def summary_rows(account: dict, ledger: dict, notice: dict | None = None) -> list[tuple[str, str]]:
    """The overview; with `notice` (the summary's own posting: `notice_ends_on` and whether it is
    provisional), the day the notice ends."""
    paid = [p for p in account["projects"] if p["state"] == "paid"]
    rows = [
        ("社区", account["community_name"]),
        ("年度", str(account["year"])),
        ("本年下达经费（元）", yuan(account["allocated_fen"])),
        ("上年结余结转（元）", yuan(account["carried_over_fen"])),
        ("经费总额（元）", yuan(account["budget_fen"])),
        ("已批准及在办项目占用（元）", yuan(account["reserved_fen"])),
        ("已支付（元）", yuan(account["paid_fen"])),
        ("账面结余（元）", yuan(account["balance_fen"])),
        ("受益群体较小项目支出（元）", f"{yuan(account['small_group_fen'])}（上限 {yuan(account['small_group_limit_fen'])}）"),
        ("项目数 / 已完成", f"{len(account['projects'])} / {len(paid)}"),
        ("台账余额（元）", yuan(ledger["balance_fen"])),
    ]
    if notice and notice.get("notice_ends_on"):
        rows.append(("公示期至", deadline_text(notice["notice_ends_on"], notice.get("notice_ends_on_provisional"))))
    return rows


def deadline_text(day: str, provisional: bool) -> str:
    """A deadline as shown in a report: a provisional one says so."""
    return f"{day}（{PROVISIONAL_NOTE}）" if provisional else day


def _state(p: dict) -> str:
    """The project's state, with its open deadline (marked where provisional)."""
    if p["state"] == "submitted" and p.get("decide_by"):
        return f"{p['state_name']}（{deadline_text(p['decide_by'], p.get('decide_by_provisional'))} 前决定）"
    if p["state"] == "on_notice" and p.get("notice_ends_on"):
        return f"{p['state_name']}（公示至 {deadline_text(p['notice_ends_on'], p.get('notice_ends_on_provisional'))}）"
    return p["state_name"]


def project_rows(account: dict) -> list[list[str]]:
    return [[p["project_id"], p["title"], p["category"], yuan(p["amount_fen"]), yuan(p["paid_fen"]), _state(p),
             p.get("quality") or "—", _rate(p), "是" if p["small_beneficiary_group"] else "否"]
            for p in account["projects"]]


PROJECT_HEADER = ["编号", "项目", "类别", "批准金额（元）", "已付（元）", "状态", "验收质量", "群众满意度", "受益群体较小"]
LEDGER_HEADER = ["日期", "摘要", "凭证", "收入（元）", "支出（元）", "余额（元）"]


def ledger_rows(ledger: dict) -> list[list[str]]:
    return [[e["entry_on"], e["summary"], e["voucher"] or "", yuan(e["income_fen"]) if e["income_fen"] else "",
             yuan(e["expense_fen"]) if e["expense_fen"] else "", yuan(e["balance_fen"])] for e in ledger["entries"]]


def report_pdf(report: str, account: dict, ledger: dict, generated_on: date, notice: dict | None = None) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    base = dict(fontName=FONT, wordWrap="CJK")
    title_style = ParagraphStyle("title", fontSize=18, leading=26, alignment=1, **base)
    h_style = ParagraphStyle("h", fontSize=13, leading=20, spaceBefore=8, **base)
    cell = ParagraphStyle("cell", fontSize=9, leading=12, **base)
    body = ParagraphStyle("body", fontSize=11, leading=18, **base)
    title = f"{account['community_name']} {account['year']} 年度{REPORT_NAMES[report]}"

    def table(rows, widths):
        # cells are people's text (project names, payees): escaped, never read as reportlab markup
        t = Table([[Paragraph(escape(str(c)), cell) for c in r] for r in rows], colWidths=widths, repeatRows=1)
        t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.black),
                               ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
                               ("VALIGN", (0, 0), (-1, -1), "MIDDLE")]))
        return t

    story = [Paragraph(escape(title), title_style), Spacer(1, 4 * mm),
             Paragraph(f"生成日期：{generated_on.isoformat()}", body), Paragraph("一、经费概况", h_style),
             table([["项目", "内容"], *summary_rows(account, ledger, notice)], [70 * mm, 120 * mm]),
             Paragraph("二、服务项目", h_style),
             table([PROJECT_HEADER, *project_rows(account)], [18 * mm, 52 * mm, 24 * mm, 24 * mm, 22 * mm, 20 * mm,
                                                               16 * mm, 18 * mm, 16 * mm]),
             Paragraph("三、专项经费台账", h_style),
             table([LEDGER_HEADER, *ledger_rows(ledger)], [24 * mm, 90 * mm, 40 * mm, 28 * mm, 28 * mm, 28 * mm])]
    if report == "yearly_summary":
        story.append(Paragraph("以上情况在社区公示栏公示 5 个工作日，接受社区居民监督。", body))
    else:
        story.append(Paragraph("特此报告，请社区党工委考核评议。", body))
    buf = io.BytesIO()
    SimpleDocTemplate(buf, pagesize=landscape(A4), leftMargin=15 * mm, rightMargin=15 * mm, topMargin=15 * mm,
                      bottomMargin=15 * mm, title=title, author="报到").build(story)
    return buf.getvalue()


def report_xlsx(report: str, account: dict, ledger: dict, generated_on: date, notice: dict | None = None) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    overview = wb.active
    overview.title = "概况"
    overview.append([f"{account['community_name']} {account['year']} 年度{REPORT_NAMES[report]}"])
    overview["A1"].font = Font(bold=True, size=14)
    overview.append(["生成日期", generated_on.isoformat()])
    for label, value in summary_rows(account, ledger, notice):
        overview.append([label, value])
    overview.column_dimensions["A"].width = 30
    overview.column_dimensions["B"].width = 40
    sheet = wb.create_sheet("项目")
    sheet.append(PROJECT_HEADER)
    for row in project_rows(account):
        sheet.append(row)
    sheet = wb.create_sheet("台账")
    sheet.append(LEDGER_HEADER + ["收入（分）", "支出（分）", "余额（分）"])
    for row, entry in zip(ledger_rows(ledger), ledger["entries"]):
        sheet.append(row + [entry["income_fen"], entry["expense_fen"], entry["balance_fen"]])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def write_report(folder: Path, report: str, account: dict, ledger: dict, on: date,
                 notice: dict | None = None) -> list[str]:
    """Render the report as PDF and .xlsx, then write both into `folder` (each file whole or not
    at all); the paths written."""
    rendered = {"pdf": report_pdf(report, account, ledger, on, notice),     # both rendered before
                "xlsx": report_xlsx(report, account, ledger, on, notice)}   # anything is written
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext, content in rendered.items():
        path, partial = folder / f"{report}.{ext}", folder / f".{report}.{ext}.partial"
        partial.write_bytes(content)
        partial.replace(path)
        paths.append(str(path))
    return paths
