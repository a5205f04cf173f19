"""What every benchmark needs: percentiles, its own PostgreSQL database (a fresh RabbitMQ vhost:
`deploy.broker.fresh_vhost`), and CPU/memory readings of processes from /proc."""

from __future__ import annotations

import os
from pathlib import Path

from deploy.pg import drop_schemas, ensure_database

# Benches run the services on classic queues unless QUEUE_TYPE says otherwise (as `make` and the
# tests do): every bench declares the whole topology, ~300 queues, in a vhost of its own and
# deletes it afterwards, and on this development broker (RabbitMQ 3.10, 2 cores) deleting a vhost
# of ~300 quorum queues stalled the node: every later add_vhost hung, for every user of the
# machine, until RabbitMQ was killed (seen twice on 2026-11-29). Production keeps quorum queues.
os.environ.setdefault("QUEUE_TYPE", "classic")


def percentile(sorted_values: list[float], p: float) -> float | None:
    if not sorted_values:
        return None
    k = (len(sorted_values) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def rnd(x, digits=3):
    return None if x is None else round(x, digits)


def summary(values: list[float], digits: int = 2) -> dict:
    s = sorted(values)
    return {"p50": rnd(percentile(s, 50), digits), "p90": rnd(percentile(s, 90), digits),
            "p99": rnd(percentile(s, 99), digits), "max": rnd(s[-1] if s else None, digits),
            "mean": rnd(sum(s) / len(s) if s else None, digits), "n": len(s)}


def prepare_postgres(base_url: str, database: str, schemas) -> str:
    """The benchmark's own database, with the given service schemas dropped."""
    url = ensure_database(base_url, database)
    drop_schemas(url, schemas)
    return url


def proc_status_kb(pid: int, key: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def proc_cpu_s(pid: int) -> float | None:
    """utime + stime of a process, in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def cpu_by_program() -> dict[str, float]:
    """CPU seconds used so far by every running process, summed by program (comm)."""
    out: dict[str, float] = {}
    tck = os.sysconf("SC_CLK_TCK")
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            raw = (d / "stat").read_text()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1:raw.rindex(")")]
        fields = raw.rsplit(")", 1)[1].split()
        out[comm] = out.get(comm, 0.0) + (int(fields[11]) + int(fields[12])) / tck
    return out


def host_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def log_counts(path: Path) -> dict:
    """How often a service retried a command on a concurrency conflict, and logged a warning
    or an error (relay, projector), over the whole run."""
    counts = {"conflict_retries": 0, "warnings": 0, "errors": 0}
    try:
        with open(path, "rb") as f:
            for line in f:
                if b"command_conflict_retry" in line:
                    counts["conflict_retries"] += 1
                if b'"level": "warning"' in line or b'"level": "WARNING"' in line:
                    counts["warnings"] += 1
                elif b'"level": "error"' in line or b'"level": "ERROR"' in line:
                    counts["errors"] += 1
    except OSError:
        pass
    return counts
