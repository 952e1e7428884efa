"""The archive's shortcuts give what the plain ways give: a copy hashed while copied has the
hash of the bytes written, a file moved into a local store (same filesystem or not) is the
object's bytes with nothing left behind, timestamps printed by casting are the text the regex
gives, the bulk connection's options reach libpq intact, and the CSV special-character check
agrees with a byte search."""

from __future__ import annotations

import errno
import hashlib
import os
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc
import pytest
import sqlalchemy
from hypothesis import given, settings
from hypothesis import strategies as st

from daybook import archive, arrowcsv
from daybook.storage import LocalStore

PROPS = settings(max_examples=200, deadline=None, database=None)


def test_a_copied_object_returns_the_sha256_and_size_of_the_bytes_it_wrote(tmp_path):
    source = LocalStore(str(tmp_path / "zone"))
    data = os.urandom(3 * archive.CHUNK_BYTES + 17)
    source.put("a/file.csv", data)
    target = tmp_path / "member"
    assert archive._copy_object(source, "a/file.csv")(target) == (hashlib.sha256(data).hexdigest(), len(data))
    assert target.read_bytes() == data
    assert archive._bytes(b"abc")(target) == (hashlib.sha256(b"abc").hexdigest(), 3)


def test_produced_hands_each_producers_result_over_before_its_member(tmp_path):
    made: dict = {}
    sources = {"b": archive._bytes(b"bee"), "a": lambda target: target.write_bytes(b"a") and None}
    seen = []
    for path, plain in archive._produced(sources, tmp_path, made):
        seen.append((path, plain.read_bytes(), made[path]))
    assert seen == [("a", b"a", None), ("b", b"bee", (hashlib.sha256(b"bee").hexdigest(), 3))]


@pytest.mark.parametrize("other_filesystem", [False, True])
def test_a_file_stored_in_a_local_store_is_the_object_and_leaves_no_temporary_behind(
    tmp_path, monkeypatch, other_filesystem
):
    store = LocalStore(str(tmp_path / "archive"))
    store.put("C/2026-11-27/ledger.csv", b"old bytes")  # a rerun replaces the object
    plain = tmp_path / "work" / "member-3"
    plain.parent.mkdir()
    data = os.urandom(archive.CHUNK_BYTES + 5)
    plain.write_bytes(data)
    if other_filesystem:
        real_replace = os.replace

        def replace(src, dst):
            if str(src) == str(plain):
                raise OSError(errno.EXDEV, "Invalid cross-device link")
            return real_replace(src, dst)

        monkeypatch.setattr(archive.os, "replace", replace)
    archive._store_file(store, "C/2026-11-27/ledger.csv", plain, "2036-11-27")
    assert store.get("C/2026-11-27/ledger.csv") == data
    assert store.list("C/") == ["C/2026-11-27/ledger.csv"]
    assert sorted(p.name for p in (tmp_path / "archive" / "C" / "2026-11-27").iterdir()) == ["ledger.csv"]
    assert plain.exists() == other_filesystem  # moved when it could be, copied otherwise


def test_a_file_that_cannot_be_moved_for_another_reason_raises(tmp_path, monkeypatch):
    store = LocalStore(str(tmp_path / "archive"))
    plain = tmp_path / "member"
    plain.write_bytes(b"x")

    def replace(src, dst):
        raise OSError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(archive.os, "replace", replace)
    with pytest.raises(PermissionError):
        archive._store_file(store, "C/x.csv", plain, None)


TIMESTAMPS = st.lists(
    st.one_of(
        st.none(),
        st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 31)),
        st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31)).map(
            lambda d: d.replace(microsecond=0)
        ),
    ),
    max_size=12,
)


@PROPS
@given(TIMESTAMPS)
def test_timestamps_print_as_python_prints_them_whether_or_not_any_has_a_fraction(values):
    column = pa.array(values, pa.timestamp("us"))
    expected = [None if v is None else str(v) for v in values]
    assert archive._timestamp_text(column).to_pylist() == expected
    assert (
        archive._timestamp_text(column).to_pylist()
        == pc.replace_substring_regex(column.cast(pa.string()), r"\.000000$", "").to_pylist()
    )


@PROPS
@given(st.binary(max_size=64))
def test_the_special_character_check_finds_exactly_the_buffers_holding_one(data):
    expected = any(chr(b) in arrowcsv.SPECIALS for b in data)
    assert arrowcsv._any_special(pa.py_buffer(data)) == expected


def test_the_bulk_connection_gets_pgoptions_the_urls_options_no_jit_and_the_querys_settings(monkeypatch):
    monkeypatch.setenv("PGOPTIONS", "-c log_min_duration_statement=100")
    url = sqlalchemy.URL.create(
        "postgresql+psycopg",
        username="u",
        password="p@ss",  # a character the URI must escape
        host="db",
        port=5432,
        database="daybook",
        query={"options": "-c work_mem=64MB", "sslmode": "disable"},
    )
    uri = archive._bulk_uri(url, "select_records_of_file")
    assert "+" not in uri.partition("options=")[2], "libpq does not read + as a space"
    parsed = sqlalchemy.make_url(uri)
    assert parsed.drivername == "postgresql" and parsed.password == "p@ss"
    assert parsed.query["sslmode"] == "disable"
    assert parsed.query["options"] == (
        "-c log_min_duration_statement=100 -c work_mem=64MB -c jit=off -c enable_sort=off"
    )
    monkeypatch.delenv("PGOPTIONS")
    plain = sqlalchemy.make_url(archive._bulk_uri(sqlalchemy.make_url("postgresql://u@db/d"), "other"))
    assert plain.query["options"] == "-c jit=off"
