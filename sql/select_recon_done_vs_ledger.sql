SELECT
    r.file_type,
    COUNT(*) AS records,
    COALESCE(SUM(r.amount_cents), 0) AS record_cents,
    SUM(CASE WHEN d.amount_cents = r.amount_cents AND c.amount_cents = r.amount_cents THEN 0 ELSE 1 END)
        AS unposted
FROM records AS r
LEFT JOIN ledger_entries AS d ON r.business_no = d.business_no AND d.leg = 'D'
LEFT JOIN ledger_entries AS c ON r.business_no = c.business_no AND c.leg = 'C'
WHERE r.client_id = :client_id AND r.business_date = :business_date
  AND r.state IN ('SETTLED', 'DISBURSED')
GROUP BY r.file_type
ORDER BY r.file_type
