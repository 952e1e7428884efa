"""The approval queue as a REST API and a review page, mounted in Airflow by a plugin.

Who is calling comes from Airflow's own authentication (the JWT of the logged-in Airflow
user, as a bearer token or the UI's session cookie); what that person may do comes from the
daybook role table ``config/roles.yaml`` (env ``DAYBOOK_ROLES`` to use another file):

==========  ====================  =========================================
permission  roles                 endpoints
==========  ====================  =========================================
read        every daybook role    GET pending, record, audit, me, the page; the KPI page,
                                  Data Docs and reason codes of the ``/daybook`` plugin
decide      approver, admin       POST approve, decline, decisions (several at once)
submit      operator, admin       POST files/{file_id}/submit
==========  ====================  =========================================

Personal numbers and names in a record (identity, card, account, phone numbers, party names)
are shown in full only to the people who decide on it (approver, admin); operators and
auditors get them masked (:func:`daybook.pii.mask_cell`), in the record and in its audit trail.

The four-eyes rules (maker is never checker, nobody twice on one record) are enforced by
:func:`daybook.approval.decide` for every caller; this layer maps refusals to HTTP codes:
403 for a person who may not act, 404 unknown, 409 no longer waiting, 422 bad input.
"""

from __future__ import annotations

import os
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from airflow.api_fastapi.core_api.security import get_user
from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from daybook import approval
from daybook.config import PROJECT_ROOT

ROLES = frozenset({"operator", "approver", "auditor", "admin"})
PERMISSIONS: dict[str, frozenset[str]] = {
    "read": ROLES,
    "decide": frozenset({"approver", "admin"}),
    "submit": frozenset({"operator", "admin"}),
}
# Who sees a record's personal numbers and names unmasked: the people who decide on it.
SEES_PERSONAL_DATA = frozenset({"approver", "admin"})


def _masked_record(record: dict[str, Any]) -> dict[str, Any]:
    """The record detail with its personal numbers and names masked (payload and opinions)."""
    from daybook import pii

    masked = dict(record)
    masked["payload"] = {k: pii.mask_cell(k, v) for k, v in (record.get("payload") or {}).items()}
    masked["decisions"] = [
        {**d, "opinion": pii.mask_text(d.get("opinion") or "")} for d in record.get("decisions") or []
    ]
    return masked


FREE_TEXT = frozenset({"opinion", "note", "reason", "reasons", "message"})


def _mask_free_text(value: Any) -> Any:
    from daybook import pii

    if isinstance(value, list):
        return [_mask_free_text(v) for v in value]
    return pii.mask_text(value) if isinstance(value, str) else value


def _masked_audit(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Audit events with the free text people wrote (opinions, notes) masked."""
    out = []
    for event in events:
        detail = event.get("detail")
        if isinstance(detail, dict):
            detail = {k: (_mask_free_text(v) if k in FREE_TEXT else v) for k, v in detail.items()}
        out.append({**event, "detail": detail})
    return out


class PermissionDenied(PermissionError):
    """The person's daybook roles do not allow this."""


def roles_path() -> Path:
    return Path(os.environ.get("DAYBOOK_ROLES", "").strip() or PROJECT_ROOT / "config" / "roles.yaml")


def roles_of(username: str) -> frozenset[str]:
    """The daybook roles of an Airflow user (read on every call: edits apply without restart)."""
    data = yaml.safe_load(roles_path().read_text(encoding="utf-8")) or {}
    granted = (data.get("users") or {}).get(username) or []
    unknown = set(granted) - ROLES
    if unknown:
        raise ValueError(f"{roles_path()}: unknown roles {sorted(unknown)} for {username}")
    return frozenset(granted)


def require(username: str, permission: str) -> frozenset[str]:
    roles = roles_of(username)
    if not roles & PERMISSIONS[permission]:
        raise PermissionDenied(
            f"{username} (daybook roles: {', '.join(sorted(roles)) or 'none'}) may not {permission}"
        )
    return roles


async def current_username(user: Annotated[Any, Depends(get_user)]) -> str:
    """The Airflow user behind the request (JWT bearer token or the UI's session cookie)."""
    return user.get_name()


User = Annotated[str, Depends(current_username)]


def reader(user: User) -> str:
    """Dependency of every daybook page and API: a logged-in Airflow user with a daybook role.

    401 without a login (Airflow's own check), 403 for a user with no daybook role.
    """
    _guard(user, "read")
    return user


class Opinion(BaseModel):
    opinion: str = ""


class BatchDecision(BaseModel):
    """One reviewer's same decision on several records ("approve selected")."""

    business_nos: list[str] = Field(min_length=1, max_length=5000)
    decision: Literal["APPROVE", "DECLINE"]
    opinion: str = ""


def _cents(value: str | None, name: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        amount = Decimal(value)
    except InvalidOperation as exc:
        raise HTTPException(422, f"{name} must be a decimal amount") from exc
    if amount != amount.quantize(Decimal("0.01")) or amount < 0:
        raise HTTPException(422, f"{name} must be >= 0 with at most 2 decimals")
    return int(amount * 100)


def _guard(username: str, permission: str) -> frozenset[str]:
    try:
        return require(username, permission)
    except PermissionDenied as exc:
        raise HTTPException(403, str(exc)) from exc


def _refused(exc: approval.DecisionRefused) -> HTTPException:
    if isinstance(exc, approval.FourEyesRefused):
        return HTTPException(403, str(exc))
    if isinstance(exc, approval.NoSuchRecord):
        return HTTPException(404, str(exc))
    if isinstance(exc, approval.NotPending):
        return HTTPException(409, str(exc))
    return HTTPException(422, str(exc))


def create_app() -> FastAPI:
    app = FastAPI(title="daybook approvals", description="Review queue: list, inspect, approve, decline")

    @app.get("/", response_class=HTMLResponse)
    def review_page() -> HTMLResponse:
        # The page is static; its data comes from the API below with the caller's identity.
        return HTMLResponse(REVIEW_PAGE)

    @app.get("/api/me")
    def me(user: User) -> dict[str, Any]:
        roles = roles_of(user)
        return {
            "user": user,
            "roles": sorted(roles),
            "may": sorted(p for p, allowed in PERMISSIONS.items() if roles & allowed),
        }

    @app.get("/api/pending")
    def list_pending(
        user: User,
        client_id: Annotated[str | None, Query(max_length=16)] = None,
        business_date: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}-\d{2}$")] = None,
        tier: Annotated[str | None, Query(pattern="^(L1|L2)$")] = None,
        min_amount: str | None = None,
        max_amount: str | None = None,
    ) -> list[dict[str, Any]]:
        _guard(user, "read")
        return approval.pending(
            business_date or None,
            client_id or None,
            tier or None,
            _cents(min_amount, "min_amount"),
            _cents(max_amount, "max_amount"),
        )

    @app.get("/api/records/{business_no}")
    def get_record(business_no: str, user: User) -> dict[str, Any]:
        roles = _guard(user, "read")
        try:
            record = approval.record_detail(business_no)
        except approval.DecisionRefused as exc:
            raise _refused(exc) from exc
        return record if roles & SEES_PERSONAL_DATA else _masked_record(record)

    @app.get("/api/records/{business_no}/audit")
    def get_audit(business_no: str, user: User) -> list[dict[str, Any]]:
        roles = _guard(user, "read")
        trail = approval.audit_trail(business_no)
        return trail if roles & SEES_PERSONAL_DATA else _masked_audit(trail)

    def _decide(business_no: str, user: str, decision: str, body: Opinion) -> dict[str, Any]:
        _guard(user, "decide")
        try:
            state = approval.decide(business_no, user, decision, body.opinion)
        except approval.DecisionRefused as exc:
            raise _refused(exc) from exc
        return {"business_no": business_no, "decision": decision, "decided_by": user, "state": state}

    @app.post("/api/records/{business_no}/approve")
    def approve(business_no: str, body: Opinion, user: User) -> dict[str, Any]:
        return _decide(business_no, user, "APPROVE", body)

    @app.post("/api/records/{business_no}/decline")
    def decline(business_no: str, body: Opinion, user: User) -> dict[str, Any]:
        return _decide(business_no, user, "DECLINE", body)

    @app.post("/api/decisions")
    def decide_many(body: BatchDecision, user: User) -> dict[str, Any]:
        """Each record judged as if decided alone; the refused ones come back with the reason."""
        _guard(user, "decide")
        try:
            decided, refused = approval.decide_many(body.business_nos, user, body.decision, body.opinion)
        except approval.DecisionRefused as exc:
            raise _refused(exc) from exc
        return {"decision": body.decision, "decided_by": user, "decided": decided, "refused": refused}

    @app.post("/api/files/{file_id}/submit")
    def submit(file_id: int, user: User) -> dict[str, Any]:
        _guard(user, "submit")
        try:
            approval.submit(file_id, user)
        except approval.DecisionRefused as exc:
            raise _refused(exc) from exc
        return {"file_id": file_id, "submitted_by": user}

    return app


REVIEW_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Approval queue</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.8em 0}td,th{padding:.25em .7em;border-bottom:1px solid #ddd;text-align:left}
tr.item{cursor:pointer}tr.item:hover{background:#eef4ff}
form.filters label{margin-right:.8em}input{padding:.2em}
#detail{border:1px solid #ccc;padding:1em;margin-top:1em;display:none}
#message{padding:.4em 0;font-weight:bold}.error{color:#b00020}.ok{color:#1b5e20}
textarea{width:40em;height:4em}button{margin:.4em .6em .4em 0;padding:.3em 1em}
pre{background:#f6f6f6;padding:.5em;max-width:60em;overflow:auto}
</style></head><body>
<h1>Approval queue</h1>
<p id="who">…</p>
<form class="filters" id="filters">
<label>Client <input name="client_id" size="8"></label>
<label>Business date <input name="business_date" placeholder="YYYY-MM-DD" size="10"></label>
<label>Tier <select name="tier"><option value="">any</option><option>L1</option><option>L2</option></select></label>
<label>Amount from <input name="min_amount" size="10"></label>
<label>to <input name="max_amount" size="10"></label>
<button type="submit" id="apply">Filter</button>
</form>
<div id="message" role="status"></div>
<div id="batch"><label for="batch-opinion">Opinion for the selected records</label>
<input id="batch-opinion" size="40"> <button id="approve-selected">Approve selected</button>
<button id="decline-selected">Decline selected</button></div>
<table id="queue"><thead><tr><th><input type="checkbox" id="select-all" title="select all"></th><th>business no</th><th>client</th><th>date</th><th>type</th><th>tier</th>
<th>levels done</th><th>amount</th><th>currency</th><th>maker</th></tr></thead><tbody></tbody></table>
<div id="detail">
<h2 id="d-title"></h2>
<p id="d-profile" class="error" role="alert" hidden></p>
<table id="d-facts"><tbody></tbody></table>
<h3>Decisions so far</h3><table id="d-decisions"><tbody></tbody></table>
<h3>Record as received</h3><pre id="d-payload"></pre>
<div id="d-actions">
<label for="opinion">Opinion (审批意见; required to decline)</label><br>
<textarea id="opinion"></textarea><br>
<button id="approve">Approve</button><button id="decline">Decline</button>
</div></div>
<script>
const $ = (s) => document.querySelector(s);
let current = null;
function money(c){ if(c===null||c===undefined) return ""; const s=String(Math.abs(c)).padStart(3,"0");
  return (c<0?"-":"")+s.slice(0,-2)+"."+s.slice(-2); }
function say(text, ok){ const m=$("#message"); m.textContent=text; m.className=ok?"ok":"error"; }
async function api(path, opts){
  const r = await fetch("api/"+path, Object.assign({credentials:"same-origin"}, opts||{}));
  const body = await r.json().catch(() => ({}));
  if(!r.ok){ throw new Error((body && body.detail) ? (typeof body.detail==="string"?body.detail:JSON.stringify(body.detail)) : r.statusText); }
  return body;
}
function row(cells){ const tr=document.createElement("tr"); for(const c of cells){ const td=document.createElement("td"); td.textContent=c===null||c===undefined?"":String(c); tr.appendChild(td);} return tr; }
async function loadQueue(){
  const q = new URLSearchParams();
  for(const [k,v] of new FormData($("#filters"))){ if(v) q.set(k,v); }
  const tbody = $("#queue tbody"); tbody.textContent="";
  try{
    const items = await api("pending?"+q.toString());
    for(const it of items){
      const tr=row(["",it.business_no,it.client_id,it.business_date,it.file_type,it.tier,it.levels_done,money(it.amount_cents),it.currency,it.submitted_by]);
      tr.className="item"; tr.dataset.businessNo=it.business_no; tr.addEventListener("click",()=>openRecord(it.business_no));
      const box=document.createElement("input"); box.type="checkbox"; box.className="pick"; box.value=it.business_no;
      box.addEventListener("click",(ev)=>ev.stopPropagation()); tr.firstChild.appendChild(box);
      tbody.appendChild(tr);
    }
    if(!items.length){ tbody.appendChild(row(["","nothing waiting"])); }
    $("#select-all").checked=false;
  }catch(e){ say(e.message,false); }
}
async function openRecord(no){
  try{
    const r = await api("records/"+encodeURIComponent(no)); current = r;
    $("#detail").style.display="block"; $("#d-title").textContent=r.business_no+" ("+r.state+")";
    const facts=$("#d-facts tbody"); facts.textContent="";
    const add=(k,v)=>facts.appendChild(row([k, typeof v==="object"&&v!==null?JSON.stringify(v):v]));
    add("client / date", r.client_id+" / "+r.business_date); add("amount", money(r.amount_cents)+" "+(r.currency||""));
    add("tier / levels needed", (r.tier||"not routed")+" / "+r.levels_needed); add("rule version", (r.rule_version||"").slice(0,12));
    add("maker (submitted by)", r.submitted_by||"not submitted by an operator");
    add("validation", r.validation);
    const notice=$("#d-profile"); notice.textContent=r.profile_problem||""; notice.hidden=!r.profile_problem;
    for(const [k,v] of Object.entries(r.risk)){ add("risk: "+k, v); }
    if(r.profile_problem && !Object.keys(r.risk).length){ add("risk", "not shown: the client's profile cannot be used"); }
    const dec=$("#d-decisions tbody"); dec.textContent="";
    for(const d of r.decisions){ dec.appendChild(row(["level "+d.level,d.decision,d.decided_by,d.opinion,d.decided_at])); }
    if(!r.decisions.length){ dec.appendChild(row(["none yet"])); }
    $("#d-payload").textContent=JSON.stringify(r.payload,null,2); $("#opinion").value="";
  }catch(e){ say(e.message,false); }
}
async function decide(kind){
  if(!current) return;
  const opinion=$("#opinion").value;
  if(kind==="decline" && !opinion.trim()){ say("A decline needs an opinion.",false); return; }
  try{
    const r = await api("records/"+encodeURIComponent(current.business_no)+"/"+kind,
      {method:"POST", headers:{"Content-Type":"application/json"}, body:JSON.stringify({opinion})});
    say(r.decision+" "+r.business_no+" by "+r.decided_by+": now "+r.state, true);
    await loadQueue(); await openRecord(r.business_no);
  }catch(e){ say(e.message,false); }
}
async function decideSelected(kind){
  const picked=[...document.querySelectorAll("input.pick:checked")].map((b)=>b.value);
  const opinion=$("#batch-opinion").value;
  if(!picked.length){ say("Select records first.",false); return; }
  if(kind==="DECLINE" && !opinion.trim()){ say("A decline needs an opinion.",false); return; }
  try{
    const r = await api("decisions",{method:"POST", headers:{"Content-Type":"application/json"},
      body:JSON.stringify({business_nos:picked, decision:kind, opinion})});
    const refused=Object.entries(r.refused).map(([n,why])=>n+": "+why);
    say(r.decision+" by "+r.decided_by+": "+Object.keys(r.decided).length+" decided"+
      (refused.length?"; refused: "+refused.join("; "):""), !refused.length);
    await loadQueue();
  }catch(e){ say(e.message,false); }
}
$("#select-all").addEventListener("change",(ev)=>{ for(const b of document.querySelectorAll("input.pick")) b.checked=ev.target.checked; });
$("#approve-selected").addEventListener("click",()=>decideSelected("APPROVE"));
$("#decline-selected").addEventListener("click",()=>decideSelected("DECLINE"));
$("#filters").addEventListener("submit",(ev)=>{ev.preventDefault(); loadQueue();});
$("#approve").addEventListener("click",()=>decide("approve"));
$("#decline").addEventListener("click",()=>decide("decline"));
api("me").then((m)=>{ $("#who").textContent="Signed in as "+m.user+" (daybook roles: "+(m.roles.join(", ")||"none")+")";
  if(!m.may.includes("decide")){ $("#d-actions").style.display="none"; $("#batch").style.display="none"; } }).catch((e)=>say(e.message,false));
loadQueue();
</script></body></html>
"""
