-- Records, version 16: a payment's payer identity (id type and id number) as columns of its own.
--
-- The large-value report sums a client's settled payments of the day per payer and sorts them by
-- payer, and the structuring rule groups payments by payer: both read the payer's id type and
-- number from each record's JSON payload, one JSON parse per payment in the database server
-- (json_to_record: 6 of the report's 10-12 s at a million payments, EXPLAIN ANALYZE). Validation
-- now writes the accepted PAY rows' payer_id_type and payer_id_no here, as it writes value_date
-- (V013); rejected rows and other file types leave them NULL.
--
-- Rows written before this version are not rewritten: the report and the structuring rule read
-- COALESCE(column, the payload's field), so a payment written before the upgrade is reported and
-- screened exactly as before.
ALTER TABLE records ADD COLUMN payer_id_type TEXT;
ALTER TABLE records ADD COLUMN payer_id_no TEXT;
