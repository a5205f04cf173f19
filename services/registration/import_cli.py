"""Import a unit's roster (在职党员名册) into the running registration service.

    python -m services.registration.import_cli ROSTER.xlsx --unit czj [--amqp-uri …] [--dry-run]

The whole file is checked first by the service; if any row is bad, every bad row is printed
with its row number and reason (and written to ROSTER.errors.csv) and nothing is applied. A
clean file is then applied in chunks with a progress bar; every chunk is one transaction, and
re-running the same file changes nothing, so an interrupted import is finished by running it
again.
"""
from __future__ import annotations

import argparse
import base64
import os
import sys
from pathlib import Path

from shared.logging import quiet_amqp_client
from services.registration.roster_import import ImportReport, ProgressBar, RowError, error_report_csv

CHUNK = 500


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("roster", type=Path)
    parser.add_argument("--unit", required=True, help="the unit's id")
    parser.add_argument("--amqp-uri", default=os.environ.get("AMQP_URI", "amqp://guest:guest@localhost:5672/"))
    parser.add_argument("--dry-run", action="store_true", help="check the file only")
    args = parser.parse_args(argv)
    quiet_amqp_client()

    from nameko.standalone.rpc import ClusterRpcProxy

    content = args.roster.read_bytes()
    with ClusterRpcProxy({"AMQP_URI": args.amqp_uri}, timeout=120) as rpc:
        checked = rpc.registration.import_roster({"unit_id": args.unit, "filename": args.roster.name,
                                                   "content_base64": base64.b64encode(content).decode(),
                                                   "apply": False})
        print(checked["summary"])
        if not checked["ok"]:
            for e in checked["errors"]:
                print(f"  第 {e['row']} 行 [{e['column']}] {e['reason']}")
            report = ImportReport(errors=[RowError(e["row"], e["column"], e["reason"]) for e in checked["errors"]])
            errors_path = args.roster.with_suffix(".errors.csv")
            errors_path.write_bytes(error_report_csv(report))
            print(f"名册未导入（一行也没有导入）。错误清单：{errors_path}")
            return 1
        if args.dry_run:
            return 0
        rows = checked["accepted"]
        created = 0
        with ProgressBar(len(rows), "导入名册") as bar:
            for start in range(0, len(rows), CHUNK):
                chunk = rows[start:start + CHUNK]
                created += rpc.registration.enroll_members(args.unit, chunk)["created"]
                bar.advance(len(chunk))
    print(f"导入完成：{len(rows)} 行，新增 {created} 名，已在名册中 {len(rows) - created} 名")
    return 0


if __name__ == "__main__":
    sys.exit(main())
