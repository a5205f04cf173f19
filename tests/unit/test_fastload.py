"""The contracts' compiled loader agrees with marshmallow's `Schema.load` on every contract: the
same result for what marshmallow accepts (values of every type, missing fields, unknown
fields), the same error for what it refuses."""
import pytest
from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate, validates_schema

from shared.contracts import EnvelopeSchema, all_contracts
from shared.throughput.fast_contracts import _compile, fast_loader

MISSING = object()
POOL = ["", "x", "2026H1", "2026-11-22", "2026-11-22T08:00:00+00:00", "not a date", "3", "true", b"x", 0, 1, -1, 7,
        2 ** 70, 3.5, 2.0, float("nan"), float("inf"), True, False, None, [], ["x"], ["email", "sms"], [1], [None],
        {}, {"a": "b"}, {"email": "a@b.c"}, {"a": 1}, {1: "a"}, ("x",), MISSING]


def _schemas():
    out = [("envelope", EnvelopeSchema())]
    out += [(f"{c.source}.{c.event_type}", c.schema) for c in all_contracts()]
    return out


def _outcome(load, data, unknown):
    try:
        return "ok", repr(load(data, unknown))
    except ValidationError as exc:
        return "error", repr(exc.messages)


def _accepted(field):
    """The first value of the pool the field accepts as it is (its loaded form)."""
    choices = [v for val in field.validators if isinstance(val, validate.OneOf) for v in val.choices]
    for value in choices + POOL:
        if value is MISSING or value is None:
            continue
        try:
            if field.deserialize(value) == value:
                return value
        except ValidationError:
            continue
    raise AssertionError(f"no sample value for {field}")


def _nests(field) -> bool:
    inner = [getattr(field, a, None) for a in ("inner", "key_field", "value_field")]
    return isinstance(field, fields.Nested) or any(_nests(f) for f in inner if f is not None)


@pytest.mark.parametrize("name, schema", _schemas(), ids=[n for n, _ in _schemas()])
def test_the_compiled_loader_agrees_with_marshmallow(name, schema):
    fast = fast_loader(schema)

    def slow(data, unknown):
        return schema.load(data, unknown=unknown)

    has_nested = any(_nests(f) for f in schema.fields.values())
    assert (_compile(schema) is None) == has_nested, name   # every flat contract is compiled
    if has_nested:
        return   # loaded by marshmallow itself
    base = {n: _accepted(f) for n, f in schema.load_fields.items()}
    for unknown in (RAISE, EXCLUDE):
        assert _outcome(fast, base, unknown)[0] == "ok"
        assert _outcome(fast, base, unknown) == _outcome(slow, base, unknown)
        assert _outcome(fast, {**base, "extra": 1}, unknown) == _outcome(slow, {**base, "extra": 1}, unknown)
        for field_name in schema.load_fields:
            for value in POOL:
                data = dict(base)
                if value is MISSING:
                    del data[field_name]
                else:
                    data[field_name] = value
                assert _outcome(fast, data, unknown) == _outcome(slow, data, unknown), (name, field_name, value)
    for not_a_dict in (None, [], "x", 1):
        assert _outcome(fast, not_a_dict, RAISE) == _outcome(slow, not_a_dict, RAISE)


def test_a_loaded_value_is_not_the_callers_object():
    """marshmallow copies a Dict and builds a new List: so does the fast path."""
    schema = EnvelopeSchema()
    body = {"event_id": "e1", "event_type": "T", "schema_version": 1, "stream_id": "s-1", "stream_version": 1,
            "global_position": 1, "occurred_at": "2026-11-22T08:00:00+00:00", "data": {"a": [1]}}
    loaded = fast_loader(schema)(body)
    assert loaded["data"] == body["data"] and loaded["data"] is not body["data"]
    assert (loaded["correlation_id"], loaded["actor"]) == (None, None)   # load_default


def test_schemas_it_cannot_reproduce_are_loaded_by_marshmallow():
    class WithHook(Schema):
        a = fields.String()

        @validates_schema
        def check(self, data, **kwargs):
            raise ValidationError("never")

    class Keyed(Schema):
        a = fields.String(data_key="A")

    class Email(Schema):
        a = fields.Email()

    for schema in (WithHook(), Keyed(), Email()):
        assert _compile(schema) is None
    with pytest.raises(ValidationError):
        fast_loader(WithHook())({"a": "x"})
    assert fast_loader(Keyed())({"A": "x"}) == {"a": "x"}


def test_a_boolean_with_its_own_truthy_values_loads_as_marshmallow_does():
    """fields.Boolean(truthy={1, 0}) makes False truthy (False == 0): marshmallow loads it as True."""
    from marshmallow import Schema, fields

    from shared.throughput.fast_contracts import fast_loader

    class Odd(Schema):
        b = fields.Boolean(truthy={1, 0})

    for value in (True, False):
        assert fast_loader(Odd())({"b": value}) == Odd().load({"b": value})
