-- SQLite: the postings of plan rows lo..hi that settle and whose records are still APPROVED with
-- the planned amount (one posting each: debit the client's PREFUND account, credit the client's CLEARING account), in
-- plan order; the records are moved in the same transaction right after.
INSERT INTO ledger_transfers (business_no, client_id, business_date, debit_account, credit_account, amount_cents)
SELECT
    r.business_no, r.client_id, r.business_date, r.client_id || ':' || 'PREFUND', r.client_id || ':' || 'CLEARING',
    r.amount_cents
FROM settlement_plan AS p
INNER JOIN records AS r ON p.business_no = r.business_no
WHERE p.client_id = :client_id AND p.business_date = :business_date
  AND p.ord BETWEEN :lo AND :hi AND p.outcome = 'SETTLE'
  AND r.state = 'APPROVED' AND r.amount_cents = p.amount_cents
ORDER BY p.ord
