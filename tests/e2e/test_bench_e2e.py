"""bench.e2e's quick form as a smoke test (see test_benches.py): the services as processes, a
small city's check-ins and order lifecycles end to end, reconciled afterwards."""
from tests.e2e.test_benches import run_quick


def test_the_end_to_end_bench_runs_in_its_quick_form_and_loses_nothing():
    runs = run_quick("e2e")["runs"]
    assert runs
    for run in runs:   # one per configuration the bench compares
        assert run["lifecycles"]["done"] > 0
        assert run["reconciliation"]["lost"] == 0 and run["reconciliation"]["duplicated"] == 0, run["reconciliation"]
