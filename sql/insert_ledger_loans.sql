-- SQLite: one posting per approved loan of the client's day (debit the client's LOANS account,
-- credit its DISBURSEMENT account), written right before update_records_disbursed moves the
-- same loans to DISBURSED in the same transaction; the two counts must agree. A posting already
-- there for an APPROVED loan is a unique violation and rolls the client's day back.
-- (PostgreSQL: disburse_loans_postgresql.sql, one statement.)
INSERT INTO ledger_transfers (business_no, client_id, business_date, debit_account, credit_account, amount_cents)
SELECT
    r.business_no, r.client_id, r.business_date, r.client_id || ':' || 'LOANS', r.client_id || ':' || 'DISBURSEMENT',
    r.amount_cents
FROM files AS f
INNER JOIN records AS r ON f.file_id = r.file_id
WHERE f.client_id = :client_id AND f.business_date = :business_date AND f.file_type = 'LOAN'
  AND f.status IN ('VALIDATED', 'COMPLETED')
  AND r.client_id = :client_id AND r.business_date = :business_date AND r.file_type = 'LOAN'
  AND r.state = 'APPROVED'
ORDER BY r.business_no
