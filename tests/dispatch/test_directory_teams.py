"""Teams in dispatch's directory from registration's events, which travel on one queue per
event type and so can cross: a leader elected before the team is known is retried, not lost;
an older election arriving after a newer one does not win."""
import pytest
from sqlalchemy import select

from services.dispatch import handlers, readmodels
from shared.contracts import ReceivedEvent

LEADER = "dispatch.directory.leader"


def team_event(event_type, version, **data):
    return ReceivedEvent(source="registration", event_id=f"team-t1-{version}", event_type=event_type,
                         schema_version=1, stream_id="team-t1", stream_version=version, global_position=version,
                         occurred_at="2026-11-23T01:00:00+00:00", correlation_id=None, causation_id=None,
                         actor=None, data={"team_id": "t1", **data})


def leader_of(dsp):
    with dsp.app.db.transaction() as conn:
        return conn.execute(select(readmodels.teams.c.leader_member_id)
                            .where(readmodels.teams.c.team_id == "t1")).scalar()


def test_a_leader_elected_before_the_team_is_known_is_retried_not_lost(dsp):
    elected = team_event("TeamLeaderElected", 3, member_id="m2", votes=5)
    with pytest.raises(handlers.TeamNotYetKnown):
        dsp.app.handle_once(elected, handlers.directory_team_leader, LEADER, ordered=True)
    dsp.app.handle_once(team_event("TeamFormed", 1, community_id="xf", name="法律服务队", basis="行业",
                                   service="法律咨询"), handlers.directory_team_formed, "dispatch.directory")
    assert dsp.app.handle_once(elected, handlers.directory_team_leader, LEADER, ordered=True)   # the retry
    assert leader_of(dsp) == "m2"
    assert not dsp.app.handle_once(elected, handlers.directory_team_leader, LEADER, ordered=True)  # once


def test_an_older_election_arriving_late_does_not_win(dsp):
    dsp.app.handle_once(team_event("TeamFormed", 1, community_id="xf", name="法律服务队", basis="行业",
                                   service="法律咨询"), handlers.directory_team_formed, "dispatch.directory")
    dsp.app.handle_once(team_event("TeamLeaderElected", 5, member_id="m3", votes=7), handlers.directory_team_leader,
                        LEADER, ordered=True)
    dsp.app.handle_once(team_event("TeamLeaderElected", 3, member_id="m2", votes=5), handlers.directory_team_leader,
                        LEADER, ordered=True)
    assert leader_of(dsp) == "m3"
