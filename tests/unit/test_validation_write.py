"""The rows validation writes are built with arrow kernels; they must equal the standard library's.

- ack lines (contract section 5): RFC 4180 minimal quoting (a field with a comma, quote, CR or LF is
  quoted; the reference is Python's csv writer with CRLF line ends, which quotes a bare CR too, each
  line end then written as LF), for any client_ref a client sends, and read back as sent;
- the records' JSON payload: ``json.dumps(row, ensure_ascii=False, separators=(",", ":"))``.
"""

from __future__ import annotations

import csv
import io
import json
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daybook import business_types, validation
from daybook.business_types import PAY
from daybook.checks import to_cents

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=10)
tricky = st.sampled_from(["", ",", '"', "\r", "\n", "\r\n", "a,b", 'x"y', " ", "\\", "\t", "\x00", "王伟"])
values = st.one_of(text, tricky)
CODES = ["", "R_AMOUNT", "R_REQUIRED;R_FORMAT", "R_DUPLICATE_REF"]


def _batch(rows: list[dict[str, str]], codes: list[str], first_line: int):
    table = pa.table({c: pa.array([r[c] for r in rows], pa.string()) for c in rows[0]})
    receipt = SimpleNamespace(client_id="BANKA", business_date="2026-11-27", seq="007", file_id=42)
    frame = table.to_pandas()
    return validation._records(
        table, first_line, np.array(codes, dtype=object), to_cents(frame["amount"]), receipt, PAY
    )


@settings(max_examples=200, deadline=None)
@given(
    refs=st.lists(values, min_size=1, max_size=20),
    first_line=st.sampled_from([1, 999_980]),  # up to 20 rows: the last can be 999,999
    data=st.data(),
)
def test_ack_lines_equal_pythons_csv_writer(refs: list[str], first_line: int, data):
    codes = [data.draw(st.sampled_from(CODES)) for _ in refs]
    rows = [{"client_ref": r, "amount": "1.00", "currency": "CNY"} for r in refs]
    got = validation._ack_lines(_batch(rows, codes, first_line))
    expected = []
    for i, (ref, c) in enumerate(zip(refs, codes, strict=True)):
        line = first_line + i
        buf = io.StringIO()
        row = [line, ref, f"BANKA-PAY-20261127-007-{line:06d}", "REJECTED" if c else "ACCEPTED", c]
        csv.writer(buf, lineterminator="\r\n").writerow(row)
        expected.append(buf.getvalue().removesuffix("\r\n") + "\n")
    assert got == "".join(expected).encode("utf-8")
    back = list(csv.reader(io.StringIO(got.decode("utf-8"), newline="")))
    assert [r[1] for r in back] == refs, "every ref reads back as sent, one line per row"


def test_the_last_line_number_a_business_number_can_carry_is_999999():
    rows = [{"client_ref": f"R{i}", "amount": "1.00", "currency": "CNY"} for i in range(2)]
    records = _batch(rows, ["", ""], 999_998)
    assert records["business_no"].to_pylist() == [
        "BANKA-PAY-20261127-007-999998",
        "BANKA-PAY-20261127-007-999999",
    ]


@pytest.mark.parametrize(("first_line", "n"), [(999_999, 2), (1_000_000, 1), (1_000_001, 20), (0, 1)])
def test_no_row_is_numbered_outside_the_six_digit_line_part(first_line, n):
    """Contract section 5: the line part has 6 digits. A batch reaching line 1,000,000 (or a line 0)
    is refused whole, never written with a 7-digit (or a 000000) number."""
    rows = [{"client_ref": f"R{i}", "amount": "1.00", "currency": "CNY"} for i in range(n)]
    with pytest.raises(business_types.LineNumberOutOfRange, match="6 digits"):
        _batch(rows, [""] * n, first_line)


@pytest.mark.parametrize("line_no", [0, -1, 1_000_000, 12_345_678])
def test_business_no_refuses_a_line_number_of_other_than_6_digits(line_no):
    with pytest.raises(business_types.LineNumberOutOfRange):
        business_types.business_no("BANKA", "PAY", "2026-11-27", "007", line_no)


def test_business_no_of_the_first_and_last_line():
    assert (
        business_types.business_no("BANKA", "PAY", "2026-11-27", "007", 1) == "BANKA-PAY-20261127-007-000001"
    )
    assert business_types.business_no("BANKA", "PAY", "2026-11-27", "007", 999_999) == (
        "BANKA-PAY-20261127-007-999999"
    )


def test_ack_quotes_a_client_ref_holding_a_bare_cr():
    """An unquoted CR ends a CSV record: the ack would show two broken lines for one row."""
    rows = [{"client_ref": r, "amount": "1.00", "currency": "CNY"} for r in ["A\rB", "C"]]
    got = validation._ack_lines(_batch(rows, ["R_FORMAT", ""], 1))
    assert got == (
        b'1,"A\rB",BANKA-PAY-20261127-007-000001,REJECTED,R_FORMAT\n'
        b"2,C,BANKA-PAY-20261127-007-000002,ACCEPTED,\n"
    )


@settings(max_examples=200, deadline=None)
@given(cells=st.lists(st.tuples(values, values), min_size=1, max_size=20))
def test_payload_is_the_rows_compact_json(cells: list[tuple[str, str]]):
    rows = [{"client_ref": a, "amount": "12.50", "payer_name": b, "currency": "CNY"} for a, b in cells]
    records = _batch(rows, [""] * len(rows), 1)
    expected = [json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in rows]
    assert records["payload"].to_pylist() == expected


def test_only_accepted_rows_carry_amount_and_currency():
    rows = [{"client_ref": f"R{i}", "amount": a, "currency": "CNY"} for i, a in enumerate(["1.05", "2", "x"])]
    records = _batch(rows, ["", "R_CURRENCY", "R_AMOUNT"], 5)
    assert records["amount_cents"].to_pylist() == [105, None, None]
    assert records["currency"].to_pylist() == ["CNY", None, None]
    assert records["ack_status"].to_pylist() == ["ACCEPTED", "REJECTED", "REJECTED"]
    assert records["state"].to_pylist() == ["VALIDATED", "REJECTED", "REJECTED"]
    assert records["business_no"].to_pylist() == [f"BANKA-PAY-20261127-007-{n:06d}" for n in (5, 6, 7)]
    assert records["line_no"].to_pylist() == [5, 6, 7]


def test_accepted_payments_carry_their_value_date_as_a_column():
    rows = [
        {"client_ref": "R1", "amount": "1.00", "value_date": "2026-11-30"},
        {"client_ref": "R2", "amount": "2.00", "value_date": "2026-13-01"},
        {"client_ref": "R3", "amount": "3.00", "value_date": "2026-11-27"},
    ]
    records = _batch(rows, ["", "R_DATE", ""], 1)
    assert records["value_date"].to_pylist() == ["2026-11-30", None, "2026-11-27"]
    # A file type without the column (a loan file): NULL throughout, not an error.
    loans = _batch([{"client_ref": "L1", "amount": "5.00"}], [""], 1)
    assert loans["value_date"].to_pylist() == [None]


def test_accepted_payments_carry_their_payer_identity_as_columns():
    rows = [
        {"client_ref": "R1", "amount": "1.00", "payer_id_type": "RIC", "payer_id_no": "11010519491231002X"},
        {"client_ref": "R2", "amount": "2.00", "payer_id_type": "RIC", "payer_id_no": "110105194912310021"},
        {"client_ref": "R3", "amount": "3.00", "payer_id_type": "USCC", "payer_id_no": "91350100M000100Y43"},
    ]
    records = _batch(rows, ["", "R_ID_CHECKSUM", ""], 1)
    assert records["payer_id_type"].to_pylist() == ["RIC", None, "USCC"]
    assert records["payer_id_no"].to_pylist() == ["11010519491231002X", None, "91350100M000100Y43"]
    loans = _batch([{"client_ref": "L1", "amount": "5.00"}], [""], 1)
    assert loans["payer_id_type"].to_pylist() == [None] and loans["payer_id_no"].to_pylist() == [None]


def _copy_text_oracle(value) -> str:
    """PostgreSQL's COPY text format for one value, written from its documentation."""
    if value is None:
        return "\\N"
    text = str(value)
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")


@settings(max_examples=200, deadline=None)
@given(refs=st.lists(values, min_size=1, max_size=20), data=st.data())
def test_copy_text_follows_postgresqls_text_format(refs: list[str], data):
    codes = [data.draw(st.sampled_from(CODES)) for _ in refs]
    rows = [{"client_ref": r, "amount": "3.10", "payer_name": r, "currency": "CNY"} for r in refs]
    records = _batch(rows, codes, 1)
    expected = "".join(
        "\t".join(_copy_text_oracle(v) for v in row.values()) + "\n"
        for row in records.select(validation.RECORD_COLUMNS).to_pylist()
    )
    assert validation._copy_text(records) == expected.encode("utf-8")


def test_in_background_writes_every_piece_in_order_before_it_ends():
    written: list[bytes] = []
    with validation._in_background(written.append) as send:
        for i in range(50):
            send(b"%d" % i)
    assert written == [b"%d" % i for i in range(50)]


def test_in_background_hands_a_write_error_to_the_caller_and_drops_later_pieces():
    import pytest

    written: list[bytes] = []

    def write(piece: bytes) -> None:
        if piece == b"boom":
            raise ValueError("server said no")
        written.append(piece)

    with pytest.raises(ValueError, match="server said no"), validation._in_background(write) as send:
        send(b"a")
        send(b"boom")
        send(b"after")  # may be queued before the error is seen: never written
        send(b"later")
    assert written == [b"a"]


def test_in_background_holds_at_most_one_piece_waiting():
    """While the writer is busy with one piece and one waits, a third ``send`` blocks (memory is
    bounded by two pieces), and goes through once the writer moves on."""
    import threading

    release = threading.Event()
    started = threading.Event()
    written: list[bytes] = []

    def write(piece: bytes) -> None:
        started.set()
        release.wait(10)
        written.append(piece)

    with validation._in_background(write) as send:
        send(b"1")
        assert started.wait(10)
        send(b"2")  # waits in the queue
        third = threading.Thread(target=send, args=(b"3",))
        third.start()
        third.join(0.3)
        assert third.is_alive(), "a third piece was accepted while two were pending"
        release.set()
        third.join(10)
        assert not third.is_alive()
    assert written == [b"1", b"2", b"3"]


def test_in_background_stops_its_worker_when_the_caller_fails():
    import threading

    import pytest

    before = {t.name for t in threading.enumerate()}
    with pytest.raises(RuntimeError), validation._in_background(lambda piece: None) as send:
        send(b"x")
        raise RuntimeError("caller failed")
    assert "daybook-copy" not in {t.name for t in threading.enumerate()} - before
