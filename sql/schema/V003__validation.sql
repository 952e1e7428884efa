-- Validation, version 3: a client_ref is taken by any row of an earlier published file of the
-- client (contract section 4: unique per client for ever), so R_DUPLICATE_REF looks refs up
-- among all of the client's records, accepted or rejected.
CREATE INDEX ix_records_client_ref ON records (client_id, client_ref);
