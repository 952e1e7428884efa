-- SQLite: what the chunk holds: payments that settle and that return, the cents returned, and
-- the fingerprint terms of the chunk (as select_open_payments_fingerprint.sql computes them).
SELECT
    COUNT(*) AS payments,
    COALESCE(SUM(c.settle), 0) AS settled,
    COUNT(*) - COALESCE(SUM(c.settle), 0) AS returned,
    COALESCE(SUM(CASE WHEN c.settle THEN 0 ELSE c.amount_cents END), 0) AS returned_cents,
    COALESCE(SUM(c.amount_cents % 2147483647), 0) AS amount_sum,
    COALESCE(SUM(c.file_id), 0) AS file_sum,
    COALESCE(SUM(c.line_no), 0) AS line_sum
FROM temp.settlement_chunk AS c
