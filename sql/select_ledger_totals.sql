SELECT
    SUM(CASE WHEN leg = 'D' THEN amount_cents ELSE 0 END) AS debit_cents,
    SUM(CASE WHEN leg = 'C' THEN amount_cents ELSE 0 END) AS credit_cents,
    COUNT(*) AS entries
FROM ledger_entries
WHERE CAST(:business_date AS TEXT) IS NULL OR business_date = :business_date
