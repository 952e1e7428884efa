"""Property: whatever bytes arrive as a data file, with a matching or an arbitrary control file or
none, intake never crashes. Each input ends registered as INTAKE_OK, or refused with a ``.rej``
holding a file-level code, or (no control file) waiting untouched in the inbox."""

from __future__ import annotations

import itertools

import pytest
import sqlalchemy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daybook import db, intake
from daybook.codes import CATALOGUE
from s3_fixtures import CLIENT, DAY, DAY8, PAY_HEADER, ctl, gz, sha

pytest_plugins = ["s3_fixtures"]
pytestmark = pytest.mark.integration

FILE_CODES = {code for code, (level, _) in CATALOGUE.items() if level == "file"}
_SEQ = itertools.count(1)

csv_like = st.lists(
    st.sampled_from(
        [
            ",".join(PAY_HEADER) + "\n",
            "a,b\n",
            '"x\ny",',
            "1.00",
            "\r\n",
            "\n",
            '"',
            ",",
            "张",
            "\xa0",
            "0.005",
        ]
    ),
    max_size=30,
).map(lambda parts: "".join(parts).encode())
data_bytes = st.one_of(
    st.binary(max_size=400), csv_like, csv_like.map(lambda b: b.decode().encode("gb18030"))
)
control_mode = st.sampled_from(["matching", "arbitrary", "none"])


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.mark.parametrize("store_kind", ["local"], indirect=True)
@given(
    data=data_bytes,
    compressed=st.booleans(),
    mode=control_mode,
    count=st.integers(0, 5),
    total=st.sampled_from(["0.00", "1.00", "0.01", "-1.00"]),
    junk=st.binary(max_size=80),
)
@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_any_bytes_end_registered_refused_or_waiting(
    business_db, intake_zones, data, compressed, mode, count, total, junk
):
    z = intake_zones
    seq = next(_SEQ)
    name = f"{CLIENT}_PAY_{DAY8}_{seq % 999 + 1:03d}.csv" + (".gz" if compressed else "")
    if seq > 999:
        pytest.fail("more examples than sequence numbers")
    stem = name.removesuffix(".gz").removesuffix(".csv")
    payload = gz(data) if compressed and data[:1] != b"\x1f" else data
    z.landing.put(f"{CLIENT}/inbox/{name}", payload)
    if mode == "matching":
        z.landing.put(f"{CLIENT}/inbox/{stem}.ctl", ctl(name, count, total, payload))
    elif mode == "arbitrary":
        z.landing.put(f"{CLIENT}/inbox/{stem}.ctl", junk)

    results = [intake.process_drop(d, DAY) for d in intake.list_drops(DAY)]

    with db.begin() as conn:
        rows = conn.execute(
            sqlalchemy.text("SELECT status, reason_code, sha256 FROM files WHERE name = :n"), {"n": name}
        ).all()
    if mode == "none":
        assert results == [] and rows == []
        assert z.landing.get(f"{CLIENT}/inbox/{name}") == payload, "waits untouched"
        z.landing.delete(f"{CLIENT}/inbox/{name}")  # tidy for the next example
        return
    assert [r["name"] for r in results] == [name]
    assert len(rows) == 1 and rows[0].sha256 == sha(payload)
    status, code = rows[0].status, rows[0].reason_code
    assert z.landing.list(f"{CLIENT}/inbox") == []
    if status == "INTAKE_OK":
        assert code is None and z.landing.get(f"{CLIENT}/processed/{name}") == payload
        assert not z.landing.exists(f"{CLIENT}/outbox/{stem}.rej")
    else:
        assert status == "REJECTED" and code in FILE_CODES
        line = z.landing.get(f"{CLIENT}/outbox/{stem}.rej").decode("utf-8")
        assert line.startswith(f"{code}|") and line.count("\n") == 1 and line.endswith("\n")
        assert z.landing.get(f"{CLIENT}/rejected/{name}") == payload
