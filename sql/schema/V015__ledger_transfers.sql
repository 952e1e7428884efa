-- Ledger, version 15: one row per posting, holding both of its entries.
--
-- A posting moves one amount from one account to another: the debit entry and the credit entry
-- always have the same business number, client, day and amount. Until V014 they were two rows
-- of ledger_entries (one per leg), so a day of a million payments wrote two million rows and two
-- million keys. Now ledger_transfers keeps one row per posting (debit account, credit account,
-- amount), as ledgers built for volume do: half the rows and half the key entries to write, and
-- a posting can no longer be unbalanced (there is one amount for both sides), nor half written.
-- The idempotency key is the business number alone (one posting per record).
--
-- ledger_entries stays, as a view with the same columns as before: one row per entry (leg), so
-- every report, reconciliation, archive member and hash reads the entries as it did. entry_id
-- is derived from the posting's id (debit 2n - 1, credit 2n); ids carry no meaning (replay
-- ignores them) and existing postings are renumbered in their old order.
--
-- The follow-up step of this version (daybook.settlement.migrate_v015, same transaction) copies
-- the existing entries as postings (and refuses, rolling back, a ledger whose entries do not pair
-- up), drops the table, creates the view and, on PostgreSQL, keys the table as V012/V014 keyed
-- the entries: primary key on business_no under collation "C", no index on the id, BRIN index on
-- the day.
CREATE TABLE ledger_transfers (
    transfer_id AUTO_ID,
    business_no TEXT NOT NULL UNIQUE,
    client_id TEXT NOT NULL,
    business_date TEXT NOT NULL,
    debit_account TEXT NOT NULL,
    credit_account TEXT NOT NULL,
    amount_cents BIGINT NOT NULL CHECK (amount_cents > 0),
    posted_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CHECK (debit_account <> credit_account)
);
CREATE INDEX ix_ledger_transfers_day ON ledger_transfers (business_date, client_id);
-- The same step gives settlement_plan a BRIN index on record_tid (PostgreSQL): each chunk of a
-- plan then reads its own plan rows instead of the whole plan.
