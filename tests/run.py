"""The whole test suite as two pytest sessions side by side (`make test`).

Most tests wait on the broker, the database or a service process rather than compute, so two
sessions on a 2-core machine finish in about the time of the longer one. Each session is a
normal pytest run with its own vhost, schemas and temporary directories (and its own check that
the machine's RabbitMQ and PostgreSQL are untouched); each prints its report when it ends, and
the run fails if either does.

    python -m tests.run                 # both groups, side by side
    python -m tests.run tests/unit -x   # any arguments: one ordinary pytest run with them
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--durations=15"]

# Two groups of about equal length: the gateway's (the served console in Chromium, schemathesis)
# with the fault suite and the benches' smoke runs, and everything else.
GROUPS = {
    "gateway+faults+benches": ["tests/gateway", "tests/faults", "tests/e2e/test_benches.py"],
    "services+kernel": ["tests", "--ignore=tests/gateway", "--ignore=tests/faults",
                        "--ignore=tests/e2e/test_benches.py"],
}


def run_groups(groups: dict[str, list[str]]) -> int:
    started = time.monotonic()
    running = {}
    for name, args in groups.items():
        log = tempfile.NamedTemporaryFile("w+", prefix=f"baodao-tests-{name}-", suffix=".log", delete=False)
        proc = subprocess.Popen([*PYTEST, *args], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        running[name] = (proc, log)
        print(f"tests: {name} started (pid {proc.pid}, log {log.name})", flush=True)

    def forward(signum, _frame):   # Ctrl-C or CI's time limit: each session tears its fixtures down
        for proc, _ in running.values():
            if proc.poll() is None:
                proc.send_signal(signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)

    results = {}
    while len(results) < len(running):
        for name, (proc, log) in running.items():
            if name in results or proc.poll() is None:
                continue
            results[name] = proc.returncode
            log.flush()
            print(f"\n===== {name}: exit {proc.returncode} after {time.monotonic() - started:.0f} s =====", flush=True)
            print(Path(log.name).read_text(errors="replace"), flush=True)
            os.unlink(log.name)
        time.sleep(0.5)
    failed = [name for name, rc in results.items() if rc != 0]
    print(f"tests: {'FAILED: ' + ', '.join(failed) if failed else 'all passed'} "
          f"in {time.monotonic() - started:.0f} s", flush=True)
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    if argv:
        return subprocess.call([*PYTEST, *argv], cwd=ROOT)
    return run_groups(GROUPS)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
