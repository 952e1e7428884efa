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
import queue
import re
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from daybook import business_types, db, events, profiles, rowread
from daybook.codes import CATALOGUE, FileRejection
from daybook.config import env_int, settings
from daybook.fileformat import check_row_limit
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


# What a held client's files go through (the PROFILE_INVALID alert says it).
_HELD_FILES = (
    "its files taken in are not validated (no row published, no acknowledgement written) until it "
    "is fixed and validation_daily runs again for the date; they stay INTAKE_OK"
)


def usable_profile(client_id: str) -> profiles.Profile:
    """The client's profile with the settings validation reads checked (accepted currencies,
    products, error-rate threshold, Luhn relaxations); :class:`profiles.InvalidProfile` when it
    does not load or one of them cannot be used."""
    profile = profiles.load(client_id)
    try:
        try:
            threshold = profile.error_rate_threshold
        except ArithmeticError:
            raise ValueError(
                f'error_rate_threshold must be a share from 0 to 1, as "0.20"; '
                f"found {profile.data['error_rate_threshold']!r}"
            ) from None
        if not threshold.is_finite() or not 0 <= threshold <= 1:
            raise ValueError(
                f'error_rate_threshold must be a share from 0 to 1, as "0.20"; found {threshold}'
            )
        for name in ("accepted_currencies", "products"):
            values = profile.data[name]
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise TypeError(f"{name} must be a list of codes, as [CNY]; found {values!r}")
        relaxations = profile.data["relaxations"]
        if not isinstance(relaxations, dict) or not isinstance(
            relaxations.get("luhn_off_card_prefixes", []), list
        ):
            raise TypeError(f"relaxations.luhn_off_card_prefixes must be a list; found {relaxations!r}")
    except (ArithmeticError, AttributeError, KeyError, TypeError, ValueError) as exc:
        raise profiles.InvalidProfile(
            profiles.profile_path(client_id), profile.version, f"validation settings cannot be read: {exc}"
        ) from exc
    return profile


def validate_client(client_id: str, business_date: str) -> list[dict[str, Any]]:
    """Validate the client's files of the day in sequence order (earlier files own a client_ref first).

    A client whose profile (or the settings validation reads from it) cannot be used is held:
    PROFILE_INVALID, its files stay INTAKE_OK with nothing published or answered, and this
    returns without failing, so the day's other clients are published and go on to approval; a
    run of validation_daily after the fix validates the held files."""
    with db.begin() as conn:
        ids = [
            r.file_id
            for r in db.run(
                conn, "select_files_of_client_day", {"client_id": client_id, "business_date": business_date}
            ).all()
        ]
    if not ids:
        return []
    try:
        usable_profile(client_id)
    except profiles.InvalidProfile as broken:
        profiles.hold(client_id, broken, business_date, _HELD_FILES, stage="validation")
        with db.begin() as conn:
            status = {i: db.run(conn, "select_receipt", {"file_id": i}).one().status for i in ids}
        # A file validated before keeps its answer (written again as on any rerun: no profile
        # needed); the others wait.
        return [
            validate_file(i) if status[i] == "VALIDATED" else {"file_id": i, "status": "HELD", "held": True}
            for i in ids
        ]
    return _validate_files(ids)


def workers() -> int:
    """Files of one client validated at once on PostgreSQL (``DAYBOOK_VALIDATION_WORKERS``,
    default 2), each on a connection of its own. Sized to the database server's cores: loading a
    file is mostly the server's work (COPY into records and its indexes), one core per
    connection. SQLite has one writer at a time: its files are validated one after the other."""
    return env_int("DAYBOOK_VALIDATION_WORKERS", 2, 1, 64, "files of a client validated at once")


class _Overlap(Exception):
    """Files validated at once share a client_ref (or one of them failed): the files not yet
    final roll back and are validated one after the other."""


class _Claims:
    """What the files of a client validated at once tell each other (:func:`_validate_files`).

    A row's client_ref is a duplicate (R_DUPLICATE_REF) of a ref an earlier file of the client
    holds, so files are judged in sequence order, and a file does not see the uncommitted rows of
    a file validated beside it. Files therefore run at once only while no non-empty client_ref of
    one appears in another: then no file's answer depends on the others'. Each chunk's refs are
    claimed before its rows are written; a claim meeting a ref another file claimed stops the run
    (:class:`_Overlap`: every file not yet final rolls back, and is validated again in order).
    A file commits or is refused only when every earlier file is final, and an earlier file is
    final only once all its refs are claimed: a shared ref is always found before the later of
    the two files is final. So the files made final form a prefix in sequence order, each with
    the answer it gets one after the other."""

    def __init__(self, files: int) -> None:
        self._turn = threading.Condition()
        self._refs: list[list[Any]] = [[] for _ in range(files)]
        self._final = [False] * files
        self.stopped = False

    def claim(self, index: int, refs: pd.Series) -> None:
        """Claim a chunk's non-empty refs for file ``index``; :class:`_Overlap` if another file
        of the run claimed one of them, or the run is stopped."""
        import pyarrow as pa
        import pyarrow.compute as pc

        mine = pa.array(refs[refs != ""].unique(), pa.large_string())
        with self._turn:
            if self.stopped:
                raise _Overlap
            others = [a for i, claimed in enumerate(self._refs) if i != index for a in claimed]
            if others and len(mine) and pc.any(pc.is_in(mine, value_set=pa.concat_arrays(others))).as_py():
                self.stop()
                raise _Overlap
            self._refs[index].append(mine)

    def wait_turn(self, index: int) -> None:
        """Return once every file before ``index`` is final; :class:`_Overlap` if the run stops."""
        with self._turn:
            self._turn.wait_for(lambda: self.stopped or all(self._final[:index]))
            if self.stopped:
                raise _Overlap

    def final(self, index: int) -> None:
        with self._turn:
            self._final[index] = True
            self._turn.notify_all()

    def stop(self) -> None:
        with self._turn:
            self.stopped = True
            self._turn.notify_all()


def _validate_files(ids: list[int]) -> list[dict[str, Any]]:
    """Validate the files (in sequence order), several at once on PostgreSQL (:func:`workers`).

    On SQLite, or with one file or one worker, one after the other. Otherwise each file runs on a
    thread and a connection of its own, claiming its refs as it goes (:class:`_Claims`); if two
    files share a client_ref, the files not yet final are validated again one after the other,
    in order, as if the run had been sequential from the start (a shared ref is rare: a client's
    refs are unique across its files unless it resends rows)."""
    parallel = min(workers(), len(ids))
    if parallel < 2 or db.engine().dialect.name != "postgresql":
        return [validate_file(file_id) for file_id in ids]
    claims = _Claims(len(ids))
    done: dict[int, dict[str, Any]] = {}

    def one(index: int, file_id: int) -> None:
        try:
            done[file_id] = validate_file(file_id, claims, index)
        except _Overlap:
            return
        except BaseException:
            claims.stop()  # the other files roll back; the error is raised below
            raise
        claims.final(index)

    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="daybook-validate-file") as pool:
        futures = [pool.submit(one, i, file_id) for i, file_id in enumerate(ids)]
    for future in futures:
        future.result()  # the first failure, if any
    again = [file_id for file_id in ids if file_id not in done]
    if again:
        log.info("files %s share a client_ref with a file validated at once: validated again in order", again)
    return [done[file_id] if file_id in done else validate_file(file_id) for file_id in ids]


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


# Held while a runner uses GX (see SuiteRunner).
_GX_TURN = threading.RLock()


def _make_current(context: Any) -> None:
    """Make ``context`` the one GX's calls without an explicit context fall back to."""
    from great_expectations.data_context.data_context.context_factory import project_manager

    project_manager.set_project(context)


class SuiteRunner:
    """One GX context, suite and validation definition, reused for every chunk of one file.

    GX runs every expectation on every chunk with BASIC results (counts and a sample of values;
    COMPLETE index lists are what made per-row results slow). The rows an expectation failed are
    taken from the boolean mask its own metric computed (each custom metric leaves its result in
    :data:`daybook.expectations.CAPTURE`; if one is missing, :func:`rule_mask` applies the same
    registered predicate again). GX's ``unexpected_count`` must equal the mask's count for every
    expectation and chunk, else the run fails loudly: GX's result decides, the mask only says
    which rows. Counts are summed over the chunks into one validation result per file, from
    which :meth:`write_docs` renders the file's GX Data Docs.

    GX keeps process-wide state (the "current" context some of its calls fall back to, and the
    capture above), so the runners of files validated at once (:func:`validate_client`) take
    turns: building, running a chunk and rendering Data Docs hold :data:`_GX_TURN`, with this
    runner's context made GX's current one. A chunk's GX run is ~1.5 s per 500,000 rows; the
    rest of a file's validation (reading, building the rows, the server's COPY) runs at once.
    """

    def __init__(self, rules: list[Rule], suite_name: str) -> None:
        with _GX_TURN:
            self._build(rules, suite_name)

    def _build(self, rules: list[Rule], suite_name: str) -> None:
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
        self.datasource = self.context.data_sources.add_pandas("daybook")
        batch = self.datasource.add_dataframe_asset(suite_name).add_batch_definition_whole_dataframe("file")
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

        gx_frame = _gx_frame(frame, self.rules)
        with _GX_TURN:
            _make_current(self.context)
            expectations.CAPTURE = captured = {}
            try:
                result = self.definition.run(
                    batch_parameters={"dataframe": gx_frame},
                    result_format={"result_format": "BASIC"},
                )
            finally:
                expectations.CAPTURE = None
                self._forget_chunk()
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

    def _forget_chunk(self) -> None:
        """Drop what the datasource's execution engine keeps of the chunk just validated.

        The engine keeps the chunk's batch (the frame) and every metric computed on it (a
        Series per expectation and more, each the chunk's length) in its caches, and the
        context, datasource and engine hold each other in reference cycles. Kept, a chunk's
        frame and metrics live until the runner is gone *and* a full garbage collection happens
        to run, which is rare in a process holding as many objects as an Airflow task: the
        stage's memory grew with the day's files (a 2M-row day's validation peaked ~660 MiB
        higher than with the caches dropped). Each chunk is validated once, so nothing cached
        would be read again; the metric cache has no public way to be emptied in GX 1.x.
        """
        engine = self.datasource.get_execution_engine()
        engine.batch_manager.reset_batch_cache()
        engine.batch_manager.batch_data_cache.clear()
        metrics = getattr(engine, "_metric_cache", None)  # GX 1.x's name; a dict while caching is on
        if isinstance(metrics, dict):
            metrics.clear()

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
            if r.get("partial_unexpected_list"):  # shown in Data Docs: people read them (daybook.pii)
                from daybook import pii

                column = str(res.expectation_config.kwargs.get("column", ""))
                r["partial_unexpected_list"] = [
                    pii.mask_cell(column, v) for v in r["partial_unexpected_list"]
                ]
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
        with _GX_TURN:
            _make_current(self.context)
            self._write_docs(docs_dir)

    def _write_docs(self, docs_dir: Path) -> None:
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


def _chunks(
    store: Any, receipt: Any, btype: business_types.BusinessType, encoding: str | None
) -> Iterator[rowread.Chunk]:
    """The file's rows in chunks of ``CHUNK_ROWS`` (pyarrow); an absent optional column reads as empty cells."""
    import pyarrow as pa

    columns = [*btype.required, *btype.optional]
    for chunk in rowread.iter_chunks(
        store,
        receipt.raw_key,
        receipt.name.endswith(".gz"),
        columns,
        encoding=encoding,
        chunk_rows=CHUNK_ROWS,
    ):
        table = chunk.table
        for column in btype.optional:
            if column not in table.column_names:
                table = table.append_column(column, pa.nulls(table.num_rows, pa.large_string()).fill_null(""))
        yield rowread.Chunk(table, chunk.first_line)


def _taken_refs(conn: Any, client_id: str, refs: list[str]) -> set[str]:
    """The refs among ``refs`` that a row of the client already in ``records`` holds.

    One query per chunk: the refs travel as one JSON array parameter (``json_each`` on SQLite,
    ``json_array_elements_text`` on PostgreSQL), matched through ux_records_ref (accepted rows) and
    ix_records_rejected_ref (rejected rows). Inside the file's transaction this sees the earlier
    published files and the earlier chunks of this file (its own rows were deleted first), so
    nothing is kept in memory between chunks.
    """
    if not refs:
        return set()
    name = f"select_taken_refs_{conn.dialect.name}"
    params = {"client_id": client_id, "refs": json.dumps(refs, ensure_ascii=False)}
    if conn.dialect.name != "postgresql":
        return {r.client_ref for r in db.run(conn, name, params)}
    # Right after a file's rows were loaded the statistics of ``records`` still describe the
    # table before them, and PostgreSQL may then join the refs by a nested loop: a chunk of 20k
    # refs against 100k fresh rows took 100 s. A hash join is linear whatever the statistics.
    db.run(conn, "set_no_nestloop_postgresql")
    try:
        return {r.client_ref for r in db.run(conn, name, params)}
    finally:
        db.run(conn, "reset_nestloop_postgresql")


def _duplicates(conn: Any, client_id: str, refs: pd.Series) -> np.ndarray:
    """R_DUPLICATE_REF: a non-empty ref seen earlier in this chunk, or held by a row already written
    (an earlier file of the client, or an earlier chunk of this file: written before this lookup)."""
    present = (refs != "").to_numpy(dtype=bool)
    in_chunk = refs.duplicated(keep="first").to_numpy(dtype=bool)
    first = refs[present & ~in_chunk]
    taken = _taken_refs(conn, client_id, first.tolist())
    earlier = refs.isin(taken).to_numpy(dtype=bool) if taken else np.zeros(len(refs), dtype=bool)
    return present & (in_chunk | earlier)


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
    "value_date",
    "payer_id_type",
    "payer_id_no",
]


WRITE_ROWS = 100_000  # rows per batch written to records and the ack: bounds payload text and driver buffers


def _repeat(value: Any, n: int, type_: Any) -> Any:
    """An arrow array of ``n`` times ``value`` (dictionary-free, for COPY and executemany)."""
    import pyarrow as pa

    return pa.array([value], type_).take(pa.array(np.zeros(n, dtype=np.int32)))


def _records(
    table: Any, first_line: int, codes: np.ndarray, cents: pd.Series, receipt: Any, btype: Any
) -> Any:
    """The batch's rows of ``records`` as an arrow table, built with vector kernels (no loop over rows).

    ``table`` holds the rows' text cells (every column, in the order of the payload); ``codes`` the
    rows' ``;``-joined reason codes ("" for an accepted row); ``cents`` the amount column in exact
    cents (:func:`daybook.checks.to_cents`), kept for accepted rows only.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    n = table.num_rows
    accepted = codes == ""
    is_accepted = pa.array(accepted, pa.bool_())
    # Never a line part of other than 6 digits: a row beyond MAX_LINE_NO stops the file here (the
    # staging transaction rolls back, nothing is published) instead of getting a 7-digit number.
    business_types.check_line_numbers(first_line, first_line + n - 1)
    prefix = business_types.business_no_prefix(
        receipt.client_id, btype.code, receipt.business_date, receipt.seq
    )
    line_no = pa.array(np.arange(first_line, first_line + n, dtype=np.int64))
    digits = pc.utf8_lpad(pc.cast(line_no, pa.string()), business_types.LINE_NO_DIGITS, "0")
    known = accepted & cents.notna().to_numpy(dtype=bool)
    amount_cents = pa.array(cents.to_numpy(dtype=np.int64, na_value=0), pa.int64(), mask=~known)
    currency = _accepted_cells(table, "currency", is_accepted)
    return pa.table(
        {
            "business_no": pc.binary_join_element_wise(prefix, digits, ""),
            "file_id": _repeat(int(receipt.file_id), n, pa.int64()),
            "client_id": _repeat(receipt.client_id, n, pa.string()),
            "file_type": _repeat(btype.code, n, pa.string()),
            "business_date": _repeat(receipt.business_date, n, pa.string()),
            "line_no": line_no,
            "client_ref": table["client_ref"].combine_chunks(),
            "amount_cents": amount_cents,
            "currency": currency,
            "ack_status": pc.if_else(is_accepted, "ACCEPTED", "REJECTED"),
            "reason_codes": pa.array(codes, pa.string()),
            "state": pc.if_else(is_accepted, "VALIDATED", "REJECTED"),
            "payload": _json_objects(table),
            # The value date (PAY) of accepted rows as a column too: settlement orders by it.
            "value_date": _accepted_cells(table, "value_date", is_accepted),
            # And the payer's identity (PAY): the large-value report and structuring group by it.
            "payer_id_type": _accepted_cells(table, "payer_id_type", is_accepted),
            "payer_id_no": _accepted_cells(table, "payer_id_no", is_accepted),
        }
    )


def _accepted_cells(table: Any, column: str, is_accepted: Any) -> Any:
    """The column's cells of accepted rows, NULL for rejected rows (all NULL if the file type has
    no such column)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if column not in table.column_names:
        return pa.nulls(table.num_rows, pa.string())
    cells = table[column].combine_chunks()
    return pc.if_else(is_accepted, cells, pa.scalar(None, cells.type))


_CONTROL_CHARS = [chr(i) for i in range(32)]


def _escapes_needed(arr: Any) -> tuple[bool, bool]:
    """Whether a string array holds a backslash or quote, and a control character.

    Looks at the UTF-8 bytes directly (bytes below 0x80 never occur inside a multi-byte
    character), so the common case costs one vector comparison and no string kernel.
    """
    data = _bytes_of(arr)
    return bool(((data == 0x22) | (data == 0x5C)).any()), bool((data < 0x20).any())


def _json_objects(table: Any) -> Any:
    """One compact JSON object of the row's text cells per row (``{"col":"cell",...}``), vectorized.

    Same text as ``json.dumps(row, ensure_ascii=False, separators=(",", ":"))``: backslash, quote
    and control characters are escaped with arrow string kernels, column by column.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    pieces: list[Any] = []
    for i, column in enumerate(table.column_names):
        arr = table[column].combine_chunks()
        quote, control = _escapes_needed(arr)
        if quote:
            arr = pc.replace_substring(pc.replace_substring(arr, "\\", "\\\\"), '"', '\\"')
        if control:
            for ch in _CONTROL_CHARS:
                arr = pc.replace_substring(arr, ch, json.dumps(ch)[1:-1])
        key = ("{" if i == 0 else ",") + json.dumps(column, ensure_ascii=False) + ':"'
        pieces += [pa.scalar(key, arr.type), arr, pa.scalar('"', arr.type)]
    pieces.append(pa.scalar("}", pieces[1].type if pieces else pa.string()))
    return pc.binary_join_element_wise(*pieces, pa.scalar("", pieces[-1].type))


def _bytes_of(arr: Any) -> np.ndarray:
    """The UTF-8 bytes a string array's values occupy (a view on arrow's buffer, no copy)."""
    if len(arr) == 0 or arr.buffers()[2] is None:
        return np.zeros(0, dtype=np.uint8)
    import pyarrow as pa

    large = pa.types.is_large_string(arr.type)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64 if large else np.int32)
    start, end = int(offsets[arr.offset]), int(offsets[arr.offset + len(arr)])
    return np.frombuffer(arr.buffers()[2], dtype=np.uint8)[start:end]


_COPY_ESCAPES = [("\\", "\\\\"), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t")]


def _copy_text(records: Any) -> bytes:
    """The batch in PostgreSQL's COPY text format: tab-separated, ``\\N`` for NULL, and backslash,
    LF, CR and tab inside a value written as ``\\\\``, ``\\n``, ``\\r``, ``\\t``. Built with arrow
    kernels; a column is only rewritten when its bytes hold one of those characters."""
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = []
    for name in RECORD_COLUMNS:
        arr = records[name].combine_chunks()
        if not pa.types.is_large_string(arr.type):
            arr = pc.cast(arr, pa.large_string())
        data = _bytes_of(arr)
        if ((data == 0x5C) | (data < 0x20)).any():  # backslash or a control character (LF, CR, tab)
            for char, escaped in _COPY_ESCAPES:
                arr = pc.replace_substring(arr, char, escaped)
        columns.append(arr.fill_null("\\N") if arr.null_count else arr)
    return _joined_bytes(pc.binary_join_element_wise(*columns, pa.scalar("\t", pa.large_string())))


@contextmanager
def _record_loader(conn: Any) -> Iterator[Callable[[Any], None]]:
    """A function that bulk-loads arrow batches of records inside the caller's transaction.

    PostgreSQL (psycopg 3): one ``COPY ... FROM STDIN`` (text format, :func:`_copy_text`) held open
    for all the batches of a chunk, written by a worker thread (:func:`_in_background`), so the
    server ingests one batch while the next is built.
    SQLite: one ``executemany`` per batch with a prepared statement.
    """
    raw = conn.connection.driver_connection
    if conn.dialect.name != "postgresql":

        def insert(records: Any) -> None:
            columns = [records[c].to_pylist() for c in RECORD_COLUMNS]
            raw.executemany(db.sql("insert_records"), zip(*columns, strict=True))

        yield insert
        return
    with raw.cursor() as cur:
        if hasattr(cur, "copy_expert"):  # psycopg2: one COPY per batch
            yield lambda records: cur.copy_expert(db.sql("copy_records"), io.BytesIO(_copy_text(records)))
            return
        with cur.copy(db.sql("copy_records")) as copy, _in_background(copy.write) as send:
            yield lambda records: send(_copy_text(records))


@contextmanager
def _in_background(write: Callable[[bytes], None]) -> Iterator[Callable[[bytes], None]]:
    """``write`` run in a worker thread, one piece at a time, at most one piece waiting.

    For COPY: psycopg's ``write`` returns only once the server has taken most of the piece, so
    without this the server idles while the next batch is built, and the batch's building waits
    for the server. Memory: the piece being written and one waiting. An error of ``write`` is
    raised by the next call or at the end (the pieces after it are dropped, not written).
    """
    pieces: queue.Queue[bytes | None] = queue.Queue(maxsize=1)
    failed: list[BaseException] = []

    def work() -> None:
        while (piece := pieces.get()) is not None:
            if failed:
                continue
            try:
                write(piece)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                failed.append(exc)

    worker = threading.Thread(target=work, name="daybook-copy", daemon=True)
    worker.start()

    def send(piece: bytes) -> None:
        if failed:
            raise failed[0]
        pieces.put(piece)

    try:
        yield send
    finally:
        pieces.put(None)
        worker.join()
    if failed:
        raise failed[0]


# RFC 4180 (2.6): a field holding a comma, a double quote or a line break is quoted. A bare CR is
# a line break too: unquoted, it ends the record for a CSV reader (and for the contract's own
# parser), so the ack would lose a row. Python 3.11's csv writer with LF line ends leaves a bare CR
# unquoted, so the set is written here, not asked of it.
_ACK_QUOTE = ',"\r\n'


def _ack_lines(records: Any) -> bytes:
    """The batch's rows of ``<stem>.ack.csv`` (contract section 5): RFC 4180 minimal quoting, LF line
    ends. Only ``client_ref`` can need quoting (a rejected row echoes whatever the client sent); it is
    quoted when it holds a comma, a quote, a CR or an LF. The first run and the rerun
    (:func:`write_ack`) both write through here, so a rerun reproduces the ack byte for byte."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if records.num_rows == 0:
        return b""
    ref = pc.cast(records["client_ref"].combine_chunks(), pa.string())
    needs = pc.match_substring_regex(ref, "[" + re.escape(_ACK_QUOTE) + "]")
    if pc.any(needs).as_py():
        quoted = pc.binary_join_element_wise('"', pc.replace_substring(ref, '"', '""'), '"', "")
        ref = pc.if_else(needs, quoted, ref)
    line = pc.binary_join_element_wise(
        pc.cast(records["line_no"], pa.string()),
        ref,
        records["business_no"],
        records["ack_status"],
        records["reason_codes"],
        ",",
    )
    return _joined_bytes(line)


def _joined_bytes(lines: Any) -> bytes:
    """The strings of ``lines`` each followed by LF, as one bytes object (straight from arrow's buffers)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pc.binary_join_element_wise(lines, pa.scalar("\n", lines.type), pa.scalar("", lines.type))
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return _bytes_of(arr).tobytes()


ACK_COLUMNS = ("client_ref", "business_no", "ack_status", "reason_codes")  # text columns of select_ack_rows


def _ack_table(columns: dict[str, Any]) -> Any:
    """Rows of ``select_ack_rows`` (one sequence per column) as the arrow table :func:`_ack_lines` reads."""
    import pyarrow as pa

    text = {k: pa.array(columns[k], pa.string()).fill_null("") for k in ACK_COLUMNS}
    return pa.table({"line_no": pa.array(columns["line_no"], pa.int64()), **text})


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
                yield _ack_lines(_ack_table(dict(zip(keys, columns, strict=True))))

    key = _ack_key(receipt)
    open_store(settings().landing).put_stream(key, chunks())
    return key


def _ack_key(receipt: Any) -> str:
    return f"{receipt.folder}/outbox/{receipt.stem}.ack.csv"


def _spool_chunks(spool: Any) -> Iterator[bytes]:
    spool.seek(0)
    while data := spool.read(1 << 20):
        yield data


def _judged(
    chunks: Iterator[rowread.Chunk],
    runner: SuiteRunner,
    btype: business_types.BusinessType,
    then: Callable[[], None],
) -> Iterator[tuple[rowread.Chunk, np.ndarray, pd.Series, pd.Series]]:
    """Each chunk with what the suite says of it: its rows' code bits, client_refs and exact cents.

    ``then`` runs once every chunk has been judged, before the generator ends: the file's Data
    Docs are rendered there, so that with :func:`_ahead` they are built while the last chunk's
    rows are still being written."""
    from daybook.checks import to_cents

    for chunk in chunks:
        frame = chunk.frame()
        bits = runner.run(frame)
        yield chunk, bits, frame["client_ref"], to_cents(frame[btype.amount_column])
    then()


_END = object()


def _ahead(items: Iterator[Any]) -> Iterator[Any]:
    """The same items, the next one computed in a worker thread while the caller uses the current one.

    With PostgreSQL, writing a chunk mostly waits for the server (COPY, index upkeep): the suite
    runs on the next chunk meanwhile. Memory holds two chunks. (Not for SQLite: its driver gives up
    and takes back the interpreter lock for every row, which a busy second thread would stall.)
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="daybook-validation") as pool:
        pending = pool.submit(next, items, _END)
        while (item := pending.result()) is not _END:
            pending = pool.submit(next, items, _END)
            yield item


def migrate_v011(conn: Any) -> None:
    """Follow-up of schema version 11 (sql/schema/V011__records_bulk_load.sql).

    PostgreSQL: drop the foreign key of records to files (a per-row trigger in the bulk load).
    SQLite keeps it (a rowid lookup there, no measurable cost; dropping it means rebuilding the
    table and those that refer to it).
    """
    if conn.dialect.name == "postgresql":
        db.drop_foreign_keys_postgresql(conn, "records", "files")


class _ErrorRate(Exception):
    """Raised inside the staging transaction to roll back every row of a refused file."""


def validate_file(file_id: int, claims: _Claims | None = None, index: int = 0) -> dict[str, Any]:
    """Validate one intake-accepted file; publish its rows or refuse it with F_ERROR_RATE.

    ``claims``: the file is validated beside other files of its client (:func:`_validate_files`)
    as the ``index``-th of them: it claims each chunk's refs before writing them and becomes
    final only in its turn (:class:`_Overlap` when it must be validated again, rolled back).

    Write, audit, publish: chunks are validated and their rows written inside one transaction;
    if the share of rejected rows is above the client's threshold the transaction is rolled
    back (no row of the file is published) and ``<stem>.rej`` is written instead of the ack.
    The ack is spooled to a local temporary file as the rows are written and put in the outbox
    only after the commit.
    """
    s = settings()
    with db.begin() as conn:
        receipt = db.run(conn, "select_receipt", {"file_id": file_id}).one()
        encoding = db.run(conn, "select_file_encoding", {"file_id": file_id}).scalar()
    if receipt.status == "VALIDATED":
        write_ack(file_id)
        return {"file_id": file_id, "status": "VALIDATED", "rerun": True}
    if receipt.status != "INTAKE_OK":
        return {"file_id": file_id, "status": receipt.status, "rerun": True}
    if receipt.record_count is not None:
        # A file accepted before intake refused files of more than 999,999 rows: its rows cannot all
        # be numbered (contract section 5), so it gets intake's F_TOO_LARGE answer instead of an ack.
        try:
            check_row_limit(int(receipt.record_count), business_types.MAX_LINE_NO)
        except FileRejection as rejection:
            return {**_answer_refusal(receipt, rejection), "rows": 0, "rejected": 0}

    profile = profiles.load(receipt.client_id)
    btype = business_types.get(receipt.file_type)
    day = date.fromisoformat(receipt.business_date)
    runner = SuiteRunner(rules_for(btype.code, profile, day), receipt.stem)
    n = rejected = 0
    threshold = profile.error_rate_threshold
    with (
        tempfile.TemporaryFile(prefix="daybook-ack-") as spool,
        tempfile.TemporaryDirectory(prefix="daybook-docs-") as tmp,
    ):
        docs = Path(tmp)
        spool.write((",".join(ACK_HEADER) + "\n").encode("utf-8"))
        try:
            with db.begin() as conn:
                db.run(conn, "delete_records_of_file", {"file_id": file_id})
                judged = _judged(
                    _chunks(open_store(s.raw), receipt, btype, encoding),
                    runner,
                    btype,
                    then=lambda: runner.write_docs(docs),
                )
                if conn.dialect.name == "postgresql":
                    judged = _ahead(judged)
                for chunk, bits, refs, cents in judged:
                    if claims is not None:
                        claims.claim(index, refs)
                    dup = _duplicates(conn, receipt.client_id, refs)
                    bits |= dup.astype(np.int32) * CODE_BIT["R_DUPLICATE_REF"]
                    codes = code_strings(bits)
                    with _record_loader(conn) as load:
                        for start in range(0, len(chunk), WRITE_ROWS):
                            stop = min(start + WRITE_ROWS, len(chunk))
                            records = _records(
                                chunk.table.slice(start, stop - start),
                                chunk.first_line + start,
                                codes[start:stop],
                                cents.iloc[start:stop],
                                receipt,
                                btype,
                            )
                            load(records)
                            spool.write(_ack_lines(records))
                    n += len(chunk)
                    rejected += int(np.count_nonzero(bits))
                if claims is not None:
                    claims.wait_turn(index)
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
                    conn,
                    "validation",
                    "file_validated",
                    receipt.name,
                    file_id=file_id,
                    rows=n,
                    rejected=rejected,
                )
        except _ErrorRate:
            _publish_docs(docs, receipt.business_date, receipt.stem)
            return {
                **_refuse(receipt, n, rejected, threshold),
                "data_docs": data_docs_link(receipt.business_date, receipt.stem),
            }
        _publish_docs(docs, receipt.business_date, receipt.stem)
        open_store(settings().landing).put_stream(_ack_key(receipt), _spool_chunks(spool))
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
    return {**_answer_refusal(receipt, rejection), "rows": n, "rejected": rejected}


def _answer_refusal(receipt: Any, rejection: FileRejection) -> dict[str, Any]:
    """Refuse an intake-accepted file as a whole: status REJECTED with the code, audit, ``<stem>.rej``."""
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
    return {"file_id": receipt.file_id, "status": "REJECTED", "code": rejection.code}


def _publish_docs(local: Path, business_date: str, stem: str) -> None:
    """Keep the file's rendered GX Data Docs with the day's outputs."""
    store = open_store(settings().outputs)
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        store.put(f"{business_date}/data_docs/{stem}/{path.relative_to(local).as_posix()}", path.read_bytes())


def data_docs_index(business_date: str, stem: str) -> str:
    """Where the Data Docs index of a file's validation is kept."""
    return open_store(settings().outputs).uri(f"{business_date}/data_docs/{stem}/index.html")


def data_docs_link(business_date: str, stem: str) -> str:
    """The Airflow UI path of a file's Data Docs (served by the daybook plugin), shown in the task's XCom."""
    return f"/daybook/data-docs/{business_date}/{stem}/index.html"
