"""Importing a unit's roster of in-service Party members (在职党员名册) from a spreadsheet.

The unit's party organisation uploads its roster as .xlsx or .csv, with the columns of the
registration form (seed 000, 附件1: 姓名, 性别, 年龄, 工作单位及职务, 联系方式, 技能特长, 服务意愿) plus
居住社区, 正式/预备, 是否党员领导干部 and 兴趣爱好 (seed 002's "四个清": 基本情况、工作单位、职务专长、兴趣爱好). This module turns the file into enrolment commands for
`enroll_member` and reports, in Chinese and by spreadsheet row, everything that is wrong with it.

    rows = read_roster(filename, content)             # RosterFormatError if the file itself is unusable
    report = validate_roster(rows, community_lookup=lookup, unit_id="u1")
    if report.ok:
        for cmd in report.accepted: ...               # enroll_member(uow, cmd)
    else:
        error_report_csv(report)                      # for the unit secretary, opens in Excel

All or nothing: `report.accepted` lists the rows that are valid on their own, but a caller must
apply nothing from a file whose report is not `ok`.

Pure Python plus openpyxl: no nameko, SQLAlchemy or kombu.
"""
from __future__ import annotations

import csv
import io
import math
import random
import re
import sys
import time
import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, time as dtime
from typing import Any, Callable, Iterable, TextIO

__all__ = [
    "COLUMNS", "ImportReport", "ProgressBar", "RawRow", "RosterFormatError", "RowError", "error_report_csv",
    "import_roster", "make_roster_csv", "make_roster_xlsx", "read_roster", "sample_members", "validate_roster",
]

# -- columns ------------------------------------------------------------------------------------
# canonical key -> canonical Chinese header (the generator writes these; errors name these)
COLUMNS: dict[str, str] = {
    "name": "姓名",
    "gender": "性别",
    "age": "年龄",
    "position": "工作单位及职务",
    "phone": "联系方式",
    "skills": "技能特长",
    "willingness": "服务意愿",
    "residence_community": "居住社区",
    "status": "正式/预备",
    "leading_cadre": "是否党员领导干部",
    "interests": "兴趣爱好",
}
REQUIRED_COLUMNS = ("name", "gender", "phone", "residence_community")

_ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("姓名", "党员姓名", "名字"),
    "gender": ("性别",),
    "age": ("年龄", "年龄岁", "周岁"),
    "position": ("工作单位及职务", "单位及职务", "工作单位和职务", "工作单位职务", "工作单位/职务", "职务",
                 "现任职务", "职务职级"),
    "phone": ("联系方式", "联系电话", "手机", "手机号", "手机号码", "电话", "电话号码", "联系手机", "移动电话"),
    "skills": ("技能特长", "特长", "专业特长", "技能", "技能/特长"),
    "willingness": ("服务意愿", "意愿", "志愿服务意愿"),
    "residence_community": ("居住社区", "所在社区", "现居住社区", "居住地社区", "居住地所在社区", "居住所在社区",
                            "报到社区", "社区"),
    "status": ("正式/预备", "正式或预备", "正式预备", "党员类别", "党员身份", "正式党员/预备党员", "党员类型"),
    "leading_cadre": ("是否党员领导干部", "党员领导干部", "是否领导干部", "领导干部"),
    "interests": ("兴趣爱好", "爱好", "兴趣", "个人爱好", "爱好特长", "兴趣/爱好"),
}

_BRACKETS = re.compile(r"[(（\[【].*?[)）\]】]")
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"


def _norm_header(text: Any) -> str:
    """'工作单位\\n及职务', '*联系方式（手机）', '联系 方式' -> the bare name for alias matching."""
    if text is None:
        return ""
    s = unicodedata.normalize("NFKC", str(text))
    s = _BRACKETS.sub("", s)
    s = "".join(ch for ch in s if not ch.isspace() and ch not in _INVISIBLE and ch not in "*＊:：")
    return s.casefold()


_HEADER_INDEX: dict[str, str] = {_norm_header(alias): key for key, aliases in _ALIASES.items() for alias in aliases}
HEADER_SCAN_ROWS = 20   # the header must be within the first rows (after a title, a unit line…)


# -- data ---------------------------------------------------------------------------------------
class RosterFormatError(ValueError):
    """The file as a whole cannot be read as a roster (not a spreadsheet, no header, a required column
    missing). The message is Chinese, for the person who uploaded the file."""

    def __init__(self, message: str, *, row: int = 0, column: str = ""):
        super().__init__(message)
        self.row = row
        self.column = column


@dataclass(slots=True)
class RawRow:
    """One non-header row as read: `row` is the 1-based row number in the spreadsheet (the number the
    secretary sees in Excel), `cells` the raw values by canonical key (see COLUMNS)."""

    row: int
    cells: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RowError:
    row: int
    column: str
    reason: str


@dataclass
class ImportReport:
    accepted: list[dict] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    total: int = 0   # data rows read (blank rows not counted)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def error_rows(self) -> list[int]:
        return sorted({e.row for e in self.errors})

    def summary(self) -> str:
        return f"共 {self.total} 行，可导入 {len(self.accepted)} 行，错误 {len(self.errors)} 处"


# -- reading ------------------------------------------------------------------------------------
_XLSX_EXT = (".xlsx", ".xlsm", ".xltx", ".xltm")
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"   # .xls (and password-protected .xlsx)


def read_roster(filename: str, content: bytes) -> list[RawRow]:
    """Read an uploaded roster (.xlsx or .csv) into raw rows, blank rows left out.

    The kind of file is taken from the content (an .xlsx is a zip: b'PK'), then the extension. CSV may
    be UTF-8 (with or without BOM), UTF-16 (Excel's "Unicode text") or GB18030/GBK; the delimiter may
    be a comma, tab or semicolon. The header row is the row among the first 20 that matches the most
    known header names (aliases accepted), so title rows above it are fine; columns that are not known
    (序号, 备注…) are ignored. Raises RosterFormatError when the file cannot be used at all.
    """
    if not content:
        raise RosterFormatError("文件为空")
    ext = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if content[:2] == b"PK":
        return _read_xlsx(content)
    if content[:8] == _OLE_MAGIC or ext in (".xls", ".et", ".wps"):
        raise RosterFormatError("不支持旧版 Excel（.xls）或加密的文件，请在 Excel 中“另存为” .xlsx 或 CSV 后重新上传")
    if ext in _XLSX_EXT:
        raise RosterFormatError(f"文件 {filename} 不是有效的 .xlsx 文件，请确认文件未损坏")
    return _read_csv(content)


def _read_xlsx(content: bytes) -> list[RawRow]:
    import openpyxl   # imported here: a CSV-only caller does not pay for it
    from openpyxl.utils.exceptions import InvalidFileException

    from shared.spreadsheet import ZipTooLarge, check_zip

    try:
        check_zip(content)   # the declared sizes, before anything is unpacked
    except ZipTooLarge as exc:
        raise RosterFormatError(str(exc)) from None
    try:
        wb = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
        raise RosterFormatError(f"无法读取 Excel 文件，请确认文件未损坏：{exc}") from exc
    try:
        sheets = [wb.active] + [ws for ws in wb.worksheets if ws is not wb.active]
        first_error: RosterFormatError | None = None
        for ws in sheets:
            if ws is None or not hasattr(ws, "reset_dimensions"):
                continue   # chart sheets
            ws.reset_dimensions()   # some writers record a wrong <dimension>; do not trust it
            try:
                return _rows_from_table(ws.iter_rows(values_only=True))
            except _NoHeader as exc:
                first_error = first_error or exc
        raise first_error or _NoHeader("未找到表头：工作簿中没有工作表")
    except RosterFormatError:
        raise
    except Exception as exc:   # a damaged sheet XML and the like: the uploader must fix the file
        raise RosterFormatError(f"无法读取 Excel 文件，请确认文件未损坏：{exc}") from exc
    finally:
        wb.close()


def _decode(content: bytes) -> str:
    if content[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return content.decode("utf-16")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise RosterFormatError("无法识别文件编码，请将 CSV 保存为 UTF-8 或 GBK 编码")


def _read_csv(content: bytes) -> list[RawRow]:
    text = _decode(content)
    head = text[:20000].splitlines()[:HEADER_SCAN_ROWS]
    delimiter = max((",", "\t", ";"), key=lambda d: sum(line.count(d) for line in head))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        return _rows_from_table(reader)
    except csv.Error as exc:
        raise RosterFormatError(f"CSV 文件格式错误：{exc}") from exc


class _NoHeader(RosterFormatError):
    pass


def _match_header(values: Iterable[Any]) -> dict[int, str]:
    """Column index -> canonical key for the cells that are known header names (first one wins)."""
    found: dict[int, str] = {}
    seen: set[str] = set()
    for i, value in enumerate(values):
        key = _HEADER_INDEX.get(_norm_header(value))
        if key and key not in seen:
            found[i] = key
            seen.add(key)
    return found


def _rows_from_table(rows: Iterable[Iterable[Any]]) -> list[RawRow]:
    """Find the header among the first rows, then map every later non-blank row to a RawRow.

    Rows are numbered as records (1-based), which is what Excel shows, also for a CSV whose quoted
    cells hold line breaks."""
    rows = iter(rows)
    best: tuple[int, dict[int, str]] | None = None
    scanned: list[tuple[int, tuple]] = []
    row_no = 0
    for values in rows:
        row_no += 1
        values = tuple(values)
        scanned.append((row_no, values))
        mapping = _match_header(values)
        if "name" in mapping.values() and len(mapping) >= 3 and (best is None or len(mapping) > len(best[1])):
            best = (row_no, mapping)
        if len(scanned) >= HEADER_SCAN_ROWS or (best and len(best[1]) == len(COLUMNS)):
            break
    if best is None:
        raise _NoHeader(f"未找到表头：前 {HEADER_SCAN_ROWS} 行中没有包含“姓名”“性别”“联系方式”“居住社区”等列名的行")
    header_row, mapping = best
    missing = [COLUMNS[k] for k in REQUIRED_COLUMNS if k not in mapping.values()]
    if missing:
        raise RosterFormatError(f"第 {header_row} 行的表头缺少必需的列：{'、'.join(missing)}",
                                row=header_row, column="、".join(missing))
    items = list(mapping.items())

    def to_raw(number: int, values: tuple) -> RawRow | None:
        cells = {}
        blank = True
        n = len(values)
        for i, key in items:
            value = values[i] if i < n else None
            if isinstance(value, str):
                if blank and value.strip().strip(_INVISIBLE):
                    blank = False
            elif value is not None:
                blank = False
            cells[key] = value
        return None if blank else RawRow(number, cells)

    out: list[RawRow] = []
    for number, values in scanned:
        if number > header_row and (raw := to_raw(number, values)) is not None:
            out.append(raw)
    for values in rows:
        row_no += 1
        if (raw := to_raw(row_no, values)) is not None:
            out.append(raw)
    return out


# -- validating ---------------------------------------------------------------------------------
_MOBILE = re.compile(r"1[3-9]\d{9}")
_LANDLINE = re.compile(r"(0\d{2,3})-(\d{7,8})")
_SKILL_SPLIT = re.compile(r"[、，,;；\s]+")
_TRUE = frozenset({"是", "y", "yes", "true", "t", "1", "√", "✓", "✔", "☑", "是的"})
_FALSE = frozenset({"否", "n", "no", "false", "f", "0", "×", "✗", "✘", "不是", "非"})
_AGE_MIN, _AGE_MAX = 18, 80
_NAME_MAX = 50


def _text(value: Any) -> str:
    """A cell as trimmed text; integral numbers without '.0'."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip().strip(_INVISIBLE).strip()


def _show(value: Any, limit: int = 30) -> str:
    s = _text(value)
    return s if len(s) <= limit else s[:limit] + "…"


def _is_cjk(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" or "\U00020000" <= ch <= "\U0002ffff"


def _clean_name(value: Any) -> str:
    s = _text(value)
    parts = s.split()
    if len(parts) > 1 and all(_is_cjk(ch) for ch in "".join(parts)):
        return "".join(parts)   # "张  三": padded to line up with three-character names
    return " ".join(parts)


def _parse_phone(value: Any) -> tuple[str | None, str]:
    """(normalized phone or None, kind) where kind is 'mobile' or 'landline' (for the messages)."""
    if isinstance(value, bool):
        return None, "mobile"
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            return None, "mobile"
        value = int(value)
    s = unicodedata.normalize("NFKC", _text(value))
    s = s.replace("（", "(").replace("）", ")")
    if s.startswith("0") or s.startswith("("):
        m = re.fullmatch(r"\((0\d{2,3})\)[\s\-]*(\d{7,8})|(0\d{2,3})[\s\-]+(\d{7,8})", s)
        if m:
            area, local = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        else:
            digits = re.sub(r"[\s\-]", "", s)
            if not re.fullmatch(r"0\d{9,11}", digits):
                return None, "landline"
            # no separator: split by the area-code rule below
            area_len = 3 if digits[1] in "12" else 4
            area, local = digits[:area_len], digits[area_len:]
        # 010 and 02x are the three-digit area codes; all the others (03xx…09xx) have four
        if (len(area) == 3) != (area[1] in "12") or not 7 <= len(local) <= 8:
            return None, "landline"
        return f"{area}-{local}", "landline"
    digits = re.sub(r"[\s\-]", "", s)
    if digits.startswith("+86"):
        digits = digits[3:]
    elif len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    if _MOBILE.fullmatch(digits):
        return digits, "mobile"
    return None, "mobile"


def _parse_bool(value: Any) -> bool | None:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    s = unicodedata.normalize("NFKC", _text(value)).casefold()
    if s == "":
        return False
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    return None


def _parse_status(value: Any) -> bool | None:
    """正式 -> False, 预备 -> True (the `probationary` flag), anything else -> None."""
    s = "".join(_text(value).split())
    if s.endswith("党员"):
        s = s[:-2]
    return {"正式": False, "预备": True}.get(s)


def _parse_age(value: Any) -> tuple[bool, int | None]:
    """(valid, age): blank is valid and None."""
    if value is None or isinstance(value, bool) or isinstance(value, (datetime, date, dtime)):
        return (value is None), None
    if isinstance(value, float):
        if not value.is_integer():
            return False, None
        value = int(value)
    if isinstance(value, int):
        age = value
    else:
        s = unicodedata.normalize("NFKC", _text(value))
        if s == "":
            return True, None
        m = re.fullmatch(r"(\d{1,3})(?:\.0+)?\s*(?:岁|周岁)?", s)
        if not m:
            return False, None
        age = int(m.group(1))
    return (_AGE_MIN <= age <= _AGE_MAX), (age if _AGE_MIN <= age <= _AGE_MAX else None)


def _split_skills(value: Any) -> list[str]:
    out: list[str] = []
    for part in _SKILL_SPLIT.split(_text(value)):
        part = part.strip()
        if part and part not in out:
            out.append(part)
    return out


def validate_roster(rows: Iterable[RawRow], *, community_lookup: Callable[[str], str | None], unit_id: str,
                    progress: Callable[[int, int], None] | None = None) -> ImportReport:
    """Check every row and build the enrolment commands (for `enroll_member`), in file order.

    Every error of every row is reported (`RowError(row, column, reason)`, reasons in Chinese,
    `column` the canonical header name). The phone number is the person key, so two rows with the same
    phone are a duplicate (the later row is reported). `community_lookup(text)` gets the trimmed text of
    the 居住社区 cell (a community id or a name) and returns the community id or None; it is called
    once per distinct text. `progress(done, total)`, if given, is called every few hundred rows and at
    the end (a ProgressBar's `update` fits).
    """
    rows = list(rows)
    total = len(rows)
    report = ImportReport(total=total)
    communities: dict[str, str | None] = {}
    first_row_of_phone: dict[str, int] = {}
    errors = report.errors

    for done, raw in enumerate(rows, 1):
        cells = raw.cells
        n = raw.row
        before = len(errors)

        def err(key: str, reason: str) -> None:
            errors.append(RowError(n, COLUMNS[key], reason))

        name = _clean_name(cells.get("name"))
        if not name:
            err("name", "姓名不能为空")
        elif len(name) > _NAME_MAX:
            err("name", f"姓名不能超过 {_NAME_MAX} 个字")

        gender = _text(cells.get("gender")).replace(" ", "")
        gender = {"男性": "男", "女性": "女"}.get(gender, gender)
        if gender not in ("男", "女"):
            err("gender", "性别应为“男”或“女”")

        ok_age, age = _parse_age(cells.get("age"))
        if not ok_age:
            err("age", f"年龄应为 {_AGE_MIN}-{_AGE_MAX} 的整数")

        raw_phone = cells.get("phone")
        phone = None
        if _text(raw_phone) == "":
            err("phone", "联系方式不能为空")
        else:
            phone, kind = _parse_phone(raw_phone)
            if phone is None:
                shown = _show(raw_phone)
                if kind == "landline":
                    err("phone", f"电话号码格式不正确：{shown}")
                elif re.search(r"\d[eE][+-]?\d", shown):
                    err("phone", f"手机号码格式不正确：{shown}（请把该列设为“文本”格式后重新填写）")
                else:
                    err("phone", f"手机号码格式不正确：{shown}")
            elif phone in first_row_of_phone:
                what = "同一手机号" if kind == "mobile" else "同一电话号码"
                err("phone", f"与第 {first_row_of_phone[phone]} 行重复（{what}）")
            else:
                first_row_of_phone[phone] = n

        community_text = _text(cells.get("residence_community"))
        community_id = None
        if not community_text:
            err("residence_community", "居住社区不能为空")
        else:
            if community_text not in communities:
                communities[community_text] = community_lookup(community_text)
            community_id = communities[community_text]
            if not community_id:
                err("residence_community", f"未知的社区：{_show(community_text)}")

        probationary = False
        if "status" in cells:
            probationary = _parse_status(cells["status"])
            if probationary is None:
                err("status", "正式/预备 应填写“正式”或“预备”")

        leading_cadre = _parse_bool(cells.get("leading_cadre"))
        if leading_cadre is None:
            err("leading_cadre", "是否党员领导干部 应填写“是”或“否”")

        if len(errors) == before:
            report.accepted.append({
                "unit_id": unit_id,
                "person_key": phone,
                "name": name,
                "gender": gender,
                "phone": phone,
                "position": _text(cells.get("position")),
                "residence_community_id": community_id,
                "probationary": probationary,
                "leading_cadre": leading_cadre,
                "skills": _split_skills(cells.get("skills")),
                "age": age,
                "willingness": _text(cells.get("willingness")),
                "interests": _split_skills(cells.get("interests")),
            })
        if progress is not None and (done % 500 == 0 or done == total):
            progress(done, total)
    if progress is not None and total == 0:
        progress(0, 0)
    return report


def import_roster(filename: str, content: bytes, *, community_lookup: Callable[[str], str | None],
                  unit_id: str, progress: Callable[[int, int], None] | None = None) -> ImportReport:
    """read_roster + validate_roster, with a file-level problem (RosterFormatError) reported as the
    report's only error (row 0 when it belongs to no row) instead of raised."""
    try:
        rows = read_roster(filename, content)
    except RosterFormatError as exc:
        return ImportReport(errors=[RowError(exc.row, exc.column, str(exc))])
    return validate_roster(rows, community_lookup=community_lookup, unit_id=unit_id, progress=progress)


def error_report_csv(report: ImportReport) -> bytes:
    """The errors as CSV (UTF-8 with BOM, so Excel shows the Chinese): 行号, 列, 原因."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(("行号", "列", "原因"))
    for e in report.errors:
        writer.writerow((e.row, e.column, e.reason))
    return buf.getvalue().encode("utf-8-sig")


# -- generating (tests, benchmarks, a blank template) -------------------------------------------
_TITLE = "在职党员名册"
_CHINESE_TO_KEY = {v: k for k, v in COLUMNS.items()}


def _row_values(row: dict | None) -> list[Any]:
    if not row:
        return [None] * len(COLUMNS)
    by_key = {(_CHINESE_TO_KEY.get(k) or _HEADER_INDEX.get(_norm_header(k)) or k): v for k, v in row.items()}
    unknown = set(by_key) - set(COLUMNS)
    if unknown:
        raise KeyError(f"unknown roster columns: {sorted(unknown)}")
    out = []
    for key in COLUMNS:
        value = by_key.get(key)
        if key in ("skills", "interests") and isinstance(value, (list, tuple)):
            value = "、".join(value)
        out.append(value)
    return out


def make_roster_xlsx(rows: list[dict | None], *, title: str | None = _TITLE) -> bytes:
    """An .xlsx roster: a title row (unless `title` is None), the canonical header, then the rows.

    A row is a dict keyed by canonical key ("phone") or Chinese header ("联系方式"); values are written
    as given (an int phone makes a numeric cell, as Excel users produce). None or {} is a blank row."""
    import openpyxl

    wb = openpyxl.Workbook()   # not write_only: that omits <dimension>, which Excel always writes
    ws = wb.active
    ws.title = "名册"
    if title is not None:
        ws.append([title])
    ws.append(list(COLUMNS.values()))
    for row in rows:
        ws.append(_row_values(row))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def make_roster_csv(rows: list[dict | None], encoding: str = "utf-8-sig", *, title: str | None = _TITLE) -> bytes:
    """The same as make_roster_xlsx, as CSV in `encoding` (e.g. "gbk" like a Chinese Excel)."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    if title is not None:
        writer.writerow([title] + [""] * (len(COLUMNS) - 1))
    writer.writerow(list(COLUMNS.values()))
    for row in rows:
        writer.writerow(["" if v is None else v for v in _row_values(row)])
    return buf.getvalue().encode(encoding)


_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志红文斌宇浩凯鹏晨阳欣怡子涵梓萱"
_SKILLS = ("法律咨询", "医疗保健", "政策宣传", "文艺表演", "书法", "摄影", "水电维修", "心理咨询", "电脑维修",
           "家电维修", "教育辅导", "环境卫生", "矛盾调解", "理发")
_POSITIONS = ("市财政局办公室科员", "市财政局预算科科长", "市财政局副局长", "市财政局综合科副科长", "市财政局干部")
_WILLINGNESS = ("周末参加社区志愿服务", "结对帮扶困难群众", "参加综治巡逻", "关爱空巢老人", "")
_INTERESTS = ("书法", "摄影", "太极拳", "乒乓球", "阅读", "唱歌", "广场舞", "象棋", "绘画", "园艺")


def sample_members(n: int, *, communities: tuple[str, ...] = ("幸福社区", "和平社区", "宁国新村社区"),
                   seed: int = 0) -> list[dict]:
    """`n` plausible, valid and distinct roster rows (keyed by canonical key) for tests and benchmarks."""
    rng = random.Random(seed)
    hobbies = random.Random(f"interests:{seed}")   # its own draws: the other columns stay as they were
    out = []
    for i in range(n):
        out.append({
            "name": rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2)))),
            "gender": rng.choice("男女"),
            "age": rng.randint(22, 60),
            "position": rng.choice(_POSITIONS),
            "phone": f"13{i:09d}",
            "skills": "、".join(rng.sample(_SKILLS, rng.randint(0, 3))),
            "willingness": rng.choice(_WILLINGNESS),
            "residence_community": communities[i % len(communities)],
            "status": "预备" if rng.random() < 0.05 else "正式",
            "leading_cadre": "是" if rng.random() < 0.1 else "否",
            "interests": "、".join(hobbies.sample(_INTERESTS, hobbies.randint(0, 2))),
        })
    return out


# -- progress -----------------------------------------------------------------------------------
class ProgressBar:
    """A plain-text progress bar on stderr: "导入名册 [#####.....] 5000/10000 50%".

    Redrawn at most every `min_interval` seconds (0.1: ten times a second) and always at the end;
    on a terminal it overwrites itself with '\\r', elsewhere (a log file) it writes one line per draw.
    `update(done, total=None)` fits `validate_roster(progress=...)`; `advance(n)` counts up.
    """

    def __init__(self, total: int, label: str = "导入名册", *, width: int = 10, stream: TextIO | None = None,
                 min_interval: float = 0.1, clock: Callable[[], float] = time.monotonic):
        self.total = max(0, int(total))
        self.label = label
        self.width = width
        self.stream = stream if stream is not None else sys.stderr
        self.min_interval = min_interval
        self.clock = clock
        self.done = 0
        self._last_draw: float | None = None
        self._last_text = ""
        self._closed = False
        isatty = getattr(self.stream, "isatty", None)
        self._tty = bool(isatty and isatty())

    def render(self) -> str:
        total = self.total
        fraction = min(1.0, self.done / total) if total else 1.0
        filled = int(fraction * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        return f"{self.label} [{bar}] {self.done}/{total} {int(fraction * 100)}%"

    def update(self, done: int, total: int | None = None) -> None:
        if total is not None:
            self.total = max(0, int(total))
        self.done = max(0, int(done))
        self._maybe_draw(force=self.total > 0 and self.done >= self.total)

    def advance(self, n: int = 1) -> None:
        self.update(self.done + n)

    def _maybe_draw(self, force: bool = False) -> None:
        now = self.clock()
        if not force and self._last_draw is not None and now - self._last_draw < self.min_interval:
            return
        text = self.render()
        if text == self._last_text:
            return
        self._last_draw = now
        self._last_text = text
        if self._tty:
            self.stream.write("\r" + text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._maybe_draw(force=True)
        if self._tty:
            self.stream.write("\n")
            self.stream.flush()

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
