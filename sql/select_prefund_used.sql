SELECT COALESCE(SUM(amount_cents), 0)
FROM ledger_entries
WHERE client_id = :client_id AND business_date = :business_date AND leg = 'D' AND account = :account
