"""专项经费 in the console (the community special fund): the year's account and its projects, a
project's page with its step tracker and deadlines as dates, and the form of each next step for
the caller's role — built from the funds service's own schema and the API's step table
(`routes.funds.STEPS`), so a step moved to another role or given another field shows up here
without a change. The street committee's approvals are a to-do list with due dates; residents
read the notices on the noticeboard and may object while a plan is on notice."""
from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation

from marshmallow import fields as mf
from marshmallow import validate as mv

from services.gateway.access import STAFF
from services.gateway.console import texts
from services.gateway.console.kit import FormInvalid, done, form, render, run, screen
from services.gateway.console.texts import now_beijing
from services.gateway.errors import ApiError
from services.gateway.routes import funds as funds_api
from services.funds import schemas as fs
from services.funds.domain import USE_CATEGORIES

#: A project's path (seed 003 第十至十三条), for the step tracker.
PATH = ("proposed", "applied", "meeting_passed", "on_notice", "submitted", "approved", "accepted", "paid")
PATH_NAMES = {"proposed": "提议", "applied": "申报", "meeting_passed": "联席会议", "on_notice": "公示",
              "submitted": "报街道审批", "approved": "批准实施", "accepted": "验收", "paid": "付款"}
#: Which steps may follow each state.
NEXT = {"proposed": ("application", "withdrawal"), "applied": ("joint-meeting", "withdrawal"),
        "meeting_passed": ("notice", "withdrawal"), "on_notice": ("submission", "withdrawal"),
        "parked": ("objection-resolution", "withdrawal"), "submitted": ("approval", "rejection", "withdrawal"),
        "approved": ("acceptance", "change"), "accepted": ("payments",)}
LABELS = {
    "title": "项目名称", "category": "项目类别", "description": "项目内容", "amount_fen": "金额（元）",
    "small_beneficiary_group": "是否为小范围受益群体", "beneficiaries": "受益人数", "payee_kind": "收款方类型",
    "preliminary_consent_by": "街道初审同意人", "plan": "实施方案", "attendees": "参会人数",
    "resident_representatives": "其中居民代表人数", "votes_for": "赞成票", "votes_against": "反对票",
    "minutes": "会议纪要", "objection_id": "异议", "resolution": "处理结果", "republish": "是否重新公示",
    "construction_committee_by": "社区建设委员会负责人", "reason": "原因", "change": "变更内容",
    "consent_by": "同意变更的负责人", "consent_on": "同意日期", "quality": "质量评定",
    "residents_surveyed": "调查居民人数", "residents_satisfied": "其中满意人数", "remarks": "验收意见",
    "payee": "收款方", "voucher": "结算凭证", "invoice_no": "发票号码", "final": "是否为最后一笔",
    "content": "异议内容", "on": "办理日期", "estate": "小区类型（物业管理服务须为老旧小区或物业弃管小区）", "by": "签批人姓名（本人真实姓名）"}
CHOICES = {"payee_kind": {"organisation": "单位", "individual": "个人", "aid": "救助对象"},
           "voucher": {"invoice": "发票", "payee_signature": "收款人签字"},
           "role": {"community_secretary": "社区党组织书记", "construction_committee_director": "社区建设委员会主任",
                    "street_secretary": "街道党工委书记", "payee": "收款人"}}
LONG_TEXT = ("description", "plan", "minutes", "resolution", "change", "remarks", "content", "reason")
SKIP = {"project_id", "by", "community_id", "year", "raised_by", "payment_id", "lines", "signatures", "demand_ids",
        "objection_id", "acting_as"}


def field_specs(schema, ask_by: bool = False) -> list[dict]:
    """The form fields of a step, from its marshmallow schema (`by` asked only where the API does
    not fill it from the caller, e.g. the approver's own name)."""
    out = []
    for name, field in schema().fields.items():
        if name in SKIP and not (ask_by and name == "by"):
            continue
        spec = {"name": name, "label": LABELS.get(name, name), "required": field.required, "options": None,
                "step": None, "min": None, "value": None}
        choices = next((v.choices for v in _validators(field) if isinstance(v, mv.OneOf)), None)
        if name == "category" and schema is fs.ProposeProjectSchema:
            choices = USE_CATEGORIES                 # the fund's uses (seed 003 第五条)
        if isinstance(field, mf.Boolean):
            spec.update(type="radio", options=[("true", "是"), ("false", "否")])
        elif choices:
            spec.update(type="select", options=[(c, CHOICES.get(name, {}).get(c, c)) for c in choices])
        elif isinstance(field, mf.Integer) and name.endswith("_fen"):
            spec.update(type="number", step="0.01", min="0.01", money=True)
        elif isinstance(field, mf.Integer):
            spec.update(type="number", step="1", min="0")
        elif isinstance(field, mf.Date):
            spec.update(type="date", value=now_beijing().date().isoformat() if name == "on" else None)
        elif name in LONG_TEXT:
            spec.update(type="textarea")
        else:
            spec.update(type="text")
        out.append(spec)
    return out


def _validators(field):
    v = field.validate
    return v if isinstance(v, (list, tuple)) else ([v] if v else [])


def body_from(form_, schema, prefix: str = "", ask_by: bool = False) -> dict:
    """The step's body from the form: yuan to integer fen (exactly), booleans, numbers; empty
    optional fields left out; the nested lists (budget lines, signatures) from their rows."""
    body, errors = {}, {}
    for spec in field_specs(schema, ask_by):
        raw = form_.get(prefix + spec["name"], "").strip()
        if raw == "":
            if spec["required"]:
                body[spec["name"]] = None
            continue
        if spec.get("money"):
            try:
                value = Decimal(raw) * 100
                if value != value.to_integral_value():
                    raise InvalidOperation
                body[spec["name"]] = int(value)
            except InvalidOperation:
                errors[spec["name"]] = "请填写金额（元），最多两位小数"
        elif spec["type"] == "radio":
            body[spec["name"]] = raw == "true"
        elif spec["type"] == "number":
            body[spec["name"]] = int(raw) if raw.lstrip("-").isdigit() else raw
        else:
            body[spec["name"]] = raw
    fields_ = schema().fields
    if "lines" in fields_:
        lines = []
        for i in range(1, 4):
            item, kind, amount = (form_.get(f"line{i}-{k}", "").strip() for k in ("item", "kind", "amount"))
            if item or amount:
                try:
                    fen = Decimal(amount) * 100
                    lines.append({"item": item, "kind": kind, "amount_fen": int(fen)})
                except InvalidOperation:
                    errors[f"line{i}-amount"] = "请填写金额（元）"
        if lines or fields_["lines"].required:
            body["lines"] = lines
    if "signatures" in fields_:
        body["signatures"] = [{"role": form_.get(f"sig{i}-role", ""), "name": form_.get(f"sig{i}-name", "").strip(),
                               "signed_on": form_.get(f"sig{i}-date", "")}
                              for i in range(1, 5) if form_.get(f"sig{i}-name", "").strip()]
    if errors:
        raise FormInvalid("请按提示修改后再提交", errors)
    return body


def steps_of(project: dict) -> list[dict]:
    state = project["state"]
    reached = PATH.index(state) if state in PATH else (PATH.index("on_notice") if state == "parked" else -1)
    def review(key):                                    # a provisional deadline says so (see workdays.py)
        return f"（{project[key + '_note']}）" if project.get(key + "_provisional") else ""

    dates = {"proposed": project.get("proposed_on"), "on_notice": project.get("notice_ends_on") and
             f"公示至 {texts.cn_date(project['notice_ends_on'])}{review('notice_ends_on')}",
             "submitted": project.get("decide_by") and
             f"街道应于 {texts.cn_date(project['decide_by'])} 前决定{review('decide_by')}",
             "approved": project.get("approved_on"),
             "accepted": project.get("accepted_on"), "paid": project.get("paid_on")}
    out = []
    for i, s in enumerate(PATH):
        status = "done" if i < reached or state == "paid" else ("current" if i == reached else "todo")
        when = dates.get(s) or ""
        if when and len(when) == 10 and when[4] == "-":
            when = texts.cn_date(when)
        out.append({"label": PATH_NAMES[s], "state": status, "when": when})
    if state in ("rejected", "withdrawn", "parked"):
        out.append({"label": texts.STATE_NAMES.get(state, {"rejected": "未通过", "withdrawn": "已撤回",
                                                             "parked": "因异议搁置"}[state]),
                    "state": "current", "when": project.get("outcome") or ""})
    return out


def project_screen(call, project_id: str, status=200, **kw):
    project = funds_api.project_in_scope(call, project_id, funds_api.READERS)
    role = call.me.role
    steps = [(name, funds_api.STEP_NAMES[name], field_specs(funds_api.STEPS[name][1], not funds_api.STEPS[name][3]),
              funds_api.STEPS[name][1])
             for name in NEXT.get(project["state"], ()) if role in funds_api.STEPS[name][2]]
    return render(call, "funds/project.html", status=status, title=project["title"], project=project,
                  tracker=steps_of(project), steps=[(n, label, specs, "lines" in sch().fields,
                                                     "signatures" in sch().fields) for n, label, specs, sch in steps],
                  kinds=list(fs.EXPENSE_KINDS) if hasattr(fs, "EXPENSE_KINDS") else [],
                  sig_roles=list(CHOICES["role"].items()), today=now_beijing().date().isoformat(), **kw)


@screen("/console/fund-projects/<project_id>", summary="专项经费项目", roles=STAFF)
def project_page(call, project_id):
    return project_screen(call, project_id)


@form("/console/fund-projects/<project_id>/<step>", summary="专项经费项目的一步", roles=("community_staff",
                                                                                  "street_committee"))
def project_step(call, project_id, step):
    if step not in funds_api.STEPS:
        raise ApiError(404, "not_found", "没有这一步")
    rpc, schema, roles, fills_by = funds_api.STEPS[step]
    handler = getattr(funds_api, f"fund_{step.replace('-', '_')}")
    try:
        body = body_from(call.request.form, schema, prefix=f"{step}-", ask_by=not fills_by)
        if step == "payments":
            body["payment_id"] = "pay-" + uuid.uuid4().hex[:10]
        run(call, handler, body, project_id=project_id)
    except FormInvalid as exc:
        errors = {f"{step}-{k}" if not k.startswith(("line", "sig")) else k: v for k, v in exc.errors.items()}
        if "payments-names" in errors:                  # the same signer twice: beside the repeated name
            errors[repeated_signer(call.request.form)] = errors.pop("payments-names")
        return project_screen(call, project_id, 400, values=call.request.form,
                              errors=errors or {f"{step}-_": exc.message}, message=exc.message)
    return done(call, f"已办理：{funds_api.STEP_NAMES[step]}", to=f"/console/fund-projects/{project_id}")


def repeated_signer(form_) -> str:
    """The form field of the first signer whose name an earlier signer already wrote."""
    seen = set()
    for i in range(1, 5):
        name = form_.get(f"sig{i}-name", "").strip()
        if name and name in seen:
            return f"sig{i}-name"
        seen.add(name)
    return "payments-_"


def _prefixed(form_, step):
    return {f"{step}-{k}": v for k, v in form_.items()}


def community_fund(call, roles=STAFF):
    cid = call.request.args.get("community_id") or call.me.community_id
    if not cid:
        raise ApiError(400, "invalid_input", "请从社区列表选择社区")
    community = call.access.community(call.me, cid, roles=roles)
    return community


@screen("/console/fund", summary="社区专项经费", roles=STAFF)
def fund_home(call):
    community = community_fund(call)
    year = now_beijing().year
    try:
        fund = call.call("funds", "account", community["community_id"], year)
    except ApiError as exc:
        if exc.status in (401, 403):
            raise
        fund = None
    return render(call, "funds/home.html", title="专项经费", community=community, fund=fund, year=year,
                  specs=field_specs(fs.ProposeProjectSchema), kinds=list(fs.EXPENSE_KINDS))


@form("/console/communities/<community_id>/fund-projects", summary="项目提议（一事一议）", roles=("community_staff",))
def propose(call, community_id):
    f = call.request.form
    year = now_beijing().year
    try:
        body = body_from(f, fs.ProposeProjectSchema)
        body.update(project_id="fp-" + uuid.uuid4().hex[:10], year=year)
        result = run(call, funds_api.propose_project, body, community_id=community_id)
    except FormInvalid as exc:
        community = call.access.community(call.me, community_id)
        return render(call, "funds/home.html", status=400, title="专项经费", community=community,
                      fund=call.call("funds", "account", community_id, year), year=year,
                      specs=field_specs(fs.ProposeProjectSchema), kinds=list(fs.EXPENSE_KINDS),
                      values=f, errors=exc.errors,
                      message=exc.message)
    pid = (result or {}).get("project_id") or body["project_id"]
    return done(call, "项目已提议", to=f"/console/fund-projects/{pid}")


@screen("/console/street/fund", summary="街道党工委：专项经费待办", roles=("street_committee", "district_org",
                                                                           "city_org"))
def street_fund(call):
    me = call.me
    where = {"street_id": me.street_id} if me.role == "street_committee" else {"district_id": me.district_id} \
        if me.role == "district_org" else {}
    communities = call.call("registration", "statistics", {"group_by": "community", **where})["rows"]
    year = now_beijing().year
    todo, others = [], []
    for c in communities:
        try:
            fund = call.call("funds", "account", c["id"], year)
        except ApiError:
            continue
        for p in (fund or {}).get("projects", []):
            p = {**p, "community_name": c["name"]}
            mine = [s for s in NEXT.get(p["state"], ()) if me.role in funds_api.STEPS[s][2]]
            (todo if mine else others).append(p)
    todo.sort(key=lambda p: p.get("decide_by") or "9999")
    return render(call, "funds/street.html", title="专项经费待办", todo=todo, others=others, year=year)


@form("/console/fund-projects/<project_id>/objection", summary="对公示的项目提出异议", roles=("resident",))
def objection(call, project_id):
    content = call.request.form.get("content", "").strip()
    try:
        run(call, funds_api.raise_objection, {"content": content, "objection_id": "ob-" + uuid.uuid4().hex[:10]},
            project_id=project_id)
    except FormInvalid as exc:
        return done(call, "；".join(exc.errors.values()) or exc.message, to="/console/noticeboard", error=True)
    return done(call, "您的异议已提交，项目在处理前暂停", to="/console/noticeboard")


@screen("/console/supervision", summary="社区议事监督委员会：专项经费全程监督", roles=funds_api.READERS)
def supervision(call):
    """第十四条: the supervisory committee's read-only file of its community's year."""
    community = community_fund(call, roles=funds_api.READERS)
    raw = call.request.args.get("year", "")
    year = int(raw) if raw.isdigit() and len(raw) == 4 else now_beijing().year
    try:
        file = call.call("funds", "supervision", community["community_id"], year)
    except ApiError as exc:
        if exc.status in (401, 403):
            raise
        file = None
    return render(call, "funds/supervision.html", title="专项经费全程监督", community=community, file=file, year=year)
