"""Patterns on input that is stored or used as a key: `$` also matches before a trailing newline
and `\\d` matches any Unicode digit, so "2026H1\\n" or "٢٠٢٦H1" used to pass as a period; one such
input stored in evaluation's events failed its projector on every retry (a period column of 6)
and every evaluation read of the city with it."""
import pytest
from marshmallow import ValidationError

from services.evaluation.schemas import PartyInputSchema
from services.gateway.routes.accounts import CreateAccountSchema, LoginSchema
from services.registration.schemas import PHONE
from shared.contracts.evaluation import PERIOD


@pytest.mark.parametrize("period", ["2026H1\n", "٢٠٢٦H1", "2026H3", " 2026H1", "2026h1"])
def test_a_period_is_four_ascii_digits_h_and_a_half_nothing_else(period):
    with pytest.raises(ValidationError):
        PERIOD(period)


def test_good_periods_and_phones_pass():
    assert PERIOD("2026H1") == "2026H1" and PERIOD("2027H2") == "2027H2"
    for phone in ("13800000000", "0571-88888888", "057188888888"):
        assert PHONE(phone) == phone


@pytest.mark.parametrize("phone", ["13800000000\n", "１３８００００００００", "1380000000", "0571-88888888\n"])
def test_a_phone_with_a_trailing_newline_or_other_digits_is_refused(phone):
    with pytest.raises(ValidationError):
        PHONE(phone)


def test_the_party_input_command_refuses_a_period_with_a_newline():
    errors = PartyInputSchema().validate({"member_id": "m1", "period": "2026H1\n", "party": "self", "score": 50,
                                          "comment": "x", "by": {"kind": "member", "id": "m1"}})
    assert "period" in errors


def test_login_and_account_names_refuse_control_characters_and_newlines():
    assert "username" in LoginSchema().validate({"username": "ad\x00min", "password": "x"})
    assert LoginSchema().validate({"username": "admin", "password": "x"}) == {}
    assert "username" in CreateAccountSchema().validate({"username": "admin\n"})
