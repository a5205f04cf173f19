"""Funds' budget handlers on the in-memory store (the service layer: no database, no broker):
what a budget and a year's close append and answer."""
import pytest

from services.funds import handlers
from shared.eventstore.memory import MemoryDatabase
from tests.funds.conftest import D, Funds


@pytest.fixture
def funds():
    return Funds(MemoryDatabase())


def test_a_budget_allocated_again_changes_nothing(funds):
    first = funds.allocate(5_000_000)
    assert (first["budget_fen"], first["created"]) == (5_000_000, True)
    funds.new_events()
    assert funds.allocate(5_000_000)["created"] is False
    assert funds.new_events() == []


def test_closing_a_year_carries_its_surplus_into_the_next_years_budget(funds):
    funds.allocate(5_000_000, year=2025)
    assert funds.do(handlers.close_year, "xf", 2025, "财务", D("2025-12-31"))["surplus_fen"] == 5_000_000
    result = funds.allocate(4_000_000, year=2026)
    assert (result["carried_over_fen"], result["budget_fen"]) == (5_000_000, 9_000_000)
    assert funds.types(funds.events())[0] == "BudgetAllocated"
