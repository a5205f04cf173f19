"""The kernel's `Aggregate` applies events through the aggregate's `apply` as
`functools.singledispatchmethod` would, without building a bound method per event."""
from __future__ import annotations

import functools
from dataclasses import dataclass

import pytest

from shared.domain import Aggregate, DomainEvent


@dataclass(frozen=True)
class Opened(DomainEvent):
    name: str


@dataclass(frozen=True)
class Reopened(Opened):   # dispatched to the handler of its base class
    pass


@dataclass(frozen=True)
class Counted(DomainEvent):
    by: int


@dataclass(frozen=True)
class Unknown(DomainEvent):
    pass


class Ledger(Aggregate):
    stream_prefix = "ledger"

    def __init__(self, aggregate_id):
        super().__init__(aggregate_id)
        self.log, self.total = [], 0

    @functools.singledispatchmethod
    def apply(self, event) -> None:
        raise TypeError(f"Ledger cannot apply {type(event).__name__}")

    @apply.register
    def _(self, e: Opened) -> None:
        self.log.append(("opened", e.name))

    @apply.register
    def _(self, e: Counted) -> None:
        self.total += e.by

    def count(self, by: int) -> None:
        self._trigger(Counted(by=by))


class AuditedLedger(Ledger):   # inherits `apply`
    pass


class PlainLedger(Aggregate):
    """`apply` as a plain method."""

    def __init__(self, aggregate_id):
        super().__init__(aggregate_id)
        self.names = []

    def apply(self, event) -> None:
        self.names.append(type(event).__name__)


EVENTS = [Opened(name="甲"), Counted(by=2), Reopened(name="乙"), Counted(by=3)]


@pytest.mark.parametrize("cls", [Ledger, AuditedLedger])
def test_replay_applies_as_the_singledispatchmethod_does(cls):
    replayed = cls.replay("l1", EVENTS)
    by_apply = cls("l1")
    for event in EVENTS:
        by_apply.apply(event)
    assert (replayed.log, replayed.total) == (by_apply.log, by_apply.total) == (
        [("opened", "甲"), ("opened", "乙")], 5)
    assert replayed.version == replayed.loaded_version == 4


def test_trigger_applies_and_keeps_the_event_pending():
    ledger = Ledger.replay("l1", EVENTS)
    ledger.count(10)
    assert ledger.total == 15 and ledger.version == 5 and ledger.loaded_version == 4
    assert ledger.pending == (Counted(by=10),)


def test_an_event_the_aggregate_cannot_apply_still_raises():
    with pytest.raises(TypeError, match="Ledger cannot apply Unknown"):
        Ledger.replay("l1", [Opened(name="甲"), Unknown()])


def test_a_plain_apply_method_is_called_for_every_event():
    assert PlainLedger.replay("p1", EVENTS).names == ["Opened", "Counted", "Reopened", "Counted"]


def test_events_are_made_with_keyword_arguments_only():
    """An event is declared once, as a dataclass; its fields are named where it is made, never
    given by position (a position silently changes meaning when a field is added)."""
    assert Opened(name="甲").name == "甲"
    with pytest.raises(TypeError):
        Opened("甲")
