"""Dispatch's printed forms and ledgers (an adapter: plain data in, document bytes out).

- ``feedback_card_pdf`` — 在职党员社区表现反馈卡 (seed 002 附件5): tick boxes "（√）" in brackets,
  参加活动类型 and 参加活动方式 multi-select, as the form's note says: "社区党组织按照在职党员参加社区服务的
  情况在相应括号内打'√',其中参加活动类型和参加活动方式可多选".
- ``visit_ledger_xlsx`` — 民情走访台账 (seed 001), the community's team visits and what residents asked.
- ``demand_ledger_xlsx`` — 诉求反馈台账 (seed 001), residents' demands and what was done and fed back.

Every spreadsheet cell from people's text goes through ``shared.spreadsheet.safe_cell``.
"""
from __future__ import annotations

import io
from xml.sax.saxutils import escape

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from reportlab.lib.units import mm
from reportlab.platypus import Spacer, Table, TableStyle

from services.dispatch.six_ones import CARD_ACTIVITY_MODES, CARD_ACTIVITY_TYPES, CARD_OVERALL
from shared.printed_forms import (
    blank, build_pdf, chinese_date, content_width, form_table, label, para, text_of, unit_and_position, value,
)
from shared.spreadsheet import safe_cell

TICK, EMPTY = "（√）", "（\u3000）"
CARD_NOTE = "注：社区党组织按照在职党员参加社区服务的情况在相应括号内打“√”，其中参加活动类型和参加活动方式可多选。"
CARD_RECORD_LINES = 10


def ticks(options, chosen, per_line: int = 4) -> str:
    """'志愿服务（√）　社区文化（　）…', `per_line` options to a line."""
    chosen = set(chosen)
    items = [f"{o}{TICK if o in chosen else EMPTY}" for o in options]
    return "\n".join("\u3000".join(items[i:i + per_line]) for i in range(0, len(items), per_line))


def _records_cell(records: list[dict]):
    if not records:
        return para("（本年度暂无经社区查验的服务记录）", "cell")
    shown = records[-CARD_RECORD_LINES:]
    lines = []
    if len(records) > len(shown):
        lines.append(escape(f"（此前另有 {len(records) - len(shown)} 次服务）"))
    for r in shown:
        hours = f"，{float(r['hours']):g}小时" if r.get("hours") else ""
        content = text_of(r.get("content"))
        content = content if len(content) <= 36 else content[:36] + "…"
        lines.append(escape(f"{chinese_date(r.get('date'))} {text_of(r.get('category'))}：{content}{hours}"))
    return para("<br/>".join(lines), "small")


def feedback_card_pdf(card: dict) -> bytes:
    """在职党员社区表现反馈卡 of one member and year.

    ``card``: the ``PerformanceFeedbackCardIssued`` data (member_name, unit_name, year,
    activity_types, activity_modes, services, service_hours, activities, meets_minimum, overall,
    opinion, records, issued_at) plus community_name, and what the caller adds from registration
    (gender, position, card_no, checked_in_date; blanks when missing).
    """
    width = content_width()
    header = Table([[para(f"社区党组织：{blank(card.get('community_name'), 8)}", "line"),
                     para(f"年度：{int(card['year'])}年", "right")]], colWidths=[width * 0.62, width * 0.38])
    header.setStyle(TableStyle([("LEFTPADDING", (0, 0), (-1, -1), 0), ("RIGHTPADDING", (0, 0), (-1, -1), 0)]))
    minimum = ticks(("达到", "未达到"), ["达到" if card.get("meets_minimum") else "未达到"])
    sign = f"社区党组织（盖章）<br/>{escape(chinese_date(card.get('issued_at', '')[:10] or None))}"
    opinion = Table([[para(escape(text_of(card.get("opinion"))), "cell") if card.get("opinion") else ""],
                     [para(sign, "sign")]], colWidths=[126 * mm])
    opinion.setStyle(TableStyle([("LEFTPADDING", (0, 0), (-1, -1), 0), ("RIGHTPADDING", (0, 0), (-1, -1), 0)]))
    body = form_table(
        [
            [label("姓名"), value(card.get("member_name")), label("性别"), value(card.get("gender")),
             label("报到时间"), value(chinese_date(card.get("checked_in_date")) if card.get("checked_in_date") else "")],
            [label("工作单位及职务"), value(unit_and_position(card.get("unit_name"), card.get("position"))), None, None,
             label("登记卡编号"), value(card.get("card_no"))],
            [label("参加活动类型\n（可多选）"), para(ticks(CARD_ACTIVITY_TYPES, card.get("activity_types", ()), 3), "cell"),
             None, None, None, None],
            [label("参加活动方式\n（可多选）"), para(ticks(CARD_ACTIVITY_MODES, card.get("activity_modes", ()), 3), "cell"),
             None, None, None, None],
            [label("参加服务"), value(f"{int(card.get('services', 0))} 次，共 {float(card.get('service_hours', 0)):g} 小时"),
             None, label("参加社区活动"), value(f"{int(card.get('activities', 0))} 次"), None],
            [label("基本服务要求\n（服务≥2项、活动≥6次）"), para(minimum, "cell"), None, None, None, None],
            [label("综合表现"), para(ticks(CARD_OVERALL, [card.get("overall")]), "cell"), None, None, None, None],
            [label("服务记录"), _records_cell(card.get("records") or []), None, None, None, None],
            [label("社区党组织意见"), opinion, None, None, None, None],
            [label("单位党组织备案"),
             para("单位党组织（盖章）\n\u3000\u3000年\u3000\u3000月\u3000\u3000日", "sign"), None, None, None, None],
        ],
        col_widths=[w * mm for w in (32, 30, 18, 28, 24, 28)],
        spans=[((1, 1), (3, 1)), ((1, 2), (5, 2)), ((1, 3), (5, 3)), ((1, 4), (2, 4)), ((4, 4), (5, 4)),
               ((1, 5), (5, 5)), ((1, 6), (5, 6)), ((1, 7), (5, 7)), ((1, 8), (5, 8)), ((1, 9), (5, 9))],
        row_heights=[None, None, None, None, None, None, None, None, 26 * mm, 20 * mm],
    )
    body.setStyle(TableStyle([("VALIGN", (1, 8), (5, 9), "BOTTOM"), ("VALIGN", (1, 7), (5, 7), "TOP")]))
    return build_pdf("在职党员社区表现反馈卡", [
        para("在职党员社区表现反馈卡", "title"), Spacer(1, 6), header, Spacer(1, 4), body, Spacer(1, 6),
        para(CARD_NOTE, "note"),
        para("本卡由社区党组织据实查验填写，报党员所在单位党组织备案（在职党员社区报到管理办法 二、服务纪实制度）。", "note"),
    ])


# -- ledgers as spreadsheets -----------------------------------------------------------------
_THIN = Side(style="thin", color="000000")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)


def _sheet(title: str, headers: list[str], rows: list[list], widths: list[int], generated_at: str) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = title[:31]
    last = get_column_letter(len(headers))
    ws.merge_cells(f"A1:{last}1")
    ws["A1"] = safe_cell(title)
    ws["A1"].font = Font(name="宋体", size=14, bold=True)
    ws["A1"].alignment = Alignment(horizontal="center", vertical="center")
    for c, h in enumerate(headers, start=1):
        cell = ws.cell(row=2, column=c, value=h)
        cell.font = Font(name="宋体", size=11, bold=True)
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        cell.border = _BORDER
        cell.fill = PatternFill("solid", fgColor="EDEDED")
    for r, row in enumerate(rows, start=3):
        for c, v in enumerate(row, start=1):
            cell = ws.cell(row=r, column=c, value=safe_cell(v))
            cell.font = Font(name="宋体", size=10.5)
            cell.alignment = Alignment(vertical="top", wrap_text=True)
            cell.border = _BORDER
    foot = len(rows) + 4
    ws.cell(row=foot, column=1, value=f"生成时间：{generated_at}").font = Font(name="宋体", size=9, color="666666")
    for c, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(c)].width = w
    ws.freeze_panes = "A3"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.print_title_rows = "2:2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


VISIT_HEADERS = ["序号", "走访日期", "季度", "服务队", "走访区域", "走访户数", "参加走访人员", "居民姓名", "住址",
                 "群众诉求"]


def visit_ledger_xlsx(community_name: str, year: int, visits: list[dict], generated_at: str) -> bytes:
    """民情走访台账: one line per resident's request (a visit without requests is one line)."""
    rows, n = [], 0
    for v in visits:
        n += 1
        asked = v["requests"] or [{"resident": "", "address": "", "request": "（未反映诉求）"}]
        for i, r in enumerate(asked):
            first = i == 0
            rows.append([n if first else None, v["visited_on"] if first else None,
                         f"第{v['quarter']}季度" if first else None, v["team_name"] if first else None,
                         v["area"] if first else None, v["households"] if first else None,
                         "、".join(v["members"]) if first else None, r["resident"], r["address"], r["request"]])
    return _sheet(f"{community_name}{year}年民情走访台账", VISIT_HEADERS, rows, [6, 12, 10, 16, 18, 9, 22, 10, 20, 40],
                  generated_at)


DEMAND_HEADERS = ["序号", "登记日期", "居民", "住址", "诉求类别", "诉求内容", "办理状态", "服务人员/服务队", "办结日期",
                  "办理情况", "服务时长（小时）", "群众评价", "评价意见", "备注"]


def demand_ledger_xlsx(community_name: str, year: int, demands: list[dict], generated_at: str) -> bytes:
    """诉求反馈台账: each demand, what was done (办理情况) and what the resident said back."""
    rows = [[i, d["recorded_on"], d["resident_name"], d["address"], d["category"], d["description"], d["state_name"],
             d["assignee_name"] or "", d["completed_on"] or "", d["service_content"] or "",
             d["hours"] if d["hours"] is not None else "", f"{d['rating']}分" if d["rating"] else "",
             d["comment"] or "", d["note"] or ""] for i, d in enumerate(demands, start=1)]
    return _sheet(f"{community_name}{year}年诉求反馈台账", DEMAND_HEADERS, rows,
                  [6, 12, 10, 18, 10, 30, 14, 16, 12, 30, 10, 9, 20, 18], generated_at)
