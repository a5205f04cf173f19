"""What a spreadsheet cell written from people's input may hold (every `.xlsx` export uses it).

Text that starts with `=`, `+`, `-` or `@` (or a tab or carriage return before one) is a formula
to Excel and WPS: a resident's demand "=HYPERLINK(...)" would run when a clerk opens the ledger.
Such text is written with a leading apostrophe, which spreadsheet programs show as plain text
(OWASP, "CSV injection"). Characters an `.xlsx` cannot hold (control characters) are dropped.
Numbers, dates and booleans pass unchanged.
"""
from __future__ import annotations

import re

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def safe_cell(value):
    """`value` as an `.xlsx` cell shows it: text never read as a formula, numbers unchanged."""
    if not isinstance(value, str):
        return value
    text = _ILLEGAL.sub("", value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


#: An uploaded .xlsx (a zip) is opened only if it unpacks to at most this much in all, and no
#: member larger than `ZIP_SMALL` is compressed more than `ZIP_MAX_RATIO` to one (a zip bomb
#: unpacks to gigabytes from a few kilobytes; real workbooks compress 5-30 to one).
ZIP_MAX_TOTAL = 200 * 1024 * 1024
ZIP_MAX_RATIO = 100
ZIP_SMALL = 1024 * 1024


class ZipTooLarge(ValueError):
    """The archive would unpack beyond the limits (its message is for people, in Chinese)."""


def check_zip(content: bytes, max_total: int = ZIP_MAX_TOTAL, max_ratio: float = ZIP_MAX_RATIO) -> None:
    """Refuse (ZipTooLarge) a zip whose declared uncompressed sizes exceed the limits, before
    anything is unpacked. A damaged zip is left for the reader to refuse."""
    import io
    import zipfile

    try:
        members = zipfile.ZipFile(io.BytesIO(content)).infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return
    total = 0
    for member in members:
        total += member.file_size
        if total > max_total:
            raise ZipTooLarge(f"文件解压后超过 {max_total // (1024 * 1024)} MB，无法处理")
        if member.file_size > ZIP_SMALL and member.file_size > max_ratio * max(member.compress_size, 1):
            raise ZipTooLarge("文件的压缩比异常（可能是压缩炸弹），无法处理")
