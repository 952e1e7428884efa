"""A realistic sample business day: two clients, PAY and LOAN files, a few bad rows, bad files.

Deterministic for a business date (seeded), so the demo and the tests see the same day.
Check characters are computed with python-stdnum, independently of daybook's own checks.
"""

from __future__ import annotations

import csv
import hashlib
import io
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from stdnum import luhn
from stdnum.cn import ric, uscc

from daybook.business_types import LOAN, PAY
from daybook.storage import Store

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = [
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "磊",
    "洋",
    "艳",
    "勇",
    "军",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀英",
    "建华",
    "晓东",
]
COMPANIES = [
    "华信贸易有限公司",
    "东方电子科技有限公司",
    "长江物流股份有限公司",
    "新星食品有限公司",
    "远航建材有限公司",
]
REGIONS = ["110101", "310104", "440305", "330106", "510107", "420106", "320102", "370202"]
BANK_CODES = ["102100099996", "103100000026", "104100000004", "105100000017", "308584000013"]


def make_ric(rng: random.Random, birth: date) -> str:
    body = f"{rng.choice(REGIONS)}{birth:%Y%m%d}{rng.randint(0, 999):03d}"
    return body + ric.calc_check_digit(body + "0")  # stdnum expects a placeholder check digit


def make_uscc(rng: random.Random) -> str:
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    body = "91" + rng.choice(REGIONS) + "".join(rng.choice(alphabet) for _ in range(9))
    return body + uscc.calc_check_digit(body)


def make_card(rng: random.Random, length: int = 19, prefix: str = "622202") -> str:
    body = prefix + "".join(str(rng.randint(0, 9)) for _ in range(length - len(prefix) - 1))
    return body + luhn.calc_check_digit(body)


def make_account(rng: random.Random, length: int = 16) -> str:
    return "".join(str(rng.randint(0, 9)) for _ in range(length))


def person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


@dataclass
class SampleFile:
    client_id: str
    type_code: str
    seq: str
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    # Deliberate file-level defect for the demo: "total" writes a wrong control total.
    defect: str | None = None


def _pay_rows(
    rng: random.Random, client_id: str, day: date, n: int, currencies: list[str]
) -> list[list[str]]:
    rows = []
    for i in range(1, n + 1):
        corporate = rng.random() < 0.3
        payer_id_type = "USCC" if corporate else "RIC"
        payer_id = (
            make_uscc(rng)
            if corporate
            else make_ric(rng, date(rng.randint(1950, 2000), rng.randint(1, 12), rng.randint(1, 28)))
        )
        card = rng.random() < 0.6
        amount = Decimal(
            rng.choice([rng.randint(100, 30000), rng.randint(30000, 400000), rng.randint(1000000, 1500000)])
        )
        amount += Decimal(rng.randint(0, 99)) / 100
        rows.append(
            [
                f"{client_id}P{day:%Y%m%d}{i:05d}",
                (day + timedelta(days=rng.choice([0, 0, 0, 1, 2]))).isoformat(),
                make_account(rng, 19),
                rng.choice(COMPANIES) if corporate else person(rng),
                payer_id_type,
                payer_id,
                "CARD" if card else "ACCOUNT",
                make_card(rng) if card else make_account(rng, 17),
                person(rng),
                rng.choice(BANK_CODES),
                f"{amount:.2f}",
                rng.choice(currencies),
                rng.choice(["工资", "货款", "服务费", "", "rent, March"]),
            ]
        )
    return rows


def _loan_rows(rng: random.Random, client_id: str, day: date, n: int) -> list[list[str]]:
    rows = []
    for i in range(1, n + 1):
        product = rng.choice(["PERSONAL", "MORTGAGE", "SME"])
        sme = product == "SME"
        amount = Decimal(rng.randint(20000, 300000 if product != "MORTGAGE" else 2000000))
        card = rng.random() < 0.5
        rows.append(
            [
                f"{client_id}L{day:%Y%m%d}{i:05d}",
                rng.choice(COMPANIES) if sme else person(rng),
                "USCC" if sme else "RIC",
                make_uscc(rng)
                if sme
                else make_ric(rng, date(rng.randint(1960, 2000), rng.randint(1, 12), rng.randint(1, 28))),
                "" if sme else f"1{rng.choice('3456789')}{rng.randint(0, 999999999):09d}",
                product,
                f"{amount:.2f}",
                str(rng.choice([12, 24, 36, 60, 120, 240, 360])),
                f"{rng.randint(60000, 900000)}.00",
                f"{amount * Decimal('1.6'):.2f}" if product == "MORTGAGE" else "",
                str(rng.randint(520, 850)),
                "CARD" if card else "ACCOUNT",
                make_card(rng) if card else make_account(rng, 18),
            ]
        )
    return rows


PAY_HEADER = [*PAY.required, *PAY.optional]
LOAN_HEADER = [
    "client_ref",
    "applicant_name",
    "applicant_id_type",
    "applicant_id_no",
    "phone",
    "product_code",
    "loan_amount",
    "term_months",
    "annual_income",
    "collateral_value",
    "credit_score",
    "disbursement_account_type",
    "disbursement_account",
]


def business_day_files(day: date) -> list[SampleFile]:
    """The demo day's files with a few deliberately bad rows and one bad file."""
    rng = random.Random(f"daybook-sample-{day.isoformat()}")
    banka_pay = SampleFile("BANKA", "PAY", "001", PAY_HEADER, _pay_rows(rng, "BANKA", day, 40, ["CNY"]))
    # A few rows a client's export gets wrong: each is rejected on its own, the file goes on.
    payer_id = banka_pay.rows[3][5]
    banka_pay.rows[3][5] = payer_id[:-1] + ("1" if payer_id[-1] != "1" else "2")  # wrong check character
    banka_pay.rows[7][10] = "12.345"  # three decimals
    banka_pay.rows[11][9] = "10210009999"  # 11-digit CNAPS
    banka_pay.rows[15][0] = banka_pay.rows[2][0]  # client_ref repeated
    banka_pay.rows[19][11] = "USD"  # not accepted for this client
    banka_loan = SampleFile("BANKA", "LOAN", "001", LOAN_HEADER, _loan_rows(rng, "BANKA", day, 15))
    banka_loan.rows[4][10] = "950"  # credit score out of range
    banka_loan.rows[6][1] = ""  # applicant name missing
    trustb_pay = SampleFile(
        "TRUSTB", "PAY", "001", PAY_HEADER, _pay_rows(rng, "TRUSTB", day, 25, ["CNY", "USD"])
    )
    trustb_pay.rows[5][1] = (day - timedelta(days=1)).isoformat()  # value date before the business date
    trustb_bad = SampleFile(
        "TRUSTB", "PAY", "002", PAY_HEADER, _pay_rows(rng, "TRUSTB", day, 10, ["CNY"]), defect="total"
    )
    return [banka_pay, banka_loan, trustb_pay, trustb_bad]


def csv_bytes(header: list[str], rows: list[list[str]], crlf: bool = False, encoding: str = "utf-8") -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n" if crlf else "\n").writerows([header, *rows])
    return buf.getvalue().encode(encoding)


def control_line(name: str, data: bytes, rows: list[list[str]], amount_index: int) -> bytes:
    """A control file as a client writes it (amount total per contract section 3)."""
    from daybook.fileformat import amount_total_cents

    cents = amount_total_cents(r[amount_index] for r in rows)
    sign = "-" if cents < 0 else ""
    total = f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"
    return f"{name}|{len(rows)}|{total}|{hashlib.sha256(data).hexdigest()}\n".encode()


def drop(landing: Store, f: SampleFile, day: date, *, encoding: str = "utf-8") -> str:
    """Write a data file and its control file into the client's inbox (control file last)."""
    name = f"{f.client_id}_{f.type_code}_{day:%Y%m%d}_{f.seq}.csv"
    data = csv_bytes(f.header, f.rows, crlf=f.client_id == "TRUSTB", encoding=encoding)
    amount_index = f.header.index(PAY.amount_column if f.type_code == "PAY" else LOAN.amount_column)
    control = control_line(name, data, f.rows, amount_index)
    if f.defect == "total":
        fields = control.decode().split("|")
        fields[2] = f"{Decimal(fields[2]) + Decimal('100.00'):.2f}"
        control = "|".join(fields).encode()
    landing.put(f"{f.client_id}/inbox/{name}", data)
    landing.put(f"{f.client_id}/inbox/{name[:-4]}.ctl", control)
    return name


def generate_day(landing: Store, day: date) -> list[str]:
    """Drop the whole sample day into the landing zone; returns the names dropped."""
    names = [drop(landing, f, day) for f in business_day_files(day)]
    # A file whose name breaks the naming rule (two-digit sequence): answered with F_NAME.
    bad = f"BANKA_PAY_{day:%Y%m%d}_01.csv"
    landing.put(f"BANKA/inbox/{bad}", csv_bytes(PAY_HEADER, []))
    names.append(bad)
    return names
