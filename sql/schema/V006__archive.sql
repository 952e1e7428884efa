-- Archive, retention, legal holds, deletion certificates and client offboarding (issue 8).
-- Dates are ISO 'YYYY-MM-DD' text like the rest of the schema.

ALTER TABLE archives ADD COLUMN record_class TEXT;
ALTER TABLE archives ADD COLUMN retain_until TEXT;
ALTER TABLE archives ADD COLUMN encryption TEXT;
ALTER TABLE archives ADD COLUMN verified_at TIMESTAMP;
ALTER TABLE archives ADD COLUMN purged_at TIMESTAMP;
ALTER TABLE archives ADD COLUMN deleted_at TIMESTAMP;

-- A legal hold blocks deletion of a client's packages (business_date NULL = every date).
CREATE TABLE legal_holds (
    hold_id AUTO_ID,
    client_id TEXT NOT NULL,
    business_date TEXT,
    reason TEXT NOT NULL,
    placed_by TEXT NOT NULL,
    placed_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    released_by TEXT,
    released_at TIMESTAMP
);
CREATE INDEX ix_legal_holds_client ON legal_holds (client_id, business_date);

-- Proof of a deletion: what was deleted (manifest hash and member hashes), when, who approved.
CREATE TABLE deletion_certificates (
    certificate_id AUTO_ID,
    kind TEXT NOT NULL CHECK (kind IN ('RETENTION', 'OFFBOARDING')),
    client_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    approved_by TEXT NOT NULL,
    issued_on TEXT NOT NULL,
    certificate_sha256 TEXT NOT NULL,
    location TEXT NOT NULL,
    issued_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE (kind, subject)
);
