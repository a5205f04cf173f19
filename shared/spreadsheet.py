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
