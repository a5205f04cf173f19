"""The plumbing of the printed forms (报到介绍信, 登记卡, 表现反馈卡…): A4 PDFs with ruled tables
and Chinese text, laid out like the seeds' attachments. Every service that prints a form uses it.

Chinese text uses reportlab's built-in CID font STSong-Light (Adobe-GB1; not embedded, so no
font file is needed; viewers substitute a Song/Ming face). Its text extracts as Unicode.
"""
from __future__ import annotations

import io
from datetime import date, datetime
from functools import lru_cache
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Table, TableStyle, XPreformatted

FONT = "STSong-Light"


# -- small text helpers --------------------------------------------------------------------
def chinese_date(value) -> str:
    """'2026-11-22' (or a datetime/ISO timestamp) → '2026年11月22日'; empty → blank form date."""
    if value in (None, ""):
        return "　　年　　月　　日"
    if isinstance(value, datetime):
        d = value.date()
    elif isinstance(value, date):
        d = value
    else:
        d = date.fromisoformat(str(value).strip()[:10])
    return f"{d.year}年{d.month}月{d.day}日"


def text_of(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple, set)):
        return "、".join(str(v) for v in value if v not in (None, ""))
    return str(value)


def unit_and_position(unit_name, position) -> str:
    return " ".join(p for p in (text_of(unit_name), text_of(position)) if p)


def party_status(probationary) -> str:
    return "预备党员" if probationary else "正式党员"


# -- PDF plumbing --------------------------------------------------------------------------
@lru_cache(maxsize=1)
def styles():
    pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    base = dict(fontName=FONT, wordWrap="CJK")
    return {
        "title": ParagraphStyle("title", fontSize=20, leading=28, alignment=TA_CENTER, spaceAfter=4, **base),
        "meta": ParagraphStyle("meta", fontSize=10.5, leading=16, alignment=TA_RIGHT, **base),
        "addressee": ParagraphStyle("addressee", fontSize=13, leading=24, spaceBefore=10, **base),
        "body": ParagraphStyle("body", fontSize=13, leading=24, firstLineIndent=26, **base),
        "line": ParagraphStyle("line", fontSize=12, leading=22, **base),
        "right": ParagraphStyle("right", fontSize=12, leading=22, alignment=TA_RIGHT, **base),
        "sign": ParagraphStyle("sign", fontSize=12, leading=22, alignment=TA_RIGHT, rightIndent=18, **base),
        "cell_label": ParagraphStyle("cell_label", fontSize=11, leading=15, alignment=TA_CENTER, **base),
        "cell": ParagraphStyle("cell", fontSize=11, leading=15, alignment=TA_LEFT, **base),
        "cut": ParagraphStyle("cut", fontSize=9, leading=12, alignment=TA_CENTER, **base),
        "note": ParagraphStyle("note", fontSize=9.5, leading=14, **base),
        "small": ParagraphStyle("small", fontSize=9.5, leading=13, alignment=TA_LEFT, **base),
    }


def para(text, style: str):
    """A paragraph of markup. Text holding ideographic spaces (U+3000: blanks to fill in by hand,
    '　　年　　月　　日') is a one-line XPreformatted, since Paragraph would collapse them."""
    if "\u3000" in text:
        return XPreformatted(text, styles()[style])
    return Paragraph(text, styles()[style])


def para_escaped(value, style: str):
    """A paragraph of escaped plain text."""
    return para(escape(text_of(value)), style)


def blank(value, width: int = 10, wrapping: bool = False) -> str:
    """Escaped value, or an underlined blank ``width`` characters wide to fill in by hand.

    The blank is underlined ideographic spaces (one-line text only, see ``_p``; Adobe-GB1 has no
    U+00A0); inside text that must wrap it is a row of underscores instead.
    """
    text = text_of(value)
    if text:
        return escape(text)
    if wrapping:
        return "_" * (width * 2)
    return "<u>" + "\u3000" * width + "</u>"


def two_sided(left_html: str, right_html: str, width):
    """One line with a left part and a right part (e.g. '联系人：…' and '联系电话：…')."""

    t = Table([[para(left_html, "line"), para(right_html, "line")]], colWidths=[width * 0.55, width * 0.45])
    t.setStyle(TableStyle([("LEFTPADDING", (0, 0), (-1, -1), 0), ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                           ("TOPPADDING", (0, 0), (-1, -1), 0), ("BOTTOMPADDING", (0, 0), (-1, -1), 0)]))
    return t


def form_table(rows, col_widths, spans=(), row_heights=None):
    """A ruled form table; label cells (odd positions given as str) are centred and shaded."""

    cells = []
    label_cells = []
    for r, row in enumerate(rows):
        out = []
        for c, item in enumerate(row):
            if isinstance(item, tuple):  # ("label", text)
                kind, text = item
                if kind == "label":  # "\n" in a label is a chosen line break
                    label_cells.append((c, r))
                    out.append(para(escape(text).replace("\n", "<br/>"), "cell_label"))
                else:
                    out.append(para_escaped(text, "cell"))
            elif item is None:
                out.append("")
            elif isinstance(item, Flowable):
                out.append(item)
            else:
                out.append(para_escaped(item, "cell"))
        cells.append(out)
    t = Table(cells, colWidths=col_widths, rowHeights=row_heights)
    style = [
        ("GRID", (0, 0), (-1, -1), 0.8, colors.black),
        ("BOX", (0, 0), (-1, -1), 1.4, colors.black),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 5),
        ("LEFTPADDING", (0, 0), (-1, -1), 4),
        ("RIGHTPADDING", (0, 0), (-1, -1), 4),
    ]
    for c, r in label_cells:
        style.append(("BACKGROUND", (c, r), (c, r), colors.Color(0.94, 0.94, 0.94)))
    for (c0, r0), (c1, r1) in spans:
        style.append(("SPAN", (c0, r0), (c1, r1)))
    t.setStyle(TableStyle(style))
    return t


def label(text):
    return ("label", text)


def value(text):
    return ("value", text)


class CutLine(Flowable):
    """The dashed tear-off line with a caption in the middle."""

    def __init__(self, caption: str):
        super().__init__()
        self.caption = caption

    def wrap(self, avail_width, avail_height):
        self.width, self.height = avail_width, 16
        return self.width, self.height

    def draw(self):
        style = styles()["cut"]
        c = self.canv
        gap, mid_y = 8, self.height / 2
        left_end = (self.width - c.stringWidth(self.caption, style.fontName, style.fontSize)) / 2 - gap
        c.saveState()
        c.setDash(4, 3)
        c.setLineWidth(0.7)
        c.line(0, mid_y, left_end, mid_y)
        c.line(self.width - left_end, mid_y, self.width, mid_y)
        c.setFont(style.fontName, style.fontSize)
        c.drawCentredString(self.width / 2, mid_y - style.fontSize / 3, self.caption)
        c.restoreState()


def build_pdf(title: str, story) -> bytes:

    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=25 * mm, rightMargin=25 * mm, topMargin=22 * mm,
                            bottomMargin=20 * mm, title=title, author="报到", subject=title)
    doc.build(story)
    return buf.getvalue()


def content_width():

    return A4[0] - 50 * mm


