SELECT business_no, leg, client_id, business_date, account, amount_cents
FROM ledger_entries
WHERE CAST(:business_date AS TEXT) IS NULL OR business_date = :business_date
ORDER BY business_no, leg
