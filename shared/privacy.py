"""Personal data on printed and public pages (登记卡, 公示栏, rankings) and in what leaves the
platform for other departments (webhooks, the event history): masked, never shown whole.

One home for masking: every service that shows people to other people uses these. An event
contract marks its personal fields with `metadata=PHONE` (a phone number), `CONTACT` (a
resident's id, which may be their phone number or email: Open311 uses it so), `NAME` or
`ADDRESS` (a home address: the estate stays, the building and door do not);
`mask_personal` masks them in an event's data, and the AsyncAPI document shows the mark as
`x-personal`. Full contact data stays in the services that notify people.
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


def mask_address(address) -> str:
    """幸福小区****: a home address keeps its first half (the estate or street), the rest (the
    building, unit and door) becomes stars; ``None``/empty gives ""."""
    if address is None:
        return ""
    value = str(address).strip()
    if not value:
        return ""
    keep = len(value) // 2
    return value[:keep] + "*" * (len(value) - keep)


#: Field metadata of an event contract's personal fields (the kind says how it is masked).
PHONE = {"personal": "phone"}
CONTACT = {"personal": "contact"}
NAME = {"personal": "name"}
ADDRESS = {"personal": "address"}
MASKS = {"phone": mask_phone, "contact": mask_phone, "name": mask_name, "address": mask_address}


def mask_personal(schema, data: dict) -> dict:
    """A copy of an event's `data` with the fields its contract `schema` marks personal masked
    (nested schemas and lists of them too); other fields unchanged."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    for name, field in schema.fields.items():
        key = field.data_key or name
        if key not in out or out[key] is None:
            continue
        kind = (field.metadata or {}).get("personal")
        if kind:
            out[key] = MASKS[kind](out[key])
            continue
        inner = getattr(field, "schema", None) if type(field).__name__ == "Nested" else None
        if inner is not None:
            if isinstance(out[key], list):
                out[key] = [mask_personal(inner, v) for v in out[key]]
            else:
                out[key] = mask_personal(inner, out[key])
        elif type(field).__name__ == "List" and getattr(getattr(field, "inner", None), "schema", None) is not None:
            out[key] = [mask_personal(field.inner.schema, v) for v in out[key]]
    return out


def personal_fields(schema) -> dict[str, str]:
    """The contract's personal fields and their kind (top level)."""
    return {name: f.metadata["personal"] for name, f in schema.fields.items() if (f.metadata or {}).get("personal")}
