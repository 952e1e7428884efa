-- Validation, version 10: R_DUPLICATE_REF finds an accepted ref through ux_records_ref (which the
-- uniqueness rule needs anyway) and a rejected ref through this partial index (rejected rows are
-- few), so the full (client_id, client_ref) index of V003, a second entry for every accepted
-- row that every bulk load of records had to maintain, is dropped.
CREATE INDEX ix_records_rejected_ref ON records (client_id, client_ref) WHERE ack_status = 'REJECTED';
DROP INDEX ix_records_client_ref;
