"""Public event contracts: the wire envelope and one marshmallow schema per event type.

Every event a service publishes on `<service>.events` has a contract here, in the module named
after its source service, so the producer validates what it writes and every consumer decodes
with the same schema. A contract carries its current `schema_version` and the upcasters that
turn an older version's data into the next one; a consumer receiving an old event upcasts it
step by step, then validates it against the current schema.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Callable

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate

Upcaster = Callable[[dict], dict]
Loader = Callable[..., dict]   # `loader(data, unknown=None)`: what `schema.load(data, unknown=unknown)` returns


def plain_loader(schema: Schema) -> Loader:
    return lambda data, unknown=None: schema.load(data, unknown=unknown)


_make_loader: Callable[[Schema], Loader] = plain_loader

# The years the programme can mean, for every command and request that names one (a year of
# 58 or 99999 is a typing slip, never a year to record, close or report on).
YEAR = validate.Range(min=2000, max=2100, error="年度不正确")


class ContractError(Exception):
    """A message or event does not satisfy its contract; retrying will not help."""


def _iso_datetime(value: str) -> None:
    try:
        datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValidationError("不是有效的 ISO 8601 时间")


def _iso_date(value: str) -> None:
    try:
        date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValidationError("不是有效的日期 (YYYY-MM-DD)")


def IsoDate(**kwargs) -> fields.String:
    """A calendar date kept as an ISO string."""
    return fields.String(validate=_iso_date, **kwargs)


def IsoDateTime(**kwargs) -> fields.String:
    """An ISO 8601 timestamp kept as a string (JSON-native, sorts by time in UTC)."""
    return fields.String(validate=_iso_datetime, **kwargs)


class EnvelopeSchema(Schema):
    """The body of every event message on the wire."""

    class Meta:
        unknown = EXCLUDE

    event_id = fields.String(required=True, validate=validate.Length(min=1, max=36))
    event_type = fields.String(required=True, validate=validate.Length(min=1, max=100))
    schema_version = fields.Integer(required=True, validate=validate.Range(min=1))
    stream_id = fields.String(required=True)
    stream_version = fields.Integer(required=True, validate=validate.Range(min=1))
    global_position = fields.Integer(required=True, validate=validate.Range(min=1))
    occurred_at = IsoDateTime(required=True)
    correlation_id = fields.String(allow_none=True, load_default=None)
    causation_id = fields.String(allow_none=True, load_default=None)
    actor = fields.Dict(allow_none=True, load_default=None)
    data = fields.Dict(required=True)


@dataclass
class EventContract:
    source: str
    event_type: str
    schema: Schema
    version: int = 1
    upcasters: dict[int, Upcaster] = field(default_factory=dict)

    def __post_init__(self):
        self._load = _make_loader(self.schema)

    def validate_outgoing(self, data: dict) -> dict:
        """Producer side: the data must match the current schema exactly."""
        try:
            self._load(data, RAISE)
        except ValidationError as exc:
            raise ContractError(
                f"{self.source}.{self.event_type} v{self.version} 数据不符合契约: {exc.messages}"
            ) from exc
        return data

    def upcast(self, data: dict, from_version: int) -> dict:
        if from_version > self.version:
            raise ContractError(
                f"{self.source}.{self.event_type} v{from_version} is newer than this consumer's v{self.version}"
            )
        for v in range(from_version, self.version):
            if v not in self.upcasters:
                raise ContractError(f"no upcaster for {self.source}.{self.event_type} v{v}->v{v + 1}")
            data = self.upcasters[v](dict(data))
        return data

    def decode(self, data: dict, schema_version: int) -> dict:
        """Consumer side: upcast to the current version and validate (unknown keys dropped)."""
        data = self.upcast(data, schema_version)
        try:
            return self._load(data, EXCLUDE)
        except ValidationError as exc:
            raise ContractError(f"{self.source}.{self.event_type}: {exc.messages}") from exc


_REGISTRY: dict[tuple[str, str], EventContract] = {}


def event_contract(source: str, version: int = 1, upcasters: dict[int, Upcaster] | None = None,
                   event_type: str | None = None):
    """Class decorator registering a Schema as the contract of `<source>.<EventType>`.

    The event type defaults to the class name without a trailing `Schema`.
    """

    def register(schema_cls: type[Schema]) -> type[Schema]:
        name = event_type or schema_cls.__name__.removesuffix("Schema")
        key = (source, name)
        if key in _REGISTRY:
            raise ValueError(f"contract {source}.{name} is defined twice")
        _REGISTRY[key] = EventContract(source, name, schema_cls(), version, dict(upcasters or {}))
        schema_cls.contract = _REGISTRY[key]
        return schema_cls

    return register


def get_contract(source: str, event_type: str) -> EventContract:
    _load_all()
    try:
        return _REGISTRY[(source, event_type)]
    except KeyError:
        raise ContractError(f"no contract for {source}.{event_type}") from None


def contracts_of(source: str) -> list[EventContract]:
    _load_all()
    return [c for (s, _), c in sorted(_REGISTRY.items()) if s == source]


def all_contracts() -> list[EventContract]:
    _load_all()
    return [c for _, c in sorted(_REGISTRY.items())]


def _load_all() -> None:
    # Importing the per-service modules registers their contracts.
    from shared.contracts import dispatch, evaluation, funds, notify, registration  # noqa: F401


@dataclass(frozen=True)
class ReceivedEvent:
    """An event as a consumer sees it: the envelope plus data decoded to the current version."""

    source: str
    event_id: str
    event_type: str
    schema_version: int
    stream_id: str
    stream_version: int
    global_position: int
    occurred_at: str
    correlation_id: str | None
    causation_id: str | None
    actor: dict | None
    data: dict


_ENVELOPE = plain_loader(EnvelopeSchema())  # built once: `load` keeps no state on the instance


def use_loader(make_loader: Callable[[Schema], Loader]) -> None:
    """Load every contract (and the envelope) with `make_loader(schema)` from now on: how the
    opt-in fast path (`shared.throughput.fast_contracts`) replaces `schema.load`."""
    global _make_loader, _ENVELOPE
    _make_loader = make_loader
    _ENVELOPE = make_loader(EnvelopeSchema())
    for contract in _REGISTRY.values():
        contract._load = make_loader(contract.schema)


def decode_message(source: str, body: dict) -> ReceivedEvent:
    """Validate an envelope and decode its data through the contract (upcasting if needed)."""
    if not isinstance(body, dict):
        raise ContractError(f"event body must be a JSON object, got {type(body).__name__}")
    try:
        env = _ENVELOPE(body)
    except ValidationError as exc:
        raise ContractError(f"bad envelope: {exc.messages}") from exc
    contract = get_contract(source, env["event_type"])
    data = contract.decode(env["data"], env["schema_version"])
    return ReceivedEvent(source=source, **{**env, "data": data, "schema_version": contract.version})
