"""Sanctions name matching: normalization and the documented threshold, against the sample list."""

from __future__ import annotations

import pytest

from daybook import aml


@pytest.fixture(scope="module")
def names() -> aml.SanctionsList:
    return aml.sanctions_list(aml.thresholds())


@pytest.mark.parametrize(
    "name,entry",
    [
        ("Boris Quentin Testenko", "S-0001"),  # exact
        ("TESTENKO, Boris Quentin", "S-0001"),  # case, punctuation, token order
        ("Boris Quentin Testenk", "S-0001"),  # one letter missing
        ("Ｂｏｒｉｓ　Ｑｕｅｎｔｉｎ　Ｔｅｓｔｅｎｋｏ", "S-0001"),  # full-width letters and space
        ("Jean Luc Exemplaire", "S-0004"),  # hyphen vs space
        ("Jéan-Luc Exemplairé", "S-0004"),  # accents
        ("northwind shadow trading l.l.c.", "S-0002"),
        ("欧阳测试", "S-0005"),
        ("欧阳 测试", "S-0005"),  # spaces stripped
        ("司马演示", "S-0007"),  # the list entry has a space
        ("虚构远洋贸易有限公司\u3000", "S-0006"),  # ideographic (full-width) space
    ],
)
def test_listed_names_hit(names, name, entry):
    hit = names.match(name)
    assert hit is not None and hit[0] == entry


@pytest.mark.parametrize(
    "name",
    ["Boris Johnson", "Quentin Tarantino", "欧阳测验", "测试", "张伟", "Northwind Traders", "", "Li Na"],
)
def test_other_names_do_not_hit(names, name):
    assert names.match(name) is None


def test_keys():
    assert aml.latin_key("O'Brien,  Mary-Ann") == "ann brien mary o"
    assert aml.chinese_key("欧阳 · 测试") == "欧阳测试"
    assert aml.chinese_key("ＡＢＣ公司") == "ABC公司"


def test_just_below_band_rounds_up_to_the_cent():
    t = aml.thresholds()
    assert t.natural_min_cents == 50_000_000 and t.entity_min_cents == 200_000_000
    assert t.low(50_000_000) == 45_000_000  # 10% below RMB 500,000.00 is RMB 450,000.00
    assert t.low(12_345) == 11_111  # 123.45 * 0.9 = 111.105 -> 111.11


def test_many_names_at_once_match_as_one_by_one(names):
    # The screening matches each distinct name of the day once; it must agree with match().
    batch = [
        "Boris Quentin Testenko",
        "TESTENKO, Boris Quentin",
        "Boris Quentin Testenk",
        "Boris Quentin Testenko",  # repeated
        "Jéan-Luc Exemplairé",
        "northwind shadow trading l.l.c.",
        "Northwind Traders",
        "Boris Johnson",
        "欧阳 测试",
        "虚构远洋贸易有限公司\u3000",
        "张伟",
        "",
        "!!!",
    ] + [f"Customer {i} Trading" for i in range(500)]
    got = names.match_many(batch)
    want = {n: names.match(n) for n in batch if names.match(n) is not None}
    assert got == want
    assert set(got) == {
        "Boris Quentin Testenko",
        "TESTENKO, Boris Quentin",
        "Boris Quentin Testenk",
        "Jéan-Luc Exemplairé",
        "northwind shadow trading l.l.c.",
        "欧阳 测试",
        "虚构远洋贸易有限公司\u3000",
    }
