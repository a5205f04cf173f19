"""The checked-in event catalogue (docs/asyncapi.yaml) is what the contracts say."""
import yaml

from services.notify import asyncapi
from shared.contracts import all_contracts


def test_the_checked_in_asyncapi_document_is_current():
    assert asyncapi.DOC_PATH.read_text(encoding="utf-8") == asyncapi.render(), (
        "docs/asyncapi.yaml is stale: run `python -m services.notify.asyncapi --write`")


def test_every_event_contract_is_in_the_catalogue_with_its_fields():
    doc = yaml.safe_load(asyncapi.DOC_PATH.read_text(encoding="utf-8"))
    messages = doc["components"]["messages"]
    for c in all_contracts():
        message = messages[f"{c.source}.{c.event_type}"]
        data = message["payload"]["properties"]["data"]
        assert set(data["properties"]) == set(c.schema.fields)
        assert set(data.get("required", [])) == {n for n, f in c.schema.fields.items() if f.required}
        assert message["payload"]["properties"]["schema_version"]["const"] == c.version
        channel = doc["channels"][f"{c.source}.events/{c.event_type}"]
        assert channel["bindings"]["amqp"]["exchange"]["name"] == f"{c.source}.events"
    checked_in = messages["registration.MemberCheckedIn"]["payload"]["properties"]["data"]["properties"]
    assert checked_in["checked_in_at"] == {"type": "string", "format": "date-time"}
    assert checked_in["grid_id"]["type"] == ["string", "null"]
    accepted = messages["dispatch.OrderAccepted"]["payload"]["properties"]["data"]["properties"]
    assert accepted["assignee"]["properties"]["kind"]["enum"] == ["member", "team"]
