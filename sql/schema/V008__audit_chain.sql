-- Audit trail, version 8: a hash chain per client. Each event names the chain it belongs to
-- (its client, or '_platform' for events about no client), its position in that chain (seq,
-- 1, 2, 3, ... with no gaps), the hash of the previous event of the chain (a genesis value for
-- seq 1) and its own hash: sha256 over a canonical serialization of the event including
-- prev_hash (daybook.audit_chain). The chain head (count and last hash) of every chain is kept
-- in audit_chain_heads, so deleting the last events of a chain is noticed too. Appends lock the
-- head row; the unique index refuses a fork even if a writer forgot the lock.
-- Events written before this version are chained in event_id order by the migration's
-- follow-up step (daybook.audit_chain.chain_existing).
ALTER TABLE audit_events ADD COLUMN client_id TEXT;
ALTER TABLE audit_events ADD COLUMN seq BIGINT;
ALTER TABLE audit_events ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_events ADD COLUMN hash TEXT;
CREATE UNIQUE INDEX ux_audit_events_chain ON audit_events (client_id, seq);

CREATE TABLE audit_chain_heads (
    client_id TEXT PRIMARY KEY,
    event_count BIGINT NOT NULL,
    head_hash TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
