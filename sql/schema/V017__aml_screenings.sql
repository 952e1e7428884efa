-- AML, version 17: what the last screening of a client's day covered.
--
-- Screening (aml.screen) holds the payments that hit the sanctions list or look like structuring
-- and leaves the others APPROVED; nothing on a record says it was screened. Settlement must never
-- post a payment that was not screened (a task cleared on its own, a late approval, a day whose
-- screening was skipped): at the end of each client's screening this row records the payments it
-- left approved as a fingerprint of that set (a count and three sums:
-- select_open_payments_fingerprint.sql), only when the set did not change while it was screened
-- (other than by its own holds), and the sha256 of the sanctions list it used.
-- Settlement's plan reads the same figures in its own statement; if they differ, the client's
-- day is screened again before anything is planned.
CREATE TABLE aml_screenings (
    client_id TEXT NOT NULL,
    business_date TEXT NOT NULL,
    payments BIGINT NOT NULL,
    amount_sum BIGINT NOT NULL,
    file_sum BIGINT NOT NULL,
    line_sum BIGINT NOT NULL,
    list_sha256 TEXT NOT NULL,
    screened_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (client_id, business_date)
);
