"""Open311 GeoReport v2 on dispatch's demands, as a 311 client would call it."""


def test_services_list_the_categories(city):
    services = city.api.ok("GET", "/open311/v2/services.json")
    names = {s["service_name"]: s["service_code"] for s in services}
    assert "法律援助" in names and all(s["type"] == "realtime" for s in services)
    definition = city.api.ok("GET", f"/open311/v2/services/{names['助老']}.json")
    assert definition["service_code"] == names["助老"]


def test_a_resident_submits_a_form_encoded_request_and_follows_it(city):
    token = city.tokens["res-qian"]
    code = next(s["service_code"] for s in city.api.ok("GET", "/open311/v2/services.json") if s["service_name"] == "助老")
    created = city.api.client.post("/open311/v2/requests.json", data={
        "api_key": token, "service_code": code, "description": "家里老人需要陪同就医", "address_string": "幸福小区5栋"})
    assert created.status_code == 200, created.get_data(as_text=True)
    request_id = created.json[0]["service_request_id"]
    one = city.api.client.get(f"/open311/v2/requests/{request_id}.json?api_key={token}").json[0]
    assert (one["status"], one["service_name"], one["address"]) == ("open", "助老", "幸福小区5栋")
    assert one["agency_responsible"] == "xf" and one["requested_datetime"]
    mine = city.api.client.get(f"/open311/v2/requests.json?api_key={token}").json
    assert request_id in [r["service_request_id"] for r in mine]
    # the demand is dispatch's: staff see it among the community's open demands
    staff = city.as_("staff-xf")
    assert request_id in [d["demand_id"] for d in staff.ok("GET", "/api/v1/communities/xf/demands?page_size=200")["items"]]
    by_id = city.api.client.get(f"/open311/v2/requests.json?service_request_id={request_id}",
                                headers={"Authorization": f"Bearer {city.tokens['staff-xf']}"}).json
    assert [r["service_request_id"] for r in by_id] == [request_id]
    # another resident neither sees it by id nor in a list
    other = city.tokens["res-zhao"]
    refused = city.api.client.get(f"/open311/v2/requests/{request_id}.json?api_key={other}")
    assert refused.status_code == 403 and refused.json[0]["error_code"] == "forbidden"
    assert city.api.client.get(f"/open311/v2/requests.json?service_request_id={request_id}&api_key={other}").json == []


def test_bad_requests_get_open311_errors(city):
    token = city.tokens["res-qian"]
    missing = city.api.client.post("/open311/v2/requests.json", data={"api_key": token, "description": "无类别"})
    assert missing.status_code == 400 and "service_code" in missing.json[0]["description"]
    assert city.api.client.post("/open311/v2/requests.json", data={"service_code": "001", "description": "x"}
                                ).status_code == 401
    unknown = city.api.client.get(f"/open311/v2/requests/nope.json?api_key={token}")
    assert unknown.status_code == 404 and unknown.json[0]["code"] == 404
    staff_elsewhere = city.api.client.post("/open311/v2/requests.json", data={
        "api_key": city.tokens["staff-dq"], "service_code": "001", "description": "代居民提交", "jurisdiction_id": "xf"})
    assert staff_elsewhere.status_code == 200   # staff submit into their own community, whatever jurisdiction says
    assert city.api.client.get(f"/open311/v2/requests/{staff_elsewhere.json[0]['service_request_id']}.json"
                               f"?api_key={city.tokens['staff-dq']}").json[0]["agency_responsible"] == "dq"
