"""The event catalogue (事件目录) as an AsyncAPI 2.6 document, generated from the marshmallow
contracts of every service's events.

    python -m services.notify.asyncapi            # print
    python -m services.notify.asyncapi --write    # rewrite docs/asyncapi.yaml

tests/notify/test_asyncapi.py fails when the checked-in document is not what the code says.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml
from marshmallow import fields, validate

from shared.contracts import EnvelopeSchema, all_contracts

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.yaml"
SOURCES_OPTIONAL = ("shared.contracts.evaluation", "shared.contracts.funds")


def _load_optional() -> None:
    import importlib

    for module in SOURCES_OPTIONAL:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError:
            pass


def field_schema(field: fields.Field) -> dict:
    if isinstance(field, fields.Nested):
        out = schema_of(field.schema)
    elif isinstance(field, fields.List):
        out = {"type": "array", "items": field_schema(field.inner)}
    elif isinstance(field, fields.Dict):
        out = {"type": "object"}
        if field.value_field is not None:
            out["additionalProperties"] = field_schema(field.value_field)
    elif isinstance(field, fields.Boolean):
        out = {"type": "boolean"}
    elif isinstance(field, fields.Integer):
        out = {"type": "integer"}
    elif isinstance(field, (fields.Float, fields.Number)):
        out = {"type": "number"}
    else:
        out = {"type": "string"}
    for v in field.validators:
        name = getattr(v, "__name__", "")
        if isinstance(v, validate.OneOf):
            out["enum"] = list(v.choices)
        elif isinstance(v, validate.Range):
            if v.min is not None:
                out["minimum"] = v.min
            if v.max is not None:
                out["maximum"] = v.max
        elif isinstance(v, validate.Length):
            if v.min is not None:
                out["minLength"] = v.min
            if v.max is not None:
                out["maxLength"] = v.max
        elif name == "_iso_date":
            out["format"] = "date"
        elif name == "_iso_datetime":
            out["format"] = "date-time"
    if field.allow_none:
        out["type"] = [out["type"], "null"] if "type" in out else None
    personal = (field.metadata or {}).get("personal")
    if personal:   # personal data: masked in what departments receive (shared/privacy.py)
        out["x-personal"] = personal
    return out


def schema_of(schema) -> dict:
    props, required = {}, []
    for name, field in schema.fields.items():
        props[name] = field_schema(field)
        if field.required:
            required.append(name)
    out = {"type": "object", "properties": props}
    if required:
        out["required"] = required
    doc = (type(schema).__doc__ or "").strip()
    if doc:
        out["description"] = " ".join(doc.split())
    return out


def document() -> dict:
    _load_optional()
    envelope = schema_of(EnvelopeSchema())
    envelope.pop("description", None)
    channels, messages = {}, {}
    for c in all_contracts():
        name = f"{c.source}.{c.event_type}"
        payload = {**envelope, "properties": {**envelope["properties"],
                                              "event_type": {"type": "string", "const": c.event_type},
                                              "schema_version": {"type": "integer", "const": c.version},
                                              "data": schema_of(c.schema)}}
        messages[name] = {"name": c.event_type, "title": c.event_type, "contentType": "application/json",
                          "headers": {"type": "object", "properties": {
                              "event_type": {"type": "string"}, "schema_version": {"type": "integer"}}},
                          "payload": payload}
        channels[f"{c.source}.events/{c.event_type}"] = {
            "description": f"{c.event_type} (v{c.version}) on the topic exchange `{c.source}.events`.",
            "bindings": {"amqp": {"is": "routingKey", "exchange": {"name": f"{c.source}.events", "type": "topic",
                                                                   "durable": True, "autoDelete": False}}},
            "subscribe": {"operationId": f"on{c.source.title()}{c.event_type}",
                          "bindings": {"amqp": {"deliveryMode": 2}},
                          "message": {"$ref": f"#/components/messages/{name}"}},
        }
    return {
        "asyncapi": "2.6.0",
        "info": {"title": "Baodao events (报到 事件目录)", "version": "1",
                 "description": "Every event the Baodao services publish, generated from their marshmallow "
                                "contracts (shared/contracts). Each message is the JSON envelope with the event's "
                                "data; the routing key is the event type. Other departments may also receive "
                                "them by webhook from notify (docs/notify.md). A field marked `x-personal` (phone, contact, "
                                "name) is personal data: what departments receive by webhook or from the history has it "
                                "masked (138****5678, 张*丰); the full value stays in the services that notify people."},
        "defaultContentType": "application/json",
        "servers": {"rabbitmq": {"url": "localhost:5672", "protocol": "amqp", "protocolVersion": "0.9.1"}},
        "channels": channels,
        "components": {"messages": messages},
    }


class _NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data):
        return True


def render() -> str:
    header = "# Generated by `python -m services.notify.asyncapi --write` from shared/contracts. Do not edit.\n"
    return header + yaml.dump(document(), Dumper=_NoAliases, allow_unicode=True, sort_keys=False, width=110)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help=f"rewrite {DOC_PATH}")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        DOC_PATH.parent.mkdir(parents=True, exist_ok=True)
        DOC_PATH.write_text(text, encoding="utf-8")
        print(f"wrote {DOC_PATH}")
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
