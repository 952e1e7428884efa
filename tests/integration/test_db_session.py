"""Business-database sessions on PostgreSQL run without JIT compilation (daybook.db), the URL's
own libpq options kept before it."""

from __future__ import annotations

import pytest

from daybook import db

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_business_session_on_postgresql_has_jit_off(business_db):
    with db.begin() as conn:
        assert conn.exec_driver_sql("SHOW jit").scalar() == "off"


def test_the_urls_own_options_come_first_and_jit_off_last():
    assert db.postgresql_options("postgresql://u@h/d") == "-c jit=off"
    assert (
        db.postgresql_options("postgresql://u@h/d?options=-c%20search_path%3Dx")
        == "-c search_path=x -c jit=off"
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u@h/d", {"options": "-c jit=off"}),
        ("postgresql+psycopg://u@h/d", {"options": "-c jit=off"}),
        ("postgresql+pg8000://u@h/d", {}),  # not libpq: no such argument
        ("sqlite:///x.db", {}),
    ],
)
def test_connect_arguments_only_for_libpq_drivers(url, expected):
    assert db.postgresql_connect_args(url) == expected
