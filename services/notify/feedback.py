"""The yearly feedback report to a unit (情况反馈), as PDF and .xlsx.

Built from notify's directory (members, registration, services, activities, evaluation
results); Chinese text in the PDF uses reportlab's built-in CID font STSong-Light.
"""
from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path
from urllib.parse import quote
from xml.sax.saxutils import escape

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

FONT = "STSong-Light"
HEADERS = ["姓名", "报到情况", "报到社区", "服务次数", "服务时长（小时）", "参加活动（次）", "未通过查验", "评价等次", "一票否决"]
_font_ready = False


def _font() -> str:
    global _font_ready
    if not _font_ready:
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
        _font_ready = True
    return FONT


def _cell(value):
    """A value a spreadsheet cell can hold (control characters in names are dropped)."""
    return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value


STEM_BYTES = 120     # file names are limited to 255 bytes, and a CJK character takes 3
FOLDER_BYTES = 150


def _file_stem(text: str) -> str:
    """A file name part from a unit's name: no path separators or control characters, and at
    most STEM_BYTES in UTF-8 (a 100-character name would not fit a file name)."""
    stem = re.sub(r'[\\/:*?"<>|\x00-\x1f\x7f]+', "_", text).strip(" .")
    while len(stem.encode("utf-8")) > STEM_BYTES:
        stem = stem[:-1]
    return stem.rstrip(" .") or "单位"


def unit_folder(directory: Path, unit_id: str, year: int) -> Path:
    """The unit's folder of reports: its id percent-encoded, so no id can name a path outside;
    an id too long to encode as one folder name is cut and told apart by its digest."""
    name = quote(unit_id, safe="").replace(".", "%2E")
    if len(name) > FOLDER_BYTES:
        name = f"{name[:100]}-{hashlib.sha256(unit_id.encode('utf-8')).hexdigest()[:16]}"
    return Path(directory) / name / str(int(year))


def title_of(figures: dict) -> str:
    return f"{figures['unit_name']}{figures['year']}年度在职党员到社区报到服务情况反馈"


def rows_of(figures: dict) -> list[list]:
    return [[m["name"], "已报到" if m["registered"] else "未报到", m["community"] or "—", m["services"],
             round(m["hours"], 1), m["activities"], m["rejected"],
             (f"{m['grade']}（{m['stars']}星）" if m["grade"] else "—"), "是" if m["vetoed"] else "否"]
            for m in figures["members"]]


def summary_of(figures: dict) -> str:
    t = figures["totals"]
    return (f"在册党员{t['members']}名，已报到{t['registered']}名；完成服务{t['services']}次，共{t['hours']}小时；"
            f"参加活动{t['activities']}人次；服务纪实未通过查验{t['rejected']}次；一票否决{t['vetoed']}人。")


def report_pdf(figures: dict, generated_at: str) -> bytes:
    font = _font()
    title = ParagraphStyle("t", fontName=font, fontSize=16, leading=22, alignment=1)
    body = ParagraphStyle("b", fontName=font, fontSize=10.5, leading=16)
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=18 * mm,
                            bottomMargin=18 * mm, title=title_of(figures))
    table = Table([HEADERS] + rows_of(figures), repeatRows=1)
    table.setStyle(TableStyle([("FONTNAME", (0, 0), (-1, -1), font), ("FONTSIZE", (0, 0), (-1, -1), 8.5),
                               ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
                               ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f3d9d9")),
                               ("ALIGN", (1, 0), (-1, -1), "CENTER")]))
    story = [Paragraph(escape(title_of(figures)), title), Spacer(1, 6 * mm),
             Paragraph(escape(f"{figures['unit_name']}党组织："), body),
             Paragraph("现将贵单位在职党员到社区报到服务情况反馈如下。" + escape(summary_of(figures)), body),
             Spacer(1, 4 * mm), table, Spacer(1, 6 * mm),
             Paragraph(f"生成时间：{generated_at}", body)]
    doc.build(story)
    return buf.getvalue()


def report_xlsx(figures: dict, generated_at: str) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "情况反馈"
    ws.append([_cell(title_of(figures))])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append([_cell(summary_of(figures))])
    ws.append(HEADERS)
    for cell in ws[3]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(horizontal="center")
    for row in rows_of(figures):
        ws.append([_cell(v) for v in row])
    ws.append([])
    ws.append([f"生成时间：{generated_at}"])
    for col, width in zip("ABCDEFGHI", (12, 10, 16, 10, 16, 14, 12, 14, 10)):
        ws.column_dimensions[col].width = width
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def write_report(figures: dict, directory: Path, generated_at: str) -> list[Path]:
    """Both files under `directory/<unit>/<year>/`; returns their paths."""
    out = unit_folder(directory, figures["unit_id"], figures["year"])
    out.mkdir(parents=True, exist_ok=True)
    stem = f"情况反馈-{_file_stem(figures['unit_name'])}-{figures['year']}"
    pdf, xlsx = out / f"{stem}.pdf", out / f"{stem}.xlsx"
    for path, content in ((pdf, report_pdf(figures, generated_at)), (xlsx, report_xlsx(figures, generated_at))):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(content)
        tmp.replace(path)
    return [pdf, xlsx]


CONTENT_TYPES = {"pdf": "application/pdf",
                 "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def latest_report(directory: Path, unit_id: str, year: int, fmt: str) -> dict | None:
    """The unit's latest report of `year` in `fmt` (pdf or xlsx), as a document to download
    ({filename, content_type, content_base64}), or None if none was generated."""
    import base64

    if fmt not in CONTENT_TYPES:
        return None
    found = sorted(unit_folder(directory, unit_id, year).glob(f"*.{fmt}"), key=lambda p: p.stat().st_mtime)
    if not found:
        return None
    return {"filename": found[-1].name, "content_type": CONTENT_TYPES[fmt],
            "content_base64": base64.b64encode(found[-1].read_bytes()).decode()}
