"""Evaluation's command handlers on the in-memory store (the service layer: no database, no
broker). Its event handlers keep SQL read models in their own transaction (places, grading
inputs), so they are tested on the databases (tests/evaluation/test_points.py, test_year.py)."""
import pytest

from services.evaluation import handlers
from shared.domain import NotFound
from shared.eventstore.memory import MemoryDatabase
from tests.evaluation.conftest import Evaluation


@pytest.fixture
def ev():
    return Evaluation(MemoryDatabase())


def test_a_period_closes_once(ev):
    assert ev.do(handlers.close_period, "xq", "2026H1", "org-1")["changed"] is True
    assert ev.do(handlers.close_period, "xq", "2026H1", "org-1") == {
        "district_id": "xq", "period": "2026H1", "closed": ["2026H1"], "changed": False}
    assert len(ev.events("evaluation-district-xq")) == 1


def test_a_partys_input_for_a_member_with_no_record_is_refused_and_changes_nothing(ev):
    with pytest.raises(NotFound):
        ev.do(handlers.submit_party_input, {"member_id": "nobody", "party": "community", "period": "2026",
                                            "score": 90, "comment": "", "by": {"role": "community", "id": "xf"}})
    assert ev.events() == []
