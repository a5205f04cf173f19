"""Registration's printed forms (seeds 000 附件1/附件2, 002 forms 2-4), rendered as documents.

An adapter, not domain: pure functions that take plain dicts/lists and return the bytes of a PDF
or an xlsx file. No nameko, no SQLAlchemy; callers read the facts from the read models and hand
them over.

- ``introduction_letter_pdf`` — 在职党员报到介绍信, with the tear-off 回执 below a cut line.
- ``receipt_pdf`` — 在职党员报到介绍信（回执）, filled by the community after check-in.
- ``registration_card_pdf`` — 社区在职党员报到登记卡 (phone masked unless ``show_phone``).
- ``statistics_xlsx`` — 在职党员报到情况统计表 (with leading cadres, and the overdue members).
- ``roster_xlsx`` — 在职党员名册 ("四个清"), in the import's columns (it can be imported again).
- ``mask_phone`` / ``mask_id_number`` — what a printed form shows of personal numbers.

The PDF plumbing (font, ruled tables, blanks to fill in by hand) is ``shared.printed_forms``.
"""
from __future__ import annotations

import io
from xml.sax.saxutils import escape

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, Spacer, Table, TableStyle

from shared.printed_forms import (  # the forms' plumbing, under the names used below
    CutLine as _CutLine, blank as _blank, build_pdf as _build_pdf, chinese_date,
    content_width as _content_width, form_table as _form_table, label as _L, para as _p,
    party_status as _party_status, text_of as _text,
    two_sided as _two_sided, unit_and_position as _unit_and_position, value as _V,
)
from shared.privacy import mask_id_number, mask_phone  # noqa: F401 - re-exported
from shared.spreadsheet import safe_cell

__all__ = [
    "introduction_letter_pdf", "receipt_pdf", "registration_card_pdf", "statistics_xlsx", "roster_xlsx",
    "mask_phone", "mask_id_number", "chinese_date",
]


def _receipt_story(*, unit_name, member_name, community_name=None, card_no=None, letter_id=None,
                   contact=None, contact_phone=None, checked_in_date=None):
    """The 回执 paragraphs: used on its own and as the tear-off part of the letter."""

    width = _content_width()
    numbers = f"登记卡编号：{_blank(card_no, 6)}"
    if letter_id:
        numbers = f"介绍信编号：{escape(_text(letter_id))}\u3000\u3000{numbers}"
    meta = [_p(f"报到社区：{escape(_text(community_name))}", "meta")] if community_name else []
    return [
        _p("在职党员报到介绍信（回执）", "title"),
        *meta,
        _p(numbers, "meta"),
        _p(f"{_blank(unit_name, 8)}党组织：", "addressee"),
        _p(f"{_blank(member_name, 4, wrapping=True)}同志已到我处报到，并提交了《在职党员报到介绍信》，特此回复。",
           "body"),
        Spacer(1, 10),
        _two_sided(f"社区联系人：{_blank(contact, 6)}", f"联系电话：{_blank(contact_phone, 7)}", width),
        Spacer(1, 22),
        _p("社区党组织（盖章）", "sign"),
        _p(escape(chinese_date(checked_in_date)), "sign"),
    ]


# -- 1. 在职党员报到介绍信 --------------------------------------------------------------------
def introduction_letter_pdf(letter: dict) -> bytes:
    """在职党员报到介绍信 (seed 002 form 2, facts as in seed 000 附件2), with a tear-off 回执.

    ``letter``: letter_id, community_name, member_name, gender, age (optional), unit_name,
    position, phone, skills (list), willingness (服务意愿, seed 000 附件2), probationary (bool),
    unit_contact (optional), unit_contact_phone (optional), issued_date (ISO date). The phone is
    printed in full: the letter goes to the community, which needs to reach the member.
    """

    width = _content_width()
    name = _text(letter.get("member_name"))
    unit = _text(letter.get("unit_name"))
    status = "预备" if letter.get("probationary") else "正式"
    facts = _form_table(
        [
            [_L("姓名"), _V(name), _L("性别"), _V(letter.get("gender")), _L("年龄"), _V(letter.get("age"))],
            [_L("工作单位及职务"), _V(_unit_and_position(unit, letter.get("position"))), None, None,
             _L("联系方式"), _V(letter.get("phone"))],
            [_L("技能特长"), _V(letter.get("skills")), None, None, None, None],
            [_L("服务意愿"), _V(letter.get("willingness")), None, None, None, None],
        ],
        col_widths=[w * mm for w in (32, 30, 18, 26, 20, 34)],
        spans=[((1, 1), (3, 1)), ((1, 2), (5, 2)), ((1, 3), (5, 3))],
        row_heights=[None, None, 14 * mm, 14 * mm],
    )
    story = [
        _p("在职党员报到介绍信", "title"),
        _p(f"编号：{escape(_text(letter.get('letter_id')))}", "meta"),
        _p(f"{_blank(letter.get('community_name'), 8)}党组织：", "addressee"),
        _p(f"{_blank(name, 4, wrapping=True)}同志系{_blank(unit, 6, wrapping=True)}中共{status}党员，现介绍该同志到你处报到，"
           "并参加社区服务活动，请予以接洽。该同志基本情况如下：", "body"),
        Spacer(1, 6),
        facts,
        Spacer(1, 10),
        _two_sided(f"单位联系人：{_blank(letter.get('unit_contact'), 6)}",
                   f"联系电话：{_blank(letter.get('unit_contact_phone'), 7)}", width),
        Spacer(1, 18),
        _p("单位党组织（盖章）", "sign"),
        _p(escape(chinese_date(letter.get("issued_date"))), "sign"),
        Spacer(1, 12 * mm),
        _CutLine("沿此线剪开（回执由社区党组织填写后交回单位党组织）"),
        Spacer(1, 6 * mm),
        KeepTogether(_receipt_story(unit_name=unit, member_name=name, letter_id=letter.get("letter_id"),
                                    community_name=letter.get("community_name"))),
    ]
    return _build_pdf("在职党员报到介绍信", story)


# -- 2. 回执 ----------------------------------------------------------------------------------
def receipt_pdf(receipt: dict) -> bytes:
    """在职党员报到介绍信（回执）: the community tells the unit the member has checked in.

    ``receipt``: unit_name, member_name, community_name, card_no, checked_in_date (ISO date),
    community_contact (optional), community_contact_phone (optional), letter_id (optional).
    """
    story = _receipt_story(
        unit_name=receipt.get("unit_name"), member_name=receipt.get("member_name"),
        community_name=receipt.get("community_name"), card_no=receipt.get("card_no"),
        letter_id=receipt.get("letter_id"), contact=receipt.get("community_contact"),
        contact_phone=receipt.get("community_contact_phone"), checked_in_date=receipt.get("checked_in_date"),
    )
    return _build_pdf("在职党员报到介绍信（回执）", story)


# -- 3. 登记卡 --------------------------------------------------------------------------------
def registration_card_pdf(card: dict) -> bytes:
    """社区在职党员报到登记卡 (seed 002 form 3, rows as in seed 000 附件1).

    ``card``: community_name, card_no, member_name, gender, age (optional), unit_name, position,
    phone, skills (list or str), willingness (服务意愿, list or str), availability (每周可服务时间,
    list of str such as "周六 上午"), grid_name (所在网格), branch_name (编入支部),
    checked_in_date (ISO date), probationary (bool), leading_cadre (bool), show_phone (bool,
    default False: the phone is masked 138****5678); service_records (服务记录, seed 000 附件1:
    dicts with date, category, content, hours — the verified ones, newest last; the card lists
    the last ``CARD_RECORD_LINES`` and counts the rest), community_opinion / unit_opinion
    (社区党组织意见 / 单位党组织意见: dicts with text and date, or None for a blank to fill in).
    """

    width = _content_width()
    phone = card.get("phone")
    phone_shown = _text(phone) if card.get("show_phone") is True else mask_phone(phone)
    availability = card.get("availability") or []
    if isinstance(availability, str):
        availability = [availability]
    header = Table(
        [[_p(f"报到地党组织：{_blank(card.get('community_name'), 8)}", "line"),
          _p(f"编号：{_blank(card.get('card_no'), 6)}", "right")]],
        colWidths=[width * 0.62, width * 0.38])
    header.setStyle(TableStyle([("LEFTPADDING", (0, 0), (-1, -1), 0), ("RIGHTPADDING", (0, 0), (-1, -1), 0)]))
    header.hAlign = "CENTER"
    body = _form_table(
        [
            [_L("姓名"), _V(card.get("member_name")), _L("性别"), _V(card.get("gender")),
             _L("年龄"), _V(card.get("age"))],
            [_L("工作单位及职务"), _V(_unit_and_position(card.get("unit_name"), card.get("position"))), None, None,
             _L("联系方式"), _V(phone_shown)],
            [_L("正式/预备党员"), _V(_party_status(card.get("probationary"))),
             _L("是否党员\n领导干部"), _V("是" if card.get("leading_cadre") else "否"),
             _L("报到日期"), _V(chinese_date(card.get("checked_in_date")))],
            [_L("技能特长"), _V(card.get("skills")), None, None, None, None],
            [_L("服务意愿"), _V(card.get("willingness")), None, None, None, None],
            [_L("每周可服务时间"), _V("；".join(_text(a) for a in availability)), None, None, None, None],
            [_L("所在网格"), _V(card.get("grid_name")), None, _L("编入支部"), _V(card.get("branch_name")), None],
            [_L("服务记录"), _service_records_cell(card.get("service_records") or []), None, None, None, None],
            [_L("社区党组织意见"), _opinion_cell(card.get("community_opinion"), "社区党组织（盖章）"),
             None, None, None, None],
            [_L("单位党组织意见"), _opinion_cell(card.get("unit_opinion"), "单位党组织（盖章）"), None, None, None, None],
        ],
        col_widths=[w * mm for w in (32, 28, 26, 22, 20, 32)],
        spans=[((1, 1), (3, 1)), ((1, 3), (5, 3)), ((1, 4), (5, 4)), ((1, 5), (5, 5)), ((1, 6), (2, 6)),
               ((4, 6), (5, 6)), ((1, 7), (5, 7)), ((1, 8), (5, 8)), ((1, 9), (5, 9))],
        row_heights=[None, None, None, 13 * mm, 13 * mm, 11 * mm, None, None, 25 * mm, 25 * mm],
    )
    # The stamp and date sit in the bottom right of the 意见 cells, as on the paper form.
    body.setStyle(TableStyle([("VALIGN", (1, 8), (5, 9), "BOTTOM"), ("VALIGN", (1, 7), (5, 7), "TOP")]))
    return _build_pdf("社区在职党员报到登记卡", [
        _p("社区在职党员报到登记卡", "title"),
        Spacer(1, 6),
        header,
        Spacer(1, 4),
        body,
        Spacer(1, 6),
        _p("注：本卡一式两份，分别由社区、党员所在单位党组织留存；编入支部、网格后报街道党工委备案；联系方式按规定遮挡。",
           "note"),
    ])


CARD_RECORD_LINES = 8


def _service_records_cell(records: list[dict]):
    """服务记录: one line per verified service (date, kind, content, hours); the last
    CARD_RECORD_LINES of them, and how many came before."""
    if not records:
        return _p("（暂无经社区查验的服务记录）", "cell")
    shown = records[-CARD_RECORD_LINES:]
    lines = []
    if len(records) > len(shown):
        lines.append(escape(f"（此前另有 {len(records) - len(shown)} 次服务，见服务纪实）"))
    for r in shown:
        hours = f"，{float(r['hours']):g}小时" if r.get("hours") else ""
        content = _text(r.get("content"))
        content = content if len(content) <= 40 else content[:40] + "…"
        lines.append(escape(f"{chinese_date(r.get('date'))} {_text(r.get('category'))}：{content}{hours}"))
    return _p("<br/>".join(lines), "small")


def _opinion_cell(opinion: dict | None, signer: str):
    """An 意见 box: the recorded opinion (or blank lines to write by hand), the stamp and date."""
    opinion = opinion or {}
    text = escape(_text(opinion.get("text")))
    sign = f"{signer}<br/>{escape(chinese_date(opinion.get('date')))}"
    inner = Table([[_p(text, "cell") if text else ""], [_p(sign, "sign") if opinion.get("date") else
                                                          _p(f"{signer}\n\u3000\u3000年\u3000\u3000月\u3000\u3000日",
                                                             "sign")]],
                  colWidths=[126 * mm])
    inner.setStyle(TableStyle([("LEFTPADDING", (0, 0), (-1, -1), 0), ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                               ("TOPPADDING", (0, 0), (-1, -1), 0), ("BOTTOMPADDING", (0, 0), (-1, -1), 0)]))
    return inner


# -- 4. 统计表 --------------------------------------------------------------------------------
STAT_HEADERS = ("序号", "名称", "在职党员总数", "已报到", "未报到", "报到率", "党员领导干部", "其中已报到",
                "逾期未报到原因")
OVERDUE_HEADERS = ("序号", "姓名", "党员领导干部", "工作单位", "居住社区", "报到要求", "截止日期", "原因", "说明")


def _reasons_text(reasons, overdue=None) -> str:
    """{'病假': 2, '外派': 1} → '病假 2；外派 1'; overdue members without a reason → '未说明 k'."""
    reasons = dict(reasons or {})
    parts = [f"{k} {v}" for k, v in reasons.items() if v]
    if overdue:
        missing = int(overdue) - sum(int(v) for v in reasons.values() if v)
        if missing > 0:
            parts.append(f"未说明 {missing}")
    return "；".join(parts)


def _rate(registered, members, given=None) -> float:
    if given is not None:
        return float(given)
    return (registered / members) if members else 0.0


def statistics_xlsx(title: str, scope_label: str, rows: list[dict], totals: dict, generated_at: str,
                    overdue: list[dict] | None = None) -> bytes:
    """在职党员报到情况统计表 (seed 002 form 4) as an xlsx workbook.

    ``rows``: dicts with name, members, registered, overdue, rate (0..1; computed if missing),
    overdue_reasons (reason → count), leading_cadres ({members, registered}: 党员领导干部, seed
    000 四.2 坚持领导带头; zero if missing). The 未报到 column is members − registered; the reasons
    column lists overdue_reasons and, if ``overdue`` exceeds their sum, '未说明 k'.
    ``overdue``: the overdue members (``readmodels.overdue_list``), written on a second sheet,
    逾期未报到名单, leading cadres first.
    ``totals``: members, registered (both required: they fill the 注 line), overdue, rate and
    overdue_reasons optional (summed over ``rows`` when missing). ``scope_label`` names what the
    table covers (a unit, community, street or district); ``generated_at`` is printed at the foot.
    """

    overdue_rows = overdue   # (the name is reused below for each row's count)
    wb = Workbook()
    ws = wb.active
    ws.title = "报到情况统计表"
    ncol = len(STAT_HEADERS)
    last = get_column_letter(ncol)
    font = "宋体"
    thin = Side(style="thin", color="000000")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    centre = Alignment(horizontal="center", vertical="center", wrap_text=True)
    left = Alignment(horizontal="left", vertical="center", wrap_text=True)

    ws.merge_cells(f"A1:{last}1")
    ws["A1"] = title
    ws["A1"].font = Font(name=font, size=16, bold=True)
    ws["A1"].alignment = centre
    ws.row_dimensions[1].height = 32

    ws.merge_cells("A2:D2")
    ws["A2"] = "单位党组织盖章："
    ws.merge_cells(f"E2:{last}2")
    ws["E2"] = f"统计范围：{scope_label}"
    for ref in ("A2", "E2"):
        ws[ref].font = Font(name=font, size=11)
    ws["A2"].alignment = Alignment(horizontal="left", vertical="center")
    ws["E2"].alignment = Alignment(horizontal="right", vertical="center")
    ws.row_dimensions[2].height = 22

    header_row = 3
    for c, h in enumerate(STAT_HEADERS, start=1):
        cell = ws.cell(row=header_row, column=c, value=h)
        cell.font = Font(name=font, size=11, bold=True)
        cell.alignment = centre
        cell.border = border
        cell.fill = PatternFill("solid", fgColor="EDEDED")
    ws.row_dimensions[header_row].height = 24

    def write_row(r, values, bold=False):
        for c, v in enumerate(values, start=1):
            cell = ws.cell(row=r, column=c, value=v)
            cell.font = Font(name=font, size=11, bold=bold)
            cell.border = border
            cell.alignment = left if c in (2, 7) else centre
        ws.cell(row=r, column=6).number_format = "0.0%"

    r = header_row
    sums = {"members": 0, "registered": 0, "overdue": 0}
    reason_sums: dict = {}
    lead_sums = {"members": 0, "registered": 0}
    for i, row in enumerate(rows, start=1):
        r += 1
        lead = row.get("leading_cadres") or {}
        lead_sums["members"] += int(lead.get("members") or 0)
        lead_sums["registered"] += int(lead.get("registered") or 0)
        members = int(row.get("members") or 0)
        registered = int(row.get("registered") or 0)
        overdue = int(row.get("overdue") or 0)
        sums["members"] += members
        sums["registered"] += registered
        sums["overdue"] += overdue
        for k, v in (row.get("overdue_reasons") or {}).items():
            reason_sums[k] = reason_sums.get(k, 0) + int(v or 0)
        write_row(r, [i, safe_cell(_text(row.get("name"))), members, registered, members - registered,
                      _rate(registered, members, row.get("rate")), int(lead.get("members") or 0),
                      int(lead.get("registered") or 0), safe_cell(_reasons_text(row.get("overdue_reasons"), overdue))])

    t_members = int(totals.get("members", sums["members"]) or 0)
    t_registered = int(totals.get("registered", sums["registered"]) or 0)
    t_overdue = int(totals.get("overdue", sums["overdue"]) or 0)
    t_reasons = totals.get("overdue_reasons", reason_sums)
    t_lead = {**lead_sums, **(totals.get("leading_cadres") or {})}
    r += 1
    total_row = r
    write_row(r, ["合计", "", t_members, t_registered, t_members - t_registered,
                  _rate(t_registered, t_members, totals.get("rate")), int(t_lead["members"]),
                  int(t_lead["registered"]), safe_cell(_reasons_text(t_reasons, t_overdue))],
              bold=True)
    ws.merge_cells(start_row=total_row, start_column=1, end_row=total_row, end_column=2)

    r += 1
    ws.merge_cells(f"A{r}:{last}{r}")
    ws[f"A{r}"] = (f"注：本单位共有在职党员 {t_members} 名，到社区报到党员 {t_registered} 名；"
                   f"其中党员领导干部 {int(t_lead['members'])} 名，到社区报到 {int(t_lead['registered'])} 名")
    ws[f"A{r}"].font = Font(name=font, size=11)
    ws[f"A{r}"].alignment = Alignment(horizontal="left", vertical="center")
    ws.row_dimensions[r].height = 22
    r += 1
    ws.merge_cells(f"A{r}:{last}{r}")
    ws[f"A{r}"] = f"生成时间：{generated_at}"
    ws[f"A{r}"].font = Font(name=font, size=9, color="666666")
    ws[f"A{r}"].alignment = Alignment(horizontal="right", vertical="center")

    for col, w in zip("ABCDEFGHI", (7, 28, 14, 10, 10, 10, 13, 11, 36)):
        ws.column_dimensions[col].width = w
    ws.freeze_panes = ws.cell(row=header_row + 1, column=1)
    ws.print_title_rows = f"{header_row}:{header_row}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.horizontalCentered = True

    if overdue_rows is not None:
        _overdue_sheet(wb.create_sheet("逾期未报到名单"), scope_label, overdue_rows, border, centre, left, font)

    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _overdue_sheet(ws, scope_label: str, overdue: list[dict], border, centre, left, font) -> None:
    """Who is overdue, leading cadres first (as ``overdue_list`` orders them)."""
    last = get_column_letter(len(OVERDUE_HEADERS))
    ws.merge_cells(f"A1:{last}1")
    ws["A1"] = f"逾期未报到党员名单（{scope_label}）"
    ws["A1"].font = Font(name=font, size=14, bold=True)
    ws["A1"].alignment = centre
    for c, h in enumerate(OVERDUE_HEADERS, start=1):
        cell = ws.cell(row=2, column=c, value=h)
        cell.font = Font(name=font, size=11, bold=True)
        cell.alignment = centre
        cell.border = border
        cell.fill = PatternFill("solid", fgColor="EDEDED")
    for i, m in enumerate(overdue, start=1):
        values = [i, m.get("name"), "是" if m.get("leading_cadre") else "否", m.get("unit_name"),
                  m.get("community_name"), m.get("title"), m.get("due_date"), m.get("reason") or "未填写原因",
                  m.get("note") or ""]
        for c, v in enumerate(values, start=1):
            cell = ws.cell(row=i + 2, column=c, value=safe_cell(v))
            cell.font = Font(name=font, size=11, bold=bool(m.get("leading_cadre")) and c == 3)
            cell.border = border
            cell.alignment = left if c in (2, 4, 5, 6, 9) else centre
    for col, w in zip("ABCDEFGHI", (7, 12, 12, 24, 16, 22, 12, 12, 24)):
        ws.column_dimensions[col].width = w
    ws.freeze_panes = "A3"


# -- 5. 名册 ----------------------------------------------------------------------------------
def roster_xlsx(unit_name: str, rows: list[dict], generated_at: str) -> bytes:
    """在职党员名册: the unit's roster as seed 002 asks a unit to know it ("四个清": 基本情况、工作
    单位、职务专长、兴趣爱好), in the columns the import reads (so the file can be edited and
    imported again), then 报到情况 and 登记卡编号. Cells are written with ``safe_cell``.

    ``rows``: ``readmodels.roster_export`` rows (name, gender, age, position, phone, skills,
    willingness, residence_community, status, leading_cadre, interests, registered, card_no).
    """
    from services.registration.roster_import import COLUMNS

    wb = Workbook()
    ws = wb.active
    ws.title = "名册"
    headers = list(COLUMNS.values()) + ["报到情况", "登记卡编号"]
    ws.append([safe_cell(f"{unit_name}在职党员名册")])
    ws["A1"].font = Font(name="宋体", size=14, bold=True)
    ws.append(headers)
    for cell in ws[2]:
        cell.font = Font(name="宋体", size=11, bold=True)
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        cell.fill = PatternFill("solid", fgColor="EDEDED")
    for row in rows:
        values = [_text(row.get(key)) if key in ("skills", "interests") else row.get(key) for key in COLUMNS]
        values += ["已报到" if row.get("registered") else "未报到", row.get("card_no") or ""]
        ws.append([safe_cell(v) for v in values])
    for col in range(1, len(headers) + 1):
        ws.column_dimensions[get_column_letter(col)].width = 14
    ws.append([])
    ws.append([f"生成时间：{generated_at}"])
    ws.freeze_panes = "A3"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
