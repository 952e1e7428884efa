"""``daybook``: the operator's command line."""

from __future__ import annotations

import json
import logging
import shutil
import sys
from datetime import date, datetime
from pathlib import Path

import click

from daybook.runner import STAGES

DEMO_REVIEWERS = "demo.reviewer.wang,demo.reviewer.li"


def _today() -> str:
    from daybook.calendar import previous_business_day
    from daybook.config import BUSINESS_TZ

    return previous_business_day(datetime.now(BUSINESS_TZ).date()).isoformat()


def _iso(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError as exc:
        raise click.BadParameter("use YYYY-MM-DD") from exc


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Show stage logs.")
def main(verbose: bool) -> None:
    """daybook: batch operations for financial-services outsourcing, on Apache Airflow."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )
    _local_archive_key()


def _local_archive_key() -> None:
    """Embedded default: the key the demo generated into DAYBOOK_HOME opens its archive for every
    command (archive verify, replay, offboard), unless a key is configured explicitly."""
    import os

    from daybook import crypto
    from daybook.config import settings

    key_file = settings().home / "archive-key.json"
    if not os.environ.get(crypto.ENV_VAR) and key_file.is_file():
        os.environ[crypto.ENV_VAR] = key_file.read_text().strip()


@main.command()
def init() -> None:
    """Create or upgrade the business database and Airflow's metadata database."""
    from daybook import db
    from daybook.runner import prepare_airflow

    applied = db.migrate()
    prepare_airflow()
    click.echo(f"business database ready ({', '.join(applied) or 'up to date'}); Airflow metadata ready")


@main.command()
@click.option("--date", "business_date", callback=_iso, help="Business date (default: latest business day).")
def generate(business_date: str | None) -> None:
    """Drop the sample business day into the landing zone."""
    from daybook import sample
    from daybook.config import settings
    from daybook.storage import open_store

    day = date.fromisoformat(business_date or _today())
    for name in sample.generate_day(open_store(settings().landing), day):
        click.echo(f"dropped {name}")


@main.command("run-day")
@click.option("--date", "business_date", callback=_iso, required=True, help="Business date YYYY-MM-DD.")
@click.option("--through", type=click.Choice(STAGES), default="archive", show_default=True)
def run_day(business_date: str, through: str) -> None:
    """Run the day's DAGs in-process, intake through the given stage."""
    from daybook.runner import run_day as _run

    states = _run(business_date, through)
    for stage, state in states.items():
        click.echo(f"{stage}_daily: {state}")
    if any(s != "success" for s in states.values()):
        sys.exit(1)


@main.command()
@click.option("--date", "business_date", callback=_iso, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def summary(business_date: str, as_json: bool) -> None:
    """Print the day's summary."""
    from daybook import report

    data = report.day_summary(business_date)
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        report.render(data)


@main.command()
@click.option("--date", "business_date", callback=_iso, help="Business date (default: latest business day).")
@click.option(
    "--fresh/--keep",
    default=True,
    show_default=True,
    help="Start from an empty landing zone and business database (Airflow's DB is kept).",
)
def demo(business_date: str | None, fresh: bool) -> None:
    """Generate a sample business day, run it through every stage, print the summary."""
    import os

    from daybook import db, report, sample
    from daybook.config import settings
    from daybook.runner import run_day as _run
    from daybook.storage import open_store

    os.environ.setdefault("DAYBOOK_DEMO_APPROVER", DEMO_REVIEWERS)
    s = settings()
    day = business_date or _today()
    _demo_archive_key(s.home)
    if fresh:
        for location in (s.landing, s.raw, s.outputs, s.archive):
            if not location.startswith("s3://"):
                shutil.rmtree(location, ignore_errors=True)
        if s.db_url.startswith("sqlite:///"):
            for suffix in ("", "-wal", "-shm"):
                Path(s.db_url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
            db._engine_for.cache_clear()
    db.migrate()
    click.echo(f"business date {day}: dropping the sample day into {s.landing}")
    for name in sample.generate_day(open_store(s.landing), date.fromisoformat(day)):
        click.echo(f"  {name}")
    click.echo("running intake -> validation -> approval -> settlement -> archive through Airflow")
    states = _run(day)
    for stage, state in states.items():
        click.echo(f"  {stage}_daily: {state}")
    report.render(report.day_summary(day))
    _pending_note(day)
    if any(state != "success" for state in states.values()):
        sys.exit(1)


def _demo_archive_key(home: Path) -> None:
    """The demo encrypts its archive with a key generated into var/ (never the repository)."""
    import os

    from daybook import crypto

    if os.environ.get("AIRFLOW_CONN_DAYBOOK_ARCHIVE_KEY"):
        return
    key_file = home / "archive-key.json"
    if not key_file.exists():
        home.mkdir(parents=True, exist_ok=True)
        key_file.write_text(crypto.connection_env_value(crypto.generate_key()))
        key_file.chmod(0o600)
    os.environ["AIRFLOW_CONN_DAYBOOK_ARCHIVE_KEY"] = key_file.read_text().strip()
    click.echo(f"archive key: {key_file} (Airflow connection daybook_archive_key)")


def _pending_note(day: str) -> None:
    """After the demo: what waits for a reviewer, and how to decide it in the UI and the CLI."""
    from daybook import approval

    waiting = approval.pending(day)
    decided = approval.decisions_by_person(day)
    click.echo(f"\nreviews pending for {day}: {len(waiting)}")
    for item in waiting[:5]:
        click.echo(f"  {item['business_no']}  {item['tier']}")
    if decided:
        who = ", ".join(f"{name} {n}" for name, n in decided.items())
        click.echo(f"review decisions taken today (the demo reviewers stand in for people): {who}")
    click.echo(
        "decide in the Airflow UI (make up; Browse > Approval queue, users in config/roles.yaml)\n"
        "or: daybook approvals list --date D; daybook approvals approve|decline NO --user li.wei --opinion ..."
    )


@main.group("audit", invoke_without_command=True)
@click.option(
    "--date", "business_date", callback=_iso, help="Prove record conservation for this business date."
)
@click.pass_context
def audit_group(ctx: click.Context, business_date: str | None) -> None:
    """Compliance audits: record conservation per file (--date D); the tamper-evident audit
    trail (verify)."""
    if ctx.invoked_subcommand is not None:
        return
    if business_date is None:
        raise click.UsageError("give --date YYYY-MM-DD (or a subcommand)")
    from daybook import conservation

    audits = conservation.audit_day(business_date)
    for a in audits:
        mark = "ok " if a.ok else "BAD"
        click.echo(
            f"{mark} {a.folder}/{a.name} sha256={a.sha256[:16]}... {a.status} {a.reason_code or ''} "
            f"declared={a.declared_rows} published={a.published_rows} final={a.final_rows}"
        )
        for problem in a.problems:
            click.echo(f"      {problem}")
    bad = [a for a in audits if not a.ok]
    click.echo(f"{len(audits)} files, {len(bad)} with problems")
    if bad:
        sys.exit(1)


@audit_group.command("verify")
@click.option("--client", "client_id", help="Only this client's chain (default: every chain).")
@click.option(
    "--anchors/--no-anchors",
    default=True,
    show_default=True,
    help="Also check the chain heads anchored in the archive store.",
)
def audit_verify(client_id: str | None, anchors: bool) -> None:
    """Check the tamper-evident audit trail: every event's hash, its link to the one before,
    positions without gaps, the recorded chain head, and the anchors outside the database.
    Exits 1 naming the first broken event of each broken chain."""
    from daybook import audit_chain, db

    found = audit_chain.read_anchors(client_id) if anchors else []
    with db.begin() as conn:
        results = audit_chain.verify(conn, client_id, anchors=found)
    for r in results:
        click.echo(f"{'ok ' if r.ok else 'BAD'} chain {r.client_id}: {r.events} events")
        for problem in r.problems:
            click.echo(f"      {problem}")
    bad = [r for r in results if not r.ok]
    click.echo(f"{len(results)} chains, {len(found)} anchors checked, {len(bad)} broken")
    if bad:
        sys.exit(1)


@main.group()
def approvals() -> None:
    """Review queue: list, show, submit, approve, decline (same rules as the UI and REST API).

    ``--user`` names the person deciding; their daybook role comes from config/roles.yaml and
    the four-eyes rules apply exactly as in the Airflow UI.
    """


def _refuse(exc: Exception) -> click.ClickException:
    return click.ClickException(str(exc))


@approvals.command("list")
@click.option("--date", "business_date", callback=_iso)
@click.option("--client")
@click.option("--tier", type=click.Choice(["L1", "L2"]))
@click.option("--min-amount", help="Lowest amount, e.g. 50000.00")
@click.option("--max-amount", help="Highest amount, e.g. 1000000.00")
def approvals_list(
    business_date: str | None,
    client: str | None,
    tier: str | None,
    min_amount: str | None,
    max_amount: str | None,
) -> None:
    """Records waiting for a reviewer."""
    from daybook import approval, profiles
    from daybook.settlement import format_cents

    low = profiles.cents(min_amount) if min_amount else None
    high = profiles.cents(max_amount) if max_amount else None
    for item in approval.pending(business_date, client, tier, low, high):
        click.echo(
            f"{item['business_no']}  {item['tier']} ({item['levels_done']} done)  {item['client_ref']}  "
            f"{format_cents(item['amount_cents'])} {item['currency'] or ''}"
        )


@approvals.command("show")
@click.argument("business_no")
def approvals_show(business_no: str) -> None:
    """One record with its validation and risk facts and the decisions so far."""
    from daybook import approval

    try:
        click.echo(json.dumps(approval.record_detail(business_no), indent=2, ensure_ascii=False, default=str))
    except approval.DecisionRefused as exc:
        raise _refuse(exc) from exc


@approvals.command("submit")
@click.argument("file_id", type=int)
@click.option("--user", required=True, help="The operator submitting (becomes the maker).")
def approvals_submit(file_id: int, user: str) -> None:
    """Submit a file's records for review; the submitter may then decide none of them."""
    from daybook import approval, approval_api

    try:
        approval_api.require(user, "submit")
        approval.submit(file_id, user)
    except (approval.DecisionRefused, approval_api.PermissionDenied) as exc:
        raise _refuse(exc) from exc
    click.echo(f"file {file_id} submitted by {user}")


def _decide_cli(business_no: str, user: str, decision: str, opinion: str) -> None:
    from daybook import approval, approval_api

    try:
        approval_api.require(user, "decide")
        click.echo(approval.decide(business_no, user, decision, opinion))
    except (approval.DecisionRefused, approval_api.PermissionDenied) as exc:
        raise _refuse(exc) from exc


@approvals.command("approve")
@click.argument("business_no")
@click.option("--user", required=True)
@click.option("--opinion", default="")
def approvals_approve(business_no: str, user: str, opinion: str) -> None:
    """Approve one level of a record."""
    _decide_cli(business_no, user, "APPROVE", opinion)


@approvals.command("decline")
@click.argument("business_no")
@click.option("--user", required=True)
@click.option("--opinion", required=True)
def approvals_decline(business_no: str, user: str, opinion: str) -> None:
    """Decline a record (final: A_DECLINED); the opinion is required."""
    _decide_cli(business_no, user, "DECLINE", opinion)


# --------------------------------------------------------------------------- archive, retention, replay


@main.group("archive")
def archive_group() -> None:
    """Verify or export archive packages (docs/archive.md)."""


@archive_group.command("verify")
@click.option("--client", "client_id", required=True)
@click.option("--date", "business_date", callback=_iso, required=True)
def archive_verify(client_id: str, business_date: str) -> None:
    """Read a package back and check every hash and the row count; exit 1 on any problem."""
    from daybook import archive

    result = archive.verify_package(client_id, business_date)
    for problem in result.problems:
        click.echo(f"FAIL {problem}")
    click.echo(f"{'OK' if result.ok else 'FAILED'}: {result.checked} members checked")
    if not result.ok:
        sys.exit(1)


@archive_group.command("export")
@click.option("--client", "client_id", required=True)
@click.option("--date", "business_date", callback=_iso, required=True)
@click.option("--to", "target", required=True, type=click.Path(file_okay=False))
def archive_export(client_id: str, business_date: str, target: str) -> None:
    """Write a package's plaintext members, manifest and SHA256SUMS to a folder (for sha256sum -c)."""
    from daybook import archive

    archive.export_package(client_id, business_date, Path(target))
    click.echo(f"exported to {target}; check with: cd {target} && sha256sum -c SHA256SUMS")


@main.group("retention")
def retention_group() -> None:
    """Legal holds and expired archive packages (docs/runbooks/retention.md)."""


@retention_group.command("hold")
@click.option("--client", "client_id", required=True)
@click.option("--date", "business_date", callback=_iso, default=None)
@click.option("--reason", required=True)
@click.option("--by", "placed_by", required=True)
def retention_hold(client_id: str, business_date: str | None, reason: str, placed_by: str) -> None:
    """Place a legal hold on a client (every date) or one client and date."""
    from daybook import retention

    retention.place_hold(client_id, reason, placed_by, business_date)
    click.echo(f"hold placed on {client_id} {business_date or '(every date)'}")


@retention_group.command("release")
@click.option("--id", "hold_id", type=int, required=True)
@click.option("--by", "released_by", required=True)
def retention_release(hold_id: int, released_by: str) -> None:
    """Release a legal hold."""
    from daybook import retention

    if not retention.release_hold(hold_id, released_by):
        raise click.ClickException(f"no active hold {hold_id}")
    click.echo(f"hold {hold_id} released")


@retention_group.command("expired")
@click.option("--today", callback=_iso, required=True, help="The date that decides expiry.")
def retention_expired(today: str) -> None:
    """List packages past their retention date, and the holds that keep them."""
    from daybook import retention

    for p in retention.expired(today):
        held = f" HELD by {len(p['holds'])} hold(s)" if p["holds"] else ""
        click.echo(f"{p['client_id']} {p['business_date']} kept until {p['retain_until']}{held}")


@main.command()
@click.option("--client", "client_id", required=True)
@click.option("--date", "business_date", callback=_iso, required=True)
def replay(client_id: str, business_date: str) -> None:
    """Re-run a day from its archive in a scratch database and compare, byte for byte."""
    from daybook import replay as _replay

    report = _replay.replay(client_id, business_date)
    for line in report.differences:
        click.echo(f"DIFF {line}")
    click.echo(f"{'MATCH' if report.ok else 'DIFFERENT'}: {report.compared} members compared")
    if not report.ok:
        sys.exit(1)


# --------------------------------------------------------------------------- aml (settlement)


@main.group("aml")
def aml_group() -> None:
    """AML holds: list open cases, release or block (two distinct people must agree)."""


@aml_group.command("list")
@click.option("--date", "business_date", callback=_iso)
@click.option("--client")
@click.option("--all", "show_all", is_flag=True, help="Decided cases too.")
def aml_list(business_date: str | None, client: str | None, show_all: bool) -> None:
    """List AML cases (open ones by default) with the decisions recorded so far."""
    from daybook import aml
    from daybook.settlement import format_cents

    for c in aml.list_cases(business_date, client, None if show_all else "OPEN"):
        votes = ", ".join(f"{d['decided_by']}={d['decision']}" for d in c["decisions"]) or "no decision yet"
        click.echo(
            f"{c['business_no']} {c['status']} {c['rule']} {format_cents(int(c['amount_cents']))}: "
            f"{c['detail']} [{votes}]"
        )


def _aml_decide(business_no: str, user: str, decision: str, note: str) -> None:
    from daybook import aml

    try:
        status = aml.decide(business_no, user, decision, note)
    except aml.AmlError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{business_no}: {decision} by {user} recorded; case {status}")
    if status == "RELEASED":
        click.echo("released: the next settlement run for its business date settles it")


@aml_group.command("release")
@click.argument("business_no")
@click.option("--user", required=True)
@click.option("--note", default="")
def aml_release(business_no: str, user: str, note: str) -> None:
    """Vote to release a held payment (settled once a second person agrees)."""
    _aml_decide(business_no, user, "RELEASE", note)


@aml_group.command("block")
@click.argument("business_no")
@click.option("--user", required=True)
@click.option("--note", default="")
def aml_block(business_no: str, user: str, note: str) -> None:
    """Vote to block a held payment (RETURNED with M_AML_HOLD once a second person agrees)."""
    _aml_decide(business_no, user, "BLOCK", note)


@main.group("offboard")
def offboard_group() -> None:
    """Client offboarding: handover package (the purge runs in offboarding_adhoc, after sign-off)."""


@offboard_group.command("handover")
@click.option("--client", "client_id", required=True)
@click.option("--as-of", "as_of", callback=_iso, required=True, help="Date the handover is made as of.")
def offboard_handover(client_id: str, as_of: str) -> None:
    """Build (or rebuild) the client's handover package and check it reads back."""
    from daybook import offboarding

    out = offboarding.build_handover(client_id, as_of)
    click.echo(f"{out['members']} members at {out['location']}")
    click.echo(f"manifest sha256 {out['manifest_sha256']}")
    if out["originals_missing"]:
        click.echo(f"originals not found: {', '.join(out['originals_missing'])}")


@offboard_group.command("verify")
@click.option("--client", "client_id", required=True)
@click.option("--as-of", "as_of", callback=_iso, required=True)
def offboard_verify(client_id: str, as_of: str) -> None:
    """Check every hash of a handover package; exit 1 on any problem."""
    from daybook import offboarding

    problems = offboarding.verify_handover(client_id, as_of)
    for problem in problems:
        click.echo(f"FAIL {problem}")
    click.echo("FAILED" if problems else "OK")
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
