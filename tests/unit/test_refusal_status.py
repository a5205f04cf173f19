"""A domain refusal crosses RPC and becomes an HTTP status: whatever names something that does
not exist (a `NotFound`, whatever its code) is 404; any other refusal keeps its status."""
import json

from nameko.exceptions import deserialize, serialize

from services.gateway.errors import refused
from shared.domain import DomainError, NotFound
from shared.nameko_edge import CommandRejected, command


class UnknownThing(NotFound):
    code = "unknown_thing"


class Refused(DomainError):
    code = "not_yours"


class Service:
    name = "test"

    @command()
    def missing(self, payload):
        raise UnknownThing("东西不存在")

    @command()
    def refusing(self, payload):
        raise Refused("不是您的")


def over_rpc(method) -> CommandRejected:
    try:
        getattr(Service(), method)({})
    except CommandRejected as exc:
        return deserialize(json.loads(json.dumps(serialize(exc))))
    raise AssertionError("not refused")


def test_a_not_found_of_any_code_is_404_after_crossing_rpc():
    exc = over_rpc("missing")
    assert isinstance(exc, CommandRejected) and exc.code == "unknown_thing"
    error = refused(exc.code, exc.message, exc.details, exc.missing)
    assert (error.status, error.code) == (404, "unknown_thing")


def test_other_refusals_keep_their_status_after_crossing_rpc():
    exc = over_rpc("refusing")
    assert not exc.missing
    assert refused(exc.code, exc.message, exc.details, exc.missing).status == 409
    assert CommandRejected("not_found", "不存在").missing
