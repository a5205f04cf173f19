"""A new account is placed only where its creator may act: each field that places it (district,
street, community, unit, member, resident) must exist, as the owning service knows it, and lie
within the creator's scope. A refused creation stores nothing."""
import pytest

from tests.gateway.conftest import PASSWORD
from tests.gateway.test_api import demand_body


def attempt(api, username, role, **place):
    return api.request("POST", "/api/v1/accounts", json={"username": username, "password": PASSWORD, "role": role,
                                                         "display_name": "测试账号", **place})


def stored(city, username) -> bool:
    """Whether an account `username` exists (listed to the city, or able to log in)."""
    listed = city.as_("admin").ok("GET", "/api/v1/accounts?page_size=200")["items"]
    logged_in = city.api.post("/api/v1/session", {"username": username, "password": PASSWORD}).status_code == 200
    return logged_in or any(a["username"] == username for a in listed)


def refused(city, response, username, status=(403,)):
    assert response.status_code in status, response.get_data(as_text=True)
    assert not stored(city, username)


@pytest.fixture(scope="module")
def known_residents(city):
    """r-dq-1 has a demand in 东城社区 (dq); r-yg-1 has a resident account in 阳光社区 (yg)."""
    city.as_("staff-dq").ok("POST", "/api/v1/communities/dq/demands",
                            demand_body(resident_id="r-dq-1", resident_name="孙大妈", grid_id=None))
    city.as_("admin").ok("POST", "/api/v1/accounts", {"username": "res-yg-1", "password": PASSWORD, "role": "resident",
                                                      "display_name": "周阿姨", "community_id": "yg",
                                                      "resident_id": "r-yg-1"})
    return {"dq": "r-dq-1", "yg": "r-yg-1"}


def test_a_district_office_cannot_place_a_street_committee_on_another_districts_street(city):
    org_xq = city.as_("org-xq")
    # street dm (东门街道) lies in 东区, whatever district the body claims
    refused(city, attempt(org_xq, "street-dm-1", "street_committee", street_id="dm", district_id="xq"), "street-dm-1")
    refused(city, attempt(org_xq, "street-dm-2", "street_committee", street_id="dm", district_id="dc"), "street-dm-2")


def test_a_street_that_does_not_exist_is_not_found(city):
    refused(city, attempt(city.as_("org-xq"), "street-none", "street_committee", street_id="no-such-street",
                          district_id="xq"), "street-none", status=(404,))
    refused(city, attempt(city.as_("admin"), "street-none-2", "street_committee", street_id="no-such-street",
                          district_id="xq"), "street-none-2", status=(404,))


def test_a_district_that_does_not_exist_is_not_found(city):
    refused(city, attempt(city.as_("admin"), "org-none", "district_org", district_id="no-such-district"),
            "org-none", status=(404,))


def test_a_street_committee_of_its_own_street_is_created_and_reads_only_there(city):
    created = city.as_("org-xq").ok("POST", "/api/v1/accounts", {
        "username": "street-hp-2", "password": PASSWORD, "role": "street_committee", "display_name": "和平街道",
        "street_id": "hp", "district_id": "xq"})
    assert (created["street_id"], created["district_id"]) == ("hp", "xq")
    street = city.api.as_(city.login("street-hp-2"))
    assert street.get("/api/v1/communities/xf").status_code == 200
    assert street.get("/api/v1/communities/dq").status_code == 403


def test_an_account_whose_street_and_district_disagree_covers_nothing_of_the_other_district(city):
    """Defence in depth: a street committee covers a community only if both its street and its
    district match the community's."""
    city.gateway.accounts.create("street-odd", PASSWORD, "street_committee", "错位街道", street_id="dm",
                                 district_id="xq")
    odd = city.api.as_(city.login("street-odd"))
    assert odd.get("/api/v1/communities/dq").status_code == 403
    assert odd.get("/api/v1/communities/dq/demands").status_code == 403


def test_community_staff_cannot_create_a_resident_account_for_another_communitys_resident(city, known_residents):
    staff = city.as_("staff-xf")
    refused(city, attempt(staff, "res-steal-1", "resident", community_id="xf", resident_id=known_residents["dq"]),
            "res-steal-1")
    refused(city, attempt(staff, "res-steal-2", "resident", community_id="xf", resident_id=known_residents["yg"]),
            "res-steal-2")
    # the username stands for the resident id when none is given: the same rule applies
    refused(city, attempt(city.as_("admin"), known_residents["dq"], "resident", community_id="xf"),
            known_residents["dq"])


def test_community_staff_cannot_place_a_resident_in_another_community(city):
    refused(city, attempt(city.as_("staff-xf"), "res-in-dq", "resident", community_id="dq"), "res-in-dq")
    refused(city, attempt(city.as_("staff-xf"), "res-in-nowhere", "resident", community_id="no-such"),
            "res-in-nowhere", status=(404,))


def test_a_resident_of_the_community_gets_an_account_and_sees_only_their_own(city, known_residents):
    staff = city.as_("staff-xf")
    staff.ok("POST", "/api/v1/communities/xf/demands", demand_body(resident_id="r-xf-9", resident_name="吴大爷"))
    created = staff.ok("POST", "/api/v1/accounts", {"username": "res-xf-9", "password": PASSWORD, "role": "resident",
                                                    "display_name": "吴大爷", "community_id": "xf",
                                                    "resident_id": "r-xf-9"})
    assert created["resident_id"] == "r-xf-9"
    resident = city.api.as_(city.login("res-xf-9"))
    assert resident.ok("GET", "/api/v1/residents/r-xf-9/demands")["total"] == 1
    assert resident.get(f"/api/v1/residents/{known_residents['dq']}/demands").status_code == 403


def test_members_and_units_outside_the_creators_scope_are_refused(city):
    refused(city, attempt(city.as_("org-dc"), "mem-steal", "member", member_id=city.ids["m1"]), "mem-steal")
    refused(city, attempt(city.as_("sec-dcj"), "mem-steal-2", "member", member_id=city.ids["m1"]), "mem-steal-2")
    refused(city, attempt(city.as_("sec-czj"), "mem-none", "member", member_id="no-such-member"), "mem-none",
            status=(404,))
    refused(city, attempt(city.as_("org-dc"), "sec-steal", "unit_secretary", unit_id="czj"), "sec-steal")
