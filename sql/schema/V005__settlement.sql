-- Settlement, version 5: the settlement plan, AML cases and decisions, large-value reports,
-- and reconciliation breaks.

-- The plan fixes, once per client and day, the order in which approved payments meet the
-- prefunded balance (value date, file, line) and each one's outcome: SETTLE or FUNDS
-- (H_FUNDS). Chunks of the plan are applied in their own transactions; a retried run resumes
-- the committed plan instead of planning again, so a crash never changes an outcome.
-- No foreign key to records: plan rows are derived from records in the same statement, and a
-- per-row FK check cost a third of the planning time at volume.
CREATE TABLE settlement_plan (
    business_no TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    business_date TEXT NOT NULL,
    ord BIGINT NOT NULL,
    value_date TEXT NOT NULL,
    amount_cents BIGINT NOT NULL,
    running_cents BIGINT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('SETTLE', 'FUNDS')),
    UNIQUE (client_id, business_date, ord)
);

-- One case per held record (sanctions hit or structuring); decisions need two distinct people.
CREATE TABLE aml_cases (
    business_no TEXT PRIMARY KEY REFERENCES records (business_no),
    client_id TEXT NOT NULL,
    business_date TEXT NOT NULL,
    rule TEXT NOT NULL CHECK (rule IN ('SANCTIONS', 'STRUCTURING')),
    detail TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('OPEN', 'RELEASED', 'BLOCKED', 'EXPIRED')),
    opened_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    closed_at TIMESTAMP
);
CREATE INDEX ix_aml_cases_day ON aml_cases (business_date, client_id, status);

CREATE TABLE aml_decisions (
    decision_id AUTO_ID,
    business_no TEXT NOT NULL REFERENCES aml_cases (business_no),
    decision TEXT NOT NULL CHECK (decision IN ('RELEASE', 'BLOCK')),
    decided_by TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    decided_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE (business_no, decided_by)
);

-- Large-value transaction reports (PBOC Order 2016 No. 3): one row per payer and day.
CREATE TABLE aml_large_value (
    client_id TEXT NOT NULL,
    business_date TEXT NOT NULL,
    payer_id_type TEXT NOT NULL,
    payer_id_no TEXT NOT NULL,
    payments INTEGER NOT NULL,
    total_cents BIGINT NOT NULL,
    PRIMARY KEY (client_id, business_date, payer_id_type, payer_id_no)
);

-- Reconciliation breaks per client and day; an operator may explain one (then it no longer
-- stops the archive). A rerun replaces the unexplained breaks with the current ones.
CREATE TABLE recon_breaks (
    client_id TEXT NOT NULL,
    business_date TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    expected TEXT NOT NULL,
    actual TEXT NOT NULL,
    explained_by TEXT,
    explanation TEXT,
    PRIMARY KEY (client_id, business_date, kind, subject)
);
