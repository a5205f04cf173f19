"""Personal data on printed and public pages (登记卡, 公示栏, rankings): masked, never shown whole.

One home for masking: every service that shows people to other people uses these.
"""
from __future__ import annotations


def _mask_short(value: str) -> str:
    """Mostly stars: at most a quarter of the characters, at the end, stay visible."""
    n = len(value)
    visible = n // 4
    return "*" * (n - visible) + (value[n - visible:] if visible else "")


def mask_phone(phone) -> str:
    """138****5678: first 3 and last 4 of a mobile number (11 characters or more).

    Anything shorter is mostly stars and never shown whole; ``None``/empty gives "".
    """
    if phone is None:
        return ""
    value = str(phone).strip()
    if not value:
        return ""
    if len(value) >= 11:
        return value[:3] + "*" * (len(value) - 7) + value[-4:]
    return _mask_short(value)


def mask_id_number(id_no) -> str:
    """340102********1234: first 6 and last 4 of an ID card number (18, or the old 15).

    Anything shorter is mostly stars and never shown whole; ``None``/empty gives "".
    """
    if id_no is None:
        return ""
    value = str(id_no).strip()
    if not value:
        return ""
    if len(value) >= 15:
        return value[:6] + "*" * (len(value) - 10) + value[-4:]
    return _mask_short(value)


def mask_name(name) -> str:
    """张*丰 / 张*: a person's name on a public ranking keeps its first and (for three or more
    characters) last character; ``None``/empty gives ""."""
    if name is None:
        return ""
    value = str(name).strip()
    if len(value) <= 1:
        return "*" if value else ""
    if len(value) == 2:
        return value[0] + "*"
    return value[0] + "*" * (len(value) - 2) + value[-1]
