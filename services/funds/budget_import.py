"""Budgets from a CSV file (经费下达表): columns community_id, community_name, year, and the
amount as `amount_yuan` ("50000" or "50000.00") or `amount_fen` (integer). Every row is
checked before any is sent; a bad row is reported with its line number, in Chinese.

    python -m services.funds.budget_import budgets.csv [--amqp-uri URI]
"""
from __future__ import annotations

import argparse
import csv
import io
import os
import re
import sys

from services.funds.domain import yuan

_YUAN = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,2})?\Z")


class BudgetFileError(ValueError):
    pass


def yuan_to_fen(text: str) -> int:
    """"1234.5" -> 123450, exactly (no float); more than two decimals is refused."""
    text = text.strip().replace(",", "")
    if not _YUAN.match(text):
        raise ValueError(f"金额“{text}”格式不正确（元，最多两位小数）")
    whole, _, frac = text.partition(".")
    return int(whole) * 100 + int((frac + "00")[:2])


def parse_budget_csv(text: str) -> list[dict]:
    rows, errors = [], []
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    required = {"community_id", "community_name", "year"}
    if not reader.fieldnames or not required <= set(reader.fieldnames) or not (
            {"amount_yuan", "amount_fen"} & set(reader.fieldnames)):
        raise BudgetFileError("表头应包含 community_id, community_name, year 以及 amount_yuan 或 amount_fen")
    for line, raw in enumerate(reader, start=2):
        try:
            if raw.get("amount_fen", "").strip():
                if not raw["amount_fen"].strip().isdigit():
                    raise ValueError(f"amount_fen“{raw['amount_fen']}”应为整数（分）")
                fen = int(raw["amount_fen"].strip())
            else:
                fen = yuan_to_fen(raw.get("amount_yuan") or "")
            if fen <= 0:
                raise ValueError("金额必须大于零")
            if not raw["community_id"].strip() or not raw["community_name"].strip():
                raise ValueError("社区编号和名称不能为空")
            year = int(raw["year"])
            rows.append({"community_id": raw["community_id"].strip(), "community_name": raw["community_name"].strip(),
                         "year": year, "allocated_fen": fen})
        except (ValueError, TypeError) as exc:
            errors.append(f"第 {line} 行：{exc}")
    if errors:
        raise BudgetFileError("；".join(errors))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("csv_file")
    parser.add_argument("--amqp-uri", default=os.environ.get("AMQP_URI", "amqp://guest:guest@localhost:5672/"))
    parser.add_argument("--source", default="市财政")
    args = parser.parse_args(argv)
    with open(args.csv_file, encoding="utf-8") as f:
        text = f.read()
    try:
        parse_budget_csv(text)
    except BudgetFileError as exc:
        print(exc, file=sys.stderr)
        return 2
    from nameko.standalone.rpc import ClusterRpcProxy

    with ClusterRpcProxy({"AMQP_URI": args.amqp_uri}, timeout=60) as rpc:
        result = rpc.funds.import_budgets(text, args.source)
    for row in result["rows"]:
        print(f"{row['community_id']} {row['year']}: {yuan(row['budget_fen'])} 元"
              f"{'' if row['created'] else '（已下达，未变）'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
