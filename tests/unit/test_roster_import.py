"""Importing a unit's roster of in-service members (在职党员名册) from real .xlsx and .csv files."""
import csv
import io
import time

import openpyxl
import pytest

from services.registration.roster_import import (
    COLUMNS, ImportReport, ProgressBar, RawRow, RosterFormatError, RowError, error_report_csv, import_roster,
    make_roster_csv, make_roster_xlsx, read_roster, sample_members, validate_roster,
)

COMMUNITIES = {"sq1": "幸福社区", "sq2": "和平社区", "sq3": "宁国新村社区"}


def lookup(text):
    """Like the service's: a community id or a community name."""
    if text in COMMUNITIES:
        return text
    return {name: cid for cid, name in COMMUNITIES.items()}.get(text)


def member(**overrides):
    row = {"name": "张三", "gender": "男", "age": 35, "position": "市财政局办公室科员", "phone": "13800000001",
           "skills": "法律咨询、书法", "willingness": "周末参加社区志愿服务", "residence_community": "幸福社区",
           "status": "正式", "leading_cadre": "否"}
    row.update(overrides)
    return row


def validate(rows):
    return validate_roster(rows, community_lookup=lookup, unit_id="u1")


def xlsx(rows, **kw):
    return read_roster("名册.xlsx", make_roster_xlsx(rows, **kw))


def sheet_bytes(table):
    """An .xlsx with exactly these rows (lists), as a secretary would make it by hand."""
    wb = openpyxl.Workbook()
    ws = wb.active
    for r, values in enumerate(table, 1):
        for c, value in enumerate(values, 1):
            if value is not None:
                ws.cell(row=r, column=c, value=value)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# -- good and bad rows in one file ----------------------------------------------------------
def test_every_error_of_every_row_is_reported_with_its_spreadsheet_row():
    rows = [
        member(name="张三", phone="13800000003"),                             # row 3: good
        member(name="李四", phone="13800000004", residence_community="火星社区"),  # 4: unknown community
        member(name="王五", phone="13800000005"),                             # 5: good
        member(name="赵六", phone="138 0000 0005"),                           # 6: same phone as row 5
        member(name="钱七", phone="123"),                                     # 7: bad phone
        member(name="孙八", phone="13800000008", gender="未知"),                # 8: bad gender
        member(name=None, phone="13800000009"),                               # 9: no name
        member(name="周十", phone=13800000010),                               # 10: numeric phone cell, fine
        member(name="吴一", phone=13800000011.0),                             # 11: float phone cell, fine
        member(name="郑二", phone="13800000012", gender="M", age=16, status="党员",
               leading_cadre="也许"),                                         # 12: four errors at once
    ]
    content = make_roster_xlsx(rows)
    # the numeric phone really is a number in the file, as Excel users make it
    ws = openpyxl.load_workbook(io.BytesIO(content)).active
    assert ws.cell(row=2, column=5).value == "联系方式"
    assert ws.cell(row=10, column=5).value == 13800000010 and ws.cell(row=10, column=5).data_type == "n"

    report = validate(read_roster("名册.xlsx", content))

    assert report.errors == [
        RowError(4, "居住社区", "未知的社区：火星社区"),
        RowError(6, "联系方式", "与第 5 行重复（同一手机号）"),
        RowError(7, "联系方式", "手机号码格式不正确：123"),
        RowError(8, "性别", "性别应为“男”或“女”"),
        RowError(9, "姓名", "姓名不能为空"),
        RowError(12, "性别", "性别应为“男”或“女”"),
        RowError(12, "年龄", "年龄应为 18-80 的整数"),
        RowError(12, "正式/预备", "正式/预备 应填写“正式”或“预备”"),
        RowError(12, "是否党员领导干部", "是否党员领导干部 应填写“是”或“否”"),
    ]
    assert report.error_rows == [4, 6, 7, 8, 9, 12]
    assert not report.ok
    assert [c["name"] for c in report.accepted] == ["张三", "王五", "周十", "吴一"]
    assert [c["phone"] for c in report.accepted][2:] == ["13800000010", "13800000011"]
    assert report.summary() == "共 10 行，可导入 4 行，错误 9 处"


def test_a_clean_file_is_accepted_with_proper_fields():
    rows = [
        member(name="张  三", phone="138-0000-0001", skills="法律咨询、书法，摄影;心理咨询 理发", age=35.0,
               residence_community="sq1", status="正式", leading_cadre="√"),
        member(name="李四", gender="女", phone="+86 139 0000 0002", age="42岁", skills=None, willingness=None,
               position=None, residence_community=" 和平社区 ", status="预备党员", leading_cadre="Y"),
        member(name="王五", phone="0551-62345678", age=None, status="正式党员", leading_cadre=True),
        member(name="赵六", phone="(010)12345678", leading_cadre=1),
        member(name="钱七", phone="055162345679", leading_cadre="否"),
        member(name="孙八", phone=15900000006, leading_cadre=None, residence_community="宁国新村社区"),
    ]
    report = validate(xlsx(rows))

    assert report.ok, report.errors
    assert report.summary() == "共 6 行，可导入 6 行，错误 0 处"
    first, second = report.accepted[:2]
    assert first == {
        "unit_id": "u1", "person_key": "13800000001", "name": "张三", "gender": "男", "phone": "13800000001",
        "position": "市财政局办公室科员", "residence_community_id": "sq1", "probationary": False,
        "leading_cadre": True, "skills": ["法律咨询", "书法", "摄影", "心理咨询", "理发"], "age": 35,
        "willingness": "周末参加社区志愿服务", "interests": [],
    }
    assert second == {
        "unit_id": "u1", "person_key": "13900000002", "name": "李四", "gender": "女", "phone": "13900000002",
        "position": "", "residence_community_id": "sq2", "probationary": True, "leading_cadre": True,
        "skills": [], "age": 42, "willingness": "", "interests": [],
    }
    assert [c["phone"] for c in report.accepted[2:]] == ["0551-62345678", "010-12345678", "0551-62345679",
                                                         "15900000006"]
    assert [c["leading_cadre"] for c in report.accepted[2:]] == [True, True, False, False]
    assert [c["age"] for c in report.accepted[2:]] == [None, 35, 35, 35]
    assert all(c["person_key"] == c["phone"] for c in report.accepted)


def test_the_commands_fit_the_enrolment_schema():
    """Every accepted command loads through the RPC schema unchanged (it may add its own defaults)."""
    from services.registration.schemas import EnrollMemberSchema

    report = validate(xlsx(sample_members(50) + [member(phone="0551-62345678", age=None)]))
    assert report.ok
    schema = EnrollMemberSchema()
    for cmd in report.accepted:
        loaded = schema.load(cmd)
        assert {k: loaded[k] for k in cmd} == cmd


# -- encodings, header position, blank rows ---------------------------------------------------
@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8-sig", "utf-8"])
def test_csv_in_chinese_excel_encodings(encoding):
    rows = [member(name="欧阳明", phone="13800000001", skills="法律咨询、书法"),
            member(name="李四", gender="女", phone="13800000002", residence_community="和平社区", status="预备")]
    content = make_roster_csv(rows, encoding=encoding)
    if encoding.startswith("gb"):
        with pytest.raises(UnicodeDecodeError):
            content.decode("utf-8")
    report = validate(read_roster("名册.csv", content))
    assert report.ok, report.errors
    assert [(c["name"], c["residence_community_id"], c["probationary"], c["skills"]) for c in report.accepted] == [
        ("欧阳明", "sq1", False, ["法律咨询", "书法"]), ("李四", "sq2", True, ["法律咨询", "书法"])]


def test_gbk_csv_errors_carry_the_excel_row_numbers():
    rows = [member(phone="13800000001"), None, member(phone="1380000000X", name="李四")]
    raw = read_roster("名册.CSV", make_roster_csv(rows, encoding="gbk"))
    assert [r.row for r in raw] == [3, 5]
    assert validate(raw).errors == [RowError(5, "联系方式", "手机号码格式不正确：1380000000X")]


def test_header_after_a_title_row_with_aliases_and_extra_columns():
    content = sheet_bytes([
        ["在职党员名册"],
        ["序号", "姓名", "性别", "年龄", "工作单位\n及职务", "联系电话", "技能特长", "服务意愿", "所在社区",
         "党员类别", "领导干部", "备注"],
        [1, "张三", "男", 35, "市财政局科员", 13800000001, "书法", "助老", "幸福社区", "正式", "否", "无"],
        [2, "李四", "女", 41, "市财政局副局长", "13800000002", "", "", "宁国新村社区", "正式", "是", None],
    ])
    raw = read_roster("roster.xlsx", content)
    assert raw[0] == RawRow(3, {"name": "张三", "gender": "男", "age": 35, "position": "市财政局科员",
                                "phone": 13800000001, "skills": "书法", "willingness": "助老",
                                "residence_community": "幸福社区", "status": "正式", "leading_cadre": "否"})
    report = validate(raw)
    assert report.ok
    assert [(c["name"], c["position"], c["residence_community_id"], c["leading_cadre"]) for c in report.accepted] == [
        ("张三", "市财政局科员", "sq1", False), ("李四", "市财政局副局长", "sq3", True)]


@pytest.mark.parametrize("header", ["兴趣爱好", "爱好", "兴趣", "个人爱好", "兴趣/爱好", "兴趣爱好（可多项）"])
def test_the_interests_column_of_the_four_knowns_is_read_under_its_usual_names(header):
    """Seed 002 六.1: the roster makes "在职党员基本情况、工作单位、职务专长、兴趣爱好'四个清'": the
    兴趣爱好 column is read like the others (header synonyms, items split like 技能特长)."""
    content = sheet_bytes([
        ["姓名", "性别", "联系方式", "居住社区", header],
        ["张三", "男", "13800000001", "幸福社区", "书法、摄影，太极拳"],
        ["李四", "女", "13800000002", "和平社区", None],
    ])
    report = validate(read_roster("x.xlsx", content))
    assert report.ok, report.errors
    assert [c["interests"] for c in report.accepted] == [["书法", "摄影", "太极拳"], []]


def test_header_further_down_and_the_form_spelling_of_the_columns():
    """Seed 000's form writes '工作单位 及职务' and '联系 方式'; the optional columns may be missing."""
    content = sheet_bytes([
        ["在职党员名册"],
        ["填报单位：市财政局机关党委", None, None, "填报日期：2026年11月1日"],
        [],
        ["姓名", "性别", "工作单位 及职务", "联系 方式", "现居住社区"],
        ["张三", "男", "科员", "13800000001", "sq2"],
    ])
    raw = read_roster("x.xlsx", content)
    assert [r.row for r in raw] == [5]
    (cmd,) = validate(raw).accepted
    assert (cmd["residence_community_id"], cmd["probationary"], cmd["leading_cadre"], cmd["age"]) == \
        ("sq2", False, False, None)


def test_blank_rows_are_skipped_and_rows_keep_their_numbers():
    content = sheet_bytes([
        ["在职党员名册"],
        ["序号"] + list(COLUMNS.values()),
        [1] + list(member(phone="13800000001").values()),
        [],
        [2, "  ", None, "", None, " \u3000", None],          # only blanks (and a pre-filled 序号)
        [3] + list(member(name="李四", phone="13800000002").values()),
        [None] * 11,
        [4] + list(member(name="王五", phone="13800000002").values()),
        [5],
    ])
    raw = read_roster("x.xlsx", content)
    assert [r.row for r in raw] == [3, 6, 8]
    report = validate(raw)
    assert report.errors == [RowError(8, "联系方式", "与第 6 行重复（同一手机号）")]
    assert report.summary() == "共 3 行，可导入 2 行，错误 1 处"

    csv_raw = read_roster("x.csv", make_roster_csv([None, member(), {}, member(phone="13800000002")]))
    assert [r.row for r in csv_raw] == [4, 6]


def test_csv_row_numbers_count_records_not_lines():
    """A quoted cell with a line break is one Excel row."""
    rows = [member(willingness="周末\n参加志愿服务"), member(phone="1")]
    raw = read_roster("x.csv", make_roster_csv(rows))
    assert [r.row for r in raw] == [3, 4]
    assert validate(raw).errors == [RowError(4, "联系方式", "手机号码格式不正确：1")]


def test_a_wrong_dimension_in_the_sheet_does_not_lose_rows():
    """Some writers record <dimension ref="A1:C3"/> whatever the sheet holds; read-only openpyxl trusts it."""
    import re
    import zipfile

    src = zipfile.ZipFile(io.BytesIO(make_roster_xlsx([member(phone=f"1380000000{i}") for i in range(5)])))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.startswith("xl/worksheets/"):
                data = re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="A1:C3"', data)
            dst.writestr(item, data)
    raw = read_roster("x.xlsx", buf.getvalue())
    assert [r.row for r in raw] == [3, 4, 5, 6, 7]
    assert validate(raw).ok


def test_tab_separated_utf16_from_excel_unicode_text():
    text = "姓名\t性别\t联系方式\t居住社区\r\n张三\t男\t13800000001\t幸福社区\r\n"
    report = validate(read_roster("名册.txt", text.encode("utf-16")))
    assert report.ok and report.accepted[0]["residence_community_id"] == "sq1"


# -- cell rules --------------------------------------------------------------------------------
@pytest.mark.parametrize("cell, phone", [
    ("13800000001", "13800000001"), (13800000001, "13800000001"), (13800000001.0, "13800000001"),
    ("138 0000 0001", "13800000001"), ("138-0000-0001", "13800000001"), ("+8613800000001", "13800000001"),
    ("１３８００００００01", "13800000001"), ("0551-62345678", "0551-62345678"), ("010-1234567", "010-1234567"),
    ("02112345678", "021-12345678"), ("（0551）62345678", "0551-62345678"), ("0551 6234 5678", "0551-62345678"),
    ("055162345678", "0551-62345678"),
])
def test_phone_forms_accepted(cell, phone):
    (cmd,) = validate([RawRow(3, member(phone=cell))]).accepted
    assert cmd["phone"] == cmd["person_key"] == phone


@pytest.mark.parametrize("cell, reason", [
    ("123", "手机号码格式不正确：123"), (1380000000, "手机号码格式不正确：1380000000"),
    ("12800000001", "手机号码格式不正确：12800000001"), ("138000000012", "手机号码格式不正确：138000000012"),
    (13800000001.5, "手机号码格式不正确：13800000001.5"),
    ("1.38E+10", "手机号码格式不正确：1.38E+10（请把该列设为“文本”格式后重新填写）"),
    ("0551-123", "电话号码格式不正确：0551-123"), ("0211-2345678", "电话号码格式不正确：0211-2345678"),
    (None, "联系方式不能为空"), ("  ", "联系方式不能为空"),
])
def test_phone_forms_refused(cell, reason):
    assert validate([RawRow(3, member(phone=cell))]).errors == [RowError(3, "联系方式", reason)]


@pytest.mark.parametrize("cell, expected", [
    ("是", True), ("否", False), ("Y", True), ("n", False), ("√", True), ("×", False), (1, True), (0, False),
    ("1", True), ("0", False), (True, True), (False, False), ("TRUE", True), ("False", False), (None, False),
    ("", False), (1.0, True),
])
def test_booleans(cell, expected):
    (cmd,) = validate([RawRow(3, member(leading_cadre=cell))]).accepted
    assert cmd["leading_cadre"] is expected


@pytest.mark.parametrize("cell, ok, age", [
    (18, True, 18), (80, True, 80), ("35", True, 35), ("35 岁", True, 35), (None, True, None), ("", True, None),
    (17, False, None), (81, False, None), (35.5, False, None), ("三十五", False, None), (True, False, None),
])
def test_age(cell, ok, age):
    report = validate([RawRow(3, member(age=cell))])
    if ok:
        assert report.accepted[0]["age"] == age
    else:
        assert report.errors == [RowError(3, "年龄", "年龄应为 18-80 的整数")]


def test_status_cell_must_be_filled_when_the_column_is_there():
    assert validate([RawRow(3, member(status=None))]).errors == [
        RowError(3, "正式/预备", "正式/预备 应填写“正式”或“预备”")]
    without_column = member()
    del without_column["status"]
    assert validate([RawRow(3, without_column)]).accepted[0]["probationary"] is False


def test_community_lookup_is_asked_once_per_distinct_text():
    asked = []

    def counting(text):
        asked.append(text)
        return lookup(text)

    rows = [RawRow(i + 3, r) for i, r in enumerate(sample_members(300))]
    assert validate_roster(rows, community_lookup=counting, unit_id="u1").ok
    assert sorted(asked) == sorted(COMMUNITIES.values())


def test_gender_and_name_messages():
    errors = validate([RawRow(3, member(name="  ", gender=None)),
                       RawRow(4, member(name="x" * 51, phone="13800000002"))]).errors
    assert errors == [RowError(3, "姓名", "姓名不能为空"), RowError(3, "性别", "性别应为“男”或“女”"),
                      RowError(4, "姓名", "姓名不能超过 50 个字")]


# -- file-level problems -----------------------------------------------------------------------
def test_file_without_a_header_is_refused():
    with pytest.raises(RosterFormatError, match="未找到表头"):
        read_roster("x.xlsx", sheet_bytes([["在职党员名册"], ["a", "b", "c"], ["1", "2", "3"]]))


def test_missing_required_column_is_refused():
    content = sheet_bytes([["姓名", "性别", "联系方式", "年龄"], ["张三", "男", "13800000001", 30]])
    with pytest.raises(RosterFormatError, match="缺少必需的列：居住社区") as info:
        read_roster("x.xlsx", content)
    assert info.value.row == 1
    report = import_roster("x.xlsx", content, community_lookup=lookup, unit_id="u1")
    assert not report.ok and report.errors == [RowError(1, "居住社区", "第 1 行的表头缺少必需的列：居住社区")]


@pytest.mark.parametrize("filename, content, message", [
    ("x.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "不支持旧版 Excel"),
    ("x.xlsx", b"PK\x03\x04 this is not a real zip", "无法读取 Excel 文件"),
    ("x.xlsx", "姓名,性别".encode(), "不是有效的 .xlsx"),
    ("x.csv", b"", "文件为空"),
])
def test_unusable_files(filename, content, message):
    with pytest.raises(RosterFormatError, match=message):
        read_roster(filename, content)


def test_xlsx_is_detected_by_content_even_with_a_csv_name():
    report = validate(read_roster("roster.csv", make_roster_xlsx([member()])))
    assert report.ok and len(report.accepted) == 1


def test_import_roster_reads_and_validates():
    report = import_roster("x.xlsx", make_roster_xlsx([member(), member(phone="1")]), community_lookup=lookup,
                           unit_id="u9")
    assert report.accepted[0]["unit_id"] == "u9"
    assert report.errors == [RowError(4, "联系方式", "手机号码格式不正确：1")]


# -- the error report --------------------------------------------------------------------------
def test_error_csv_opens_in_excel_with_the_rows():
    rows = [member(phone="13800000001"), member(phone="13800000001", gender="F"),
            member(phone="13800000003", residence_community="火星社区")]
    report = validate(xlsx(rows))
    data = error_report_csv(report)
    assert data.startswith(b"\xef\xbb\xbf")   # BOM: Excel reads UTF-8
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert table == [["行号", "列", "原因"],
                     ["4", "性别", "性别应为“男”或“女”"],
                     ["4", "联系方式", "与第 3 行重复（同一手机号）"],
                     ["5", "居住社区", "未知的社区：火星社区"]]
    assert error_report_csv(ImportReport()).decode("utf-8-sig") == "行号,列,原因\r\n"


def test_report_ok_and_summary():
    assert ImportReport().ok
    report = ImportReport(accepted=[{}] * 118, errors=[RowError(3, "姓名", "姓名不能为空")] * 2, total=120)
    assert not report.ok
    assert report.summary() == "共 120 行，可导入 118 行，错误 2 处"


# -- scale -------------------------------------------------------------------------------------
def test_ten_thousand_rows(capsys):
    rows = sample_members(10_000)
    rows[4_999]["phone"] = rows[10]["phone"]                 # spreadsheet row 5002 repeats row 13
    rows[9_999]["residence_community"] = "不存在社区"       # spreadsheet row 10002
    content = make_roster_xlsx(rows)

    started = time.perf_counter()
    raw = read_roster("big.xlsx", content)
    read_s = time.perf_counter() - started
    report = validate(raw)
    total_s = time.perf_counter() - started

    assert report.summary() == "共 10000 行，可导入 9998 行，错误 2 处"
    assert report.errors == [RowError(5002, "联系方式", "与第 13 行重复（同一手机号）"),
                             RowError(10002, "居住社区", "未知的社区：不存在社区")]
    with capsys.disabled():
        print(f"\n10,000-row xlsx ({len(content) // 1024} KiB): read {read_s:.2f} s, "
              f"validate {total_s - read_s:.2f} s, total {total_s:.2f} s")


# -- progress bar ------------------------------------------------------------------------------
class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_progress_bar_draws_at_most_ten_times_a_second():
    out, clock = io.StringIO(), FakeClock()
    bar = ProgressBar(10_000, stream=out, clock=clock)
    for done in range(1, 10_001):
        clock.now = done * 0.0001                            # 1 s for the lot
        bar.update(done)
    bar.close()
    lines = out.getvalue().splitlines()
    assert 10 <= len(lines) <= 12
    assert lines[0] == "导入名册 [..........] 1/10000 0%"
    assert any(line.startswith("导入名册 [#####.....] 50") and line.endswith("/10000 50%") for line in lines)
    assert lines[-1] == "导入名册 [##########] 10000/10000 100%"


def test_progress_bar_render_and_validate_roster_hook():
    out, clock = io.StringIO(), FakeClock()
    bar = ProgressBar(10_000, stream=out, clock=clock)
    bar.done = 5_000
    assert bar.render() == "导入名册 [#####.....] 5000/10000 50%"

    bar = ProgressBar(0, stream=out, clock=clock)
    with bar:
        validate_roster([RawRow(i + 3, r) for i, r in enumerate(sample_members(1_200))], community_lookup=lookup,
                        unit_id="u1", progress=bar.update)
    assert bar.total == 1_200 and bar.done == 1_200
    assert out.getvalue().splitlines()[-1] == "导入名册 [##########] 1200/1200 100%"


def test_progress_bar_on_a_terminal_overwrites_its_line():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    out, clock = Tty(), FakeClock()
    with ProgressBar(4, label="读取", stream=out, clock=clock) as bar:
        bar.advance()
        clock.now = 1
        bar.advance(3)
    assert out.getvalue() == "\r读取 [##........] 1/4 25%\r读取 [##########] 4/4 100%\n"
