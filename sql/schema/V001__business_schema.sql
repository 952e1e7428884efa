-- daybook business database, version 1. Runs unchanged on SQLite and PostgreSQL;
-- AUTO_ID is the only dialect token (INTEGER PRIMARY KEY on SQLite, identity on PostgreSQL).
-- Business dates are ISO 'YYYY-MM-DD' text so both engines compare and return them alike.

CREATE TABLE profile_versions (
    client_id TEXT NOT NULL,
    version TEXT NOT NULL,
    content TEXT NOT NULL,
    first_seen_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (client_id, version)
);

CREATE TABLE business_days (
    business_date TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('OPEN', 'CLOSED')),
    closed_at TIMESTAMP
);

CREATE TABLE files (
    file_id AUTO_ID,
    folder TEXT NOT NULL,
    name TEXT NOT NULL,
    stem TEXT NOT NULL,
    client_id TEXT,
    file_type TEXT,
    business_date TEXT,
    seq TEXT,
    -- the business date of the intake run that received the file (names its archive package)
    intake_date TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    raw_key TEXT NOT NULL,
    control_raw_key TEXT,
    -- original = 1 once the file passed its control and checksum checks and is not a duplicate:
    -- only originals count as "already received" for F_DUPLICATE.
    original INTEGER NOT NULL DEFAULT 0,
    duplicate_of BIGINT REFERENCES files (file_id),
    status TEXT NOT NULL,
    -- inbox_done = 1 once the inbox copy was moved to processed/ or rejected/.
    inbox_done INTEGER NOT NULL DEFAULT 0,
    reason_code TEXT,
    message TEXT,
    encoding TEXT,
    record_count INTEGER,
    amount_total_cents BIGINT,
    profile_version TEXT,
    received_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
-- One original per stem and per content for each client folder; later arrivals are F_DUPLICATE receipts.
CREATE UNIQUE INDEX ux_files_stem ON files (folder, stem) WHERE original = 1;
CREATE UNIQUE INDEX ux_files_sha ON files (folder, sha256) WHERE original = 1;
CREATE INDEX ix_files_day ON files (business_date, status);
CREATE INDEX ix_files_intake_day ON files (intake_date, folder);

CREATE TABLE records (
    business_no TEXT PRIMARY KEY,
    file_id BIGINT NOT NULL REFERENCES files (file_id),
    client_id TEXT NOT NULL,
    file_type TEXT NOT NULL,
    business_date TEXT NOT NULL,
    line_no INTEGER NOT NULL,
    client_ref TEXT NOT NULL,
    amount_cents BIGINT,
    currency TEXT,
    ack_status TEXT NOT NULL CHECK (ack_status IN ('ACCEPTED', 'REJECTED')),
    reason_codes TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL,
    tier TEXT,
    rule_version TEXT,
    final_code TEXT,
    final_date TEXT,
    payload TEXT NOT NULL,
    UNIQUE (file_id, line_no)
);
-- client_ref is unique per client for ever among accepted rows (contract section 4).
CREATE UNIQUE INDEX ux_records_ref ON records (client_id, client_ref) WHERE ack_status = 'ACCEPTED';
CREATE INDEX ix_records_day_state ON records (business_date, state);

CREATE TABLE approvals (
    approval_id AUTO_ID,
    business_no TEXT NOT NULL REFERENCES records (business_no),
    level INTEGER NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('APPROVE', 'DECLINE')),
    decided_by TEXT NOT NULL,
    opinion TEXT NOT NULL DEFAULT '',
    rule_version TEXT,
    decided_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE (business_no, level),
    UNIQUE (business_no, decided_by)
);

CREATE TABLE ledger_entries (
    entry_id AUTO_ID,
    business_no TEXT NOT NULL REFERENCES records (business_no),
    leg TEXT NOT NULL CHECK (leg IN ('D', 'C')),
    client_id TEXT NOT NULL,
    business_date TEXT NOT NULL,
    account TEXT NOT NULL,
    amount_cents BIGINT NOT NULL CHECK (amount_cents > 0),
    posted_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE (business_no, leg)
);
CREATE INDEX ix_ledger_day ON ledger_entries (business_date, client_id);

CREATE TABLE audit_events (
    event_id AUTO_ID,
    at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE alert_events (
    alert_id AUTO_ID,
    at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    dedup_key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL,
    client_id TEXT,
    business_date TEXT,
    message TEXT NOT NULL
);

CREATE TABLE archives (
    client_id TEXT NOT NULL,
    business_date TEXT NOT NULL,
    location TEXT NOT NULL,
    manifest_sha256 TEXT NOT NULL,
    members INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (client_id, business_date)
);
