-- Settlement, version 9: posting a day of a million payments without per-row overhead.
--
-- 1. The index of records on (business_date, state) becomes an index on (business_date,
--    client_id). A record's state changes at every stage (approval, settlement); while state
--    was indexed, every such update wrote a new entry into each of the five indexes of records
--    (no heap-only update on PostgreSQL). Without it, an update of state, final code and final
--    date touches no index, and on PostgreSQL it stays on its page (heap-only tuple) because
--    records pages keep room for it (fillfactor 50, set by the follow-up step below). Queries of
--    a client's day by state now read that day's rows through (business_date, client_id).
-- 2. ledger_entries loses its foreign key to records (V001). It was checked row by row: one
--    index probe and a row lock on records per posting, a third of the posting time at volume.
--    Postings are only ever made by INSERT ... SELECT from records, in the statement (PostgreSQL)
--    or transaction (SQLite) that moves the same records from APPROVED to SETTLED or DISBURSED,
--    and the count of postings is checked against the records moved before commit; records are
--    only deleted before they are validated. Reconciliation reports a posting whose record is
--    missing as LEDGER_ORPHAN (docs/settlement.md).
--
-- The dialect-specific part (dropping the foreign key: ALTER TABLE on PostgreSQL, a rebuild of
-- the table on SQLite; the fillfactor on PostgreSQL) is the follow-up step of this version,
-- daybook.settlement.migrate_v009, run in the same transaction.
DROP INDEX ix_records_day_state;
CREATE INDEX ix_records_day ON records (business_date, client_id);

-- 3. settlement_plan is keyed by (client_id, business_date, ord), as it is read, and no longer
--    by business_no: inserting a day's plan in ord order kept a second, randomly ordered index
--    up to date. A record is still planned once: a run plans only when no APPROVED record of
--    the client and day has a plan row (otherwise it resumes that plan), and concurrent
--    planners of one client and day collide on the key.
CREATE TABLE settlement_plan_v9 (
    client_id TEXT NOT NULL,
    business_date TEXT NOT NULL,
    ord BIGINT NOT NULL,
    business_no TEXT NOT NULL,
    value_date TEXT NOT NULL,
    amount_cents BIGINT NOT NULL,
    running_cents BIGINT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('SETTLE', 'FUNDS')),
    PRIMARY KEY (client_id, business_date, ord)
);
INSERT INTO settlement_plan_v9 (
    client_id, business_date, ord, business_no, value_date, amount_cents, running_cents, outcome
)
SELECT client_id, business_date, ord, business_no, value_date, amount_cents, running_cents, outcome
FROM settlement_plan;
DROP TABLE settlement_plan;
ALTER TABLE settlement_plan_v9 RENAME TO settlement_plan;
