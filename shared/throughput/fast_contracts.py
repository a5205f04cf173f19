"""`Schema.load` without its overhead, for the contracts' hot path (opt-in: `enable()`).

Every event is loaded through marshmallow several times on its way (the consumer's envelope and
data, the producer's check before it is stored, each projection's decode), and most of what
that costs is marshmallow's machinery (closures, error stores, per-field dispatch) rather than
the checks themselves. `fast_loader(schema)` compiles a schema into one
function that runs the same checks — the same required / null rules, the same validators, the
same unknown-field rule — on data already in its loaded form (a `str` for a String, an `int`
for an Integer, …), and returns what `schema.load` would return.

Anything else goes to `schema.load` itself: a value in another form (marshmallow converts
`"3"` to 3 for an Integer; the fast path does not try), a value that fails a check (so the
error is marshmallow's own, message for message), a missing required field, an unknown field
under RAISE. A schema the compiler does not know how to reproduce exactly (hooks, `data_key`,
a field type or option not handled below) gets no fast loader at all: `fast_loader` returns
`schema.load`. So the fast path can only ever *agree* with marshmallow; it never accepts what
marshmallow would refuse (tests/unit/test_fastload.py compares them on every contract).
"""
from __future__ import annotations

import math
from typing import Any, Callable

from marshmallow import EXCLUDE, RAISE, Schema, fields
from marshmallow.utils import missing as MISSING
from marshmallow.validate import Validator


class _Slow(Exception):
    """The fast path cannot decide: let marshmallow load it."""


Check = Callable[[Any], Any]


def _validators(field: fields.Field) -> Callable[[Any], None] | None:
    validators = list(field.validators)
    if not validators:
        return None

    def run(value):
        for validator in validators:
            try:
                result = validator(value)
            except Exception:
                raise _Slow from None
            # marshmallow's `And`: a plain function returning False fails
            if result is False and not isinstance(validator, Validator):
                raise _Slow
    return run


def _field_check(field: fields.Field) -> Check | None:
    """A function turning a present value into its loaded form, or raising _Slow; None when the
    field cannot be reproduced exactly."""
    if field.pre_load or field.post_load or field.data_key is not None or field.attribute is not None:
        return None
    kind = type(field)
    validate = _validators(field)
    allow_none = field.allow_none
    if kind is fields.String:
        def convert(v):
            if type(v) is not str:
                raise _Slow
            return v
    elif kind is fields.Integer:
        def convert(v):
            if type(v) is not int:   # bool is not int here, as for marshmallow
                raise _Slow
            return v
    elif kind is fields.Float:
        allow_nan = field.allow_nan

        def convert(v):
            if type(v) is not float or (not allow_nan and not math.isfinite(v)):
                raise _Slow
            return v
    elif kind is fields.Boolean:
        # marshmallow: True must be truthy; False must be falsy and not truthy (False == 0: {0, 1} holds both)
        if field.truthy and (True not in field.truthy or False in field.truthy or False not in field.falsy):
            return None

        def convert(v):
            if type(v) is not bool:
                raise _Slow
            return v
    elif kind is fields.List:
        inner = _field_check(field.inner)
        if inner is None:
            return None

        def convert(v):
            if type(v) is not list:
                raise _Slow
            return [inner(x) for x in v]
    elif kind is fields.Dict:
        key = _field_check(field.key_field) if field.key_field is not None else None
        value = _field_check(field.value_field) if field.value_field is not None else None
        if (field.key_field is not None and key is None) or (field.value_field is not None and value is None):
            return None
        if field.mapping_type is not dict:
            return None
        if key is None and value is None:
            def convert(v):
                if type(v) is not dict:
                    raise _Slow
                return dict(v)
        else:
            key = key or (lambda k: k)
            value = value or (lambda x: x)

            def convert(v):
                if type(v) is not dict:
                    raise _Slow
                return {key(k): value(x) for k, x in v.items()}
    else:
        return None

    def check(v):
        if v is None:
            if allow_none:
                return None
            raise _Slow
        out = convert(v)
        if validate is not None:
            validate(out)
        return out
    return check


def _compile(schema: Schema) -> Callable[[dict, str], dict] | None:
    if schema.many or schema.partial or any(schema._hooks.values()) or schema.dict_class is not dict:
        return None
    plan = []
    for name, field in schema.load_fields.items():
        if "." in name:   # marshmallow would nest it
            return None
        check = _field_check(field)
        if check is None:
            return None
        plan.append((name, check, field.required, field.load_default))
    names = frozenset(name for name, *_ in plan)

    def load(data, unknown):
        if type(data) is not dict:
            raise _Slow
        if unknown == RAISE:
            if not names.issuperset(data):
                raise _Slow
        elif unknown != EXCLUDE:
            raise _Slow
        out = {}
        for name, check, required, default in plan:
            value = data.get(name, MISSING)
            if value is MISSING:
                if required:
                    raise _Slow
                value = default() if callable(default) else default
                if value is not MISSING:
                    out[name] = value
                continue
            out[name] = check(value)
        return out
    return load


def fast_loader(schema: Schema) -> Callable[..., dict]:
    """`loader(data, unknown=None)`: `schema.load(data, unknown=unknown)`, checked by a compiled
    function when it can decide, by marshmallow when it cannot (and for every error)."""
    compiled = _compile(schema)
    if compiled is None:
        return lambda data, unknown=None: schema.load(data, unknown=unknown)
    default_unknown = schema.unknown

    def loader(data, unknown=None):
        try:
            return compiled(data, unknown or default_unknown)
        except _Slow:
            return schema.load(data, unknown=unknown)
    return loader


def enable() -> None:
    """Load every event contract and the envelope through `fast_loader` from now on."""
    from shared.contracts import use_loader

    use_loader(fast_loader)
