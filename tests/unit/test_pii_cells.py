"""pii.mask_cell: a personal column is masked whatever the form of its value (Data Docs show
values that failed validation, which need not look like numbers)."""

from __future__ import annotations

import pytest

from daybook import pii


@pytest.mark.parametrize(
    ("column", "value", "shown"),
    [
        ("payer_id_no", "510107196011240731", "510107********0731"),  # a RIC
        ("payer_id_no", "51010719601124073", "510107*******4073"),  # one digit short: still masked
        ("payee_account", "6222020200112233445", "622202*********3445"),
        ("payer_account", "0012345678", "******5678"),  # short account: last 4 only
        ("payee_account", "6222-0202-0011", "6222-0****0011"),  # not digits only: still masked
        ("phone", "13812345678", "138****5678"),
        ("phone", "1381234567X", "138****567X"),
        ("payer_name", "张伟", "张*"),
        ("purpose", "refund to 6222020200112233445", "refund to 622202*********3445"),
        ("amount", "12.50", "12.50"),
        ("payer_id_no", None, None),
    ],
)
def test_mask_cell(column, value, shown):
    assert pii.mask_cell(column, value) == shown
