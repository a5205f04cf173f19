"""Registration's contract refuses dates the programme cannot mean, with a Chinese reason."""
import pytest
from marshmallow import ValidationError

from services.registration import schemas as s

MEMBER = {"unit_id": "czj", "person_key": "13800000001", "name": "张伟", "gender": "男", "phone": "13800000001",
          "residence_community_id": "xf", "joined_reason": "newly_admitted"}


@pytest.mark.parametrize("joined_on, ok", [("1921-07-01", True), ("2026-11-01", True), ("1921-06-30", False),
                                           ("0058-09-01", False), ("2101-01-01", False)])
def test_the_day_a_member_joined_lies_between_the_partys_founding_and_this_century(joined_on, ok):
    if ok:
        assert s.EnrollMemberSchema().load({**MEMBER, "joined_on": joined_on})["joined_on"].isoformat() == joined_on
    else:
        with pytest.raises(ValidationError) as refused:
            s.EnrollMemberSchema().load({**MEMBER, "joined_on": joined_on})
        assert "1921-07-01" in refused.value.messages["joined_on"][0]


@pytest.mark.parametrize("schema, body, field", [
    (s.OpenCampaignSchema, {"unit_id": "czj", "campaign_id": "c", "title": "t", "deadline": "0099-12-31"}, "deadline"),
    (s.MoveMemberSchema, {"member_id": "m", "to_community_id": "xf", "moved_on": "1999-12-31"}, "moved_on"),
])
def test_deadlines_and_moves_lie_in_this_century(schema, body, field):
    with pytest.raises(ValidationError) as refused:
        schema().load(body)
    assert set(refused.value.messages) == {field}
