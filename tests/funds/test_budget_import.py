"""The budget CSV: yuan to fen exactly, every bad row reported, nothing half-read."""
import pytest

from services.funds.budget_import import BudgetFileError, parse_budget_csv, yuan_to_fen


def test_yuan_become_fen_exactly():
    assert yuan_to_fen("50000") == 5_000_000
    assert yuan_to_fen("45,000.5") == 4_500_050
    assert yuan_to_fen("0.07") == 7
    assert yuan_to_fen("19999999.99") == 1_999_999_999
    for bad in ("12.345", "-5", "1e5", "", "五万"):
        with pytest.raises(ValueError):
            yuan_to_fen(bad)


def test_a_file_with_bad_rows_is_refused_whole_with_line_numbers():
    text = ("\ufeffcommunity_id,community_name,year,amount_yuan\n"
            "xf,幸福社区,2026,50000\n"
            "yg,阳光社区,2026,12.345\n"
            "hx,,2026,100\n")
    with pytest.raises(BudgetFileError) as refused:
        parse_budget_csv(text)
    assert "第 3 行" in str(refused.value) and "第 4 行" in str(refused.value) and "第 2 行" not in str(refused.value)


def test_amounts_in_fen_and_headers():
    rows = parse_budget_csv("community_id,community_name,year,amount_fen\nxf,幸福社区,2026,5000001\n")
    assert rows == [{"community_id": "xf", "community_name": "幸福社区", "year": 2026, "allocated_fen": 5_000_001}]
    with pytest.raises(BudgetFileError, match="amount_fen"):
        parse_budget_csv("community_id,community_name,year,amount_fen\nxf,幸福社区,2026,50000.5\n")
    with pytest.raises(BudgetFileError, match="表头"):
        parse_budget_csv("id,name,amount\nxf,幸福社区,1\n")
