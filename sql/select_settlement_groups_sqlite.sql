-- The client's day as settlement plans it (see select_settlement_groups_postgresql.sql): one row
-- per (value date, file, state) of its approved payments and of those already returned H_FUNDS.
SELECT
    r.value_date, r.file_id, r.state,
    COUNT(*) AS payments,
    SUM(r.amount_cents) AS cents,
    SUM(r.amount_cents % 2147483647) AS amount_sum,
    SUM(r.file_id) AS file_sum,
    SUM(r.line_no) AS line_sum,
    MIN(r.line_no) AS first_line,
    NULL AS first_row,
    NULL AS last_row
FROM records AS r
WHERE r.client_id = :client_id AND r.business_date = :business_date AND r.file_type = 'PAY'
  AND (r.state = 'APPROVED' OR (r.state = 'RETURNED' AND r.final_code = 'H_FUNDS'))
GROUP BY r.value_date, r.file_id, r.state
