"""Registration's printed forms: the PDFs and the xlsx are opened and their text and cells read."""
import io
import re
import shutil
import subprocess

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from services.registration.forms import (
    chinese_date, introduction_letter_pdf, mask_id_number, mask_phone, receipt_pdf, registration_card_pdf,
    statistics_xlsx,
)

LETTER = dict(
    letter_id="L-2026-0007", community_name="幸福社区", member_name="张三", gender="男", age=42,
    unit_name="市财政局", position="预算科科长", phone="13812345678", skills=["法律咨询", "书法"],
    probationary=True, unit_contact="李四", unit_contact_phone="0551-62345678", issued_date="2026-11-22",
)
LETTER_WITH_WILLINGNESS = dict(LETTER, willingness="周末参加社区矛盾调解")
RECEIPT = dict(
    unit_name="市财政局", member_name="张三", community_name="幸福社区", card_no="XF-00001",
    checked_in_date="2026-11-25", community_contact="王五", community_contact_phone="13900001111",
)
CARD = dict(
    community_name="幸福社区党委", card_no="XF-00001", member_name="张三", gender="男", age=42,
    unit_name="市财政局", position="预算科科长", phone="13812345678", skills=["法律咨询", "书法"],
    willingness="矛盾调解、政策宣传", availability=["周六 上午", "周日 下午"], grid_name="第三网格",
    branch_name="第一党支部", checked_in_date="2026-11-25", probationary=False, leading_cadre=True,
)


def pdf_pages(data: bytes) -> list[str]:
    """Each page's text with all whitespace removed (the layout's spaces and line breaks)."""
    assert data.startswith(b"%PDF-")
    return [re.sub(r"\s+", "", page.extract_text()) for page in PdfReader(io.BytesIO(data)).pages]


def pdf_text(data: bytes) -> str:
    pages = pdf_pages(data)
    assert len(pages) == 1, "each form fits on one A4 page"
    return pages[0]


def pdf_text_fonts(data: bytes) -> set[str]:
    """The fonts that actually show text (the resources also list reportlab's idle Helvetica)."""
    fonts = set()

    def visit(text, cm, tm, font_dict, font_size):
        if text.strip():
            fonts.add(str(font_dict["/BaseFont"]) if font_dict else None)

    for page in PdfReader(io.BytesIO(data)).pages:
        page.extract_text(visitor_text=visit)
    return fonts


# -- masking --------------------------------------------------------------------------------
def test_mask_phone_keeps_first_three_and_last_four():
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone(" 13812345678 ") == "138****5678"
    assert mask_phone("+8613812345678") == "+86*******5678"


@pytest.mark.parametrize("value", ["1", "12", "123", "1234", "62345678", "1381234567"])
def test_mask_phone_short_values_are_mostly_stars_and_never_whole(value):
    masked = mask_phone(value)
    assert masked != value and len(masked) == len(value)
    assert masked.count("*") > len(value) / 2


def test_mask_phone_and_id_of_nothing_is_empty():
    assert mask_phone(None) == mask_phone("") == mask_id_number(None) == mask_id_number("  ") == ""


def test_mask_id_number_keeps_first_six_and_last_four():
    assert mask_id_number("34010219800101123X") == "340102********123X"
    assert mask_id_number("340102800101123") == "340102*****1123"  # the old 15-digit number


@pytest.mark.parametrize("value", ["3401021980", "12345", "1"])
def test_mask_id_number_short_values_are_mostly_stars(value):
    masked = mask_id_number(value)
    assert masked != value and masked.count("*") > len(value) / 2


def test_chinese_date():
    assert chinese_date("2026-11-22") == "2026年11月22日"
    assert chinese_date("2026-01-05T09:30:00+08:00") == "2026年1月5日"
    assert chinese_date(None) == "\u3000\u3000年\u3000\u3000月\u3000\u3000日"


# -- 介绍信 ------------------------------------------------------------------------------------
def test_introduction_letter_reads_like_the_seed_form():
    text = pdf_text(introduction_letter_pdf(LETTER))
    assert text.startswith("在职党员报到介绍信编号：L-2026-0007")
    assert "幸福社区党组织：" in text
    assert ("张三同志系市财政局中共预备党员，现介绍该同志到你处报到，并参加社区服务活动，请予以接洽。"
            "该同志基本情况如下：") in text
    # the table of basic facts, cell by cell in reading order
    assert "姓名张三性别男年龄42" in text
    assert "工作单位及职务市财政局预算科科长联系方式13812345678" in text
    assert "技能特长法律咨询、书法" in text
    assert "单位联系人：李四联系电话：0551-62345678" in text
    assert "单位党组织（盖章）2026年11月22日" in text


def test_introduction_letter_has_a_tear_off_receipt_to_fill_in():
    text = pdf_text(introduction_letter_pdf(LETTER))
    letter_part, _, receipt_part = text.partition("沿此线剪开")
    assert "（回执）" not in letter_part
    assert receipt_part.count("在职党员报到介绍信（回执）") == 1
    assert "介绍信编号：L-2026-0007" in receipt_part and "登记卡编号：" in receipt_part
    assert "市财政局党组织：张三同志已到我处报到，并提交了《在职党员报到介绍信》，特此回复。" in receipt_part
    assert "社区联系人：联系电话：社区党组织（盖章）年月日" in receipt_part  # blanks for the community


def test_introduction_letter_full_member_without_age_or_contact():
    letter = dict(LETTER, probationary=False, age=None, unit_contact=None, unit_contact_phone=None, skills=[])
    text = pdf_text(introduction_letter_pdf(letter))
    assert "中共正式党员" in text and "预备" not in text
    assert "年龄工作单位及职务" in text  # the age cell is empty
    assert "None" not in text
    assert "单位联系人：联系电话：单位党组织（盖章）" in text


def test_introduction_letter_escapes_markup_and_keeps_long_names_on_one_page():
    letter = dict(LETTER, member_name="欧阳<娜娜>&", unit_name="合肥市蜀山区三里庵街道社区卫生服务中心",
                  community_name="安徽省合肥市蜀山区三里庵街道金寨路社区", issued_date="2026-01-05T09:30:00+08:00")
    text = pdf_text(introduction_letter_pdf(letter))
    assert "欧阳<娜娜>&同志系合肥市蜀山区三里庵街道社区卫生服务中心中共预备党员" in text
    assert "安徽省合肥市蜀山区三里庵街道金寨路社区党组织：" in text
    assert "2026年1月5日" in text


def test_forms_use_the_builtin_chinese_cid_font():
    for data in (introduction_letter_pdf(LETTER), receipt_pdf(RECEIPT), registration_card_pdf(CARD)):
        assert pdf_text_fonts(data) == {"/STSong-Light"}


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_poppler_reads_the_letter_too():
    out = subprocess.run(["pdftotext", "-", "-"], input=introduction_letter_pdf(LETTER), capture_output=True,
                         check=True).stdout.decode("utf-8")
    text = re.sub(r"\s+", "", out)
    assert "张三同志系市财政局中共预备党员" in text and "2026年11月22日" in text


# -- 回执 --------------------------------------------------------------------------------------
def test_receipt_reads_like_the_seed_form():
    text = pdf_text(receipt_pdf(RECEIPT))
    assert text.startswith("在职党员报到介绍信（回执）")
    assert "报到社区：幸福社区" in text and "登记卡编号：XF-00001" in text
    assert "市财政局党组织：张三同志已到我处报到，并提交了《在职党员报到介绍信》，特此回复。" in text
    assert "社区联系人：王五联系电话：13900001111" in text
    assert text.endswith("社区党组织（盖章）2026年11月25日")


def test_receipt_without_contact_leaves_blanks_and_may_name_the_letter():
    receipt = dict(RECEIPT, community_contact=None, community_contact_phone=None, letter_id="L-9")
    text = pdf_text(receipt_pdf(receipt))
    assert "社区联系人：联系电话：社区党组织（盖章）" in text
    assert "介绍信编号：L-9登记卡编号：XF-00001" in text


# -- 登记卡 ------------------------------------------------------------------------------------
def test_registration_card_has_every_row_and_masks_the_phone():
    text = pdf_text(registration_card_pdf(CARD))
    assert text.startswith("社区在职党员报到登记卡报到地党组织：幸福社区党委编号：XF-00001")
    assert "姓名张三性别男年龄42" in text
    assert "工作单位及职务市财政局预算科科长联系方式138****5678" in text
    assert "13812345678" not in text
    assert "正式/预备党员正式党员是否党员领导干部是报到日期2026年11月25日" in text
    assert "技能特长法律咨询、书法" in text
    assert "服务意愿矛盾调解、政策宣传" in text
    assert "每周可服务时间周六上午；周日下午" in text
    assert "所在网格第三网格编入支部第一党支部" in text
    assert "社区党组织意见社区党组织（盖章）年月日" in text


def test_registration_card_shows_the_phone_only_when_asked():
    assert "联系方式13812345678" in pdf_text(registration_card_pdf(dict(CARD, show_phone=True)))
    assert "联系方式138****5678" in pdf_text(registration_card_pdf(dict(CARD, show_phone="yes")))


def test_registration_card_probationary_non_cadre_with_sparse_facts():
    card = dict(CARD, probationary=True, leading_cadre=False, age=None, availability=[], grid_name=None,
                willingness=["助老", "助学"])
    text = pdf_text(registration_card_pdf(card))
    assert "正式/预备党员预备党员是否党员领导干部否" in text
    assert "年龄工作单位及职务" in text
    assert "服务意愿助老、助学每周可服务时间所在网格编入支部第一党支部" in text
    assert "None" not in text


# -- 统计表 ------------------------------------------------------------------------------------
ROWS = [
    dict(name="预算科", members=10, registered=7, overdue=3, rate=0.7, overdue_reasons={"病假": 2, "外派": 1},
         leading_cadres={"members": 2, "registered": 1, "overdue": 1}),
    dict(name="办公室", members=5, registered=5, overdue=0, rate=1.0, overdue_reasons={}),
    dict(name="税政科", members=4, registered=2, overdue=2, overdue_reasons={"病假": 1}),  # rate computed
]


def stats_sheet(rows=ROWS, totals=None):
    data = statistics_xlsx("在职党员报到情况统计表", "市财政局", rows, totals or dict(members=19, registered=14),
                           "2026-11-22 08:00")
    assert data[:2] == b"PK"
    return load_workbook(io.BytesIO(data)).active


def test_statistics_title_scope_and_header():
    ws = stats_sheet()
    assert ws["A1"].value == "在职党员报到情况统计表" and ws["A1"].font.b
    assert "A1:I1" in {str(r) for r in ws.merged_cells.ranges}
    assert ws["A2"].value == "单位党组织盖章："
    assert ws["E2"].value == "统计范围：市财政局"
    header = [c.value for c in ws[3]]
    assert header == ["序号", "名称", "在职党员总数", "已报到", "未报到", "报到率", "党员领导干部", "其中已报到",
                      "逾期未报到原因"]
    assert all(c.font.b for c in ws[3])
    assert ws.column_dimensions["B"].width >= 20 and ws.column_dimensions["I"].width >= 30


def test_statistics_rows_with_rate_as_percentage_and_reasons():
    ws = stats_sheet()
    assert [c.value for c in ws[4]] == [1, "预算科", 10, 7, 3, 0.7, 2, 1, "病假 2；外派 1"]
    assert [c.value for c in ws[5]][:8] == [2, "办公室", 5, 5, 0, 1, 0, 0]
    assert ws["I5"].value in (None, "")
    assert [c.value for c in ws[6]] == [3, "税政科", 4, 2, 2, 0.5, 0, 0, "病假 1；未说明 1"]
    for r in (4, 5, 6, 7):
        assert ws.cell(row=r, column=6).number_format == "0.0%"


def test_statistics_totals_row_and_footer():
    ws = stats_sheet()
    total = [c.value for c in ws[7]]
    assert total[0] == "合计"
    assert total[2:5] == [19, 14, 5]
    assert total[5] == pytest.approx(14 / 19)
    assert total[6:] == [2, 1, "病假 3；外派 1；未说明 1"]
    assert all(ws.cell(row=7, column=c).font.b for c in (1, 3, 4, 5, 6, 7, 8, 9))  # B7 is merged into A7
    assert "A7:B7" in {str(r) for r in ws.merged_cells.ranges}
    assert ws["A8"].value == ("注：本单位共有在职党员 19 名，到社区报到党员 14 名；"
                              "其中党员领导干部 2 名，到社区报到 1 名")
    assert ws["A9"].value == "生成时间：2026-11-22 08:00"


def test_statistics_totals_given_override_the_sums_and_empty_table_works():
    ws = stats_sheet(rows=[], totals=dict(members=0, registered=0))
    assert [c.value for c in ws[4]][:6] == ["合计", None, 0, 0, 0, 0]
    assert ws["A5"].value.startswith("注：本单位共有在职党员 0 名，到社区报到党员 0 名；")
    ws = stats_sheet(totals=dict(members=20, registered=15, rate=0.75, overdue=5,
                                 overdue_reasons={"外派": 5}))
    assert [c.value for c in ws[7]] == ["合计", None, 20, 15, 5, 0.75, 2, 1, "外派 5"]
    assert ws["A8"].value.startswith("注：本单位共有在职党员 20 名，到社区报到党员 15 名；")


def test_the_statistics_workbook_lists_the_overdue_leading_cadres_first_and_escapes_formulas():
    """Seed 000 四.2 坚持领导带头 ("党员领导干部……带头到社区报到"): the table's second sheet names
    who is overdue, leading cadres first and marked; text from people is never a formula."""
    overdue = [dict(name="副局长乙", leading_cadre=True, unit_name="市财政局", community_name="阳光社区",
                    title="2026年报到", due_date="2026-12-31", reason=None, note="=HYPERLINK(\"x\")"),
               dict(name="科员丙", leading_cadre=False, unit_name="市财政局", community_name="幸福社区",
                    title="2026年报到", due_date="2026-12-31", reason="病假", note="")]
    data = statistics_xlsx("在职党员报到情况统计表", "市财政局", ROWS, dict(members=19, registered=14),
                           "2026-11-22 08:00", overdue=overdue)
    book = load_workbook(io.BytesIO(data))
    ws = book["逾期未报到名单"]
    assert [c.value for c in ws[2]][:3] == ["序号", "姓名", "党员领导干部"]
    assert [c.value for c in ws[3]][:3] == [1, "副局长乙", "是"] and ws["C3"].font.b
    assert ws["H3"].value == "未填写原因" and ws["I3"].value == "'=HYPERLINK(\"x\")"
    assert [c.value for c in ws[4]][:3] == [2, "科员丙", "否"]


# -- 名册 --------------------------------------------------------------------------------------
def test_the_roster_export_has_the_interests_column_and_imports_again():
    """Seed 002 六.1 "四个清": 基本情况、工作单位、职务专长、兴趣爱好 — the exported roster carries
    兴趣爱好 and reads back through the import unchanged."""
    from services.registration.forms import roster_xlsx
    from services.registration.roster_import import read_roster, validate_roster

    rows = [dict(name="张三", gender="男", age=41, position="科长", phone="13800000001", skills=["法律咨询"],
                 willingness="周末调解", residence_community="幸福社区", status="正式", leading_cadre="是",
                 interests=["书法", "太极拳"], registered=True, card_no="XF-00001"),
            dict(name="=1+1", gender="女", age=None, position="@科员", phone="13800000002", skills=[],
                 willingness="-", residence_community="幸福社区", status="预备", leading_cadre="否",
                 interests=[], registered=False, card_no=None)]
    data = roster_xlsx("市财政局", rows, "2026-11-22 08:00")
    ws = load_workbook(io.BytesIO(data)).active
    header = [c.value for c in ws[2]]
    assert header[-3:] == ["兴趣爱好", "报到情况", "登记卡编号"]
    assert [c.value for c in ws[3]][-3:] == ["书法、太极拳", "已报到", "XF-00001"]
    assert ws["A4"].value == "'=1+1" and ws["D4"].value == "'@科员"
    report = validate_roster(read_roster("名册.xlsx", data), community_lookup=lambda t: "xf" if t == "幸福社区" else None,
                             unit_id="czj")
    first = report.accepted[0]
    assert (first["name"], first["interests"], first["leading_cadre"]) == ("张三", ["书法", "太极拳"], True)


@pytest.mark.parametrize("value, written", [("=SUM(A1)", "'=SUM(A1)"), ("+86", "'+86"), ("-1", "'-1"),
                                            ("@x", "'@x"), ("\t=1", "'\t=1"), ("普通文字", "普通文字"),
                                            ("a\x07b", "ab"), (12, 12), (None, None), (-3.5, -3.5)])
def test_a_cell_from_peoples_text_is_never_a_formula(value, written):
    from shared.spreadsheet import safe_cell

    assert safe_cell(value) == written


# -- 服务意愿, 服务记录, 单位党组织意见 (seed 000 附件1/附件2) -----------------------------------------
def test_the_letter_states_the_members_service_willingness():
    """Seed 000 附件2 (在职党员到社区报到证明信): 姓名、性别、年龄、工作单位及职务、联系方式、技能特长、服务意愿."""
    text = pdf_pages(introduction_letter_pdf(LETTER_WITH_WILLINGNESS))[0]
    assert "技能特长法律咨询、书法服务意愿周末参加社区矛盾调解" in text


def test_the_card_lists_the_service_records_and_both_opinions():
    """Seed 000 附件1: 技能特长 | 服务记录 | 服务意愿 | 社区党组织意见 (盖章) | 单位党组织意见 (盖章)."""
    records = [dict(date=f"2026-{m:02d}-05", category="助老", content=f"第{m}次上门服务", hours=1.5)
               for m in range(1, 11)]
    data = registration_card_pdf(dict(CARD, service_records=records,
                                      community_opinion=dict(text="表现良好", date="2026-12-20"),
                                      unit_opinion=dict(text="同意备案", date="2026-12-25")))
    text = pdf_text(data)
    assert "服务记录（此前另有2次服务，见服务纪实）" in text
    assert "2026年3月5日助老：第3次上门服务，1.5小时" in text and "第10次上门服务" in text
    assert "第2次上门服务" not in text
    assert "社区党组织意见表现良好社区党组织（盖章）2026年12月20日" in text
    assert "单位党组织意见同意备案单位党组织（盖章）2026年12月25日" in text
    blank = pdf_text(registration_card_pdf(CARD))
    assert "（暂无经社区查验的服务记录）" in blank and "单位党组织意见单位党组织（盖章）年月日" in blank
