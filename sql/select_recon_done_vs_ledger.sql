-- The client's SETTLED and DISBURSED records of the day per file type, and how many of them have
-- no posting of their own amount (one posting per record: ledger_transfers, keyed by business_no).
SELECT
    r.file_type,
    COUNT(*) AS records,
    COALESCE(SUM(r.amount_cents), 0) AS record_cents,
    SUM(CASE WHEN t.amount_cents = r.amount_cents THEN 0 ELSE 1 END) AS unposted
FROM records AS r
LEFT JOIN ledger_transfers AS t ON r.business_no = t.business_no
WHERE r.client_id = :client_id AND r.business_date = :business_date
  AND r.state IN ('SETTLED', 'DISBURSED')
GROUP BY r.file_type
ORDER BY r.file_type
