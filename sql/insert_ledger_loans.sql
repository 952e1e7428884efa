-- One posting per approved loan of the client's day: debit the client's LOANS account, credit
-- the client's DISBURSEMENT account (ledger_transfers, V015). Written before the records move to DISBURSED,
-- in the same transaction; a posting already there is kept (the business number is the key).
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
ON CONFLICT (business_no) DO NOTHING
