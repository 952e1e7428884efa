"""Validation: Great Expectations enforces every row rule; every row gets every code that applies.

Per file: the raw bytes are parsed again (cells as text), the business type's GX suite runs
with the client's profile settings, failing rows are mapped from GX results to R_* codes,
client_ref duplicates are found within the file and against every earlier accepted row of
the client (in the database), and then either the file is refused as a whole (F_ERROR_RATE,
nothing published) or all its rows are written and published in one transaction and
``<stem>.ack.csv`` is written. Data Docs for the validation are kept with the day's outputs.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import tempfile
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from daybook import business_types, db, events, profiles
from daybook.codes import CATALOGUE, FileRejection
from daybook.config import settings
from daybook.storage import open_store
from daybook.validation_suites import Rule, rules_for

log = logging.getLogger(__name__)
CODE_ORDER = {code: i for i, code in enumerate(CATALOGUE)}
ACK_HEADER = ["line_no", "client_ref", "business_no", "status", "reason_codes"]


def join_codes(codes: set[str] | list[str]) -> str:
    """A row's reason codes, ``;``-joined in the order of contract section 7 (stable)."""
    return ";".join(sorted(codes, key=CODE_ORDER.__getitem__))


def list_clients(business_date: str) -> list[str]:
    """Clients with files waiting for validation on this business date."""
    db.migrate()
    with db.begin() as conn:
        rows = db.run(conn, "select_clients_to_validate", {"business_date": business_date}).all()
    return [r.client_id for r in rows]


def validate_client(client_id: str, business_date: str) -> list[dict[str, Any]]:
    """Validate the client's files of the day in sequence order (earlier files own a client_ref first)."""
    with db.begin() as conn:
        ids = [
            r.file_id
            for r in db.run(
                conn, "select_files_of_client_day", {"client_id": client_id, "business_date": business_date}
            ).all()
        ]
    return [validate_file(file_id) for file_id in ids]


def _expectation(rule: Rule) -> Any:
    import great_expectations as gx

    from daybook.expectations import EXPECTATIONS

    extra: dict[str, Any] = {"meta": {"code": rule.code}}
    if rule.when:
        extra.update(row_condition=rule.when, condition_parser="pandas")
    if rule.check == "required":
        return gx.expectations.ExpectColumnValuesToNotBeNull(column=rule.column, **extra)
    return EXPECTATIONS[rule.check](column=rule.column, **rule.params, **extra)


def run_suite(
    frame: pd.DataFrame, rules: list[Rule], suite_name: str, docs_dir: Path | None = None
) -> dict[int, set[str]]:
    """Run the rules as a GX suite over ``frame`` (cells as text, empty = missing).

    Returns ``{line_no: codes}`` for the failing rows. With ``docs_dir``, GX Data Docs for this
    validation are written there.
    """
    import great_expectations as gx

    gx_frame = frame.replace("", None)
    context = gx.get_context(mode="ephemeral")
    batch = (
        context.data_sources.add_pandas("daybook")
        .add_dataframe_asset(suite_name)
        .add_batch_definition_whole_dataframe("file")
    )
    suite = context.suites.add(gx.ExpectationSuite(name=suite_name))
    for rule in rules:
        suite.add_expectation(_expectation(rule))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=suite_name, data=batch, suite=suite)
    )
    result_format = {"result_format": "COMPLETE", "unexpected_index_column_names": ["line_no"]}
    if docs_dir is not None:
        context.add_data_docs_site(
            site_name="daybook",
            site_config={
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name=suite_name,
                validation_definitions=[definition],
                actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs", site_names=["daybook"])],
                result_format=result_format,
            )
        )
        run = checkpoint.run(batch_parameters={"dataframe": gx_frame})
        results = [r for vr in run.run_results.values() for r in vr.results]
    else:
        results = definition.run(
            batch_parameters={"dataframe": gx_frame}, result_format=result_format
        ).results
    failing: dict[int, set[str]] = {}
    for res in results:
        if res.exception_info and res.exception_info.get("raised_exception"):
            raise RuntimeError(
                f"expectation {res.expectation_config.type} on "
                f"{res.expectation_config.kwargs.get('column')} failed to run: "
                f"{res.exception_info.get('exception_message')}"
            )
        code = res.expectation_config.meta["code"]
        for item in res.result.get("unexpected_index_list") or []:
            failing.setdefault(int(item["line_no"]), set()).add(code)
    return failing


def _frame(store, key: str, compressed: bool, btype: business_types.BusinessType) -> pd.DataFrame:
    from daybook.intake import iter_frames

    frame = pd.concat(list(iter_frames(store, key, compressed)), ignore_index=True)
    for column in btype.optional:
        if column not in frame.columns:
            frame[column] = ""
    return frame


def _earlier_refs(client_id: str, file_id: int, refs: list[str]) -> set[str]:
    taken: set[str] = set()
    stmt = db.sql("select_accepted_refs")
    from sqlalchemy import bindparam, text

    query = text(stmt).bindparams(bindparam("refs", expanding=True))
    with db.begin() as conn:
        for i in range(0, len(refs), 900):
            chunk = refs[i : i + 900]
            taken.update(
                r.client_ref
                for r in conn.execute(query, {"client_id": client_id, "file_id": file_id, "refs": chunk})
            )
    return taken


def _ack_bytes(rows: list[dict[str, Any]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(ACK_HEADER)
    for r in rows:
        writer.writerow([r["line_no"], r["client_ref"], r["business_no"], r["ack_status"], r["reason_codes"]])
    return buf.getvalue().encode("utf-8")


def write_ack(file_id: int) -> str:
    """(Re)write ``<stem>.ack.csv`` from the database; byte-identical on every rerun."""
    with db.begin() as conn:
        receipt = db.run(conn, "select_receipt", {"file_id": file_id}).one()
        rows = [dict(r._mapping) for r in db.run(conn, "select_ack_rows", {"file_id": file_id})]
    key = f"{receipt.folder}/outbox/{receipt.stem}.ack.csv"
    open_store(settings().landing).put(key, _ack_bytes(rows))
    return key


def _cents(frame: pd.DataFrame, column: str) -> list[int | None]:
    from daybook.checks import to_cents

    return [None if pd.isna(v) else int(v) for v in to_cents(frame[column])]


def validate_file(file_id: int) -> dict[str, Any]:
    """Validate one intake-accepted file; publish its rows or refuse it with F_ERROR_RATE."""
    s = settings()
    with db.begin() as conn:
        receipt = db.run(conn, "select_receipt", {"file_id": file_id}).one()
    if receipt.status == "VALIDATED":
        write_ack(file_id)
        return {"file_id": file_id, "status": "VALIDATED", "rerun": True}
    if receipt.status != "INTAKE_OK":
        return {"file_id": file_id, "status": receipt.status, "rerun": True}

    profile = profiles.load(receipt.client_id)
    btype = business_types.get(receipt.file_type)
    day = date.fromisoformat(receipt.business_date)
    frame = _frame(open_store(s.raw), receipt.raw_key, receipt.name.endswith(".gz"), btype)

    docs_tmp = tempfile.TemporaryDirectory(prefix="daybook-docs-")
    failing = run_suite(frame, rules_for(btype.code, profile, day), f"{receipt.stem}", Path(docs_tmp.name))
    _publish_docs(Path(docs_tmp.name), receipt.business_date, receipt.stem)
    docs_tmp.cleanup()

    refs = frame["client_ref"]
    dup_in_file = refs.duplicated(keep="first") & (refs != "")
    earlier = _earlier_refs(receipt.client_id, file_id, sorted(set(refs[refs != ""])))
    dup_earlier = refs.isin(earlier)
    for line_no in frame.loc[dup_in_file | dup_earlier, "line_no"]:
        failing.setdefault(int(line_no), set()).add("R_DUPLICATE_REF")

    n = len(frame)
    rejected = len(failing)
    threshold = profile.error_rate_threshold
    if n and Decimal(rejected) / Decimal(n) > threshold:
        rejection = FileRejection(
            "F_ERROR_RATE",
            f"{rejected} of {n} rows were rejected ({Decimal(rejected) * 100 / Decimal(n):.1f}%), above the "
            f"threshold of {threshold * 100:.1f}%; no row of this file was accepted, correct and resend it",
        )
        with db.begin() as conn:
            db.run(
                conn,
                "update_file_status",
                {
                    "file_id": file_id,
                    "status": "REJECTED",
                    "reason_code": rejection.code,
                    "message": rejection.message,
                    "expected": "INTAKE_OK",
                },
            )
            events.audit(
                conn, "validation", "file_rejected", receipt.name, file_id=file_id, code=rejection.code
            )
        open_store(s.landing).put(
            f"{receipt.folder}/outbox/{receipt.stem}.rej", f"{rejection.code}|{rejection.message}\n".encode()
        )
        return {
            "file_id": file_id,
            "status": "REJECTED",
            "code": rejection.code,
            "rows": n,
            "rejected": rejected,
        }

    amount_cents = _cents(frame, btype.amount_column)
    currency = frame["currency"] if "currency" in frame.columns else pd.Series([None] * n)
    records = []
    for i, row in enumerate(frame.to_dict(orient="records")):
        line_no = i + 1
        codes = sorted(failing.get(line_no, ()), key=CODE_ORDER.__getitem__)
        accepted = not codes
        records.append(
            {
                "business_no": business_types.business_no(
                    receipt.client_id, btype.code, receipt.business_date, receipt.seq, line_no
                ),
                "file_id": file_id,
                "client_id": receipt.client_id,
                "file_type": btype.code,
                "business_date": receipt.business_date,
                "line_no": line_no,
                "client_ref": row["client_ref"],
                "amount_cents": amount_cents[i] if accepted else None,
                "currency": currency.iloc[i] if accepted else None,
                "ack_status": "ACCEPTED" if accepted else "REJECTED",
                "reason_codes": ";".join(codes),
                "state": "VALIDATED" if accepted else "REJECTED",
                "payload": json.dumps({k: v for k, v in row.items() if k != "line_no"}, ensure_ascii=False),
            }
        )
    with db.begin() as conn:
        db.run(conn, "delete_records_of_file", {"file_id": file_id})
        if records:
            db.run(conn, "insert_record", records)
        db.run(
            conn,
            "update_file_status",
            {
                "file_id": file_id,
                "status": "VALIDATED",
                "reason_code": None,
                "message": None,
                "expected": "INTAKE_OK",
            },
        )
        events.audit(
            conn, "validation", "file_validated", receipt.name, file_id=file_id, rows=n, rejected=rejected
        )
    write_ack(file_id)
    log.info("%s: %d rows, %d rejected", receipt.name, n, rejected)
    return {"file_id": file_id, "status": "VALIDATED", "rows": n, "rejected": rejected}


def _publish_docs(local: Path, business_date: str, stem: str) -> None:
    store = open_store(settings().outputs)
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        store.put(f"{business_date}/data_docs/{stem}/{path.relative_to(local).as_posix()}", path.read_bytes())


def data_docs_index(business_date: str, stem: str) -> str:
    """Where the Data Docs index of a file's validation is kept."""
    return open_store(settings().outputs).uri(f"{business_date}/data_docs/{stem}/index.html")
