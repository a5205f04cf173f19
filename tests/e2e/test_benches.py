"""Every benchmark still runs: its quick form (`python -m bench.<name> --quick --json`) as a
smoke test, on the machine's broker and database like the benches themselves (each in a vhost
and schema of its own). The figures are not checked here (they belong in bench/results, from a
quiet machine); that the bench finishes and reports its JSON is."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# bench.e2e's smoke run is in test_bench_e2e.py (the other group of `make test`, tests/run.py)
BENCHES = ["eventstore", "funds", "notify_cpu", "evaluation", "rpc_floor", "gateway", "notify", "dispatch",
           "registration"]


def last_json_object(text: str) -> dict:
    """The last JSON object printed (on one line or pretty-printed), after any log lines."""
    lines = text.splitlines()
    for start in range(len(lines) - 1, -1, -1):
        if lines[start].startswith("{"):
            try:
                return json.loads("\n".join(lines[start:]))
            except json.JSONDecodeError:
                continue
    raise AssertionError(f"no JSON object in the bench's output:\n{text[-2000:]}")


def run_quick(bench: str) -> dict:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    run = subprocess.run([sys.executable, "-m", f"bench.{bench}", "--quick", "--json"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, (run.stdout[-2000:], run.stderr[-3000:])
    return last_json_object(run.stdout)


@pytest.mark.parametrize("bench", BENCHES)
def test_the_bench_runs_in_its_quick_form(bench):
    result = run_quick(bench)
    assert isinstance(result, dict) and result
