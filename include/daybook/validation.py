"""Validation: Great Expectations enforces every row rule; every row gets every code that applies.

Per file: the raw bytes are parsed again (cells as text), the business type's GX suite runs
with the client's profile settings, failing rows are mapped from GX results to R_* codes,
client_ref duplicates are found within the file and against every earlier accepted row of
the client (in the database), and then either the file is refused as a whole (F_ERROR_RATE,
nothing published) or all its rows are written and published in one transaction and
``<stem>.ack.csv`` is written. Data Docs for the validation are kept with the day's outputs.
"""

from __future__ import annotations

import io
import json
import logging
import re
import tempfile
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
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


ROW_CODES: tuple[str, ...] = tuple(c for c, (level, _) in CATALOGUE.items() if level == "row")
CODE_BIT: dict[str, int] = {code: 1 << i for i, code in enumerate(ROW_CODES)}
CHUNK_ROWS = 500_000  # measured: GX costs ~0.5 s per run whatever its size (docs/performance.md)
_WHEN = re.compile(r'(?P<column>[A-Za-z_][A-Za-z0-9_]*) == "(?P<value>[^"\\]*)"')


def _condition(rule: Rule, frame: pd.DataFrame) -> np.ndarray | None:
    """The rows a conditional rule applies to (the same ``column == "value"`` GX's row_condition uses)."""
    if rule.when is None:
        return None
    m = _WHEN.fullmatch(rule.when)
    if m is None:
        raise ValueError(f'unsupported row condition {rule.when!r}: use column == "value"')
    return (frame[m["column"]] == m["value"]).to_numpy(dtype=bool)


def gx_column(rule: Rule) -> str:
    """The column GX validates for ``rule``: a conditional rule gets a derived column named after
    its condition, holding the cell where the condition holds and null elsewhere (outside GX's domain).
    """
    if rule.when is None:
        return rule.column
    m = _WHEN.fullmatch(rule.when)
    if m is None:
        raise ValueError(f'unsupported row condition {rule.when!r}: use column == "value"')
    return f"{rule.column} when {m['column']}={m['value']}"


def rule_mask(rule: Rule, frame: pd.DataFrame) -> np.ndarray:
    """Positional bool array: the rows of ``frame`` that fail ``rule``.

    Exactly what GX counts for the rule's expectation: within the rule's condition, the rows
    where the check's registered predicate (:func:`daybook.expectations.predicate`) is False.
    """
    from daybook.expectations import predicate

    cond = _condition(rule, frame)
    cells = frame[rule.column]
    if cond is None:
        return ~predicate(rule.check, cells, rule.params).to_numpy(dtype=bool)
    fail = np.zeros(len(frame), dtype=bool)
    if cond.any():
        fail[cond] = ~predicate(rule.check, cells[cond], rule.params).to_numpy(dtype=bool)
    return fail


def _expectation(rule: Rule, index: int) -> Any:
    from daybook.expectations import EXPECTATIONS

    meta = {"code": rule.code, "rule": index, "column": rule.column, "when": rule.when}
    return EXPECTATIONS[rule.check](column=gx_column(rule), **rule.params, meta=meta)


def _gx_frame(frame: pd.DataFrame, rules: list[Rule]) -> pd.DataFrame:
    """The frame as GX sees it: the file's columns plus one derived column per conditional rule.

    Outside its condition a derived cell is out of the rule's domain: "" for a format rule (an
    empty cell passes every check but "required"), null for a "required" rule (GX skips nulls).
    Nulls make GX filter the whole frame, so they are used only where they are needed.
    """
    extra = {}
    for rule in rules:
        name = gx_column(rule)
        if name != rule.column and name not in extra:
            cond = _condition(rule, frame)
            cells = frame[rule.column]
            extra[name] = cells.where(cond) if rule.check == "required" else cells.where(cond, "")
    out = frame.assign(**extra) if extra else frame
    return out.reset_index(drop=True)  # row labels = positions, as the captured masks assume


class SuiteRunner:
    """One GX context, suite and validation definition, reused for every chunk of one file.

    GX runs every expectation on every chunk with BASIC results (counts and a sample of values;
    COMPLETE index lists are what made per-row results slow). The rows an expectation failed are
    taken from the boolean mask its own metric computed (each custom metric leaves its result in
    :data:`daybook.expectations.CAPTURE`; if one is missing, :func:`rule_mask` applies the same
    registered predicate again). GX's ``unexpected_count`` must equal the mask's count for every
    expectation and chunk, else the run fails loudly: GX's result decides, the mask only says
    which rows. Counts are summed over the chunks into one validation result per file, from
    which :meth:`write_docs` renders the file's GX Data Docs. One runner per process at a time
    (the capture is process-global; Airflow runs each task in its own process).
    """

    def __init__(self, rules: list[Rule], suite_name: str) -> None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig
        from great_expectations.execution_engine import pandas_execution_engine

        # GX md5-hashes every in-memory batch for its "pandas_data_fingerprint" marker (about 1 s
        # per million rows). A chunk's fingerprint identifies nothing a client sent (intake keeps
        # the file's sha256), so batches are not hashed.
        pandas_execution_engine.HASH_THRESHOLD = 0
        self.rules = rules
        self.suite_name = suite_name
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        batch = (
            self.context.data_sources.add_pandas("daybook")
            .add_dataframe_asset(suite_name)
            .add_batch_definition_whole_dataframe("file")
        )
        suite = self.context.suites.add(gx.ExpectationSuite(name=suite_name))
        for i, rule in enumerate(rules):
            suite.add_expectation(_expectation(rule, i))
        self.definition = self.context.validation_definitions.add(
            gx.ValidationDefinition(name=suite_name, data=batch, suite=suite)
        )
        self.result: Any = None  # the file's validation result, counts summed over chunks
        self.rows = 0

    def run(self, frame: pd.DataFrame) -> np.ndarray:
        """Validate one chunk; returns one int per row, the bits (``CODE_BIT``) of its failing codes."""
        from daybook import expectations

        expectations.CAPTURE = captured = {}
        try:
            result = self.definition.run(
                batch_parameters={"dataframe": _gx_frame(frame, self.rules)},
                result_format={"result_format": "BASIC"},
            )
        finally:
            expectations.CAPTURE = None
        bits = np.zeros(len(frame), dtype=np.int32)
        for res in result.results:
            cfg = res.expectation_config
            if res.exception_info and res.exception_info.get("raised_exception"):
                raise RuntimeError(
                    f"expectation {cfg.type} on {cfg.kwargs.get('column')} failed to run: "
                    f"{res.exception_info.get('exception_message')}"
                )
            rule = self.rules[int(cfg.meta["rule"])]
            ok = captured.get(expectations.capture_key(rule.check, gx_column(rule), rule.params))
            if ok is None:  # not computed in this run (never expected): apply the predicate here
                fail = rule_mask(rule, frame)
            else:
                fail = np.zeros(len(frame), dtype=bool)
                fail[ok.index.to_numpy()[~ok.to_numpy(dtype=bool)]] = True
            gx_count = int(res.result.get("unexpected_count") or 0)
            if gx_count != int(fail.sum()):
                raise RuntimeError(
                    f"GX counted {gx_count} failing rows for {cfg.type} on {rule.column} ({rule.code}), "
                    f"the predicate mask {int(fail.sum())}: refusing to guess which rows failed"
                )
            bits |= fail.astype(np.int32) * CODE_BIT[rule.code]
        self._accumulate(result)
        self.rows += len(frame)
        return bits

    def _accumulate(self, result: Any) -> None:
        if self.result is None:
            self.result = result
            return
        by_rule = {int(r.expectation_config.meta["rule"]): r for r in result.results}
        for total in self.result.results:
            part = by_rule[int(total.expectation_config.meta["rule"])]
            for key in ("element_count", "unexpected_count", "missing_count"):
                if key in part.result:
                    total.result[key] = total.result.get(key, 0) + part.result[key]
            sample = total.result.get("partial_unexpected_list")
            if sample is not None and len(sample) < 20:
                sample.extend(part.result.get("partial_unexpected_list", [])[: 20 - len(sample)])

    def finish(self) -> Any:
        """The file's validation result: summed counts, percentages and success recomputed."""
        if self.result is None:
            return None
        ok = 0
        for res in self.result.results:
            r = res.result
            n, bad = r.get("element_count", 0), r.get("unexpected_count", 0)
            missing = r.get("missing_count", 0)
            if "unexpected_percent" in r:
                r["unexpected_percent"] = 100.0 * bad / (n - missing) if n - missing else 0.0
            if "unexpected_percent_total" in r:
                r["unexpected_percent_total"] = 100.0 * bad / n if n else 0.0
            if "unexpected_percent_nonmissing" in r:
                r["unexpected_percent_nonmissing"] = r["unexpected_percent"]
            if "missing_percent" in r:
                r["missing_percent"] = 100.0 * missing / n if n else 0.0
            r.pop("partial_unexpected_index_list", None)  # chunk-local positions: meaningless summed
            r.pop("partial_unexpected_counts", None)
            res.success = bad == 0
            ok += res.success
        total = len(self.result.results)
        self.result.success = ok == total
        self.result.statistics.update(
            successful_expectations=ok,
            unsuccessful_expectations=total - ok,
            success_percent=100.0 * ok / total if total else 100.0,
        )
        return self.result

    def write_docs(self, docs_dir: Path) -> None:
        """Render GX Data Docs of the file's (aggregated) validation into ``docs_dir``."""
        from great_expectations.core.run_identifier import RunIdentifier
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
            ValidationResultIdentifier,
        )

        result = self.finish()
        if result is None:
            return
        self.context.add_data_docs_site(
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
        run_id = result.meta["run_id"]
        if not isinstance(run_id, RunIdentifier):
            run_id = RunIdentifier(run_name=run_id.get("run_name"), run_time=run_id.get("run_time"))
        suite_id = ExpectationSuiteIdentifier(name=self.suite_name)
        result_id = ValidationResultIdentifier(
            expectation_suite_identifier=suite_id,
            run_id=run_id,
            batch_identifier=f"daybook-{self.suite_name}",
        )
        result.meta["rows_validated"] = self.rows
        self.context.validation_results_store.set(result_id, result)
        self.context.build_data_docs(site_names=["daybook"], resource_identifiers=[result_id, suite_id])


def code_strings(bits: np.ndarray) -> np.ndarray:
    """The ack's ``reason_codes`` per row from code bits: ``;``-joined in section 7 order ("" if none)."""
    values, inverse = np.unique(bits, return_inverse=True)
    labels = np.array(
        [join_codes([c for c in ROW_CODES if int(v) & CODE_BIT[c]]) for v in values.tolist()], dtype=object
    )
    return labels[inverse.reshape(-1)] if len(bits) else np.array([], dtype=object)


def run_suite(
    frame: pd.DataFrame, rules: list[Rule], suite_name: str, docs_dir: Path | None = None
) -> dict[int, set[str]]:
    """Run the rules as a GX suite over ``frame`` (cells as text, empty = missing).

    Returns ``{line_no: codes}`` for the failing rows. With ``docs_dir``, GX Data Docs for this
    validation are written there.
    """
    runner = SuiteRunner(rules, suite_name)
    bits = runner.run(frame)
    if docs_dir is not None:
        runner.write_docs(docs_dir)
    lines = frame["line_no"].to_numpy()
    return {
        int(lines[i]): {c for c in ROW_CODES if int(bits[i]) & CODE_BIT[c]}
        for i in np.flatnonzero(bits).tolist()
    }


def _frames(store, key: str, compressed: bool, btype: business_types.BusinessType) -> Iterator[pd.DataFrame]:
    """The file's rows in chunks of ``CHUNK_ROWS``; an absent optional column reads as empty cells."""
    from daybook.intake import iter_frames

    for frame in iter_frames(store, key, compressed, chunk_rows=CHUNK_ROWS):
        for column in btype.optional:
            if column not in frame.columns:
                frame[column] = ""
        yield frame.reset_index(drop=True)


def _taken_refs(conn: Any, client_id: str, file_id: int, refs: list[str]) -> set[str]:
    """The refs among ``refs`` that a row of another (earlier, published) file of the client holds.

    One query per chunk: the refs travel as one JSON array parameter (``json_each`` on SQLite,
    ``json_array_elements_text`` on PostgreSQL), matched through ix_records_client_ref.
    """
    if not refs:
        return set()
    name = f"select_taken_refs_{conn.dialect.name}"
    rows = db.run(conn, name, {"client_id": client_id, "file_id": file_id, "refs": json.dumps(refs)})
    return {r.client_ref for r in rows}


class _RefTracker:
    """R_DUPLICATE_REF: a ref seen earlier in this file (file order) or held by an earlier file."""

    def __init__(self, client_id: str, file_id: int) -> None:
        self.client_id = client_id
        self.file_id = file_id
        self.seen: set[str] = set()

    def duplicates(self, conn: Any, refs: pd.Series) -> np.ndarray:
        present = (refs != "").to_numpy(dtype=bool)
        in_chunk = refs.duplicated(keep="first").to_numpy(dtype=bool)
        before = refs.isin(self.seen).to_numpy(dtype=bool) if self.seen else np.zeros(len(refs), dtype=bool)
        unique = refs[present & ~in_chunk & ~before]
        taken = _taken_refs(conn, self.client_id, self.file_id, unique.tolist())
        earlier = refs.isin(taken).to_numpy(dtype=bool) if taken else np.zeros(len(refs), dtype=bool)
        self.seen.update(unique.tolist())
        return present & (in_chunk | before | earlier)


RECORD_COLUMNS = [
    "business_no",
    "file_id",
    "client_id",
    "file_type",
    "business_date",
    "line_no",
    "client_ref",
    "amount_cents",
    "currency",
    "ack_status",
    "reason_codes",
    "state",
    "payload",
]


def _records(
    frame: pd.DataFrame, codes: np.ndarray, receipt: Any, btype: Any, columns: list[str]
) -> pd.DataFrame:
    """The chunk's rows of ``records``, built with vector operations (no loop over rows)."""
    from daybook.checks import to_cents

    accepted = codes == ""
    prefix = f"{receipt.client_id}-{btype.code}-{receipt.business_date.replace('-', '')}-{receipt.seq}-"
    line_no = frame["line_no"].astype("int64")
    cents = to_cents(frame[btype.amount_column]).astype(object)
    cents = cents.where(accepted & cents.notna().to_numpy(dtype=bool), None)
    if "currency" in frame.columns:
        currency = frame["currency"].astype(object).where(accepted, None)
    else:
        currency = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    payload = _json_objects(frame, columns)
    return pd.DataFrame(
        {
            "business_no": prefix + line_no.astype("str").str.zfill(6),
            "file_id": receipt.file_id,
            "client_id": receipt.client_id,
            "file_type": btype.code,
            "business_date": receipt.business_date,
            "line_no": line_no,
            "client_ref": frame["client_ref"],
            "amount_cents": cents,
            "currency": currency,
            "ack_status": np.where(accepted, "ACCEPTED", "REJECTED"),
            "reason_codes": codes,
            "state": np.where(accepted, "VALIDATED", "REJECTED"),
            "payload": payload,
        }
    )


_CONTROL_CHARS = [chr(i) for i in range(32)]


def _escapes_needed(arr: Any) -> tuple[bool, bool]:
    """Whether a large_string array holds a backslash or quote, and a control character.

    Looks at the UTF-8 bytes directly (bytes below 0x80 never occur inside a multi-byte
    character), so the common case costs one vector comparison and no string kernel.
    """
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)
    data_buf = arr.buffers()[2]
    if data_buf is None or len(arr) == 0:
        return False, False
    start, end = int(offsets[arr.offset]), int(offsets[arr.offset + len(arr)])
    data = np.frombuffer(data_buf, dtype=np.uint8)[start:end]
    return bool(((data == 0x22) | (data == 0x5C)).any()), bool((data < 0x20).any())


def _json_objects(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """One compact JSON object of the row's text cells per row (``{"col":"cell",...}``), vectorized.

    Same text as ``json.dumps(row, ensure_ascii=False, separators=(",", ":"))``: backslash, quote
    and control characters are escaped with arrow string kernels, column by column.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    pieces: list[Any] = []
    for i, column in enumerate(columns):
        arr = pa.array(frame[column], type=pa.large_string())
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        quote, control = _escapes_needed(arr)
        if quote:
            arr = pc.replace_substring(pc.replace_substring(arr, "\\", "\\\\"), '"', '\\"')
        if control:
            for ch in _CONTROL_CHARS:
                arr = pc.replace_substring(arr, ch, json.dumps(ch)[1:-1])
        key = ("{" if i == 0 else ",") + json.dumps(column, ensure_ascii=False) + ':"'
        pieces += [pa.scalar(key, pa.large_string()), arr, pa.scalar('"', pa.large_string())]
    pieces.append(pa.scalar("}", pa.large_string()))
    joined = pc.binary_join_element_wise(*pieces, pa.scalar("", pa.large_string()))
    return pd.Series(joined.to_numpy(zero_copy_only=False), index=frame.index, dtype=object)


def _insert_records(conn: Any, records: pd.DataFrame) -> None:
    """Bulk load: PostgreSQL COPY FROM STDIN, SQLite one ``executemany`` (both inside the caller's transaction)."""
    if records.empty:
        return
    raw = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        text = records.to_csv(header=False, index=False, lineterminator="\n")
        with raw.cursor() as cur:
            if hasattr(cur, "copy_expert"):  # psycopg2
                cur.copy_expert(db.sql("copy_records"), io.StringIO(text))
            else:  # psycopg 3 (SQLAlchemy 2.1's default PostgreSQL driver)
                with cur.copy(db.sql("copy_records")) as copy:
                    copy.write(text)
    else:
        columns = [records[c].astype(object).where(records[c].notna(), None).tolist() for c in RECORD_COLUMNS]
        raw.executemany(db.sql("insert_records"), zip(*columns, strict=True))


def _ack_frame_bytes(frame: pd.DataFrame, header: bool) -> bytes:
    return frame.to_csv(index=False, header=header, lineterminator="\n").encode("utf-8")


def write_ack(file_id: int) -> str:
    """(Re)write ``<stem>.ack.csv`` from the database (contract section 5); byte-identical on every rerun."""
    with db.begin() as conn:
        receipt = db.run(conn, "select_receipt", {"file_id": file_id}).one()

    def chunks() -> Iterator[bytes]:
        yield (",".join(ACK_HEADER) + "\n").encode("utf-8")
        with db.engine().connect() as conn:
            result = db.run(conn, "select_ack_rows", {"file_id": file_id})
            keys = list(result.keys())
            while rows := result.fetchmany(CHUNK_ROWS):
                columns = zip(*rows, strict=True)  # transpose in C: no per-row Python
                frame = pd.DataFrame(dict(zip(keys, columns, strict=True)), dtype=object)
                yield _ack_frame_bytes(frame, header=False)

    key = f"{receipt.folder}/outbox/{receipt.stem}.ack.csv"
    open_store(settings().landing).put_stream(key, chunks())
    return key


class _ErrorRate(Exception):
    """Raised inside the staging transaction to roll back every row of a refused file."""


def validate_file(file_id: int) -> dict[str, Any]:
    """Validate one intake-accepted file; publish its rows or refuse it with F_ERROR_RATE.

    Write, audit, publish: chunks are validated and their rows written inside one transaction;
    if the share of rejected rows is above the client's threshold the transaction is rolled
    back (no row of the file is published) and ``<stem>.rej`` is written instead of the ack.
    """
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
    runner = SuiteRunner(rules_for(btype.code, profile, day), receipt.stem)
    refs = _RefTracker(receipt.client_id, file_id)
    n = rejected = 0
    threshold = profile.error_rate_threshold
    try:
        with db.begin() as conn:
            db.run(conn, "delete_records_of_file", {"file_id": file_id})
            for frame in _frames(open_store(s.raw), receipt.raw_key, receipt.name.endswith(".gz"), btype):
                bits = runner.run(frame)
                bits |= (
                    refs.duplicates(conn, frame["client_ref"]).astype(np.int32) * CODE_BIT["R_DUPLICATE_REF"]
                )
                codes = code_strings(bits)
                columns = [c for c in frame.columns if c != "line_no"]
                _insert_records(conn, _records(frame, codes, receipt, btype, columns))
                n += len(frame)
                rejected += int(np.count_nonzero(bits))
            if n and Decimal(rejected) / Decimal(n) > threshold:
                raise _ErrorRate
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
    except _ErrorRate:
        _keep_docs(runner, receipt)
        return {
            **_refuse(receipt, n, rejected, threshold),
            "data_docs": data_docs_link(receipt.business_date, receipt.stem),
        }
    _keep_docs(runner, receipt)
    write_ack(file_id)
    log.info("%s: %d rows, %d rejected", receipt.name, n, rejected)
    return {
        "file_id": file_id,
        "status": "VALIDATED",
        "rows": n,
        "rejected": rejected,
        "data_docs": data_docs_link(receipt.business_date, receipt.stem),
    }


def _refuse(receipt: Any, n: int, rejected: int, threshold: Decimal) -> dict[str, Any]:
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
                "file_id": receipt.file_id,
                "status": "REJECTED",
                "reason_code": rejection.code,
                "message": rejection.message,
                "expected": "INTAKE_OK",
            },
        )
        events.audit(
            conn, "validation", "file_rejected", receipt.name, file_id=receipt.file_id, code=rejection.code
        )
    open_store(settings().landing).put(
        f"{receipt.folder}/outbox/{receipt.stem}.rej", f"{rejection.code}|{rejection.message}\n".encode()
    )
    return {
        "file_id": receipt.file_id,
        "status": "REJECTED",
        "code": rejection.code,
        "rows": n,
        "rejected": rejected,
    }


def _keep_docs(runner: SuiteRunner, receipt: Any) -> None:
    """Render the file's GX Data Docs and keep them with the day's outputs."""
    with tempfile.TemporaryDirectory(prefix="daybook-docs-") as tmp:
        runner.write_docs(Path(tmp))
        _publish_docs(Path(tmp), receipt.business_date, receipt.stem)


def _publish_docs(local: Path, business_date: str, stem: str) -> None:
    store = open_store(settings().outputs)
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        store.put(f"{business_date}/data_docs/{stem}/{path.relative_to(local).as_posix()}", path.read_bytes())


def data_docs_index(business_date: str, stem: str) -> str:
    """Where the Data Docs index of a file's validation is kept."""
    return open_store(settings().outputs).uri(f"{business_date}/data_docs/{stem}/index.html")


def data_docs_link(business_date: str, stem: str) -> str:
    """The Airflow UI path of a file's Data Docs (served by the daybook plugin), shown in the task's XCom."""
    return f"/daybook/data-docs/{business_date}/{stem}/index.html"
